import pytest

from paddy.config import Config, make_config, parse_size
from paddy.errors import PaddyError


def test_sizes_are_height_width():
    assert parse_size("128") == (128, 128)
    assert parse_size("256,192") == (256, 192)
    assert parse_size("480x360") == (480, 360)
    assert parse_size([224]) == (224, 224)
    for bad in ("0", "a,b", "1,2,3", "-5"):
        with pytest.raises(PaddyError, match="bad size"): parse_size(bad)


def test_toml_then_flags(tmp_path):
    toml = tmp_path / "exp.toml"
    toml.write_text('arch = "convnext_small_in22k"\nsize = [256, 192]\nepochs = 12\nresize = "pad"\n')
    cfg = make_config(toml, epochs=5, lr=None)
    assert (cfg.arch, cfg.size, cfg.epochs, cfg.resize, cfg.lr) == ("convnext_small_in22k", (256, 192), 5, "pad", 0.01)
    assert cfg.run_name == "convnext_small_in22k-256x192"
    assert cfg.item_size == (512, 384)


def test_unknown_toml_key_is_refused(tmp_path):
    toml = tmp_path / "exp.toml"
    toml.write_text('arch = "resnet18"\nepoch = 3\n')
    with pytest.raises(PaddyError, match="unknown key.*epoch"): make_config(toml)


@pytest.mark.parametrize("overrides, fragment", [
    (dict(epochs=0), "--epochs"), (dict(lr=-1.0), "--lr"), (dict(lr="fast"), "--lr"), (dict(bs=0), "--bs"),
    (dict(bs=32, accum=3), "not divisible"), (dict(resize="stretch"), "squish"), (dict(method="fit"), "fine_tune"),
    (dict(precision="fp8"), "bf16"), (dict(valid_pct=1.5), "valid-pct"),
    (dict(weights="w.safetensors", pretrained=False), "conflict"), (dict(weights="nope.safetensors"), "not found"),
])
def test_bad_settings_are_refused(overrides, fragment):
    with pytest.raises(PaddyError, match=fragment): make_config(**overrides)


def test_lr_auto_and_numbers():
    assert make_config(lr="auto").lr == "auto"
    assert make_config(lr="3e-3").lr == 0.003


def test_flags_are_generated_from_the_config_and_rebuild_it():
    import argparse
    from paddy.config import KEYS, parser_flags, to_flags
    p = argparse.ArgumentParser()
    parser_flags(p)
    assert {a.dest for a in p._actions} - {"help"} == KEYS  # every setting has its flag, and no flag is extra
    assert "(default 0.75)" in next(a.help for a in p._actions if a.dest == "min_scale")
    cfg = make_config(arch="resnet18", size="64,48", flip=False, channels_last=True, lr="auto", ema=0.99, aux_targets="variety", target="healthy,rust", metric="auc",
                      folds=3, fold=1, name="x", weights=None, pretrained=False)
    flags = to_flags(cfg)
    assert "--no-flip" in flags and "--channels-last" in flags and flags[flags.index("--size") + 1] == "64,48"
    assert make_config(**{k: v for k, v in vars(p.parse_args(flags)).items()}) == cfg
