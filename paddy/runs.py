"""Run folders, the unit of exchange: weights (safetensors), meta.json, history.csv, lr_find.png, test_probs.npy.

A run folder holds everything needed to predict, and nothing in it is loaded with pickle.
"""
import json, platform
from pathlib import Path

import numpy as np

from .errors import PaddyError
from .files import atomic_path, write_json

WEIGHTS, META, HISTORY, PROBS, PROB_IDS = "model.safetensors", "meta.json", "history.csv", "test_probs.npy", "test_ids.json"


def versions():
    "Library versions recorded with every run."
    import fastai, timm, torch
    from . import __version__
    return dict(paddy=__version__, fastai=fastai.__version__, timm=timm.__version__, torch=torch.__version__,
                python=platform.python_version())


def start(folder, meta):
    "Create the run folder, clear a previous run's outputs, and record an unfinished meta.json."
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for stale in (WEIGHTS, PROBS, PROB_IDS, HISTORY, "lr_find.png"): (folder / stale).unlink(missing_ok=True)
    write_json(folder / META, dict(meta, finished=False))
    return folder


def save_weights(folder, model):
    "The model's state dict as safetensors, written atomically."
    from safetensors.torch import save_file
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    with atomic_path(Path(folder) / WEIGHTS) as tmp: save_file(state, str(tmp))


def finish(folder, meta, history):
    "Write history.csv and the finished meta.json."
    with atomic_path(Path(folder) / HISTORY) as tmp: history.to_csv(tmp, index=False)
    write_json(Path(folder) / META, dict(meta, finished=True))


def load_meta(folder):
    "A run's meta.json; refuses a folder that is not a run."
    path = Path(folder) / META
    if not path.is_file(): raise PaddyError(f"{folder} is not a run folder (no {META}); train one with `paddy train`")
    return json.loads(path.read_text())


def find(name, runs_dir="runs"):
    "The folder of run `name` (a name under runs_dir, or a path); None picks the newest finished run."
    runs_dir = Path(runs_dir)
    if name is None:
        done = [m.parent for m in runs_dir.glob(f"*/{META}") if json.loads(m.read_text()).get("finished")]
        if not done: raise PaddyError(f"no finished run under {runs_dir}/; train one first (`make train`) or pass --run NAME")
        return max(done, key=lambda p: (p / META).stat().st_mtime)
    folder = Path(name) if Path(name).is_dir() else runs_dir / name
    if not folder.is_dir():
        known = sorted(p.name for p in runs_dir.glob("*") if (p / META).is_file())
        raise PaddyError(f"no run {name!r} under {runs_dir}/; known runs: {', '.join(known) or 'none'}")
    return folder


def load_model(folder, meta):
    "Rebuild the run's model (no pretrained download) and load its safetensors weights."
    from fastai.vision.learner import create_timm_model
    from safetensors.torch import load_file
    if not meta.get("finished"):
        raise PaddyError(f"run {Path(folder).name} never finished training; train it again (or resume it) before predicting")
    path = Path(folder) / WEIGHTS
    if not path.is_file(): raise PaddyError(f"{path} is missing; the run folder is incomplete, train it again")
    model, _ = create_timm_model(meta["timm_name"], len(meta["vocab"]), pretrained=False)
    try: model.load_state_dict(load_file(str(path)))
    except RuntimeError as e:
        raise PaddyError(f"{path} does not fit {meta['timm_name']} with {len(meta['vocab'])} classes; the run folder is damaged") from e
    return model.eval()


def save_probs(folder, ids, probs):
    "One run's test probabilities and the image ids they belong to."
    with atomic_path(Path(folder) / PROBS) as tmp:
        with open(tmp, "wb") as f: np.save(f, np.asarray(probs, dtype=np.float32))
    write_json(Path(folder) / PROB_IDS, list(ids))


def load_probs(folder):
    "(ids, probs) saved by save_probs, or None when the run has not predicted yet."
    folder = Path(folder)
    if not (folder / PROBS).is_file() or not (folder / PROB_IDS).is_file(): return None
    return json.loads((folder / PROB_IDS).read_text()), np.load(folder / PROBS, allow_pickle=False)
