"""Every family of the model table trains: one batch of a small member of each, through paddy's own trainer, at the
member's input size. fastai's TimmBody hands Swin's (N, H, W, C) features to a head that pools (N, C, H, W)."""
import math

import pytest
from conftest import make_competition

from paddy import runs
from paddy.config import make_config
from paddy.learn import train
from paddy.models import zoo

FAMILIES = {"resnet": "resnet18", "convnext": "convnext_atto", "vit": "vit_tiny_patch16_224", "swin": "swin_tiny_patch4_window7_224",
            "swinv2": "swinv2_tiny_window8_256", "efficientnet": "efficientnet_b0", "mobilenet": "mobilenetv3_small_100"}


@pytest.mark.slow
@pytest.mark.parametrize("arch", FAMILIES.values(), ids=FAMILIES.keys())
def test_one_batch_of_each_family_trains(tmp_path, arch, one_thread):
    root, _ = make_competition(tmp_path / "comp", per_label=3, size=(24, 24))
    size = zoo.spec(arch).fixed_size or (64, 64)
    cfg = make_config(data=str(root), arch=arch, pretrained=False, size=list(size), item_size=list(size), bs=4, epochs=1,
                      method="fit_one_cycle", valid_pct=0.34, workers=0, precision="fp32", cache=False, runs_dir=str(tmp_path / "runs"))
    meta = runs.load_meta(train.train(cfg))
    assert meta.finished and meta.n_train == 4 and len(meta.history) == 1
    assert math.isfinite(meta.history[0]["train_loss"]) and math.isfinite(meta.history[0]["valid_loss"])
