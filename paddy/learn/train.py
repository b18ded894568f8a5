"""The trainer: a fastai Learner over a timm model, lr_find, fine_tune or fit_one_cycle, and the run folder."""
import dataclasses, sys, time
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

import pandas as pd
from fastai.callback.core import Callback
from fastcore.basics import noop

from paddy import errors, runs
from paddy.data import block, checks, competition
from paddy.data.layout import ImageIndex
from paddy.errors import PaddyError
from paddy.learn import distributed, options, pseudo, swa, tracking, valid
from paddy.learn.checkpoint import Checkpoint, ResumedFit, restore_opt, restore_state, resumable
from paddy.models import compiled, precision, targets, zoo


def learner(dls, spec, cfg, task="single", metric="accuracy", stats=None, path=".", classes=None):
    """fastai's vision_learner for `spec`, spelled out over `zoo.create_model` (its timm branch: default_split, frozen
    when pretrained), with the task's loss, the competition's metric, gradient accumulation and the resolved precision."""
    from fastai.vision.all import GradientAccumulation, Learner, default_split
    cbs = ([GradientAccumulation(cfg.bs)] if cfg.accum > 1 else []) + options.callbacks(cfg)
    heads = targets.head_kwargs(cfg, task, metric, dls, stats, classes)
    try: model = zoo.create_model(spec.timm_name, heads.pop("n_out"), cfg.pretrained, cfg.weights)
    except (OSError, RuntimeError) as e:  # hub unreachable (OSError), or a weights file that does not fit
        if not cfg.pretrained: raise
        reason = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
        if cfg.weights: raise PaddyError(f"--weights {cfg.weights} does not load into {spec.timm_name} ({reason}); "
                                         "pass a file in timm's layout for that model") from e
        raise PaddyError(f"could not fetch pretrained weights for {spec.timm_name} ({type(e).__name__}); "
                         "pass --weights FILE for a local copy, or --no-pretrained") from e
    learn = Learner(dls, model, splitter=default_split, cbs=cbs, path=path, model_dir=".tmp", **heads)
    if cfg.pretrained: learn.freeze()
    prec = precision.resolve(cfg.precision)
    precision.apply(options.init_weights(learn, cfg), prec, precision.channels_last(cfg.channels_last, prec))
    if compiled.wanted(cfg.compile): compiled.apply(learn.model)
    return bars_off(learn)


def suggest_lr(learn, folder):
    "fastai's lr_find with the valley and slide suggestions; the plot is saved as lr_find.png in `folder`."
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from fastai.vision.all import valley, slide
    from paddy.files import atomic_path
    try: sugg = learn.lr_find(suggest_funcs=(valley, slide), show_plot=True)
    except IndexError:  # fastai's suggestions index an empty record when the loss diverged within the first steps
        plt.close("all")
        raise PaddyError(f"lr_find stopped after {len(learn.recorder.lrs)} steps: the loss diverged before a rate could be "
                         "suggested; give a rate with --lr, e.g. --lr 0.001") from None
    with atomic_path(Path(folder) / "lr_find.png") as tmp: plt.gcf().savefig(tmp, format="png", dpi=80)
    plt.close("all")
    return dict(valley=float(sugg.valley), slide=float(sugg.slide))


class History(Callback):
    """Collects fastai's per-epoch record across the fits of fine_tune; prints one line an epoch when `echo`.
    `rows` are the epochs of a resumed run; `offset` is the current fit's first epoch in the whole run."""
    order = 51  # after Recorder has its epoch log

    def __init__(self, total, echo=False, rows=()):
        self.total, self.echo, self.rows, self.offset = total, echo, list(rows), 0

    def after_epoch(self):
        if self.offset + self.epoch < len(self.rows): return  # an epoch a resumed fit skipped (SkipToEpoch)
        rec = self.learn.recorder
        row = dict(zip(rec.metric_names, [len(self.rows), *rec.log[1:]]))
        self.rows.append(row)
        if self.echo:
            stats = " ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in list(row.items())[1:])
            print(f"epoch {len(self.rows)}/{self.total} {stats}", flush=True)

    def frame(self):
        return pd.DataFrame(self.rows)


def bars_off(learn):
    "No progress bars when stdout is not a terminal (Kaggle kernel logs, CI): History prints a line an epoch instead."
    from fastai.callback.progress import ProgressCallback
    if not sys.stdout.isatty():
        learn.remove_cb(ProgressCallback)
        learn.logger = noop
    return learn


