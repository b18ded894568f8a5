"""The DataBlock builder: fastai's recipe (presizing: a resize to the item size per item, augment and normalize per batch)
with the target block the task asks for (CategoryBlock, MultiCategoryBlock, RegressionBlock), and its DataLoaders for
training and for test images."""
import numpy as np
import pandas as pd

from paddy import scoring
from paddy.data import split
from paddy.errors import PaddyError


def item_resize(size, method):
    "fastai's Resize for `method` squish | crop | pad (pad with zeros, as the recipe)."
    from fastai.vision.all import Resize, ResizeMethod, PadMode
    kind = {"squish": ResizeMethod.Squish, "crop": ResizeMethod.Crop, "pad": ResizeMethod.Pad}[method]
    return Resize(tuple(size), method=kind, pad_mode=PadMode.Zeros)


def target_block(task, vocab):
    "(fastai block, getter) of the target column `y`: classes, space-separated tags, or a value scaled to its range (`y_scaled`)."
    from fastai.vision.all import CategoryBlock, ColReader, MultiCategoryBlock, RegressionBlock
    if task == "multi": return MultiCategoryBlock(vocab=list(vocab)), ColReader("y", label_delim=" ")
    if task == "regression": return RegressionBlock(), ColReader("y_scaled")
    return CategoryBlock(vocab=list(vocab)), ColReader("y")


def datablock(task, vocab, valid_idx, size, item_size, resize="squish", min_scale=0.75, flip=True, mean=None, std=None, unreadable=(), extra=()):
    """The DataBlock over a frame with `path` and target columns: resized to `item_size` per item, augment and normalize
    per batch; `unreadable` paths read as black. `extra` [(column, vocab)] adds a class head per column (paddy/models/targets.py)."""
    from fastai.vision.all import DataBlock, ImageBlock, CategoryBlock, ColReader, IndexSplitter, Normalize
    from paddy.data.augment import batch_augment
    from paddy.data.images import OpenImage
    batch_tfms = batch_augment(size, min_scale, flip)
    if mean is not None: batch_tfms.append(Normalize.from_stats(mean, std))
    y_block, get_y = target_block(task, vocab)
    return DataBlock(blocks=(ImageBlock, y_block, *[CategoryBlock(vocab=list(v)) for _, v in extra]), n_inp=1,
                     get_x=OpenImage(max(item_size), unreadable), get_y=[get_y, *[ColReader(c) for c, _ in extra]],
                     splitter=IndexSplitter(valid_idx), item_tfms=item_resize(item_size, resize), batch_tfms=batch_tfms)


def seed(value, deterministic=False):
    """fastai's set_seed for every RNG. On a GPU, cuDNN runs in benchmark mode (it times its kernels once and keeps the
    fastest) unless `deterministic`, which fixes it to deterministic kernels, as set_seed(reproducible=True) does."""
    import torch
    from fastai.vision.all import set_seed
    set_seed(value, reproducible=deterministic)
    if not deterministic: torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = False, True


def classes(task, ys):
    "The classes of a classification target in output order (tags for multi); [] for a regression."
    if task == "regression": return []
    return scoring.sort_classes(t for y in ys for t in str(y).split()) if task == "multi" else scoring.sort_classes(map(str, ys))


def valid_split(cfg, task, items):
    "Indices of the validation images of a run on `items`: stratified for the task, seeded, by fold and by group as `cfg` says."
    groups = None
    if cfg.group_col:
        if cfg.group_col not in items.columns:
            raise PaddyError(f"--group-col {cfg.group_col} is not a column of the training CSV; it has {', '.join(c for c in items.columns if c != 'path')}")
        groups = items[cfg.group_col].tolist()
    return split.valid_idx(split.strata(task, items.y), cfg.valid_pct, cfg.seed, cfg.folds, cfg.fold, groups)


def target_stats(task, items, valid_idx):
    """A regression's target range over the training part, {target_range: [low, high]}: the model learns the value
    scaled to [0, 1] in it (paddy/models/targets.py); else {}."""
    if task != "regression": return {}
    train = np.delete(np.asarray(items.y, dtype=np.float64), valid_idx)
    return dict(target_range=[float(train.min()), float(train.max())])


def dataloaders(cfg, spec, task, items, valid_idx, stats=None, train_only=None, extra=(), vocab=None):
    """Train/valid DataLoaders for a Config and a ModelSpec on `items` (id, y, path), validating on `valid_idx`.
    `train_only` rows (pseudo-labels, paddy/learn/pseudo.py) join the training part, never validation; `stats` scale
    a regression's target; `extra` [(column, vocab)] are auxiliary class heads; `vocab`: the classes when the
    competition names them all (a class no training image has still gets its output), else those of `items`."""
    vocab = vocab or classes(task, items.y)
    if task != "regression" and len(vocab) < 2: raise PaddyError(f"the target has only one class ({vocab[0] if vocab else 'none'}); a classifier needs at least two")
    if task == "regression" and len(set(items.y)) < 2: raise PaddyError("the target has one value for every image: nothing to learn")
    micro_bs = cfg.bs // cfg.accum
    n_train = len(items) - len(valid_idx)
    if micro_bs > n_train: raise PaddyError(f"batch size {micro_bs} is larger than the {n_train} training images; lower --bs")
    if cfg.cache:
        from paddy.data.cache import cached
        items = items.assign(path=cached(items.path, cfg.item_size, cfg.cache_dir, cfg.resize))
    seed(cfg.seed, cfg.deterministic)
    if train_only is not None: items = pd.concat([items, train_only], ignore_index=True)  # after the split: training only
    if stats:
        low, high = stats["target_range"]
        items = items.assign(y_scaled=(np.asarray(items.y, dtype=np.float64) - low) / (high - low))
    block = datablock(task, vocab, valid_idx, cfg.size, cfg.item_size, cfg.resize, cfg.min_scale, cfg.flip, spec.mean, spec.std, extra=extra)
    from paddy.data.loader import WorkerBatchDL
    kw = {} if cfg.workers is None else dict(num_workers=cfg.workers)
    return block.dataloaders(items, bs=micro_bs, seed=cfg.seed, dl_type=WorkerBatchDL, **kw)


def test_dataloader(meta, files, bs=64, workers=None, unreadable=(), tta=0):
    """A DataLoader over image `files` with a run's transforms; `unreadable` ones read as black. With `tta` n, each batch
    holds n augmented views of every image and the plain one (paddy.data.loader.TTADL). `meta`: the run's RunMeta."""
    readable = [f for f in files if f not in unreadable]
    if meta.config.get("cache") and readable:
        from paddy.data.cache import cached
        small = dict(zip(readable, cached(readable, meta.item_size, meta.config["cache_dir"], meta.resize)))
        files = [small.get(f, f) for f in files]
    from paddy.data.loader import TTADL, WorkerBatchDL
    stub = pd.DataFrame({"path": [files[0], files[0]], "y": ["_", "_"]})  # only the images' transforms matter here
    block = datablock("single", ["_"], [1], meta.size, meta.item_size, meta.resize, meta.min_scale, meta.flip, meta.mean, meta.std, unreadable)
    kw = {} if workers is None else dict(num_workers=workers)
    dls = block.dataloaders(stub, bs=bs, dl_type=WorkerBatchDL, **kw)
    dl = dls.test_dl(list(files), bs=bs, rm_type_tfms=0, **kw, **(dict(cls=TTADL) if tta else {}))
    if tta: dl.n_aug = tta
    return dl
