"""Every knob of a run in one dataclass: defaults, then a TOML file, then command-line flags."""
import argparse, dataclasses, tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

from paddy.data import split
from paddy.errors import PaddyError
from paddy.infer.predict import BS, TTA
from paddy.learn import options, pseudo, swa, tracking
from paddy.models import compiled, targets
from paddy.scoring import METRICS, TASKS

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


def knob(default, help, make=None, **flag):
    """A Config field declared once: its default, its help, its Make variable (default: the name in capitals) and
    argparse keywords of its flag (`--name-with-dashes`); `parser_flags` and `make_variables` are generated from it."""
    return field(default=default, metadata=dict(help=help, make=make, flag=flag))


@dataclass
class Config:
    "One run's settings. Saved whole into meta.json, so every run can be reproduced."
    data: str | None = knob(None, "competition folder (its sample submission, train CSV or label folders, images anywhere under it); default: the Kaggle kernel's input, else data/SLUG")
    slug: str = knob("paddy-disease-classification", "Kaggle competition slug")
    sample: str | None = knob(None, "the sample submission CSV (its id column and the columns to write); default: sample_submission*.csv", metavar="FILE")
    train_csv: str | None = knob(None, "the training CSV; default: the CSV that has the sample's id column (none: labels are folder names)", metavar="FILE")
    id_col: str | None = knob(None, "the training CSV's id column; default: the sample's id column", metavar="COL")
    target: tuple | None = knob(None, "the training CSV's target column(s), comma-separated (one-hot columns); default: the sample's columns", metavar="COL[,COL]")
    task: str | None = knob(None, "single | multi | regression | ordinal; default: detected from the target (`paddy inspect`)")
    metric: str | None = knob(None, "the competition's metric: accuracy, error_rate, logloss, auc, qwk, rmse, mae, f1, f2, map5; default: by task and submission")
    top_k: int | None = knob(None, "write the K most probable labels per image, space-separated (MAP@K competitions)", type=int, metavar="K")
    arch: str = knob("resnet26d", "model name from `paddy models`, or any timm name")
    size: tuple = knob((128, 128), "final image size H or H,W, after batch augmentation")
    item_size: tuple | None = knob(None, "per-item resize before batch augmentation, H or H,W; default: twice --size")
    resize: str = knob("squish", "item resize method: squish | crop | pad")
    min_scale: float = knob(0.75, "aug_transforms min_scale", type=float)
    flip: bool = knob(True, "random horizontal flips (off for digits and text)")
    valid_pct: float = knob(0.2, "share of each label held out for validation", type=float)
    group_col: str | None = knob(None, "a training CSV column whose groups stay in one split or fold (e.g. patient_id)", metavar="COL")
    seed: int = knob(42, "seed of the split and the training", type=int)
    bs: int = knob(32, "effective batch size (per process under --gpus)", type=int)
    accum: int = knob(1, "gradient accumulation: split each batch into N micro-batches", type=int)
    epochs: int = knob(3, "epochs", type=int)
    method: str = knob("fine_tune", "fine_tune | fit_one_cycle")
    lr: float | str = knob(0.01, "learning rate, or 'auto' for lr_find's valley")
    precision: str = knob("auto", "auto | fp16 | bf16 | fp32 (auto: fp16 on CUDA; on a CPU, what make bench found for its class: fp32 so far)")
    deterministic: bool = knob(False, "on a GPU, cuDNN's deterministic kernels (slower); off: its benchmark mode, the fastest")
    channels_last: bool | None = knob(None, "train in channels_last memory format; default: on where make bench or the GPU check measured it faster (fp16 on a GPU; CPUs with AVX512-BF16 and no AMX)")
    compile: str = knob("auto", "torch.compile the model for training: on | off | auto (auto: off; make bench measured no gain on a CPU, none yet on a GPU)")
    pretrained: bool = knob(True, "start from pretrained weights")
    weights: str | None = knob(None, "local pretrained weights file (safetensors or .pth, timm layout); never uses the network")
    workers: int | None = knob(None, "DataLoader worker processes; default: fastai's", type=int)
    cache: bool = knob(True, "train on resized copies made once per item size (paddy/data/cache.py)")
    cache_dir: str = knob("cache", "where the resized copies live (writable; Kaggle inputs are read-only)")
    label_smoothing: float = knob(0.0, "label-smoothing eps of the cross-entropy, e.g. 0.1; 0: off", type=float)
    mixup: float = knob(0.0, "MixUp alpha, e.g. 0.4; 0: off", type=float)
    cutmix: float = knob(0.0, "CutMix alpha, e.g. 1.0; 0: off", type=float)
    ema: float = knob(0.0, "validate and save an EMA of the weights with this decay (--ema alone: 0.999); 0: off", type=float, nargs="?", const=0.999)
    init_from: str | None = knob(None, "start from finished run RUN's weights, e.g. at a larger --size (progressive resizing)", metavar="RUN")
    folds: int | None = knob(None, "stratified K-fold: split into K folds and validate on --fold", type=int)
    fold: int | None = knob(None, "the fold (0 to K-1) to validate on", type=int)
    aux_targets: tuple = knob((), "more training CSV columns to predict, each its own head, that help the model learn (e.g. variety)", metavar="COL[,COL]")
    tracker: str | None = knob(None, "also log the run to tensorboard or wandb (optional extras: pip install 'paddy[tensorboard]')")
    pseudo: str | None = knob(None, "add the test images a blend, run or cv folder predicts confidently to the training part (a CSV: with --pseudo-threshold 0)", metavar="SOURCE")
    pseudo_threshold: float = knob(0.9, "least probability of a pseudo-labelled test image", type=float)
    swa: int = knob(0, "average the weights of the last K epochs and keep the average if it validates better; 0: off", type=int)
    name: str | None = knob(None, "run name: the folder runs/NAME; default ARCH-HxW, plus -fI for fold I", make="RUN")
    runs_dir: str = knob("runs", "where run folders live")

    @property
    def run_name(self):
        return self.name or f"{self.arch}-{self.size[0]}x{self.size[1]}" + ("-pl" if self.pseudo else "") + (f"-f{self.fold}" if self.folds else "")

    def to_dict(self):
        return dataclasses.asdict(self)


