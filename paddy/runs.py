"""Run folders, the unit of exchange: weights (safetensors), meta.json (a RunMeta), history.csv, lr_find.png, test_probs.npy.

A run folder holds everything needed to predict, and nothing in it is loaded with pickle. While a run trains,
checkpoint.safetensors holds its last finished epoch: tensors (weights, optimizer state, RNG states) plus a JSON
header entry with the rest (epochs done, lr, history, RNG states), in one file so a kill never leaves half of it.
"""
import dataclasses, errno, json, platform
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from paddy.errors import PaddyError, warn
from paddy.files import atomic_path, write_json
from paddy.preds import VALID_FILES

WEIGHTS, META, HISTORY, PROBS, PROB_IDS = "model.safetensors", "meta.json", "history.csv", "test_probs.npy", "test_ids.json"
CHECKPOINT = "checkpoint.safetensors"
CV_JSON = "cv.json"  # a cv folder (`paddy cv`): its fold runs and scores; oof.csv beside it (paddy/preds.py)


@dataclass
class RunMeta:
    """meta.json: a run's record, one field per key (written whole by `write_meta`, read back by `load_meta`). A run
    fills it as it goes: `start` writes what the data and settings give, `finish` the training's results; predict adds
    test_unreadable and tta. A field a run has not reached (or a feature it did not use) stays at its default."""
    name: str | None = None  # the run's name: its folder under runs_dir
    arch: str | None = None  # the model name it was asked for (`paddy models`, or a timm name)
    timm_name: str | None = None  # the timm model it resolved to
    size: list | None = None  # [height, width] after batch augmentation
    item_size: list | None = None  # [height, width] of the per-item resize
    resize: str | None = None  # item resize method: squish | crop | pad
    min_scale: float | None = None  # aug_transforms' min_scale
    flip: bool | None = None  # random horizontal flips
    mean: list | None = None  # the model's normalization: per-channel mean
    std: list | None = None  # and standard deviation
    precision: str | None = None  # the resolved precision it trained in: fp16 | bf16 | fp32
    channels_last: bool | None = None  # trained in channels_last memory format
    config: dict = field(default_factory=dict)  # the whole Config (Config.to_dict), to reproduce or resume the run
    versions: dict = field(default_factory=dict)  # library versions (`versions()`)
    competition: dict | None = None  # the competition as detected (paddy.data.competition.Competition): task, metric, submission
    vocab: list | None = None  # the target's classes (tags), in output order; [] for a regression
    target_range: list | None = None  # a regression's [lowest, highest] training value: the model learns the value scaled to [0, 1] in it
    n_train: int | None = None  # training images (pseudo-labelled ones included)
    n_valid: int | None = None  # validation images
    skipped_images: dict = field(default_factory=dict)  # {image_id: reason} of training images that do not decode
    targets: list | None = None  # the heads: the target, then --aux-targets
    vocabs: dict | None = None  # {target: classes} of every head
    n_out: int | None = None  # the model's output width (all heads)
    world_size: int | None = None  # processes that trained it
    pseudo: dict | None = None  # --pseudo: source, kind, threshold, n and {image_id: label} of the test images added
    lr_find: dict | None = None  # --lr auto: lr_find's suggestions {valley, slide}
    lr: float | None = None  # the learning rate it trained with
    train_seconds: float | None = None  # wall time of the training
    compile_graphs: int | None = None  # --compile on: the graphs dynamo compiled while training and validating (each recompile adds one)
    history: list = field(default_factory=list)  # one dict per epoch: fastai's recorder row (losses, error rates)
    valid_error: float | None = None  # a class target's validation error of the weights kept (fastai's error_rate)
    swa: dict | None = None  # --swa: the epochs averaged, final and averaged scores, which was kept
    decoder: dict | None = None  # fitted on the validation predictions: thresholds, cut points (paddy.scoring.fit_decoder)
    valid_score: float | None = None  # the competition's metric on validation, predicted as `paddy predict` does, plain
    valid_score_tta: float | None = None  # and with TTA
    valid_tta: int | None = None  # the TTA views of valid_score_tta
    finished: bool = False  # training finished: model.safetensors holds the final weights
    test_unreadable: dict | None = None  # {file name: reason} of the test images the last predict could not decode
    tta: int | None = None  # the TTA views of the last predict


def versions():
    "Library versions recorded with every run."
    import fastai, timm, torch
    from paddy import __version__
    return dict(paddy=__version__, fastai=fastai.__version__, timm=timm.__version__, torch=torch.__version__,
                python=platform.python_version())