def describe(cfg, spec, prec, comp):
    "The RunMeta of a run from its settings: what predict needs, the competition as detected, the full config, and versions."
    return runs.RunMeta(name=cfg.run_name, arch=cfg.arch, timm_name=spec.timm_name, size=list(cfg.size),
                        item_size=list(cfg.item_size), resize=cfg.resize, min_scale=cfg.min_scale, flip=cfg.flip, mean=list(spec.mean),
                        std=list(spec.std), precision=prec, channels_last=precision.channels_last(cfg.channels_last, prec),
                        competition=dataclasses.asdict(comp), config=cfg.to_dict(), versions=runs.versions())


def usable_items(items):
    "The training images minus those that do not decode (one warning names them). Returns (items, {id: reason})."
    bad = checks.scan(items.path)
    if len(bad) == len(items): raise PaddyError(f"none of the {len(items)} training images decodes, e.g. {checks.describe_bad(bad)}")
    if bad: errors.warn(f"skipping {len(bad)} unreadable training image(s) of {len(items)}: {checks.describe_bad(bad)}")
    why = {str(p): r for p, r in bad.items()}
    return items[~items.path.isin(list(bad))].reset_index(drop=True), {i: why[str(p)] for i, p in zip(items.id, items.path) if str(p) in why}


class Prepared(NamedTuple):
    "Everything a run needs before its Learner: the model's spec and precision, the competition, DataLoaders, skipped images, target statistics."
    spec: zoo.ModelSpec
    precision: str
    comp: competition.Competition
    dls: object
    skipped: dict
    stats: dict


def prepare(cfg):
    """Everything before training, checked in the cheap order: arch and size, precision, the competition's description,
    then the data (every image decoded once)."""
    spec = zoo.spec(cfg.arch)
    spec.check_size(cfg.size)
    prec = precision.resolve(cfg.precision)
    comp = competition.from_config(cfg)
    options.check_task(cfg, comp.task)
    index = ImageIndex(comp.root)
    items, skipped = usable_items(competition.train_items(comp, index))
    valid_idx = block.valid_split(cfg, comp.task, items)
    stats = block.target_stats(comp.task, items, valid_idx)
    dls = block.dataloaders(cfg, spec, comp.task, items, valid_idx, stats, pseudo.rows(cfg, comp, items, index),
                            targets.extra(cfg, items, comp.task), comp.classes)
    return Prepared(spec, prec, comp, dls, skipped, stats)


def lr_find(cfg):
    "Run lr_find for `cfg` into its run folder; returns the suggestions."
    p = prepare(cfg)
    folder = Path(cfg.runs_dir) / cfg.run_name
    folder.mkdir(parents=True, exist_ok=True)
    return suggest_lr(learner(p.dls, p.spec, cfg, p.comp.task, p.comp.metric, p.stats, folder, p.comp.classes), folder)


def phases(cfg, lr):
    """The one-cycle fits of a run as (frozen, epochs, lr, kwargs): fastai's fine_tune spelled out (one frozen epoch,
    then lr/2 over slice(lr/200, lr/2)), so that a resumed run can enter either fit at any epoch."""
    if cfg.method == "fine_tune":
        return [(True, 1, slice(lr), dict(pct_start=0.99)), (False, cfg.epochs, slice(lr / 200, lr / 2), dict(pct_start=0.3, div=5.0))]
    return [(False, cfg.epochs, lr, {})]  # every layer from the start (vision_learner freezes a pretrained body)


def fit(learn, cfg, lr, history, saved=None):
    "Run the phases; with a checkpoint `saved` = (tensors, info), continue after its last finished epoch on the same schedule."
    done = saved[1]["epochs_done"] if saved else 0
    if saved:
        learn.model.to(learn.dls.device)  # where fit would put it: the EMA and optimizer state are restored beside it
        restore_state(learn, *saved)
    first = 0
    for frozen, n, lr_arg, kw in phases(cfg, lr):
        if done < first + n:
            if frozen: learn.freeze()
            else: learn.unfreeze()  # clears the optimizer state, as fine_tune does between its fits
            mid = done > first  # resuming inside this fit: its optimizer state and smoothed loss carry on
            if mid: restore_opt(learn, *saved)
            history.offset = first
            learn.fit_one_cycle(n, lr_arg, start_epoch=max(0, done - first), cbs=[ResumedFit(saved[1])] if mid else None, **kw)
        first += n


