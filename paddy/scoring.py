"""Tasks, metrics and decoding, in NumPy: what a model's outputs mean, how a competition scores them, and how they
become a submission's values.

A run's outputs are activations, one row per image: class probabilities (softmax) for a single-label or ordinal task,
per-class probabilities (sigmoid) for a multi-label one, the predicted value for a regression. Targets are encoded
alike: class indices, a multi-hot matrix, values. A *decoder* (saved in meta.json, cv.json or a blend) holds what was
fitted on validation or out-of-fold predictions: per-class thresholds (multi-label), cut points (an ordinal target
under quadratic kappa), and which of argmax or expected value + cut points an ordinal task uses.
"""
from dataclasses import dataclass

import numpy as np

from paddy.errors import PaddyError

TASKS = ("single", "multi", "regression", "ordinal")
KINDS = ("label", "probability", "probabilities", "indicators", "tags", "top_k", "value")  # what a submission column holds
EPS = 1e-15  # probabilities are clipped to [EPS, 1 - EPS] before a log, as scikit-learn's log_loss does


@dataclass(frozen=True)
class Metric:
    "A competition metric: whether higher is better, the tasks it scores, and what it reads (probabilities or decoded answers)."
    name: str
    higher: bool
    tasks: tuple
    reads: str  # "outputs": the probabilities or values themselves; "decoded": the answers a submission would hold
    help: str


METRICS = {m.name: m for m in (
    Metric("accuracy", True, ("single", "ordinal"), "decoded", "share of images whose label is right"),
    Metric("error_rate", False, ("single", "ordinal"), "decoded", "1 - accuracy"),
    Metric("logloss", False, ("single", "ordinal", "multi"), "outputs", "log loss of the probabilities (multi-label: mean binary log loss)"),
    Metric("auc", True, ("single", "multi"), "outputs", "ROC AUC (binary: of P(positive class); several classes: mean of per-class AUCs)"),
    Metric("qwk", True, ("ordinal", "regression", "single"), "decoded", "quadratic weighted kappa of ordered classes"),
    Metric("rmse", False, ("regression",), "decoded", "root mean squared error"),
    Metric("mae", False, ("regression",), "decoded", "mean absolute error"),
    Metric("f1", True, ("multi", "single"), "decoded", "F1 (multi-label: averaged over images, as Planet scores; single-label: micro)"),
    Metric("f2", True, ("multi", "single"), "decoded", "F2 (multi-label: averaged over images, as Planet scores; single-label: micro)"),
    Metric("map5", True, ("single",), "outputs", "mean average precision of the top 5 labels (MAP@5)"),
)}
DEFAULT_METRIC = {"single": "accuracy", "multi": "f1", "regression": "rmse", "ordinal": "qwk"}
KAGGLE_NAMES = (  # words of the evaluation metric a competition's page names (lower case, letters and digits only) -> ours
    ("quadraticweightedkappa", "qwk"), ("kappa", "qwk"), ("categorizationaccuracy", "accuracy"), ("accuracy", "accuracy"),
    ("logloss", "logloss"), ("rootmeansquarederror", "rmse"), ("rmse", "rmse"), ("meanabsoluteerror", "mae"),
    ("areaunderreceiveroperatingcharacteristiccurve", "auc"), ("rocauc", "auc"), ("auc", "auc"), ("f2", "f2"), ("fbeta", "f2"),
    ("f1", "f1"), ("map5", "map5"), ("meanaverageprecision5", "map5"))


def from_kaggle(name):
    "Our metric for the evaluation metric a Kaggle competition names (e.g. 'Quadratic Weighted Kappa' -> qwk), or None."
    words = "".join(c for c in str(name or "").lower() if c.isalnum())
    return next((ours for part, ours in KAGGLE_NAMES if part in words), None) if words else None


def metric(name):
    "The Metric called `name`; an unknown name lists them."
    if name not in METRICS: raise PaddyError(f"unknown --metric {name!r}; choose one of {', '.join(METRICS)}")
    return METRICS[name]


def better(name, a, b):
    "Is score `a` better than score `b` under metric `name`?"
    return a > b if METRICS[name].higher else a < b


def numeric(values):
    "Are all `values` (strings) numbers?"
    try: [float(v) for v in values]
    except (TypeError, ValueError): return False
    return len(values) > 0


def sort_classes(values):
    "Classes in output order: by number when every class is a number (2 before 10), else by name."
    values = sorted(set(values))
    return sorted(values, key=float) if numeric(values) else values


def encode(task, ys, vocab=None):
    """Targets as arrays: class indices (single, ordinal), a multi-hot matrix over `vocab` (multi; `ys` are
    space-separated tags), values (regression)."""
    if task == "regression": return np.asarray([float(y) for y in ys], dtype=np.float64)
    index = {v: i for i, v in enumerate(vocab)}
    if task == "multi":
        out = np.zeros((len(ys), len(vocab)), dtype=np.int64)
        for r, y in enumerate(ys):
            for tag in str(y).split(): out[r, index[tag]] = 1
        return out
    return np.asarray([index[str(y)] for y in ys], dtype=np.int64)


