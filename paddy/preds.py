"""Predictions of labelled images, saved so that scores, blends and reports never need a model again: a run's
validation predictions (valid.json, valid_probs.npy, valid_probs_tta.npy) and a cv folder's out-of-fold ones (oof.csv).
One type, `Preds`, with one reader and one writer per file; nothing is pickled.

oof.csv has a row per image: id, y (the target as the data writes it: label, tags or value), fold, then the outputs:
`p_<class>` per class (probabilities), or `value` (a regression).
"""
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from paddy import scoring
from paddy.errors import PaddyError
from paddy.files import atomic_path, write_json

VALID_JSON, VALID_PROBS, VALID_PROBS_TTA = VALID_FILES = ("valid.json", "valid_probs.npy", "valid_probs_tta.npy")
OOF_CSV = "oof.csv"


@dataclass
class Preds:
    "Outputs for labelled images: ids, targets `ys`, outputs (one row per id), TTA's, the fold of each (out-of-fold)."
    task: str
    vocab: list
    ids: list
    ys: list
    outputs: np.ndarray
    outputs_tta: np.ndarray | None = None
    tta: int = 0
    folds: np.ndarray | None = None

    @property
    def targs(self):
        "The targets encoded for scoring (paddy.scoring.encode)."
        return scoring.encode(self.task, self.ys, self.vocab)

    def score(self, metric, decoder=None, outputs=None):
        "Metric `metric` of these outputs (or `outputs`), decoded with `decoder`."
        return scoring.score(metric, self.task, self.targs, self.outputs if outputs is None else outputs, decoder, self.vocab)

    def fold_scores(self, metric, decoder=None, outputs=None):
        "The metric on each fold's images, in fold order."
        outputs = self.outputs if outputs is None else outputs
        targs = self.targs
        return [scoring.score(metric, self.task, targs[self.folds == f], outputs[self.folds == f], decoder, self.vocab) for f in np.unique(self.folds)]

    def columns(self):
        "The output columns of oof.csv."
        return ["value"] if self.task == "regression" else [f"p_{v}" for v in self.vocab]

    def confusion(self, decoder=None):
        "Confusion matrix of a class task: rows the actual class, columns the decoded one (counts)."
        n = len(self.vocab)
        return np.bincount(self.targs * n + scoring.decode(self.task, self.outputs, decoder), minlength=n * n).reshape(n, n)


def save_valid(folder, preds):
    "Write a run's validation Preds (plain and TTA outputs) into its folder."
    folder = Path(folder)
    for name, outputs in ((VALID_PROBS, preds.outputs), (VALID_PROBS_TTA, preds.outputs_tta)): save_array(folder / name, outputs)
    write_json(folder / VALID_JSON, dict(task=preds.task, ids=preds.ids, ys=preds.ys, vocab=preds.vocab, tta=preds.tta))


def save_array(path, array):
    "A float32 NumPy file, written atomically."
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f: np.save(f, np.asarray(array, dtype=np.float32))


def load_valid(folder):
    "A run's saved validation Preds, or None when it has none (unfinished, or trained before paddy saved them)."
    folder = Path(folder)
    if not all((folder / name).is_file() for name in VALID_FILES): return None
    info = json.loads((folder / VALID_JSON).read_text())
    if "ys" not in info: return None  # saved by a paddy that predates tasks
    outputs, views = (np.load(folder / name, allow_pickle=False) for name in (VALID_PROBS, VALID_PROBS_TTA))
    if not len(info["ids"]) == len(info["ys"]) == len(outputs) == len(views):
        raise PaddyError(f"{folder}'s validation files disagree ({len(info['ids'])} ids, {len(outputs)} rows); train the run again")
    return Preds(info["task"], info["vocab"], info["ids"], info["ys"], outputs, views, info["tta"])


def write_oof(folder, preds):
    "A cv folder's out-of-fold Preds as oof.csv (atomically)."
    import pandas as pd
    df = pd.DataFrame(dict(id=preds.ids, y=preds.ys, fold=preds.folds))
    df = pd.concat([df, pd.DataFrame(np.asarray(preds.outputs).reshape(len(df), -1), columns=preds.columns())], axis=1)
    with atomic_path(Path(folder) / OOF_CSV) as tmp: df.to_csv(tmp, index=False)


def read_oof(folder, task, vocab):
    "A cv folder's oof.csv as Preds, rows sorted by id; ids and labels read as text (a label `0` stays `0`)."
    import pandas as pd
    path = Path(folder) / OOF_CSV
    if not path.is_file(): raise PaddyError(f"{folder} has no {OOF_CSV}; run `paddy cv` again")
    df = pd.read_csv(path, dtype={"id": str, "y": float if task == "regression" else str}, keep_default_na=False)
    df = df.sort_values("id", kind="stable").reset_index(drop=True)
    cols = ["value"] if task == "regression" else [f"p_{v}" for v in vocab]
    missing = [c for c in ["id", "y", "fold", *cols] if c not in df.columns]
    if missing: raise PaddyError(f"{path} lacks column(s) {', '.join(missing[:4])}; it was written by another paddy: run `paddy cv` again")
    return Preds(task, list(vocab), df.id.tolist(), df.y.tolist(), df[cols].to_numpy(np.float64), folds=df.fold.to_numpy())
