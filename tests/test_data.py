import pandas as pd
import pytest
import torch
from conftest import make_competition
from fastai.vision.all import Normalize

from paddy.config import make_config
from paddy.data import split
from paddy.data.competition import describe, train_items
from paddy.errors import PaddyError
from paddy.learn.train import prepare
from paddy.models import zoo


def test_a_folder_without_a_sample_or_that_does_not_exist_is_refused(competition):
    (competition / "sample_submission.csv").unlink()
    with pytest.raises(PaddyError, match="no sample_submission.*--sample"): describe(competition)
    with pytest.raises(PaddyError, match="does not exist"): describe(competition / "nope")


def test_train_items_join_csv_and_folders(competition):
    items = train_items(describe(competition))
    assert len(items) == 16 and set(items.y) == {"blast", "normal"}
    assert all(p.parent.name == lbl and p.is_file() for p, lbl in zip(items.path, items.y))
    assert {"variety", "age"} <= set(items.columns)  # the CSV's other columns ride along (--aux-targets, --group-col)


def test_label_folder_disagreement_is_reported(competition):
    df = pd.read_csv(competition / "train.csv")
    df.loc[0, "label"] = "normal"
    df.to_csv(competition / "train.csv", index=False)
    with pytest.raises(PaddyError, match=r"1 image\(s\) sit in a folder other than their label"): train_items(describe(competition))


def test_a_target_the_sample_does_not_name_is_refused_or_noted(competition):
    pd.read_csv(competition / "train.csv").drop(columns="label").to_csv(competition / "train.csv", index=False)
    with pytest.raises(PaddyError, match="cannot tell the target.*--target"): describe(competition)
    pd.read_csv(competition / "train.csv").drop(columns="age").to_csv(competition / "train.csv", index=False)
    comp = describe(competition)  # one column beside the id: taken, and said so
    assert comp.target == ["variety"] and "the only column beside the id" in comp.notes["train"]


def test_split_is_stratified_and_seeded():
    labels = ["a"] * 50 + ["b"] * 30 + ["c"] * 20
    valid = split.stratified_split(labels, 0.2, seed=1)
    assert [sum(labels[i] == k for i in valid) for k in "abc"] == [10, 6, 4]
    assert valid == split.stratified_split(labels, 0.2, seed=1) != split.stratified_split(labels, 0.2, seed=2)


@pytest.mark.parametrize("mode, ext, pil_size, size, resize", [
    ("L", ".png", (28, 28), "32", "squish"),           # grayscale PNG, tiny
    ("RGB", ".jpg", (48, 64), "40,32", "pad"),        # portrait, like Paddy Doctor's 480x640
    ("RGB", ".jpg", (64, 48), "32,48", "crop"),       # landscape, non-square target
    ("RGBA", ".png", (30, 50), "24", "squish"),
])
def test_dataloaders_any_image_kind(tmp_path, mode, ext, pil_size, size, resize):
    root, _ = make_competition(tmp_path / "c", labels=("Healthy Leaf", "rust-2", "x"), per_label=5,
                               size=pil_size, mode=mode, ext=ext)
    cfg = make_config(data=str(root), size=size, resize=resize, bs=4, workers=0, cache_dir=str(tmp_path / "cache"), pretrained=False)
    dls = prepare(cfg).dls
    x, y = dls.one_batch()
    assert tuple(x.shape) == (4, 3, *cfg.size)
    assert list(dls.vocab) == ["Healthy Leaf", "rust-2", "x"]
    assert len(dls.valid_ds) == 3  # one of each label
    assert_normalized(dls.valid, zoo.spec("resnet18"))


def assert_normalized(dl, spec):
    "`dl`'s batches are its plain [0, 1] pixels normalized with the model's mean and std, by one Normalize after the augmentations."
    norms = [f for f in dl.after_batch.fs if isinstance(f, Normalize)]
    assert len(norms) == 1 and dl.after_batch.fs[-1] is norms[0], dl.after_batch.fs
    mean, std = torch.tensor(spec.mean).view(1, 3, 1, 1), torch.tensor(spec.std).view(1, 3, 1, 1)
    assert torch.allclose(norms[0].mean.cpu(), mean) and torch.allclose(norms[0].std.cpu(), std)
    x = dl.one_batch()[0].cpu()
    plain = dl.new(after_batch=dl.after_batch.fs[:-1]).one_batch()[0].cpu()  # the same validation images, not normalized
    assert 0 <= plain.min() and plain.max() <= 1 and plain.std() > 0.01
    assert torch.allclose(x, (plain - mean) / std, atol=1e-5)
    assert torch.allclose(norms[0].decode(x).cpu(), plain, atol=1e-5)


def test_batch_larger_than_training_set_is_refused(competition):
    with pytest.raises(PaddyError, match="larger than the"): prepare(make_config(data=str(competition), bs=64))
