"""The validation split: stratified by label and seeded, or stratified K-fold (`--folds K --fold I`)."""
import numpy as np
import pandas as pd

from paddy.errors import PaddyError


def check(cfg):
    "`folds` and `fold` come together: K >= 2 and 0 <= I < K."
    if cfg.folds is None and cfg.fold is None: return
    if cfg.folds is None or cfg.fold is None:
        raise PaddyError("--folds K and --fold I go together, e.g. --folds 5 --fold 0; `paddy cv --folds 5` trains every fold")
    if not (isinstance(cfg.folds, int) and isinstance(cfg.fold, int) and cfg.folds >= 2 and 0 <= cfg.fold < cfg.folds):
        raise PaddyError(f"bad --folds {cfg.folds!r} --fold {cfg.fold!r}: give K >= 2 and I from 0 to K-1")


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


def fold_valid_idx(labels, k, i, seed=42):
    "Indices of fold `i` of `k`: the validation set of that fold's run."
    return np.flatnonzero(assign_folds(labels, k, seed) == i).tolist()
