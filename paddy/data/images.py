"""Opening images for training and prediction: EXIF rotation applied, any mode to RGB, big JPEGs decoded small.

Modes: 16-bit grayscale is scaled to 8 bits by its real range (a file whose values stay within 0..4095 holds 12-bit
data, as many medical and scientific cameras write, and is scaled from 4095, not 65535; others from 65535); transparency (RGBA, LA, palette with a transparent
colour) is composited on black, the same fill as `--resize pad`; CMYK, palette and grayscale convert to RGB.
A file PIL cannot decode to the end (corrupt, truncated, empty, not an image) raises OSError or a PIL error.
"""
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

BLANK_SIDE = 64  # side of the black stand-in for an unreadable test image (resized like any other)


def gray_bits(arr):
    "The bit depth of gray values held in a 16- or 32-bit image: 8, 12 or 16 (the smallest that holds its maximum)."
    top = float(arr.max()) if arr.size else 0
    return 8 if top <= 255 else 12 if top <= 4095 else 16


def to_rgb(im):
    "Any PIL mode → RGB: 16/32-bit gray scaled from its bit depth to 0..255, transparency composited on black."
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(im, dtype=np.float64)
        scale = 255.0 if im.mode == "F" and arr.size and arr.max() <= 1 else 255 / (2 ** gray_bits(arr) - 1)  # float images in 0..1
        return Image.fromarray(np.clip(np.round(arr * scale), 0, 255).astype(np.uint8)).convert("RGB")
    if (im.mode == "P" and "transparency" in im.info) or im.mode in ("LA", "PA", "La"):
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "RGBa"):
        black = Image.new("RGBA", im.size, (0, 0, 0, 255))
        return Image.alpha_composite(black, im.convert("RGBA")).convert("RGB")
    return im.convert("RGB") if im.mode != "RGB" else im


def open_rgb(path, min_side=None):
    "An RGB PIL image: EXIF rotation applied; a JPEG is DCT-downscaled (draft) while both sides stay >= `min_side`."
    with Image.open(path) as im:
        if min_side and im.format == "JPEG": im.draft("RGB", (min_side, min_side))
        im.load()
        out = to_rgb(ImageOps.exif_transpose(im))
        return out.copy() if out is im else out


def blank(side=BLANK_SIDE):
    "The black RGB square predicted in place of an unreadable test image."
    return Image.new("RGB", (side, side))


class OpenImage:
    """DataBlock getter: a row with a `path` (or a path itself) → the RGB image, decoded no smaller than `min_side`.
    Paths in `unreadable` (found by paddy.data.checks.scan) give a black image instead."""
    def __init__(self, min_side=None, unreadable=()):
        self.min_side, self.unreadable = min_side, frozenset(str(p) for p in unreadable)

    def __call__(self, item):
        path = item if isinstance(item, (str, Path)) else item["path"]
        return blank(self.min_side or BLANK_SIDE) if str(path) in self.unreadable else open_rgb(path, self.min_side)
