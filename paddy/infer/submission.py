"""Submission CSVs: built in sample_submission's order and header, validated, written atomically."""
from pathlib import Path

import pandas as pd

from paddy.data.layout import read_csv
from paddy.errors import PaddyError
from paddy.files import atomic_path


def read_sample(path):
    "sample_submission.csv: its header names the id and label columns."
    df = read_csv(path, [])
    if len(df.columns) < 2: raise PaddyError(f"{path} should have an id column and a label column; it has {', '.join(df.columns)}")
    return df


def build(ids, labels, sample):
    "A submission frame with sample's header, in sample's row order."
    id_col, label_col = sample.columns[:2]
    pred = dict(zip(ids, labels))
    missing = [i for i in sample[id_col] if i not in pred]
    if missing: raise PaddyError(f"{len(missing)} id(s) of sample_submission have no prediction, e.g. {', '.join(missing[:3])}; "
                                 "test_images and sample_submission.csv disagree")
    return pd.DataFrame({id_col: sample[id_col], label_col: [pred[i] for i in sample[id_col]]})


def validate(df, sample, vocab=None):
    "Refuse a submission that lacks or repeats a test image, has extra ids, another header, or unknown labels."
    id_col, label_col = sample.columns[:2]
    if list(df.columns) != [id_col, label_col]:
        raise PaddyError(f"submission header is {','.join(map(str, df.columns))}; it must be {id_col},{label_col}")
    dup = df[id_col][df[id_col].duplicated()]
    if len(dup): raise PaddyError(f"submission lists {len(dup)} id(s) twice, e.g. {', '.join(dup[:3])}")
    expected, got = set(sample[id_col]), set(df[id_col])
    if expected - got: raise PaddyError(f"submission lacks {len(expected - got)} test id(s), e.g. {', '.join(sorted(expected - got)[:3])}")
    if got - expected: raise PaddyError(f"submission has {len(got - expected)} id(s) not in the test set, e.g. {', '.join(sorted(got - expected)[:3])}")
    if vocab is not None:
        bad = sorted(set(df[label_col]) - set(vocab))
        if bad: raise PaddyError(f"submission has label(s) outside the training labels: {', '.join(bad[:5])}")
    return df


def validate_file(path, sample, vocab=None):
    "Read and validate a submission CSV."
    if not Path(path).is_file(): raise PaddyError(f"submission file {path} not found; write one with `paddy predict`")
    return validate(read_csv(path, []), sample, vocab)


def write(df, path):
    "Write the submission CSV atomically."
    with atomic_path(path) as tmp: df.to_csv(tmp, index=False)
    return Path(path)
