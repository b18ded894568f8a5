"""Opening images for training and prediction: EXIF rotation applied, any mode to RGB, big JPEGs decoded small."""
from pathlib import Path

from PIL import Image, ImageOps


def open_rgb(path, min_side=None):
    "An RGB PIL image: EXIF rotation applied; a JPEG is DCT-downscaled (draft) while both sides stay >= `min_side`."
    with Image.open(path) as im:
        if min_side and im.format == "JPEG": im.draft("RGB", (min_side, min_side))
        im = ImageOps.exif_transpose(im)
        return im.convert("RGB") if im.mode != "RGB" else im.copy()


class OpenImage:
    "DataBlock getter: a row with a `path` (or a path itself) → the RGB image, decoded no smaller than `min_side`."
    def __init__(self, min_side=None): self.min_side = min_side

    def __call__(self, item):
        path = item if isinstance(item, (str, Path)) else item["path"]
        return open_rgb(path, self.min_side)