def positive(vocab):
    "The positive class of a binary target, whose probability a one-column submission holds: the last class (1 of 0/1)."
    return len(vocab) - 1


def expected_index(probs):
    "The expected class index under `probs` (an ordinal task's continuous answer)."
    return probs @ np.arange(probs.shape[1])


def cut(values, cuts):
    "Class indices of continuous `values` split at the ascending cut points `cuts`."
    return np.searchsorted(np.asarray(cuts, dtype=np.float64), values, side="right")


def value_classes(vocab):
    "The class values of a regression target with classes (quadratic kappa), as numbers."
    return np.asarray([float(v) for v in vocab])


def decode(task, outputs, decoder=None, vocab=None):
    """The answers a submission holds, from outputs: class indices (single, ordinal; regression under cut points),
    a 0/1 matrix (multi: probabilities at or above each class's threshold, the most probable class when none is),
    values (regression)."""
    decoder = decoder or {}
    outputs = np.asarray(outputs, dtype=np.float64)
    if task == "single": return outputs.argmax(1)
    if task == "ordinal":
        return cut(expected_index(outputs), decoder["cuts"]) if decoder.get("mode") == "expected" else outputs.argmax(1)
    if task == "multi":
        hot = (outputs >= np.asarray(decoder.get("thresholds", 0.5))).astype(np.int64)
        none = hot.sum(1) == 0
        hot[none, outputs[none].argmax(1)] = 1
        return hot
    values = outputs.reshape(len(outputs), -1)[:, 0]
    return cut(values, decoder["cuts"]) if "cuts" in decoder else values


def score(name, task, targs, outputs, decoder=None, vocab=None):
    "The metric `name` of `outputs` against encoded `targs` for `task` (see `encode`, `decode`)."
    m = metric(name)
    if task not in m.tasks: raise PaddyError(f"--metric {name} does not score a {task} task; for {task} use one of {', '.join(for_task(task))}")
    outputs = np.asarray(outputs, dtype=np.float64)
    targs = np.asarray(targs)
    if name in ("accuracy", "error_rate") or (name in ("f1", "f2") and task == "single"):
        acc = float((decode(task, outputs, decoder) == targs).mean())
        return 1 - acc if name == "error_rate" else acc
    if name == "logloss": return logloss(task, targs, outputs)
    if name == "auc": return auc(task, targs, outputs)
    if name == "qwk": return qwk(task, targs, outputs, decoder, vocab)
    if name in ("rmse", "mae"):
        err = decode(task, outputs) - targs
        return float(np.sqrt((err ** 2).mean())) if name == "rmse" else float(np.abs(err).mean())
    if name in ("f1", "f2"): return fbeta(targs, decode(task, outputs, decoder), 1 if name == "f1" else 2)
    return map_at_k(targs, outputs, 5)


def for_task(task):
    "The metrics that score `task`."
    return [n for n, m in METRICS.items() if task in m.tasks]


def logloss(task, targs, probs):
    "Log loss: of the actual class (single, ordinal), or the mean binary log loss over every class (multi)."
    p = np.clip(probs, EPS, 1 - EPS)
    if task == "multi": return float(-(targs * np.log(p) + (1 - targs) * np.log(1 - p)).mean())
    p = p / p.sum(1, keepdims=True)  # as scikit-learn's log_loss renormalizes the clipped rows
    return float(-np.log(p[np.arange(len(targs)), targs]).mean())


def auc(task, targs, probs):
    """ROC AUC: binary single-label, of the positive class's probability; several classes (one-hot or multi-label
    columns), the mean over classes of each column's AUC. A column whose images are all one class is skipped."""
    from sklearn.metrics import roc_auc_score
    hot = targs if task == "multi" else np.eye(probs.shape[1], dtype=np.int64)[targs]
    columns = [positive(range(probs.shape[1]))] if task == "single" and probs.shape[1] == 2 else range(probs.shape[1])
    scores = [roc_auc_score(hot[:, c], probs[:, c]) for c in columns if 0 < hot[:, c].sum() < len(hot)]
    return float(np.mean(scores)) if scores else float("nan")


def qwk(task, targs, outputs, decoder=None, vocab=None):
    "Quadratic weighted kappa of ordered classes (a regression's targets and answers as indices of its class values)."
    from sklearn.metrics import cohen_kappa_score
    if task == "regression":
        classes = value_classes(vocab)
        targs = np.searchsorted(classes, targs)
        decoder = decoder if decoder and "cuts" in decoder else dict(cuts=midpoints(classes))
    pred = decode(task, outputs, decoder)
    if len(set(targs) | set(pred)) < 2: return 0.0
    return float(cohen_kappa_score(targs, pred, weights="quadratic"))


def fbeta(hot, pred, beta):
    "F-beta of 0/1 matrices averaged over images (scikit-learn's average='samples'; an image with neither scores 0)."
    tp = (hot * pred).sum(1)
    denom = (1 + beta ** 2) * tp + beta ** 2 * (hot.sum(1) - tp) + (pred.sum(1) - tp)
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(np.nan_to_num((1 + beta ** 2) * tp / denom).mean())


