"""Every knob of a run in one dataclass: defaults, then a TOML file, then command-line flags."""
import dataclasses, tomllib
from dataclasses import dataclass, fields
from pathlib import Path

from paddy.data import split
from paddy.errors import PaddyError
from paddy.learn import options, pseudo, swa, tracking
from paddy.models import targets

RESIZE_METHODS = ("squish", "crop", "pad")
TRAIN_METHODS = ("fine_tune", "fit_one_cycle")
PRECISIONS = ("auto", "fp16", "bf16", "fp32")


def parse_size(text):
    "`'128'` → (128, 128); `'256,192'` → (256, 192): fastai sizes are (height, width)."
    if isinstance(text, (list, tuple)): parts = list(text)
    elif isinstance(text, int): parts = [text]
    else: parts = str(text).replace("x", ",").split(",")
    try: size = tuple(int(p) for p in parts)
    except ValueError: size = ()
    if len(size) == 1: size = size * 2
    if len(size) != 2 or min(size) <= 0:
        raise PaddyError(f"bad size {text!r}: give H or H,W in pixels, e.g. --size 224 or --size 256,192")
    return size


@dataclass
class Config:
    "One run's settings. Saved whole into meta.json, so every run can be reproduced."
    data: str | None = None          # competition folder; None: Kaggle kernel input or data/<slug>
    slug: str = "paddy-disease-classification"
    arch: str = "resnet26d"
    size: tuple = (128, 128)         # final (H, W) after batch augmentation
    item_size: tuple | None = None   # per-item resize before batching; None: twice `size`
    resize: str = "squish"
    min_scale: float = 0.75
    flip: bool = True                # random horizontal flips (off for digits and text)
    valid_pct: float = 0.2
    seed: int = 42
    bs: int = 32                     # effective batch size
    accum: int = 1                   # micro-batches per step: each holds bs // accum images
    epochs: int = 3
    method: str = "fine_tune"
    lr: float | str = 0.01           # a number, or "auto" for lr_find's valley
    precision: str = "auto"
    deterministic: bool = False      # cuDNN's deterministic kernels on a GPU; default: its benchmark mode (fastest)
    channels_last: bool | None = None  # channels_last memory format; None: on for fp16 on a GPU (paddy/models/precision.py)
    pretrained: bool = True
    weights: str | None = None       # local weights file in timm layout; never touches the network
    workers: int | None = None       # DataLoader workers; None: fastai's default
    cache: bool = True               # train on resized copies made once per item size (paddy/data/cache.py)
    cache_dir: str = "cache"         # where those copies live (writable; Kaggle inputs are read-only)
    label_smoothing: float = 0.0     # eps of label-smoothing cross-entropy; 0: plain cross-entropy (paddy/models/targets.py)
    mixup: float = 0.0               # MixUp alpha; 0: off (paddy/learn/options.py)
    cutmix: float = 0.0              # CutMix alpha; 0: off
    ema: float = 0.0                 # decay of an EMA of the weights, used to validate and saved; 0: off
    init_from: str | None = None     # start from a finished run's weights, e.g. a smaller size (progressive resizing)
    folds: int | None = None         # stratified K-fold: validate on fold `fold` of `folds` instead of valid_pct
    fold: int | None = None
    targets: tuple = ("label",)      # train.csv columns the model predicts, one head each; the first is the submission's
    tracker: str | None = None       # experiment tracker: tensorboard | wandb (optional extras, paddy/learn/tracking.py); None: off
    pseudo: str | None = None        # blend, run or CSV whose confident test predictions join the training part (paddy/learn/pseudo.py)
    pseudo_threshold: float = 0.9    # least probability of a pseudo-labelled test image (0: every image; a CSV needs 0)
    swa: int = 0                     # average the weights of the last K epochs, keep it if it validates better (paddy/learn/swa.py); 0: off
    name: str | None = None          # run folder name; None: <arch>-<H>x<W>[-pl][-f<fold>]
    runs_dir: str = "runs"

    @property
    def run_name(self):
        return self.name or f"{self.arch}-{self.size[0]}x{self.size[1]}" + ("-pl" if self.pseudo else "") + (f"-f{self.fold}" if self.folds else "")

    @property
    def presize(self):
        return tuple(self.item_size) if self.item_size else (self.size[0] * 2, self.size[1] * 2)

    def to_dict(self):
        return dataclasses.asdict(self)


KEYS = {f.name for f in fields(Config)}


def load_toml(path):
    "Read a TOML config file into a dict of Config keys; unknown keys are refused."
    path = Path(path)
    if not path.is_file(): raise PaddyError(f"config file {path} not found; check the path")
    try: raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e: raise PaddyError(f"config file {path} is not valid TOML: {e}") from e
    unknown = sorted(set(raw) - KEYS)
    if unknown: raise PaddyError(f"unknown key(s) in {path}: {', '.join(unknown)}; valid keys: {', '.join(sorted(KEYS))}")
    return raw


def make_config(toml=None, **overrides):
    "Defaults, then the TOML file's keys, then `overrides` that are not None; checked before any heavy work."
    values = load_toml(toml) if toml else {}
    values.update({k: v for k, v in overrides.items() if v is not None})
    unknown = sorted(set(values) - KEYS)
    if unknown: raise PaddyError(f"unknown setting(s): {', '.join(unknown)}")
    cfg = Config(**values)
    return check(cfg)


def check(cfg):
    "Normalize types and refuse impossible values with a message that names the fix."
    cfg.size = parse_size(cfg.size)
    if cfg.item_size is not None: cfg.item_size = parse_size(cfg.item_size)
    _choice("resize", cfg.resize, RESIZE_METHODS)
    _choice("method", cfg.method, TRAIN_METHODS)
    _choice("precision", cfg.precision, PRECISIONS)
    if isinstance(cfg.lr, str) and cfg.lr != "auto":
        try: cfg.lr = float(cfg.lr)
        except ValueError: raise PaddyError(f"bad --lr {cfg.lr!r}: give a number such as 0.01, or 'auto' to use lr_find") from None
    _positive("epochs", cfg.epochs, int)
    _positive("bs", cfg.bs, int)
    _positive("accum", cfg.accum, int)
    if cfg.lr != "auto": _positive("lr", cfg.lr, float)
    if cfg.bs % cfg.accum: raise PaddyError(f"--bs {cfg.bs} is not divisible by --accum {cfg.accum}; each step splits bs into accum equal micro-batches")
    if not 0 < float(cfg.valid_pct) < 1: raise PaddyError(f"--valid-pct {cfg.valid_pct} must be between 0 and 1, e.g. 0.2")
    if not 0 < float(cfg.min_scale) <= 1: raise PaddyError(f"--min-scale {cfg.min_scale} must be in (0, 1], e.g. 0.75")
    if cfg.weights and not cfg.pretrained: raise PaddyError("--weights and --no-pretrained conflict: drop one of them")
    if cfg.weights and not Path(cfg.weights).is_file(): raise PaddyError(f"weights file {cfg.weights} not found; check the path")
    for part in (targets, options, split, tracking, swa, pseudo): part.check(cfg)
    return cfg


def _choice(name, value, allowed):
    if value not in allowed: raise PaddyError(f"bad --{name} {value!r}: choose one of {', '.join(allowed)}")


def _positive(name, value, kind):
    try: ok = kind(value) > 0 and kind(value) == value
    except (TypeError, ValueError): ok = False
    if not ok: raise PaddyError(f"bad --{name} {value!r}: give a positive {'whole ' if kind is int else ''}number")
