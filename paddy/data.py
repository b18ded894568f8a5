"""Competition layout checks, training labels, the stratified split, and the DataBlock builder."""
from pathlib import Path

import numpy as np
import pandas as pd

from . import targets
from .errors import PaddyError

LAYOUT = ("train_images", "test_images", "train.csv", "sample_submission.csv")
IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


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
        from .checks import warn
        warn("ignoring " + "; ".join(filter(None, [
            unlisted and f"{len(unlisted)} image(s) under train_images that train.csv does not list, e.g. {', '.join(unlisted[:3])}",
            empty and f"{len(empty)} folder(s) under train_images with no images: {', '.join(empty[:3])}"])))
    return df.reset_index(drop=True)


def stratified_split(labels, valid_pct=0.2, seed=42):
    "Indices of a seeded validation set holding `valid_pct` of every label (at least one of each label with 2+ images)."
    rng = np.random.default_rng(seed)
    labels = pd.Series(list(labels))
    valid = []
    for _, idx in sorted(labels.groupby(labels).groups.items()):
        idx = rng.permutation(np.asarray(idx))
        n = int(round(len(idx) * valid_pct))
        if len(idx) > 1: n = min(max(n, 1), len(idx) - 1)
        valid.extend(idx[:n].tolist())
    return sorted(valid)


def assign_folds(labels, k, seed=42):
    "The fold (0..k-1) of every item: each label's items, shuffled with `seed`, dealt round-robin (K-fold, stratified)."
    rng = np.random.default_rng(seed)
    labels = np.asarray(list(labels))
    fold = np.empty(len(labels), dtype=int)
    start = 0
    for label in sorted(set(labels)):
        idx = rng.permutation(np.flatnonzero(labels == label))
        fold[idx] = (np.arange(len(idx)) + start) % k
        start += len(idx)  # the next label's deal begins where this one stopped: small labels spread over every fold
    return fold


def fold_valid_idx(labels, k, i, seed=42):
    "Indices of fold `i` of `k`: the validation set of that fold's run."
    return np.flatnonzero(assign_folds(labels, k, seed) == i).tolist()


def item_resize(size, method):
    "fastai's Resize for `method` squish | crop | pad (pad with zeros, as the recipe)."
    from fastai.vision.all import Resize, ResizeMethod, PadMode
    kind = {"squish": ResizeMethod.Squish, "crop": ResizeMethod.Crop, "pad": ResizeMethod.Pad}[method]
    return Resize(tuple(size), method=kind, pad_mode=PadMode.Zeros)


def datablock(vocab, valid_idx, size, presize, resize="squish", min_scale=0.75, flip=True, mean=None, std=None, unreadable=(), extra=()):
    """The DataBlock over a frame with `path` and `label` columns: presize per item, augment and normalize per batch; `unreadable` paths read as black.
    `extra` [(column, vocab)] adds a target per column after label (paddy/targets.py)."""
    from fastai.vision.all import DataBlock, ImageBlock, CategoryBlock, ColReader, IndexSplitter, Normalize
    from .augment import batch_augment
    from .images import OpenImage
    batch_tfms = batch_augment(size, min_scale, flip)
    if mean is not None: batch_tfms.append(Normalize.from_stats(mean, std))
    ys = [("label", vocab), *extra]
    return DataBlock(blocks=(ImageBlock, *[CategoryBlock(vocab=list(v)) for _, v in ys]), n_inp=1,
                     get_x=OpenImage(max(presize), unreadable), get_y=[ColReader(c) for c, _ in ys],
                     splitter=IndexSplitter(valid_idx),
                     item_tfms=item_resize(presize, resize), batch_tfms=batch_tfms)


def seed(value, deterministic=False):
    """fastai's set_seed for every RNG. On a GPU, cuDNN runs in benchmark mode (it times its kernels once and keeps the
    fastest) unless `deterministic`, which fixes it to deterministic kernels, as set_seed(reproducible=True) does."""
    import torch
    from fastai.vision.all import set_seed
    set_seed(value, reproducible=deterministic)
    if not deterministic: torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = False, True


def dataloaders(cfg, spec, items=None, train_only=None):
    """Train/valid DataLoaders for a Config and a ModelSpec: the fastai recipe, split stratified and seeded.
    `train_only` rows (pseudo-labels, paddy/pseudo.py) join the training part after the split, never validation."""
    from .kaggle import data_root
    items = train_items(data_root(cfg.slug, cfg.data)) if items is None else items
    vocab = sorted(items.label.unique())
    if len(vocab) < 2: raise PaddyError(f"train.csv has only one label ({vocab[0]}); a classifier needs at least two")
    micro_bs = cfg.bs // cfg.accum
    n_train = len(items) - int(round(len(items) * cfg.valid_pct))
    if micro_bs > n_train: raise PaddyError(f"batch size {micro_bs} is larger than the {n_train} training images; lower --bs")
    if cfg.cache:
        from .cache import cached
        items = items.assign(path=cached(items.path, cfg.presize, cfg.cache_dir, cfg.resize))
    seed(cfg.seed, cfg.deterministic)
    valid_idx = fold_valid_idx(items.label, cfg.folds, cfg.fold, cfg.seed) if cfg.folds else stratified_split(items.label, cfg.valid_pct, cfg.seed)
    if train_only is not None: items = pd.concat([items, train_only], ignore_index=True)  # after valid_idx: training only
    block = datablock(vocab, valid_idx, cfg.size, cfg.presize, cfg.resize, cfg.min_scale, cfg.flip, spec.mean, spec.std,
                      extra=targets.extra(cfg, items))
    from .loader import WorkerBatchDL
    kw = {} if cfg.workers is None else dict(num_workers=cfg.workers)
    return block.dataloaders(items, bs=micro_bs, seed=cfg.seed, dl_type=WorkerBatchDL, **kw)


def test_dataloader(meta, files, bs=64, workers=None, unreadable=(), tta=0):
    """A DataLoader over test `files` with a run's transforms; `unreadable` ones read as black. With `tta` n, each batch
    holds n augmented views of every image and the plain one (paddy.loader.TTADL)."""
    vocab = meta["vocab"]
    readable = [f for f in files if f not in unreadable]
    if meta.get("config", {}).get("cache") and readable:
        from .cache import cached
        small = dict(zip(readable, cached(readable, meta["presize"], meta["config"]["cache_dir"], meta["resize"])))
        files = [small.get(f, f) for f in files]
    from .loader import TTADL, WorkerBatchDL
    stub = pd.DataFrame({"path": [files[0], files[0]], "label": [vocab[0], vocab[0]]})
    block = datablock(vocab, [1], meta["size"], meta["presize"], meta["resize"], meta["min_scale"], meta["flip"],
                      meta["mean"], meta["std"], unreadable)
    kw = {} if workers is None else dict(num_workers=workers)
    dls = block.dataloaders(stub, bs=bs, dl_type=WorkerBatchDL, **kw)
    dl = dls.test_dl(list(files), bs=bs, rm_type_tfms=0, **kw, **(dict(cls=TTADL) if tta else {}))
    if tta: dl.n_aug = tta
    return dl