def map_at_k(targs, probs, k=5):
    "Mean average precision at k with one right answer per image: 1/rank of the actual class among the top k, else 0."
    top = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    hits = top == targs[:, None]
    return float((hits / np.arange(1, top.shape[1] + 1)).sum(1).mean())


def midpoints(values):
    "Cut points halfway between consecutive class values."
    values = np.asarray(values, dtype=np.float64)
    return ((values[1:] + values[:-1]) / 2).tolist()


def fit_decoder(task, name, targs, outputs, vocab=None):
    """What to decode with, fitted on labelled outputs (validation or out-of-fold) for metric `name`: per-class
    thresholds (multi), cut points (regression under qwk), argmax or expected value + cut points (ordinal: both are
    measured, the better kept, both scores recorded); {} where nothing is fitted."""
    targs, outputs = np.asarray(targs), np.asarray(outputs, dtype=np.float64)
    if task == "multi": return dict(thresholds=thresholds(targs, outputs, 2 if name == "f2" else 1))
    if task == "regression" and name == "qwk":
        classes = value_classes(vocab)
        return dict(cuts=fit_cuts(outputs.reshape(len(outputs), -1)[:, 0], np.searchsorted(classes, targs), midpoints(classes)))
    if task == "ordinal":
        expected = dict(mode="expected", cuts=fit_cuts(expected_index(outputs), targs, midpoints(range(outputs.shape[1]))))
        scores = {mode: score(name, task, targs, outputs, d) for mode, d in (("argmax", dict(mode="argmax")), ("expected", expected))}
        best = "expected" if better(name, scores["expected"], scores["argmax"]) else "argmax"
        return (expected if best == "expected" else dict(mode="argmax")) | dict(scores=scores)
    return {}


def thresholds(hot, probs, beta=1, grid=np.linspace(0.05, 0.95, 19), rounds=2):
    "Per-class thresholds that maximize the images-averaged F-beta, found one class at a time (coordinate ascent), from 0.5."
    t = np.full(probs.shape[1], 0.5)
    for _ in range(rounds):
        for c in range(probs.shape[1]):
            trial = []
            for g in grid:
                t[c] = g
                trial.append(fbeta(hot, decode("multi", probs, dict(thresholds=t)), beta))
            t[c] = grid[int(np.argmax(trial))]  # ties: the lowest threshold
    return [round(float(x), 4) for x in t]


def fit_cuts(values, targs, start, rounds=3, steps=21):
    "Ascending cut points that maximize the quadratic kappa of `cut(values)` against class indices `targs` (coordinate ascent)."
    from sklearn.metrics import cohen_kappa_score
    cuts = np.asarray(start, dtype=np.float64)
    if len(set(targs)) < 2: return cuts.tolist()

    def kappa(c): return cohen_kappa_score(targs, cut(values, c), weights="quadratic")

    for _ in range(rounds):
        for i in range(len(cuts)):
            lo = cuts[i - 1] if i else cuts[i] - 1
            hi = cuts[i + 1] if i + 1 < len(cuts) else cuts[i] + 1
            best, best_k = cuts[i], kappa(cuts)
            for g in np.linspace(lo, hi, steps)[1:-1]:
                trial = cuts.copy()
                trial[i] = g
                if (k := kappa(trial)) > best_k: best, best_k = g, k
            cuts[i] = best
    return [round(float(c), 4) for c in cuts]


def columns(kind, outputs, vocab, decoder, names, task, top_k=5):
    """The submission's value columns `names` (the sample's, after its id) of kind `kind`, from outputs: {name: values}.
    Labels are written as the training data spells them (`0`, not `0.0`)."""
    outputs = np.asarray(outputs, dtype=np.float64)
    if kind == "value": return {names[0]: [float(v) for v in decode(task, outputs)]}
    if kind == "label": return {names[0]: [vocab[i] for i in decode(task, outputs, decoder)]}
    if kind == "probability": return {names[0]: outputs[:, positive(vocab)].tolist()}
    if kind == "probabilities": return {n: outputs[:, vocab.index(n)].tolist() for n in names}
    if kind == "indicators":
        hot = decode(task, outputs, decoder)
        return {n: hot[:, vocab.index(n)].tolist() for n in names}
    if kind == "tags":
        hot = decode(task, outputs, decoder)
        return {names[0]: [" ".join(vocab[j] for j in np.flatnonzero(row)) for row in hot]}
    top = np.argsort(-outputs, axis=1, kind="stable")[:, :top_k]
    return {names[0]: [" ".join(vocab[j] for j in row) for row in top]}


def combine(decoders, weights=None):
    """One decoder for an ensemble of runs: their thresholds or cut points averaged with `weights` where all have them
    (and, for an ordinal task, the same mode); otherwise the first run's."""
    if not decoders: return {}
    w = np.ones(len(decoders)) if weights is None else np.asarray(weights, dtype=np.float64)
    first = decoders[0]
    for key in ("thresholds", "cuts"):
        if key in first and all(key in d and d.get("mode") == first.get("mode") for d in decoders):
            return {**first, key: (np.tensordot(w / w.sum(), np.asarray([d[key] for d in decoders]), axes=1)).round(4).tolist()}
    return first
