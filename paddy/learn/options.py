"""Training options as fastai callbacks: MixUp or CutMix, an EMA of the weights, and starting from another run's
weights (progressive resizing: train small, then `--init-from` that run at a larger size). Label smoothing is a loss:
see paddy/models/targets.py."""
from pathlib import Path

from paddy.errors import PaddyError


def check(cfg):
    "Refuse impossible option values; `init_from` must name a finished run and replaces pretrained weights."
    for name, value, top in (("label-smoothing", cfg.label_smoothing, 1), ("ema", cfg.ema, 1), ("mixup", cfg.mixup, None), ("cutmix", cfg.cutmix, None)):
        try: ok = float(value) >= 0 and (top is None or float(value) < top)
        except (TypeError, ValueError): ok = False
        if not ok: raise PaddyError(f"bad --{name} {value!r}: give a number >= 0" + (f" and < {top}, e.g. 0.1" if top else ", e.g. 0.4 (0: off)"))
    cfg.label_smoothing, cfg.ema, cfg.mixup, cfg.cutmix = map(float, (cfg.label_smoothing, cfg.ema, cfg.mixup, cfg.cutmix))
    if cfg.mixup and cfg.cutmix: raise PaddyError("--mixup and --cutmix are alternatives: give one of them")
    if (cfg.mixup or cfg.cutmix) and cfg.aux_targets: raise PaddyError("fastai's --mixup and --cutmix mix one target only: drop them or --aux-targets")
    if cfg.init_from:
        from paddy.runs import META, load_meta
        folder = Path(cfg.init_from) if (Path(cfg.init_from) / META).is_file() else Path(cfg.runs_dir) / cfg.init_from
        if not load_meta(folder).finished: raise PaddyError(f"--init-from {cfg.init_from}: that run has not finished training")
        if cfg.weights: raise PaddyError("--init-from and --weights conflict: the run's weights replace pretrained ones; drop one")
        cfg.init_from, cfg.pretrained = str(folder), False


def check_task(cfg, task):
    "Refuse options the competition's task cannot take: label smoothing and pseudo-labels are for class targets."
    if cfg.label_smoothing and task not in ("single", "ordinal"):
        raise PaddyError(f"--label-smoothing smooths one label per image; this is a {task} task: drop it")
    if cfg.pseudo and task not in ("single", "ordinal"):
        raise PaddyError(f"--pseudo labels test images with a predicted class; this is a {task} task: drop it")


def callbacks(cfg):
    "The fastai callbacks `cfg` asks for."
    from fastai.callback.mixup import CutMix, MixUp
    from paddy.learn.ema import EMA
    return ([MixUp(cfg.mixup)] if cfg.mixup else []) + ([CutMix(cfg.cutmix)] if cfg.cutmix else []) + ([EMA(cfg.ema)] if cfg.ema else [])


def init_weights(learn, cfg):
    "Load the weights of run `cfg.init_from` into `learn.model` (same model and heads); returns `learn`."
    if not cfg.init_from: return learn
    from paddy import runs
    from paddy.models import targets
    meta = runs.load_meta(cfg.init_from)
    had, has = list((meta.vocabs or {"target": meta.vocab}).values()), targets.vocabs(learn.dls)
    if had != has or meta.arch != cfg.arch:
        raise PaddyError(f"--init-from {Path(cfg.init_from).name} is a {meta.arch} predicting {', '.join(map(str, map(len, had)))} classes; "
                         f"this run is a {cfg.arch} predicting {', '.join(map(str, map(len, has)))}: continue with the same arch, data and targets")
    learn.model.load_state_dict(runs.load_model(cfg.init_from, meta).state_dict())
    return learn

