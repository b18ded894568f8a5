"""The validation split: stratified and seeded, or stratified K-fold (`--folds K --fold I`), with `--group-col` keeping
each group (a patient, a photographer) on one side. Strata: the label; for tags, each image's rarest tag; for a
regression, the target's decile."""
import warnings

import numpy as np
import pandas as pd

from paddy.errors import PaddyError

REGRESSION_BINS = 10


def check(cfg):
    "`folds` and `fold` come together: K >= 2 and 0 <= I < K."
    if cfg.folds is None and cfg.fold is None: return
    if cfg.folds is None or cfg.fold is None:
        raise PaddyError("--folds K and --fold I go together, e.g. --folds 5 --fold 0; `paddy cv --folds 5` trains every fold")
    if not (isinstance(cfg.folds, int) and isinstance(cfg.fold, int) and cfg.folds >= 2 and 0 <= cfg.fold < cfg.folds):
        raise PaddyError(f"bad --folds {cfg.folds!r} --fold {cfg.fold!r}: give K >= 2 and I from 0 to K-1")


def strata(task, ys):
    "What a split keeps in proportion: the label (single, ordinal), the rarest tag (multi), the decile (regression)."
    if task == "regression":
        values = pd.Series(ys, dtype=float)
        return pd.qcut(values.rank(method="first"), min(REGRESSION_BINS, len(values)), labels=False).astype(str).tolist()
    if task == "multi":
        counts = pd.Series([t for y in ys for t in str(y).split()]).value_counts()
        return [min(str(y).split(), key=lambda t: (counts[t], t)) if str(y).split() else "" for y in ys]
    return list(ys)


def stratified_split(labels, valid_pct=0.2, seed=42):
    "Indices of a seeded validation set holding `valid_pct` of every label (at least one of each label with 2+ images)."
    rng = np.random.default_rng(seed)
    labels = pd.Series(list(labels))
    valid = []
    for _, idx in sorted(labels.groupby(labels).groups.items()):
        idx = rng.permutation(np.asarray(idx))
        n = int(round(len(idx) * valid_pct))
        if len(idx) > 1: n = min(max(n, 1), len(idx) - 1)
        valid.extend(idx[:n].tolist())
    return sorted(valid)


def assign_folds(labels, k, seed=42):
    "The fold (0..k-1) of every item: each label's items, shuffled with `seed`, dealt round-robin (K-fold, stratified)."
    rng = np.random.default_rng(seed)
    labels = np.asarray(list(labels))
    fold = np.empty(len(labels), dtype=int)
    start = 0
    for label in sorted(set(labels)):
        idx = rng.permutation(np.flatnonzero(labels == label))
        fold[idx] = (np.arange(len(idx)) + start) % k
        start += len(idx)  # the next label's deal begins where this one stopped: small labels spread over every fold
    return fold


def group_folds(labels, groups, k, seed=42):
    "The fold of every item with each group in one fold, the labels as even across folds as the groups allow (scikit-learn's StratifiedGroupKFold)."
    from sklearn.model_selection import StratifiedGroupKFold
    groups = list(groups)
    if len(set(groups)) < k: raise PaddyError(f"--group-col has {len(set(groups))} group(s), fewer than the {k} folds or splits it must fill")
    fold = np.empty(len(groups), dtype=int)
    with warnings.catch_warnings():  # "The least populated class has only n members": expected with rare labels
        warnings.simplefilter("ignore", UserWarning)
        for i, (_, idx) in enumerate(StratifiedGroupKFold(k, shuffle=True, random_state=seed).split(np.zeros(len(groups)), list(labels), groups)):
            fold[idx] = i
    return fold


def valid_idx(labels, valid_pct=0.2, seed=42, folds=None, fold=None, groups=None):
    """Indices of the validation images: fold `fold` of `folds` when given, else `valid_pct` of each stratum; with
    `groups`, whole groups (the validation share is then 1/round(1/valid_pct), one of that many grouped folds)."""
    if groups is not None:
        k = folds or max(2, int(round(1 / valid_pct)))
        return np.flatnonzero(group_folds(labels, groups, k, seed) == (fold or 0)).tolist()
    if folds: return np.flatnonzero(assign_folds(labels, folds, seed) == fold).tolist()
    return stratified_split(labels, valid_pct, seed)