def start(folder, meta):
    "Create the run folder, clear a previous run's outputs, and record an unfinished meta.json."
    folder = Path(folder)
    try: folder.mkdir(parents=True, exist_ok=True)
    except OSError as e: raise PaddyError(f"cannot create the run folder {folder}: {e.strerror}; pass --runs-dir DIR") from e
    for stale in (WEIGHTS, CHECKPOINT, PROBS, PROB_IDS, HISTORY, "lr_find.png", *VALID_FILES): (folder / stale).unlink(missing_ok=True)
    write_meta(folder, dataclasses.replace(meta, finished=False))
    return folder


def save_tensors(path, tensors, metadata=None):
    "A dict of tensors as a safetensors file, written atomically; a failed write names `path` (PaddyError)."
    from safetensors import SafetensorError
    from safetensors.torch import save_file
    tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    with atomic_path(path) as tmp:
        try: save_file(tensors, str(tmp), metadata)
        except SafetensorError as e: raise OSError(errno.EIO, str(e)) from e  # disk full, I/O error: as any write


def load_tensors(path):
    "(tensors, metadata) of a safetensors file; a damaged file is a PaddyError naming it."
    from safetensors import SafetensorError, safe_open
    try:
        with safe_open(str(path), "pt") as f: return {k: f.get_tensor(k) for k in f.keys()}, f.metadata() or {}
    except (SafetensorError, OSError) as e:
        raise PaddyError(f"{path} is damaged or not a safetensors file ({str(e)[:80]}); train the run again") from e


def save_weights(folder, model):
    "The model's state dict as safetensors, written atomically."
    save_tensors(Path(folder) / WEIGHTS, model.state_dict())


def save_checkpoint(folder, tensors, info):
    "The last finished epoch's tensors and JSON-able `info`, in one safetensors file written atomically."
    save_tensors(Path(folder) / CHECKPOINT, tensors, {"info": json.dumps(info)})


def load_checkpoint(folder):
    "(tensors, info) saved by save_checkpoint, or None when the run has no checkpoint."
    path = Path(folder) / CHECKPOINT
    if not path.is_file(): return None
    tensors, metadata = load_tensors(path)
    return tensors, json.loads(metadata["info"])


def finish(folder, meta, history):
    "Write history.csv and the finished meta.json; drop the checkpoint and any predictions made from it."
    with atomic_path(Path(folder) / HISTORY) as tmp: history.to_csv(tmp, index=False)
    write_meta(folder, dataclasses.replace(meta, finished=True))
    for stale in (CHECKPOINT, PROBS, PROB_IDS): (Path(folder) / stale).unlink(missing_ok=True)


def write_meta(folder, meta):
    "The RunMeta `meta` as the run's meta.json (atomically)."
    write_json(Path(folder) / META, dataclasses.asdict(meta))


def update_meta(folder, **fields):
    "Replace `fields` (RunMeta's) in a run's meta.json (atomically)."
    write_meta(folder, dataclasses.replace(load_meta(folder), **fields))


def read_meta(path):
    """The RunMeta in the meta.json file `path`. A key RunMeta lacks is refused: the file was written by another paddy
    version, and reading it here would silently drop what it says."""
    try: saved = json.loads(Path(path).read_text())
    except json.JSONDecodeError as e: raise PaddyError(f"{path} is damaged (not JSON: {e.msg}); train the run again") from None
    if not isinstance(saved, dict): raise PaddyError(f"{path} is damaged (not a JSON object); train the run again")
    unknown = sorted(set(saved) - {f.name for f in dataclasses.fields(RunMeta)})
    if unknown: raise PaddyError(f"{path} has key(s) this paddy does not know ({', '.join(unknown)}): it was written by another "
                                 "paddy version; read it with that version, or train the run again")
    return RunMeta(**saved)


def load_meta(folder):
    "A run's meta.json as a RunMeta; refuses a folder that is not a run."
    path = Path(folder) / META
    if not path.is_file(): raise PaddyError(f"{folder} is not a run folder (no {META}); train one with `paddy train`")
    return read_meta(path)


def find(name, runs_dir="runs"):
    "The folder of run `name` (a name under runs_dir, or a path); None picks the newest finished run."
    runs_dir = Path(runs_dir)
    if name is None:
        done = [m.parent for m in runs_dir.glob(f"*/{META}") if read_meta(m).finished]
        if not done: raise PaddyError(f"no finished run under {runs_dir}/; train one first (`make train`) or pass --run NAME")
        return max(done, key=lambda p: (p / WEIGHTS).stat().st_mtime if (p / WEIGHTS).is_file() else 0)  # newest trained
    folder = Path(name) if Path(name).is_dir() else runs_dir / name
    if not folder.is_dir():
        known = sorted(p.name for p in runs_dir.glob("*") if (p / META).is_file())
        raise PaddyError(f"no run {name!r} under {runs_dir}/; known runs: {', '.join(known) or 'none'}")
    return folder