KEYS = {f.name for f in fields(Config)}
PRECISION_CHOICES = ("fp16", "bf16", "fp32")


@dataclass
class PredictSettings:
    "How `paddy predict` predicts: which runs or blend, on which data, with how much TTA, into which CSV. Declared once, as Config."
    run: tuple | None = knob(None, "run name(s), comma-separated; a cv folder stands for its folds (default: the newest finished run)", metavar="RUN[,RUN]")
    run_weights: tuple | None = knob(None, "ensemble weights, comma-separated, one per run", metavar="W[,W]")
    blend: str | None = knob(None, "predict blend NAME (blends/NAME.json from `paddy blend`): its cv folders, weighted", metavar="NAME")
    data: str | None = knob(None, "competition folder (default: the one the run trained on, where it exists here, else its slug's)")
    slug: str | None = knob(None, "Kaggle competition slug (default: the run's)")
    tta: int = knob(TTA, "TTA: augmented views of each test image beside the plain one (0: plain prediction)", type=int)
    bs: int = knob(BS, "images a batch", type=int)
    workers: int | None = knob(None, "DataLoader worker processes; default: fastai's", type=int)
    out: str | None = knob(None, "the submission CSV (default: submissions/RUN[+RUN].csv, or submissions/BLEND.csv)")
    runs_dir: str = knob("runs", "where run folders live")
    use_checkpoint: bool = knob(False, "predict an unfinished run from its last finished epoch")
    precision: str | None = knob(None, "predict in fp16 | bf16 | fp32 (default: each run's own; on a CPU fp16 runs in fp32, and bf16 is slow without native bf16)")


