"""Submission CSVs: built with the sample submission's exact header and row order, every column validated as Kaggle
would read it, written atomically."""
from pathlib import Path

import numpy as np
import pandas as pd

from paddy.data.layout import read_csv
from paddy.errors import PaddyError
from paddy.files import atomic_path
from paddy.scoring import numeric

SUM_TOLERANCE = 1e-3  # a single-label submission's probabilities per row sum to 1 within this


def read_sample(path):
    "The sample submission: its header names the id column and the columns to write."
    df = read_csv(path)
    if len(df.columns) < 2: raise PaddyError(f"{path} should have an id column and a column to predict; it has {', '.join(df.columns)}")
    return df


def build(ids, values, sample):
    "A submission frame with the sample's header, in the sample's row order: its id column, then `values` {column: list per id}."
    id_col = sample.columns[0]
    row = {i: k for k, i in enumerate(ids)}
    missing = [i for i in sample[id_col] if i not in row]
    if missing: raise PaddyError(f"{len(missing)} id(s) of the sample submission have no prediction, e.g. {', '.join(missing[:3])}; "
                                 "predict on the same test images")
    order = [row[i] for i in sample[id_col]]
    return pd.DataFrame({id_col: sample[id_col], **{c: [values[c][k] for k in order] for c in sample.columns[1:]}})


def validate(df, sample, kind=None, vocab=None, task=None, top_k=None):
    """Refuse a submission Kaggle would score wrongly or reject: another header, an id missing, repeated, extra or out
    of the sample's order, an empty cell, text where the sample has numbers; and, given the kind of its columns
    (paddy.scoring.KINDS), a label outside `vocab`, a probability outside [0, 1], single-label probabilities that do
    not sum to 1, an indicator other than 0/1, a tag or top-k label outside `vocab`, a value that is not finite."""
    id_col = sample.columns[0]
    if list(df.columns) != list(sample.columns):
        raise PaddyError(f"submission header is {','.join(map(str, df.columns))[:120]}; it must be the sample's: {','.join(sample.columns)[:120]}")
    ids, expected = df[id_col].astype(str).tolist(), sample[id_col].tolist()
    dup = sorted({i for i in ids if ids.count(i) > 1}) if len(set(ids)) != len(ids) else []
    if dup: raise PaddyError(f"submission lists {len(dup)} id(s) twice, e.g. {', '.join(dup[:3])}")
    if set(expected) - set(ids): raise PaddyError(f"submission lacks {len(set(expected) - set(ids))} test id(s), e.g. {', '.join(sorted(set(expected) - set(ids))[:3])}")
    if set(ids) - set(expected): raise PaddyError(f"submission has {len(set(ids) - set(expected))} id(s) not in the test set, e.g. {', '.join(sorted(set(ids) - set(expected))[:3])}")
    if ids != expected: raise PaddyError("submission rows are not in the sample submission's order; write them in its order")
    for col in sample.columns[1:]:
        cells = df[col].astype(str).str.strip()
        if (cells == "").any() or df[col].isna().any(): raise PaddyError(f"submission column {col} has {int(((cells == '') | df[col].isna()).sum())} empty cell(s)")
        if numeric(sample[col].tolist()) and not numeric(cells.tolist()):
            bad = next(v for v in cells if not numeric([v]))
            raise PaddyError(f"submission column {col} holds {bad!r} where the sample holds numbers: it was written for another kind of submission")
    if kind: check_kind(df[sample.columns[1:]], kind, vocab, task, top_k)
    return df


def check_kind(values, kind, vocab, task, top_k):
    "The value columns `values` hold what `kind` says (see `validate`)."
    if kind == "label":
        bad = sorted(set(values.iloc[:, 0].astype(str)) - set(vocab))
        if bad: raise PaddyError(f"submission has label(s) outside the training labels: {', '.join(bad[:5])}")
    elif kind in ("tags", "top_k"):
        rows = [str(v).split() for v in values.iloc[:, 0]]
        bad = sorted({t for r in rows for t in r} - set(vocab))
        if bad: raise PaddyError(f"submission has tag(s) outside the training classes: {', '.join(bad[:5])}")
        if kind == "top_k" and any(len(r) > top_k for r in rows): raise PaddyError(f"submission rows hold more than {top_k} labels")
    else:
        x = values.astype(float).to_numpy()
        if not np.isfinite(x).all(): raise PaddyError("submission holds values that are not finite numbers")
        if kind in ("probability", "probabilities") and ((x < 0) | (x > 1)).any(): raise PaddyError("submission holds probabilities outside [0, 1]")
        if kind == "probabilities" and task == "single" and (np.abs(x.sum(1) - 1) > SUM_TOLERANCE).any():
            raise PaddyError("submission rows' class probabilities do not sum to 1")
        if kind == "indicators" and not np.isin(x, (0, 1)).all(): raise PaddyError("submission holds indicators other than 0 and 1")


def validate_file(path, sample):
    "Read a submission CSV and validate it against the sample (header, ids, order, cells, numbers where the sample has them)."
    if not Path(path).is_file(): raise PaddyError(f"submission file {path} not found; write one with `paddy predict`")
    return validate(read_csv(path), sample)


def write(df, path):
    "Write the submission CSV atomically: labels as the data spells them, numbers in full precision."
    with atomic_path(path) as tmp: df.to_csv(tmp, index=False, float_format="%.6g")
    return Path(path)
