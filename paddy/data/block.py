"""The DataBlock builder: fastai's recipe (presizing: a resize to the item size per item, augment and normalize per batch) and its DataLoaders for
training and for test images."""
import pandas as pd

from paddy.data.layout import data_root, train_items
from paddy.data.split import fold_valid_idx, stratified_split
from paddy.errors import PaddyError
from paddy.models import targets


def item_resize(size, method):
    "fastai's Resize for `method` squish | crop | pad (pad with zeros, as the recipe)."
    from fastai.vision.all import Resize, ResizeMethod, PadMode
    kind = {"squish": ResizeMethod.Squish, "crop": ResizeMethod.Crop, "pad": ResizeMethod.Pad}[method]
    return Resize(tuple(size), method=kind, pad_mode=PadMode.Zeros)


def datablock(vocab, valid_idx, size, item_size, resize="squish", min_scale=0.75, flip=True, mean=None, std=None, unreadable=(), extra=()):
    """The DataBlock over a frame with `path` and `label` columns: resized to `item_size` per item, augment and normalize per batch; `unreadable` paths read as black.
    `extra` [(column, vocab)] adds a target per column after label (paddy/models/targets.py)."""
    from fastai.vision.all import DataBlock, ImageBlock, CategoryBlock, ColReader, IndexSplitter, Normalize
    from paddy.data.augment import batch_augment
    from paddy.data.images import OpenImage
    batch_tfms = batch_augment(size, min_scale, flip)
    if mean is not None: batch_tfms.append(Normalize.from_stats(mean, std))
    ys = [("label", vocab), *extra]
    return DataBlock(blocks=(ImageBlock, *[CategoryBlock(vocab=list(v)) for _, v in ys]), n_inp=1,
                     get_x=OpenImage(max(item_size), unreadable), get_y=[ColReader(c) for c, _ in ys],
                     splitter=IndexSplitter(valid_idx),
                     item_tfms=item_resize(item_size, resize), batch_tfms=batch_tfms)


def seed(value, deterministic=False):
    """fastai's set_seed for every RNG. On a GPU, cuDNN runs in benchmark mode (it times its kernels once and keeps the
    fastest) unless `deterministic`, which fixes it to deterministic kernels, as set_seed(reproducible=True) does."""
    import torch
    from fastai.vision.all import set_seed
    set_seed(value, reproducible=deterministic)
    if not deterministic: torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = False, True


def dataloaders(cfg, spec, items=None, train_only=None):
    """Train/valid DataLoaders for a Config and a ModelSpec: the fastai recipe, split stratified and seeded.
    `train_only` rows (pseudo-labels, paddy/learn/pseudo.py) join the training part after the split, never validation."""
    items = train_items(data_root(cfg.slug, cfg.data)) if items is None else items
    vocab = sorted(items.label.unique())
    if len(vocab) < 2: raise PaddyError(f"train.csv has only one label ({vocab[0]}); a classifier needs at least two")
    micro_bs = cfg.bs // cfg.accum
    n_train = len(items) - int(round(len(items) * cfg.valid_pct))
    if micro_bs > n_train: raise PaddyError(f"batch size {micro_bs} is larger than the {n_train} training images; lower --bs")
    if cfg.cache:
        from paddy.data.cache import cached
        items = items.assign(path=cached(items.path, cfg.item_size, cfg.cache_dir, cfg.resize))
    seed(cfg.seed, cfg.deterministic)
    valid_idx = fold_valid_idx(items.label, cfg.folds, cfg.fold, cfg.seed) if cfg.folds else stratified_split(items.label, cfg.valid_pct, cfg.seed)
    if train_only is not None: items = pd.concat([items, train_only], ignore_index=True)  # after valid_idx: training only
    block = datablock(vocab, valid_idx, cfg.size, cfg.item_size, cfg.resize, cfg.min_scale, cfg.flip, spec.mean, spec.std,
                      extra=targets.extra(cfg, items))
    from paddy.data.loader import WorkerBatchDL
    kw = {} if cfg.workers is None else dict(num_workers=cfg.workers)
    return block.dataloaders(items, bs=micro_bs, seed=cfg.seed, dl_type=WorkerBatchDL, **kw)


def test_dataloader(meta, files, bs=64, workers=None, unreadable=(), tta=0):
    """A DataLoader over test `files` with a run's transforms; `unreadable` ones read as black. With `tta` n, each batch
    holds n augmented views of every image and the plain one (paddy.data.loader.TTADL). `meta`: the run's RunMeta."""
    vocab = meta.vocab
    readable = [f for f in files if f not in unreadable]
    if meta.config.get("cache") and readable:
        from paddy.data.cache import cached
        small = dict(zip(readable, cached(readable, meta.item_size, meta.config["cache_dir"], meta.resize)))
        files = [small.get(f, f) for f in files]
    from paddy.data.loader import TTADL, WorkerBatchDL
    stub = pd.DataFrame({"path": [files[0], files[0]], "label": [vocab[0], vocab[0]]})
    block = datablock(vocab, [1], meta.size, meta.item_size, meta.resize, meta.min_scale, meta.flip, meta.mean, meta.std, unreadable)
    kw = {} if workers is None else dict(num_workers=workers)
    dls = block.dataloaders(stub, bs=bs, dl_type=WorkerBatchDL, **kw)
    dl = dls.test_dl(list(files), bs=bs, rm_type_tfms=0, **kw, **(dict(cls=TTADL) if tta else {}))
    if tta: dl.n_aug = tta
    return dl