PREDICT_KEYS = {f.name for f in fields(PredictSettings)}


def predict_settings(**given):
    "PredictSettings from `given` (None: the default), lists or comma-separated strings for run and run_weights, checked."
    unknown = sorted(set(given) - PREDICT_KEYS)
    if unknown: raise PaddyError(f"unknown prediction setting(s): {', '.join(unknown)}")
    s = PredictSettings(**{k: v for k, v in given.items() if v is not None})
    for key in ("run", "run_weights"):
        value = getattr(s, key)
        if isinstance(value, str): value = [v for v in value.split(",") if v]
        setattr(s, key, tuple(value) if value else None)
    _positive("bs", s.bs, int)
    if not (isinstance(s.tta, int) and s.tta >= 0): raise PaddyError(f"bad --tta {s.tta!r}: give the number of augmented views, 0 or more")
    if s.precision is not None: _choice("precision", s.precision, PRECISION_CHOICES)
    return s


COMPETITION_KEYS = ("data", "slug", "sample", "train_csv", "id_col", "target", "task", "metric", "top_k")  # what describes the competition


def parser_flags(parser, only=None, settings=None):
    """Add every field of `settings` (a dataclass of knobs; default Config), or those in `only`, to an argparse parser
    as a flag, its help with the default; defaults are None, so unset flags keep a config file's values."""
    for f in fields(settings or Config):
        if only and f.name not in only: continue
        help, kw = f.metadata["help"], dict(f.metadata["flag"])
        if f.type in (bool, bool | None): kw["action"] = argparse.BooleanOptionalAction
        default = f.default if not isinstance(f.default, tuple) else ",".join(map(str, f.default))
        if default not in (None, "") and ("default" not in help): help += f" (default {default})"
        parser.add_argument(f"--{f.name.replace('_', '-')}", default=None, help=help, **kw)


def make_variables(settings=None):
    "`VAR:flag[:bool]` for every field of `settings` (default Config): the Makefile turns each set VAR into its flag (`make train ARCH=...`)."
    return [f"{f.metadata['make'] or f.name.upper()}:{f.name.replace('_', '-')}" + (":bool" if f.type in (bool, bool | None) else "")
            for f in fields(settings or Config)]


def load_toml(path):
    "Read a TOML config file into a dict of Config keys; unknown keys are refused."
    path = Path(path)
    if not path.is_file(): raise PaddyError(f"config file {path} not found; check the path")
    try: raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e: raise PaddyError(f"config file {path} is not valid TOML: {e}") from e
    unknown = sorted(set(raw) - KEYS)
    if unknown: raise PaddyError(f"unknown key(s) in {path}: {', '.join(unknown)}; valid keys: {', '.join(sorted(KEYS))}")
    return raw


def experiment(name, folder="experiments"):
    "The preset experiments/NAME.toml (`--exp NAME`, `make train EXP=NAME`); an unknown name lists the presets."
    path = Path(folder) / f"{name}.toml"
    if not path.is_file():
        known = sorted(p.stem for p in Path(folder).glob("*.toml"))
        raise PaddyError(f"no preset {name!r} in {folder}/; the presets are {', '.join(known) or 'none (run from the repository)'}")
    return path


def make_config(toml=None, exp=None, **overrides):
    """Defaults, then the TOML file's keys (`toml`, or the preset `exp`), then `overrides` that are not None; checked
    before any heavy work."""
    if toml and exp: raise PaddyError("--config and --exp both name a config file: give one")
    toml = experiment(exp) if exp else toml
    values = load_toml(toml) if toml else {}
    values.update({k: v for k, v in overrides.items() if v is not None})
    unknown = sorted(set(values) - KEYS)
    if unknown: raise PaddyError(f"unknown setting(s): {', '.join(unknown)}")
    cfg = Config(**values)
    return check(cfg)


