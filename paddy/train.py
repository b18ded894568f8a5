"""The trainer: a fastai Learner over a timm model, lr_find, fine_tune or fit_one_cycle, and the run folder."""
import sys, time
from pathlib import Path

import pandas as pd
from fastai.callback.core import Callback
from fastcore.basics import noop

from . import data, precision, runs, zoo
from .errors import PaddyError


def learner(dls, spec, cfg, path="."):
    "fastai's vision_learner for `spec`, with error_rate, gradient accumulation and the resolved precision."
    from fastai.vision.all import vision_learner, error_rate, GradientAccumulation
    cbs = [GradientAccumulation(cfg.bs)] if cfg.accum > 1 else []
    try:
        learn = vision_learner(dls, spec.timm_name, metrics=error_rate, normalize=False, cbs=cbs, path=path,
                               model_dir=".tmp", **zoo.create_kwargs(cfg.pretrained, cfg.weights))
    except (OSError, RuntimeError) as e:  # hub unreachable (OSError), or a weights file that does not fit
        if not cfg.pretrained: raise
        reason = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
        if cfg.weights: raise PaddyError(f"--weights {cfg.weights} does not load into {spec.timm_name} ({reason}); "
                                         "pass a file in timm's layout for that model") from e
        raise PaddyError(f"could not fetch pretrained weights for {spec.timm_name} ({type(e).__name__}); "
                         "pass --weights FILE for a local copy, or --no-pretrained") from e
    return bars_off(precision.apply(learn, precision.resolve(cfg.precision)))


def lr_find(learn, folder):
    "fastai's lr_find with the valley and slide suggestions; the plot is saved as lr_find.png in `folder`."
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from fastai.vision.all import valley, slide
    from .files import atomic_path
    sugg = learn.lr_find(suggest_funcs=(valley, slide), show_plot=True)
    with atomic_path(Path(folder) / "lr_find.png") as tmp: plt.gcf().savefig(tmp, format="png", dpi=80)
    plt.close("all")
    return dict(valley=float(sugg.valley), slide=float(sugg.slide))


class History(Callback):
    "Collects fastai's per-epoch record across the fits of fine_tune; prints one line an epoch when `echo`."
    order = 51  # after Recorder has its epoch log

    def __init__(self, total, echo=False):
        self.total, self.echo, self.rows = total, echo, []

    def after_epoch(self):
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


def describe(cfg, spec, prec):
    "The meta.json of a run: what predict needs, the full config, and versions."
    return dict(name=cfg.run_name, arch=cfg.arch, timm_name=spec.timm_name, size=list(cfg.size),
                presize=list(cfg.presize), resize=cfg.resize, min_scale=cfg.min_scale, flip=cfg.flip, mean=list(spec.mean),
                std=list(spec.std), precision=prec, config=cfg.to_dict(), versions=runs.versions())


def prepare(cfg):
    "Everything before training, checked in the cheap order: arch and size, precision, then the data."
    spec = zoo.spec(cfg.arch)
    spec.check_size(cfg.size)
    prec = precision.resolve(cfg.precision)
    dls = data.dataloaders(cfg, spec)
    return spec, prec, dls


def find_lr(cfg):
    "Run lr_find for `cfg` into its run folder; returns the suggestions."
    spec, prec, dls = prepare(cfg)
    folder = Path(cfg.runs_dir) / cfg.run_name
    folder.mkdir(parents=True, exist_ok=True)
    return lr_find(learner(dls, spec, cfg, folder), folder)


def train(cfg):
    "Train a run from a Config; returns its folder (runs/<name>/) with weights, meta.json and history.csv."
    spec, prec, dls = prepare(cfg)
    meta = describe(cfg, spec, prec) | dict(vocab=list(dls.vocab), n_train=len(dls.train_ds), n_valid=len(dls.valid_ds))
    folder = runs.start(Path(cfg.runs_dir) / cfg.run_name, meta)
    learn = learner(dls, spec, cfg, folder)
    lr = cfg.lr
    if lr == "auto":
        meta["lr_find"] = lr_find(learn, folder)
        lr = meta["lr_find"]["valley"]
    history = History(cfg.epochs + (cfg.method == "fine_tune"), echo=not sys.stdout.isatty())
    learn.add_cb(history)
    start = time.time()
    if cfg.method == "fine_tune": learn.fine_tune(cfg.epochs, lr)
    else:  # every layer from the start (vision_learner freezes a pretrained body)
        learn.unfreeze()
        learn.fit_one_cycle(cfg.epochs, lr)
    runs.save_weights(folder, learn.model)
    hist = history.frame()
    meta |= dict(lr=lr, train_seconds=round(time.time() - start, 1), history=hist.to_dict("records"),
                 valid_error=float(hist["error_rate"].iloc[-1]) if "error_rate" in hist else None)
    runs.finish(folder, meta, hist)
    return folder
