"""Odd and broken images: every mode opens as RGB; unreadable files are found before training, skipped in training,
and predicted from a blank image at test time, named in a warning and in meta.json."""
import json

import numpy as np
import pytest
from PIL import Image
from conftest import TINY, make_competition, paddy

from paddy.data.checks import scan
from paddy.data.images import open_rgb

SECRET = "0123456789abcdef-not-a-real-kaggle-key"


def rgb(path):
    im = open_rgb(path)
    assert im.mode == "RGB"
    return np.asarray(im)


def test_16_bit_gray_is_scaled_not_clipped(tmp_path):
    Image.fromarray(np.array([[0, 32896, 65535]], dtype=np.uint16)).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode == "I;16"
    assert rgb(tmp_path / "g16.png")[0, :, 0].tolist() == [0, 128, 255]


def test_12_bit_gray_keeps_its_levels(tmp_path):
    ramp = np.arange(0, 4096, dtype=np.uint16).reshape(16, 256)  # a 12-bit camera's whole range in a 16-bit file
    Image.fromarray(ramp).save(tmp_path / "g12.png")
    Image.fromarray(ramp).save(tmp_path / "g12.tif")
    for name in ("g12.png", "g12.tif"):
        gray = rgb(tmp_path / name)[..., 0]
        assert (gray.min(), gray.max()) == (0, 255) and len(np.unique(gray)) == 256, name  # shifted right by 8 it was 0..15
        assert abs(int(gray.ravel()[2048]) - 128) <= 1


def test_8_bit_gray_and_cmyk(tmp_path):
    Image.new("L", (4, 4), 200).save(tmp_path / "g.png")
    Image.new("CMYK", (4, 4), (0, 0, 0, 0)).save(tmp_path / "c.jpg")
    assert (rgb(tmp_path / "g.png") == 200).all()
    assert (rgb(tmp_path / "c.jpg") > 245).all()  # no ink: white


def test_transparency_is_composited_on_black(tmp_path):
    Image.new("RGBA", (4, 4), (255, 0, 0, 0)).save(tmp_path / "clear.png")
    Image.new("RGBA", (4, 4), (255, 0, 0, 255)).save(tmp_path / "solid.png")
    Image.new("LA", (4, 4), (255, 0)).save(tmp_path / "la.png")
    pal = Image.new("P", (4, 4), 1)
    pal.putpalette([0, 0, 0, 255, 255, 255] + [0] * 762)
    pal.save(tmp_path / "pal.png", transparency=1)
    assert (rgb(tmp_path / "clear.png") == 0).all()
    assert rgb(tmp_path / "solid.png")[0, 0].tolist() == [255, 0, 0]
    assert (rgb(tmp_path / "la.png") == 0).all()
    assert (rgb(tmp_path / "pal.png") == 0).all()


def test_exif_rotation_is_applied(tmp_path):
    im = Image.new("RGB", (40, 20), "white")
    exif = im.getexif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to display
    im.save(tmp_path / "rot.jpg", exif=exif)
    assert open_rgb(tmp_path / "rot.jpg").size == (20, 40)


def test_wrong_extensions_still_open(tmp_path):
    Image.new("RGB", (4, 4), (0, 255, 0)).save(tmp_path / "png-named.jpg", format="PNG")
    Image.new("RGB", (4, 4), (0, 255, 0)).save(tmp_path / "jpeg-named.png", format="JPEG")
    assert scan([tmp_path / "png-named.jpg", tmp_path / "jpeg-named.png"]) == {}
    assert rgb(tmp_path / "png-named.jpg")[0, 0].tolist() == [0, 255, 0]


def test_scan_names_exactly_the_unreadable_files(tmp_path):
    good = tmp_path / "good.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(good)
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "truncated.jpg").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    (tmp_path / "text.jpg").write_text("not an image\n")
    (tmp_path / "noise.png").write_bytes(np.random.default_rng(1).bytes(500))
    bad = scan(sorted(tmp_path.iterdir()))
    assert sorted(p.name for p in bad) == ["empty.jpg", "noise.png", "text.jpg", "truncated.jpg"]
    assert bad[tmp_path / "empty.jpg"] == "empty file" and all(bad.values())


@pytest.fixture(scope="module")
def broken_run(tmp_path_factory):
    "A tiny run trained (with a Kaggle key in its environment) on data with 3 unreadable training and 1 unreadable test image."
    import os
    cwd = tmp_path_factory.mktemp("broken")
    root, _ = make_competition(cwd / "comp", per_label=6)
    (root / "train_images" / "blast" / "000000.jpg").write_bytes(b"")
    (root / "train_images" / "blast" / "000001.jpg").write_text("hello")
    good = root / "train_images" / "normal" / "010000.jpg"
    good.write_bytes(good.read_bytes()[:200])
    (root / "test_images" / "200002.jpg").write_bytes(b"\xff\xd8\xff garbage")
    env = dict(os.environ, KAGGLE_KEY=SECRET, KAGGLE_USERNAME="someone", OMP_NUM_THREADS="1")  # one thread: faster for tiny models
    train = paddy("train", "--data", root, *TINY, "--name", "b", cwd=cwd, env=env, check=True)
    predict = paddy("predict", "--run", "b", "--data", root, "--tta", "0", cwd=cwd, env=env, check=True)
    return cwd, root, train, predict


@pytest.mark.slow
def test_training_skips_unreadable_images_with_one_warning(broken_run):
    cwd, _, train, _ = broken_run
    warnings = [ln for ln in train.stderr.splitlines() if "unreadable" in ln]
    assert len(warnings) == 1 and "skipping 3 unreadable training image(s) of 12" in warnings[0], train.stderr
    assert all(name in warnings[0] for name in ("000000.jpg", "000001.jpg", "010000.jpg"))
    meta = json.loads((cwd / "runs" / "b" / "meta.json").read_text())
    assert meta["finished"] and sorted(meta["skipped_images"]) == ["000000.jpg", "000001.jpg", "010000.jpg"]
    assert meta["n_train"] + meta["n_valid"] == 9


def test_every_test_image_gets_a_row_and_unreadable_ones_are_named(broken_run):
    import pandas as pd
    cwd, root, _, predict = broken_run
    sub = pd.read_csv(cwd / "submissions" / "b.csv")
    assert sorted(sub.image_id) == sorted(p.name for p in (root / "test_images").iterdir())
    assert "UNREADABLE" in predict.stderr and "200002.jpg" in predict.stderr
    assert list(json.loads((cwd / "runs" / "b" / "meta.json").read_text())["test_unreadable"]) == ["200002.jpg"]


def test_the_kaggle_key_is_not_in_outputs_or_run_files(broken_run):
    cwd, _, train, predict = broken_run
    assert SECRET not in train.stdout + train.stderr + predict.stdout + predict.stderr
    for p in (cwd / "runs").rglob("*"):
        if p.is_file(): assert SECRET.encode() not in p.read_bytes(), p
