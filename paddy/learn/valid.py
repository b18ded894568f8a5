"""Validation predictions saved with every run, so that a report never needs the model again.

At the end of `paddy train` (each fold of `paddy cv` too) the validation images are predicted the way `paddy predict`
predicts test images, plain and with TTA, and saved in the run folder: valid.json (image ids, actual labels, vocab,
the TTA's views), valid_probs.npy and valid_probs_tta.npy (class probabilities, one row per id). Nothing is pickled.
"""
import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from paddy.errors import PaddyError
from paddy.files import atomic_path, write_json
from paddy.runs import VALID_FILES as FILES

VALID_JSON, VALID_PROBS, VALID_PROBS_TTA = FILES
TTA = 4  # augmented views of the validation TTA: `paddy predict`'s default


@dataclass
class Preds:
    "Predictions of labelled images: ids, actual labels, class probabilities (one row per id, columns `vocab`), TTA's if made."
    ids: list
    labels: list
    vocab: list
    probs: np.ndarray
    probs_tta: np.ndarray | None = None
    tta: int = 0

    @property
    def targs(self):
        "The actual labels as indices into `vocab`."
        index = {v: i for i, v in enumerate(self.vocab)}
        return np.array([index[label] for label in self.labels], dtype=int)

    def accuracy(self, probs=None):
        "Share of images whose most probable class is the actual label (`probs`: these probabilities instead)."
        probs = self.probs if probs is None else probs
        return float((probs.argmax(1) == self.targs).mean())

    def confusion(self):
        "Confusion matrix: rows the actual class, columns the predicted one (counts)."
        n = len(self.vocab)
        return np.bincount(self.targs * n + self.probs.argmax(1), minlength=n * n).reshape(n, n)


def evaluate(learn, meta, tta=TTA, bs=64, workers=None):
    """The validation images of `learn` predicted by its model as `paddy predict` predicts test images (label head,
    softmax, the run's precision on a GPU, fp32 on a CPU), plain and with `tta` views. Training's error_rate can differ
    by a few images where it validated under bf16 autocast on a CPU. Returns Preds, or None without validation images."""
    from paddy.data import block
    from paddy.infer.predict import probabilities
    from paddy.learn import distributed
    from paddy.models import targets
    items = learn.dls.valid.items
    if not len(items): return None
    model = targets.label_head(distributed.unwrap(learn.model), meta)
    as_read = replace(meta, config=meta.config | dict(cache=False))  # the items are the files validation read (cached copies or not)
    plain, views = (probabilities(model, block.test_dataloader(as_read, list(items.path), bs, workers, tta=n), precision=meta.precision)
                    for n in (0, tta))
    return Preds(list(items.image_id), list(items.label), list(meta.vocab), plain, views, tta)


def save(folder, preds):
    "Write `preds` into the run folder; returns the RunMeta fields: valid accuracy plain and with TTA, and TTA's views."
    if preds is None: return {}
    folder = Path(folder)
    for name, probs in ((VALID_PROBS, preds.probs), (VALID_PROBS_TTA, preds.probs_tta)):
        with atomic_path(folder / name) as tmp:
            with open(tmp, "wb") as f: np.save(f, np.asarray(probs, dtype=np.float32))
    write_json(folder / VALID_JSON, dict(ids=preds.ids, labels=preds.labels, vocab=preds.vocab, tta=preds.tta))
    return dict(valid_accuracy=preds.accuracy(), valid_accuracy_tta=preds.accuracy(preds.probs_tta), valid_tta=preds.tta)


def load(folder):
    "The run's saved validation Preds, or None when it has none (unfinished, or trained before paddy saved them)."
    folder = Path(folder)
    if not all((folder / name).is_file() for name in FILES): return None
    info = json.loads((folder / VALID_JSON).read_text())
    probs, views = (np.load(folder / name, allow_pickle=False) for name in (VALID_PROBS, VALID_PROBS_TTA))
    if not len(info["ids"]) == len(info["labels"]) == len(probs) == len(views):
        raise PaddyError(f"{folder}'s validation files disagree ({len(info['ids'])} ids, {len(probs)} rows); train the run again")
    return Preds(info["ids"], info["labels"], info["vocab"], probs, views, info["tta"])


def tta_note(meta):
    "A warning when TTA made the run (RunMeta `meta`) worse on its validation images; else None."
    plain, views = meta.valid_accuracy, meta.valid_accuracy_tta
    if plain is None or views is None or views >= plain: return None
    return (f"TTA made run {meta.name} worse on validation (accuracy {plain:.4f} plain, {views:.4f} with TTA "
            f"{meta.valid_tta}); compare with `paddy predict --tta 0`")