def train(cfg, resume=False):
    """Train a run from a Config; returns its folder (runs/<name>/) with weights, meta.json and history.csv.
    Each finished epoch is checkpointed; `resume` continues the run folder's unfinished run from its checkpoint."""
    distributed.setup()  # each process's GPU, before any data or model is put on one
    spec, prec, comp, dls, skipped, stats = prepare(cfg)
    if distributed.rank() == 0: print("\n".join(competition.summary(comp)[:2]), flush=True)
    folder = distributed.run_folder(Path(cfg.runs_dir) / cfg.run_name)  # rank 0's; other ranks write a scratch copy
    meta = replace(describe(cfg, spec, prec, comp), n_train=len(dls.train_ds), n_valid=len(dls.valid_ds), skipped_images=skipped,
                   **stats, **targets.meta(cfg, comp, dls), **distributed.meta(), **pseudo.meta(cfg, dls))
    saved = resumable(folder, meta) if resume else None
    learn = learner(dls, spec, cfg, comp.task, comp.metric, stats, folder, comp.classes)  # weights that fail to load leave no run folder behind
    if not resume: runs.start(folder, meta)
    lr = saved[1]["lr"] if saved else cfg.lr
    total = cfg.epochs + (cfg.method == "fine_tune")
    history = History(total, echo=not sys.stdout.isatty(), rows=saved[1]["history"] if saved else ())
    start, graphs = time.time(), compiled.graphs()
    with out_of_memory_hint(cfg, folder):
        if lr == "auto":  # found once, on rank 0, when several processes train
            meta.lr_find = distributed.same_on_every_rank(lambda: suggest_lr(learn, folder))
            lr = meta.lr_find["valley"]
        learn.add_cbs([history, Checkpoint(folder, history, dict(lr=lr, epochs_total=total)), *tracking.callbacks(cfg, folder),
                       *swa.callbacks(cfg, history)])
        with distributed.context(learn, cfg.size): fit(learn, cfg, lr, history, saved)
    averaged = swa.finish(learn, comp.metric)  # --swa: the final or the averaged weights, whichever validates better
    runs.save_weights(folder, learn.model)
    hist = history.frame()
    meta = replace(meta, lr=lr, train_seconds=round(time.time() - start, 1), history=hist.to_dict("records"),
                   valid_error=float(hist["error_rate"].iloc[-1]) if "error_rate" in hist else None)
    meta = replace(meta, **averaged)  # --swa: its scores, and the valid_error of the weights kept
    if distributed.rank() == 0: meta = replace(meta, **valid.save(folder, meta, valid.evaluate(learn, meta, workers=cfg.workers)))  # decoder, scores, report
    if compiled.wanted(cfg.compile): meta = replace(meta, compile_graphs=compiled.graphs() - graphs)
    runs.finish(folder, meta, hist)
    release(learn)
    return folder


@contextmanager
def out_of_memory_hint(cfg, folder):
    "CUDA running out of memory becomes one line: the model, size and micro-batch, and what to change (`--accum`)."
    import torch
    try: yield
    except torch.cuda.OutOfMemoryError:
        h, w = cfg.size
        what = f"out of GPU memory training {cfg.arch} at {h}x{w} in micro-batches of {cfg.bs // cfg.accum} images"
        more = f"--accum {cfg.accum * 2}" if cfg.bs % (cfg.accum * 2) == 0 else None
        if (Path(folder) / runs.CHECKPOINT).is_file() and more:
            raise PaddyError(f"{what}: the last finished epoch is saved; continue in smaller micro-batches with "
                             f"`paddy train --resume {cfg.run_name} {more}`") from None
        raise PaddyError(f"{what}: " + (f"use {more} (the same {cfg.bs} images a step) or a smaller --bs" if more else
                                        "use a smaller --bs or --size, or a smaller model")) from None


def release(learn):
    """Free a finished Learner as soon as the caller drops it, not at some later garbage collection (its callbacks and
    it refer to each other), and return the GPU memory it cached: `paddy cv` trains fold after fold."""
    import gc, torch
    learn.remove_cbs(list(learn.cbs))  # each callback lets go of the Learner
    learn.model = learn.opt = None
    gc.collect()
    if torch.cuda.is_available(): torch.cuda.empty_cache()
