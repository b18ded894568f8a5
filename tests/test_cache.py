"""The image cache: built once, reused while unchanged, rebuilt when a source changes, atomic, decoded correctly."""
import os

import numpy as np
import pytest
from PIL import Image

from conftest import make_competition
from paddy import config
from paddy.data import cache
from paddy.errors import PaddyError
from paddy.learn.train import prepare


def photos(folder, n=4, size=(60, 80)):
    "`n` RGB JPEGs of `size` (w, h) under folder/a/."
    rng = np.random.default_rng(0)
    (folder / "a").mkdir(parents=True)
    paths = [folder / "a" / f"{i}.jpg" for i in range(n)]
    for p in paths: Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(p)
    return paths


def test_cover_size_keeps_aspect_with_every_side_at_least_the_target():
    assert cache.cover_size(480, 640, (256, 256)) == (256, 341)
    assert cache.cover_size(640, 480, (128, 192)) == (192, 144)  # (H, W) target: 144 >= 128 high, 192 wide
    assert cache.cover_size(28, 28, (32, 32)) == (28, 28)  # never enlarged


def test_squish_copies_are_the_item_itself(tmp_path):
    srcs = photos(tmp_path / "src")  # 60 wide x 80 tall
    squished = cache.cached(srcs, (32, 48), tmp_path / "c", "squish", workers=1)
    assert Image.open(squished[0]).size == (48, 32)  # (H, W) = (32, 48): the DataBlock's Resize has nothing to do
    assert Image.open(cache.cached(srcs, (100, 40), tmp_path / "c", "squish", workers=1)[0]).size == (40, 80)  # never enlarged
    kept = cache.cached(srcs, (32, 48), tmp_path / "c", "pad", workers=1)  # pad and crop need the aspect: their own folder
    assert kept[0].parent != squished[0].parent and Image.open(kept[0]).size == (48, 64)


def test_built_once_then_reused(tmp_path):
    srcs = photos(tmp_path / "src")
    outs = cache.cached(srcs, (32, 32), tmp_path / "c", "crop", workers=2)
    assert [o.name for o in outs] == [s.name for s in srcs] and all(o.is_file() for o in outs)
    assert Image.open(outs[0]).size == (32, 43)
    mtimes = [o.stat().st_mtime_ns for o in outs]
    manifest = (outs[0].parent / cache.MANIFEST).stat().st_mtime_ns
    assert cache.cached(srcs, (32, 32), tmp_path / "c", "crop", workers=2) == outs
    assert [o.stat().st_mtime_ns for o in outs] == mtimes
    assert (outs[0].parent / cache.MANIFEST).stat().st_mtime_ns == manifest


def test_rebuilt_when_a_source_changes(tmp_path):
    srcs = photos(tmp_path / "src")
    outs = cache.cached(srcs, (32, 32), tmp_path / "c", "crop", workers=1)
    Image.new("RGB", (80, 40), (255, 0, 0)).save(srcs[1])  # new content, new size on disk
    outs2 = cache.cached(srcs, (32, 32), tmp_path / "c", "crop", workers=1)
    assert outs2 == outs
    im = Image.open(outs2[1])
    assert im.size == (64, 32) and im.getpixel((10, 10))[0] > 240
    other = cache.cached(srcs, (16, 16), tmp_path / "c", "crop", workers=1)  # another size: its own folder
    assert other[0].parent != outs[0].parent and Image.open(other[0]).size == (16, 21)


def test_interrupted_build_leaves_nothing_that_looks_complete(tmp_path, monkeypatch):
    srcs = photos(tmp_path / "src", n=6)
    real, done = cache.shrink, []

    def dies_half_way(src, dst, size, kind):
        if len(done) == 3: raise KeyboardInterrupt
        done.append(src)
        real(src, dst, size, kind)
    monkeypatch.setattr(cache, "shrink", dies_half_way)
    with pytest.raises(KeyboardInterrupt): cache.cached(srcs, (32, 32), tmp_path / "c", "crop", workers=1)
    folder, want, _ = cache.plan(srcs, (32, 32), tmp_path / "c", "crop")
    assert not folder.exists() and cache.read_manifest(folder) is None
    assert os.listdir(folder.parent) == []  # the temporary folder is gone too
    monkeypatch.setattr(cache, "shrink", real)
    outs = cache.cached(srcs, (32, 32), tmp_path / "c", "crop", workers=1)
    assert all(o.is_file() for o in outs) and cache.read_manifest(folder) == want


def test_a_broken_image_is_a_user_error_and_leaves_no_cache(tmp_path):
    srcs = photos(tmp_path / "src")
    srcs[2].write_bytes(b"not a jpeg")
    with pytest.raises(PaddyError, match="2.jpg"): cache.cached(srcs, (32, 32), tmp_path / "c", "crop", workers=2)
    folder, _, _ = cache.plan(srcs, (32, 32), tmp_path / "c")
    assert not folder.exists()


def test_exif_rotation_and_grayscale_are_decoded(tmp_path):
    (tmp_path / "s").mkdir()
    rotated, gray = tmp_path / "s" / "r.jpg", tmp_path / "s" / "g.png"
    px = np.zeros((40, 80, 3), np.uint8)
    px[:, :40] = (250, 0, 0)  # left half red, stored 80 wide x 40 tall
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to display
    Image.fromarray(px).save(rotated, exif=exif, quality=95)
    Image.fromarray(np.full((30, 30), 200, np.uint8), mode="L").save(gray)
    r, g = cache.cached([rotated, gray], (20, 20), tmp_path / "c", "crop", workers=1)
    im = Image.open(r)
    assert im.size == (20, 40)  # displayed portrait: 40 wide x 80 tall, halved
    assert im.getpixel((10, 5))[0] > 200 and im.getpixel((10, 35))[0] < 60  # red half now on top
    assert g.suffix == ".png" and Image.open(g).mode == "RGB" and Image.open(g).getpixel((5, 5)) == (200, 200, 200)


def test_training_through_the_cache_gives_the_same_batches(tmp_path):
    root, _ = make_competition(tmp_path / "comp", labels=("blast", "normal", "hispa"), per_label=6, size=(48, 64))
    cfg = dict(data=str(root), size=24, bs=4, workers=0, cache_dir=str(tmp_path / "c"))
    direct = prepare(config.make_config(**cfg, cache=False)).dls
    via = prepare(config.make_config(**cfg)).dls
    assert (tmp_path / "c").is_dir()
    assert list(via.vocab) == list(direct.vocab)
    assert [via.vocab[int(y)] for _, y in via.valid_ds] == [direct.vocab[int(y)] for _, y in direct.valid_ds]
    assert all(str(tmp_path / "c") in str(p) for p in via.valid_ds.items.path)
    xv, yv = via.valid.one_batch()
    xd, yd = direct.valid.one_batch()
    assert xv.shape == xd.shape and tuple(xv.shape[1:]) == (3, 24, 24) and (yv == yd).all()
    assert float((xv - xd).abs().mean()) < 0.1  # same pictures, within JPEG re-encoding noise