def load_model(folder, meta, use_checkpoint=False):
    "Rebuild the run's model (no pretrained download) and load its weights; an unfinished run's checkpoint only if asked."
    from paddy.models.zoo import create_model
    folder = Path(folder)
    if meta.finished:
        path = folder / WEIGHTS
        if not path.is_file(): raise PaddyError(f"{path} is missing; the run folder is incomplete, train it again")
        state = load_tensors(path)[0]
    elif not use_checkpoint:
        raise PaddyError(f"run {folder.name} never finished training; resume it (`paddy train --resume {folder.name}`), "
                         "or predict from its last checkpoint with --use-checkpoint")
    else:
        path, saved = folder / CHECKPOINT, load_checkpoint(folder)
        if saved is None: raise PaddyError(f"run {folder.name} never finished an epoch: there is no checkpoint to predict from")
        prefix = "ema." if any(k.startswith("ema.") for k in saved[0]) else "model."  # an --ema run predicts from its average
        state = {k[len(prefix):]: v for k, v in saved[0].items() if k.startswith(prefix)}
        warn(f"run {folder.name} is unfinished; predicting from its checkpoint after epoch {saved[1]['epochs_done']} of {saved[1]['epochs_total']}")
    missing = [k for k in ("timm_name", "vocab", "size", "item_size") if getattr(meta, k) is None]
    if missing: raise PaddyError(f"{folder / META} lacks {', '.join(missing)}; the run folder is damaged, train it again")
    n_out = meta.n_out or len(meta.vocab)  # runs from before several heads: one output per class
    model = create_model(meta.timm_name, n_out, pretrained=False)
    try: model.load_state_dict(state)
    except RuntimeError as e:
        raise PaddyError(f"{path} does not fit {meta.timm_name} with {n_out} outputs; the run folder is damaged") from e
    return model.eval()


def save_probs(folder, ids, probs):
    "One run's test probabilities and the image ids they belong to (ids first: the probs file is what Make watches)."
    write_json(Path(folder) / PROB_IDS, list(ids))
    with atomic_path(Path(folder) / PROBS) as tmp:
        with open(tmp, "wb") as f: np.save(f, np.asarray(probs, dtype=np.float32))


def load_probs(folder):
    "(ids, probs) saved by save_probs, or None when the run has not predicted yet."
    folder = Path(folder)
    if not (folder / PROBS).is_file() or not (folder / PROB_IDS).is_file(): return None
    ids, probs = json.loads((folder / PROB_IDS).read_text()), np.load(folder / PROBS, allow_pickle=False)
    if len(ids) != len(probs): raise PaddyError(f"{folder / PROBS} and {PROB_IDS} disagree ({len(probs)} rows, {len(ids)} ids); predict the run again")
    return ids, probs


@dataclass
class CVResult:
    "cv.json: a cross-validation's fold runs, and the competition's metric on its out-of-fold predictions (oof.csv)."
    runs: list  # the fold runs, fold 0 first
    task: str
    vocab: list
    metric: str
    score: float  # out of fold, with `decoder`
    fold_scores: list
    n: int  # images predicted out of fold
    tta: int  # the TTA views of the predictions (0: plain)
    decoder: dict = field(default_factory=dict)  # fitted on the out-of-fold predictions

    @property
    def folds(self): return len(self.runs)


def load_cv(folder):
    "A cv folder's CVResult, or None when `folder` is not one."
    path = Path(folder) / CV_JSON
    if not path.is_file(): return None
    try: return CVResult(**json.loads(path.read_text()))
    except (json.JSONDecodeError, TypeError) as e:
        raise PaddyError(f"{path} is damaged or was written by another paddy ({type(e).__name__}); run `paddy cv` again") from None


def write_cv(folder, cv):
    "Write a CVResult as the folder's cv.json (atomically)."
    write_json(Path(folder) / CV_JSON, dataclasses.asdict(cv))


def expand(names, weights, runs_dir="runs"):
    "Run names with each cv folder replaced by its fold runs, its weight shared among them. Returns (names, weights)."
    try: weights = [1.0] * len(names) if weights is None else [float(w) for w in weights]
    except ValueError: raise PaddyError(f"bad --run-weights {','.join(map(str, weights))}: give numbers, e.g. 2,1") from None
    if len(weights) != len(names): raise PaddyError(f"{len(weights)} run weight(s) for {len(names)} run(s); give one per run")
    out_names, out_weights = [], []
    for name, w in zip(names, weights):
        cv = load_cv(Path(runs_dir) / name) or load_cv(name)
        parts = cv.runs if cv else [name]
        out_names += parts
        out_weights += [w / len(parts)] * len(parts)
    return out_names, out_weights
