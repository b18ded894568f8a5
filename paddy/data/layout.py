"""A competition's folder: where it is (a kernel's input, data/<slug>, or --data), its layout, its CSVs, and the
training labels checked against the image folders."""
import os
from pathlib import Path

import pandas as pd

from paddy.errors import PaddyError, warn


SLUG = "paddy-disease-classification"
LAYOUT = ("train_images", "test_images", "train.csv", "sample_submission.csv")
IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


def in_kernel() -> bool:
    "Are we running inside a Kaggle kernel?"
    return bool(os.environ.get("KAGGLE_KERNEL_RUN_TYPE"))


def kaggle_root() -> Path:
    "Kaggle's folder in a kernel (`input/`, `working/`); PADDY_KAGGLE_ROOT moves it, to simulate a kernel."
    return Path(os.environ.get("PADDY_KAGGLE_ROOT", "/kaggle"))


def data_root(slug=SLUG, data=None) -> Path:
    "The competition folder: `data` if given, else the kernel's input folder, else data/<slug>."
    if data is not None: root, hint = Path(data), "check the --data path"
    elif in_kernel(): root, hint = kaggle_root() / "input" / slug, f"add the competition {slug} to the kernel's inputs"
    else: root, hint = Path("data") / slug, "run `make data` to download it, or pass --data DIR"
    if not root.is_dir(): raise PaddyError(f"no competition data at {root}: {hint}")
    return root


def check_layout(root):
    "Refuse a data folder that lacks any of train_images/, test_images/, train.csv, sample_submission.csv."
    root = Path(root)
    if not root.is_dir(): raise PaddyError(f"data folder {root} does not exist; pass --data DIR or run `make data`")
    missing = [p for p in LAYOUT if not (root / p).exists()]
    if missing: raise PaddyError(f"{root} is missing {', '.join(missing)}; a competition folder needs {', '.join(LAYOUT)}")
    return root


def read_csv(path, columns):
    "Read a CSV as strings and check it has `columns`."
    if not Path(path).is_file(): raise PaddyError(f"{path} not found; check --data")
    try: df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise PaddyError(f"{path} is not a readable CSV ({type(e).__name__}); check the file") from e
    missing = [c for c in columns if c not in df.columns]
    if missing: raise PaddyError(f"{path} lacks column(s) {', '.join(missing)}; it has {', '.join(df.columns)}")
    return df


def image_files(folder):
    "Image files under `folder`, sorted by name (test predictions depend on this order)."
    return sorted((p for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_EXTS and p.is_file()), key=lambda p: p.name)


def train_items(root):
    """train.csv joined to train_images/<label>/<image_id>: a frame of image_id, label, path. Disagreements are errors;
    images train.csv does not list, and empty folders, are ignored with one warning (the csv is the source of truth)."""
    root = check_layout(root)
    df = read_csv(root / "train.csv", ["image_id", "label"])
    on_disk = {}
    for p in image_files(root / "train_images"):
        if p.name in on_disk: raise PaddyError(f"image {p.name} appears twice under train_images ({on_disk[p.name].parent.name}, {p.parent.name}); keep one")
        on_disk[p.name] = p
    dup = df.image_id[df.image_id.duplicated()]
    if len(dup): raise PaddyError(f"train.csv lists {len(dup)} image_id(s) twice, e.g. {', '.join(dup[:3])}; keep one row per image")
    absent = [i for i in df.image_id if i not in on_disk]
    if absent: raise PaddyError(f"train.csv lists {len(absent)} image(s) not under train_images, e.g. {', '.join(absent[:3])}")
    df["path"] = [on_disk[i] for i in df.image_id]
    wrong = df[[p.parent.name != lbl for p, lbl in zip(df.path, df.label)]]
    if len(wrong):
        eg = ", ".join(f"{r.image_id} (csv {r.label}, folder {r.path.parent.name})" for r in wrong.head(3).itertuples())
        raise PaddyError(f"{len(wrong)} image(s) sit in a folder other than their train.csv label, e.g. {eg}; fix train.csv or move the files")
    if len(df) == 0: raise PaddyError(f"{root/'train.csv'} lists no images")
    unlisted = sorted(set(on_disk) - set(df.image_id))
    empty = sorted(d.name for d in (root / "train_images").iterdir() if d.is_dir() and not any(p.parent == d for p in on_disk.values()))
    if unlisted or empty:
        warn("ignoring " + "; ".join(filter(None, [
            unlisted and f"{len(unlisted)} image(s) under train_images that train.csv does not list, e.g. {', '.join(unlisted[:3])}",
            empty and f"{len(empty)} folder(s) under train_images with no images: {', '.join(empty[:3])}"])))
    return df.reset_index(drop=True)
