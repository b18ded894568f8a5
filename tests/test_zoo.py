import pytest
import timm

from paddy.errors import PaddyError
from paddy.models import zoo


def test_every_table_name_is_a_timm_1_model():
    for name, timm_name in zoo.MODELS.items():
        assert timm.is_model(timm_name), name
        assert timm.models.get_pretrained_cfg(timm_name) is not None, timm_name


def test_fixed_size_models_refuse_other_sizes():
    vit = zoo.spec("vit_tiny_patch16_224")
    assert vit.fixed_size == (224, 224)
    with pytest.raises(PaddyError, match="--size 224"): vit.check_size((128, 128))
    vit.check_size((224, 224))
    with pytest.raises(PaddyError, match="--size 192"): zoo.spec("swinv2_large_window12_192").check_size((224, 224))
    zoo.spec("convnext_tiny").check_size((256, 192))


def test_unknown_arch_names_closest():
    with pytest.raises(PaddyError, match="closest: .*convnext_small"): zoo.spec("convnxt_small")


def test_other_timm_names_warn_and_work():
    with pytest.warns(UserWarning, match="not in paddy's model table"): s = zoo.spec("resnet101")
    assert s.timm_name == "resnet101" and s.fixed_size is None


def test_normalization_comes_from_the_model():
    assert zoo.spec("vit_small_patch16_224").mean == (0.5, 0.5, 0.5)
    assert zoo.spec("resnet26d").mean == (0.485, 0.456, 0.406)


def test_local_weights_go_through_timm_overlay(tmp_path):
    w = tmp_path / "w.safetensors"
    assert zoo.create_kwargs(True, w) == dict(pretrained=True, pretrained_cfg_overlay=dict(file=str(w)))
    assert zoo.create_kwargs(False) == dict(pretrained=False)