def cv_config(toml=None, exp=None, **overrides):
    "The Config of a cross-validation (`paddy cv`): K from --folds or the file, 5 by default; every fold gets its own --fold."
    if overrides.get("fold") is not None: raise PaddyError("paddy cv trains every fold: drop --fold (`paddy train --folds K --fold I` trains one)")
    given = load_toml(experiment(exp) if exp else toml) if (toml or exp) else {}
    return make_config(toml, exp, **overrides | dict(folds=overrides.get("folds") or given.get("folds") or 5, fold=0))


RESUME_KEEPS = ("data", "workers", "runs_dir", "cache_dir", "accum")  # this machine's paths and memory: free to change on resume


def resume_config(run, runs_dir="runs", **settings):
    """The saved Config of unfinished run `run` (a name under `runs_dir` or a folder), with only RESUME_KEEPS changed;
    any other setting would change the run and is refused."""
    from paddy.runs import find, load_meta
    given = sorted(k for k, v in settings.items() if v is not None and k not in RESUME_KEEPS)
    if given: raise PaddyError(f"--resume continues a run with its saved settings; drop --{', --'.join(g.replace('_', '-') for g in given)}")
    folder = find(run, runs_dir or "runs")
    saved = {k: v for k, v in load_meta(folder).config.items() if k in KEYS}
    return make_config(None, **saved | {k: v for k, v in settings.items() if v is not None} | dict(runs_dir=str(folder.parent), name=folder.name))


def to_flags(cfg, only=None):
    """The command-line flags that rebuild `cfg` (its fields, or those in `only`, that differ from the defaults), e.g.
    for a run under torchrun."""
    flags = []
    for f in fields(Config):
        if only and f.name not in only: continue
        value = getattr(cfg, f.name)
        if value == f.default: continue
        name = f"--{f.name.replace('_', '-')}"
        if isinstance(value, bool): flags.append(name if value else f"--no-{name[2:]}")
        else: flags += [name, ",".join(map(str, value)) if isinstance(value, tuple) else str(value)]
    return flags


def check(cfg):
    "Normalize types and refuse impossible values with a message that names the fix."
    cfg.size = parse_size(cfg.size)
    cfg.item_size = parse_size(cfg.item_size) if cfg.item_size is not None else (cfg.size[0] * 2, cfg.size[1] * 2)
    _choice("resize", cfg.resize, RESIZE_METHODS)
    _choice("method", cfg.method, TRAIN_METHODS)
    _choice("precision", cfg.precision, PRECISIONS)
    _choice("compile", cfg.compile, compiled.CHOICES)
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
    if cfg.task is not None: _choice("task", cfg.task, TASKS)
    if cfg.metric is not None: _choice("metric", cfg.metric, tuple(METRICS))
    if cfg.top_k is not None: _positive("top-k", cfg.top_k, int)
    if isinstance(cfg.target, str): cfg.target = tuple(c.strip() for c in cfg.target.split(",") if c.strip()) or None
    elif cfg.target is not None: cfg.target = tuple(cfg.target)
    for part in (targets, options, split, tracking, swa, pseudo): part.check(cfg)
    return cfg


def _choice(name, value, allowed):
    if value not in allowed: raise PaddyError(f"bad --{name} {value!r}: choose one of {', '.join(allowed)}")


def _positive(name, value, kind):
    try: ok = kind(value) > 0 and kind(value) == value
    except (TypeError, ValueError): ok = False
    if not ok: raise PaddyError(f"bad --{name} {value!r}: give a positive {'whole ' if kind is int else ''}number")


if __name__ == "__main__":  # the Makefile's variables: of a run, of the competition's description (--competition), of a prediction (--predict)
    import sys
    if "--predict" in sys.argv: print(" ".join(make_variables(PredictSettings)))
    else: print(" ".join(v for v in make_variables() if "--competition" not in sys.argv or v.split(":")[1].replace("-", "_") in COMPETITION_KEYS))
