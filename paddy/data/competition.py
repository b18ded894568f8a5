"""A competition described from its own files, never assumed: which CSV trains, its id and target columns, where each
image is, the test ids and their order, the task, the metric and what the submission holds. Every choice can be set
by a flag (`--sample`, `--train-csv`, `--id-col`, `--target`, `--task`, `--metric`, `--top-k`); `paddy inspect` prints
what was found. The description is saved in each run's meta.json, so prediction never guesses again.

Detection, in order:
- the sample submission: `sample_submission*.csv` (or `sampleSubmission*.csv`); its first column is the id, the rest
  are what to write, with their exact header and the sample's row order;
- the train CSV: the CSV that has the id column (any name: train.csv, train_labels.csv, labels.csv, train_v2.csv); with
  none, the labels are folder names (`train/<label>/*.png`);
- the target: the sample's value columns where the train CSV has them (one label column, or one-hot columns), else
  the one column whose values are the sample's columns (Dog Breed: a breed column, a probability column per breed);
- the task: several 0/1 columns are single-label when each row has one 1, else multi-label; space-separated values
  are tags (multi-label); integers with many values, or fractions, are a regression; else single-label classes.
  A metric settles what the values cannot: rmse/mae make a regression, qwk an ordinal task;
- the metric, when not given: log loss for a probability per class, AUC for 0/1 columns or a fractional binary
  sample, else accuracy (single), F1 (multi), RMSE (regression), quadratic kappa (ordinal);
- the submission: a label, P(positive class) for a binary target under a probability metric, a probability per class,
  0/1 per class, tags, the top k labels (MAP@k), or a value.
"""
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from paddy import scoring
from paddy.data.layout import ImageIndex, data_root, kaggle_facts, read_csv, walk
from paddy.errors import PaddyError

SAMPLE_PATTERNS = ("sample_submission*.csv", "samplesubmission*.csv", "sample*submission*.csv")
MAX_DEPTH = 2  # CSVs are looked for this many folders deep
REGRESSION_VALUES = 20  # integer targets with more distinct values than this are a regression (Pawpularity's 1-100)
PROBABILITY_METRICS = ("auc", "logloss")


@dataclass
class Competition:
    "What a competition's files say, saved in meta.json (`root` is where they were; prediction may find them elsewhere)."
    root: str
    sample: str                 # the sample submission, relative to root
    id_col: str                 # its id column
    columns: list               # its value columns, in order: what a submission writes
    train_csv: str | None       # the train CSV, relative to root; None: labels are folder names
    train_id_col: str | None    # the train CSV's id column
    target: list                # the train CSV's target column(s) (folder labels: the sample's column)
    task: str                   # single | multi | regression | ordinal
    metric: str                 # see paddy.scoring.METRICS
    kind: str                   # what the submission holds: see paddy.scoring.KINDS
    classes: list | None = None  # the classes, where the files name them all (one-hot columns, a sample column per class)
    top_k: int | None = None    # labels per row of a top_k submission
    encoding: str = "column"    # how the target is written: column | tags | one_hot | folders
    label_folder: str | None = None  # folder labels: the folder of <label>/ folders, relative to root
    test_csv: str | None = None      # a test CSV with the id column, checked against the sample
    notes: dict = field(default_factory=dict)  # how each choice was made, for `paddy inspect`

    @property
    def path(self): return Path(self.root)

    def at(self, root):
        "The same competition with its files at `root` (a run trained elsewhere, a kernel's input)."
        return dataclasses.replace(self, root=str(root))


def from_dict(d):
    "A Competition from meta.json's dict."
    return Competition(**d)


def find_sample(root, given=None):
    "The sample submission's path relative to `root`."
    if given:
        path = Path(given) if Path(given).is_absolute() or Path(given).is_file() else root / given
        if not path.is_file(): raise PaddyError(f"--sample {given}: no such file under {root}")
        return str(path.resolve().relative_to(root.resolve())) if path.resolve().is_relative_to(root.resolve()) else str(path.resolve())
    found = sorted({p for pattern in SAMPLE_PATTERNS for p in csvs(root) if p.match(pattern) or p.name.lower() == pattern}, key=lambda p: (len(p.parts), p.name))
    found = [p for p in found if p.name.lower().startswith("sample")]
    if not found: raise PaddyError(f"no sample_submission*.csv under {root}: it tells what to submit; pass --sample FILE")
    if len(found) > 1:  # Planet shipped sample_submission.csv and sample_submission_v2.csv: only the competition's page tells
        raise PaddyError(f"several sample submissions under {root}: {', '.join(rel(root, p) for p in found[:4])}; pick one with --sample FILE")
    return rel(root, found[0])


def csvs(root):
    "The CSV files under `root`, at most MAX_DEPTH folders deep, by path."
    root = Path(root)
    return sorted(p for p in walk(root) if p.suffix.lower() == ".csv" and len(p.relative_to(root).parts) <= MAX_DEPTH + 1)


def rel(root, path): return str(Path(path).relative_to(root))


def header(path):
    "The columns of a CSV (its first line), without reading it whole."
    try: return list(pd.read_csv(path, nrows=0, dtype=str).columns)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise PaddyError(f"{path} is not a readable CSV ({type(e).__name__}); check the file") from e


def find_train_csv(root, sample, id_col, columns, given=None):
    "(train CSV relative to root, its id column, test CSV or None); (None, None, test) when no CSV has the id column."
    if given:
        path = root / given if not Path(given).is_file() else Path(given)
        if not path.is_file(): raise PaddyError(f"--train-csv {given}: no such file under {root}")
        return rel(root, path) if path.resolve().is_relative_to(root.resolve()) else str(path), id_col, None
    others = [p for p in csvs(root) if rel(root, p) != sample]
    heads = {p: header(p) for p in others}
    tests = [p for p in others if p.name.lower().startswith("test") and id_col in heads[p]]
    candidates = [p for p in others if id_col in heads[p] and p not in tests and not p.name.lower().startswith("sample")]
    if not candidates:  # the same id column spelled otherwise (iWildCam: Id and id)
        candidates = [p for p in others if p not in tests and any(c.lower() == id_col.lower() for c in heads[p])]
        if len(candidates) == 1: id_col = next(c for c in heads[candidates[0]] if c.lower() == id_col.lower())
    if len(candidates) > 1: candidates = [p for p in candidates if "train" in p.name.lower() or "label" in p.name.lower()] or candidates
    if len(candidates) > 1: candidates = [p for p in candidates if set(columns) <= set(heads[p])] or candidates
    if len(candidates) > 1:
        raise PaddyError(f"several CSVs have the id column {id_col}: {', '.join(rel(root, p) for p in candidates[:4])}; pick the training one with --train-csv FILE")
    test = rel(root, tests[0]) if len(tests) == 1 else None
    return (rel(root, candidates[0]), id_col, test) if candidates else (None, None, test)


def find_label_folder(root):
    "The folder of label folders (`train/<label>/*`): a folder whose subfolders hold images, two or more of them; else None."
    from paddy.data.layout import IMAGE_EXTS
    found = []
    for d in sorted(p for p in Path(root).rglob("*") if p.is_dir() and len(p.relative_to(root).parts) <= MAX_DEPTH):
        subs = [s for s in d.iterdir() if s.is_dir() and not s.name.startswith(".")]
        labelled = [s for s in subs if any(f.suffix.lower() in IMAGE_EXTS for f in s.iterdir())]
        if len(labelled) >= 2 and not any(f.suffix.lower() in IMAGE_EXTS for f in d.iterdir()): found.append(d)
    if len(found) > 1: found = [d for d in found if "train" in d.name.lower()] or found
    if len(found) > 1:
        raise PaddyError(f"several folders of label folders under {root}: {', '.join(rel(root, d) for d in found[:4])}; "
                         "point --data at the competition folder, or give a train CSV with --train-csv")
    return rel(root, found[0]) if found else None


def binary(values):
    "Are all `values` 0 or 1 (written 0, 1, 0.0 or 1.0)?"
    return set(values) <= {"0", "1", "0.0", "1.0"}


def find_target(df, id_col, columns, given=None):
    "(target columns, encoding, how they were chosen) in the train frame `df`."
    rest = [c for c in df.columns if c != id_col]
    if given:
        target, why = list(given), "--target"
        missing = [c for c in target if c not in df.columns]
        if missing: raise PaddyError(f"--target {','.join(missing)}: not a column of the train CSV; it has {', '.join(df.columns)}")
    elif set(columns) <= set(df.columns): target, why = list(columns), "the sample's column" + ("s" if len(columns) > 1 else "")
    elif len(columns) > 1 and (matches := [c for c in rest if set(df[c]) <= set(columns)]):
        target, why = matches[:1], "its values are the sample's columns"
    elif len(rest) == 1: target, why = rest, "the only column beside the id; another is set with --target"
    else:
        raise PaddyError(f"cannot tell the target: the sample's column(s) {', '.join(columns)} are not in the train CSV, whose columns are "
                         f"{', '.join(rest)}; pass --target COL")
    if len(target) > 1:
        bad = [c for c in target if not binary(df[c])]
        if bad: raise PaddyError(f"target columns {', '.join(bad)} are not 0/1: several target columns must be one-hot; give one with --target COL")
        return target, "one_hot", why
    return target, "tags" if tagged(df[target[0]]) else "column", why


def tagged(values):
    """Are `values` space-separated tags (Planet's `clear primary water`) rather than labels that hold a space
    (`Healthy Leaf`)? Tags recombine: fewer distinct words than distinct values."""
    values = set(values.str.strip())
    words = {w for v in values for w in v.split()}
    return any(len(v.split()) > 1 for v in values) and len(words) < len(values)


def detect_task(df, target, encoding, metric=None):
    "(task, note) from the target's values and, where the values cannot tell, the metric."
    if encoding == "folders": return "single", "labels are folder names"
    if encoding == "one_hot":
        ones = df[target].astype(float).sum(1)
        if (ones == 1).all(): return "single", f"{len(target)} one-hot columns, one 1 per row"
        return "multi", f"{len(target)} 0/1 columns, {int((ones != 1).sum())} row(s) without exactly one 1"
    if encoding == "tags": return "multi", "space-separated tags"
    values = df[target[0]].str.strip()
    distinct = sorted(set(values))
    if metric in ("rmse", "mae"): return "regression", f"--metric {metric}"
    if not scoring.numeric(distinct): return "single", f"{len(distinct)} labels"
    numbers = np.array([float(v) for v in distinct])
    whole = bool((numbers == np.round(numbers)).all())
    if metric == "qwk": return ("ordinal", f"--metric qwk, {len(distinct)} ordered classes") if whole else ("regression", "--metric qwk, fractional values")
    if not whole: return "regression", "fractional values"
    if len(distinct) > REGRESSION_VALUES: return "regression", f"{len(distinct)} distinct integers"
    return "single", f"{len(distinct)} integer labels"


def default_metric(task, columns, classes, sample_values):
    "(metric, note) when none is given."
    if len(columns) > 1 and set(classes) <= set(columns): return ("logloss" if task == "single" else "auc"), "a probability column per class"
    if task == "single" and len(classes) == 2 and scoring.numeric(sample_values) and any(float(v) not in (0, 1) for v in sample_values):
        return "auc", "the sample holds probabilities of a binary target"
    return scoring.DEFAULT_METRIC[task], f"the {task} task's default"


def submission_kind(task, metric, columns, classes, top_k):
    "(kind, top_k) of the submission's value columns."
    if len(columns) > 1:
        missing = sorted(set(classes) - set(columns))
        if missing: raise PaddyError(f"the training classes {', '.join(missing[:4])} have no column in the sample; check --target")
        return ("indicators" if task == "multi" and scoring.METRICS[metric].reads == "decoded" else "probabilities"), None
    if task == "regression": return ("label" if metric == "qwk" else "value"), None  # qwk: the grade, cut from the value
    if task == "multi": return "tags", None
    if task == "single" and (top_k or metric == "map5"): return "top_k", top_k or 5
    if task == "single" and metric in PROBABILITY_METRICS:
        if len(classes) != 2:
            raise PaddyError(f"--metric {metric} scores probabilities, but the sample has one column for {len(classes)} classes; "
                             "use a label metric such as --metric accuracy")
        return "probability", None
    return "label", None


def describe(root, sample=None, train_csv=None, id_col=None, target=None, task=None, metric=None, top_k=None):
    "The Competition in folder `root`: detected from its files, each choice overridden by the argument of the same name."
    root = Path(root)
    if not root.is_dir(): raise PaddyError(f"data folder {root} does not exist; pass --data DIR or run `make data`")
    if task is not None and task not in scoring.TASKS: raise PaddyError(f"bad --task {task!r}: choose one of {', '.join(scoring.TASKS)}")
    if metric is not None: scoring.metric(metric)
    notes = {}
    on_kaggle = kaggle_facts(root).get("evaluation_metric")
    if metric is None and scoring.from_kaggle(on_kaggle):  # what Kaggle's API named, recorded by `paddy data`
        metric, notes["metric"] = scoring.from_kaggle(on_kaggle), f"Kaggle's evaluation metric: {on_kaggle}"
    sample_file = find_sample(root, sample)
    sample_df = read_csv(root / sample_file)
    if len(sample_df.columns) < 2: raise PaddyError(f"{sample_file} should have an id column and at least one column to predict; it has {', '.join(sample_df.columns)}")
    sample_id, columns = sample_df.columns[0], list(sample_df.columns[1:])
    csv, train_id, test_csv = find_train_csv(root, sample_file, id_col or sample_id, columns, train_csv)
    label_folder = None
    if csv is None:
        label_folder = find_label_folder(root)
        if label_folder is None:
            raise PaddyError(f"no CSV under {root} has the id column {id_col or sample_id}, and no folder holds label folders; "
                             "pass --train-csv FILE (and --id-col COL if its id column is named otherwise)")
        tgt, encoding, df = [columns[0]], "folders", None
        notes["train"] = f"labels are the folder names under {label_folder}/"
    else:
        df = read_csv(root / csv, [train_id])
        tgt, encoding, why = find_target(df, train_id, columns, target)
        notes["train"] = f"{csv}: id {train_id}, target {','.join(tgt)}" + (" (one-hot)" if encoding == "one_hot" else "") + f" ({why})"
    if task is None: task, notes["task"] = detect_task(df, tgt, encoding, metric)
    else: notes["task"] = f"--task {task}"
    check_task(task, encoding)
    graded = task == "regression" and metric == "qwk"  # a value cut into the grades the data holds
    classes = [] if task == "regression" and not graded else classes_of(df, tgt, encoding, root / label_folder if label_folder else None)
    if metric is None: metric, notes["metric"] = default_metric(task, columns, classes, list(sample_df[columns[0]]))
    else: notes.setdefault("metric", "given")
    if task not in scoring.METRICS[metric].tasks:
        raise PaddyError(f"--metric {metric} does not score a {task} task ({notes['task']}); use one of {', '.join(scoring.for_task(task))}, or set --task")
    if metric == "qwk" and task == "single" and not scoring.numeric(classes):
        raise PaddyError("--metric qwk needs ordered classes written as numbers; these labels are names")
    kind, top_k = submission_kind(task, metric, columns, classes, top_k)
    named = (scoring.sort_classes(tgt if encoding == "one_hot" else columns) if encoding == "one_hot" or kind in ("probabilities", "indicators")
             else classes if graded else None)
    return Competition(str(root), sample_file, sample_id, columns, csv, train_id, tgt, task, metric, kind, named, top_k, encoding,
                       label_folder, test_csv, notes)


TASKS_OF = {"column": ("single", "regression", "ordinal"), "folders": ("single", "ordinal"), "tags": ("multi",), "one_hot": ("single", "multi")}


def check_task(task, encoding):
    "Refuse a --task the target's form cannot take."
    if task not in TASKS_OF[encoding]:
        form = {"column": "one value per image", "folders": "folder names", "tags": "space-separated tags", "one_hot": "one-hot columns"}[encoding]
        raise PaddyError(f"--task {task} does not fit a target written as {form} (it can be {' or '.join(TASKS_OF[encoding])}); "
                         "drop --task to let the data decide")


def classes_of(df, target, encoding, label_folder=None):
    "The classes of a classification target, in output order."
    if encoding == "one_hot": return scoring.sort_classes(target)
    if encoding == "folders": return scoring.sort_classes(d.name for d in Path(label_folder).iterdir() if d.is_dir() and not d.name.startswith("."))
    if encoding == "tags": return scoring.sort_classes(t for v in df[target[0]] for t in v.split())
    return scoring.sort_classes(df[target[0]].str.strip())


def from_config(cfg):
    "The Competition of a run's Config: its data folder, described with the run's flags."
    return describe(data_root(cfg.slug, cfg.data), cfg.sample, cfg.train_csv, cfg.id_col, cfg.target, cfg.task, cfg.metric, cfg.top_k)


def targets_of(comp, df):
    "The train frame's target as one value per row: the label, space-separated tags, or the number."
    t = comp.target
    if comp.encoding == "one_hot":
        hot = df[t].astype(float).to_numpy() > 0.5
        return [" ".join(c for c, on in zip(t, row) if on) for row in hot]
    values = df[t[0]].str.strip()
    if comp.encoding == "tags": return [" ".join(v.split()) for v in values]
    return values.tolist()


def train_items(comp, index=None):
    """The training images as a frame: id, y (label, tags or value), path, and the train CSV's other columns. An id
    without an image, or listed twice, is an error; where images sit in folders named for labels, a label that
    disagrees with its folder is an error."""
    root = comp.path
    index = index or ImageIndex(root)
    if comp.encoding == "folders":
        files = [p for p in index.by_name.values() for p in p if p.is_relative_to(root / comp.label_folder)]
        df = pd.DataFrame(dict(id=[p.name for p in files], y=[p.parent.name for p in files], path=files)).sort_values("id", kind="stable")
        dup = df.id[df.id.duplicated()]
        if len(dup): raise PaddyError(f"image {dup.iloc[0]} appears in two label folders under {comp.label_folder}; keep one")
        if df.empty: raise PaddyError(f"no images under {root / comp.label_folder}")
        return df.reset_index(drop=True)
    df = read_csv(root / comp.train_csv, [comp.train_id_col, *comp.target])
    if len(df) == 0: raise PaddyError(f"{root / comp.train_csv} lists no images")
    ids = df[comp.train_id_col].str.strip()
    dup = ids[ids.duplicated()]
    if len(dup): raise PaddyError(f"{comp.train_csv} lists {len(dup)} id(s) twice, e.g. {', '.join(dup[:3])}; keep one row per image")
    empty = df[comp.target].eq("").any(axis=1) if comp.encoding != "tags" else pd.Series(False, index=df.index)
    if empty.any(): raise PaddyError(f"{comp.train_csv} has {int(empty.sum())} row(s) with no {','.join(comp.target)}, e.g. id {ids[empty].iloc[0]}; fill or drop them")
    y = targets_of(comp, df)
    if comp.task == "regression":
        try: y = [float(v) for v in y]
        except ValueError: raise PaddyError(f"{comp.train_csv}'s {comp.target[0]} holds text, not numbers; a regression needs numbers (check --task)") from None
    out = df.drop(columns=[c for c in ("id", "y", "path") if c in df.columns]).assign(id=ids.tolist(), y=y, path=index.paths(ids.tolist(), comp.train_csv))
    if comp.task != "regression" and comp.encoding == "column": check_folders(out)
    return out[["id", "y", "path", *[c for c in out.columns if c not in ("id", "y", "path")]]].reset_index(drop=True)


def check_folders(items):
    """Where the training images sit in label folders (Paddy Doctor's train_images/<label>/: sibling folders, at
    least half of them named for a class), each image must sit in its own label's."""
    labels = set(items.y)
    siblings = {d.name for g in {p.parent.parent for p in items.path} for d in g.iterdir() if d.is_dir()}
    if len(siblings) < 2 or len(siblings & labels) < len(siblings) / 2: return
    parent = items.path.map(lambda p: p.parent.name)
    wrong = items[parent != items.y]
    if len(wrong):
        eg = ", ".join(f"{r.id} (csv {r.y}, folder {r.path.parent.name})" for r in wrong.head(3).itertuples())
        raise PaddyError(f"{len(wrong)} image(s) sit in a folder other than their label, e.g. {eg}; fix the CSV or move the files")


def predict_items(comp, index=None):
    """The test images in the sample submission's order: id and path. An id without an image is an error; a test CSV
    that lists other ids than the sample is too."""
    root = comp.path
    sample = read_csv(root / comp.sample, [comp.id_col])
    ids = sample[comp.id_col].str.strip().tolist()
    dup = sorted({i for i in ids if ids.count(i) > 1}) if len(set(ids)) != len(ids) else []
    if dup: raise PaddyError(f"{comp.sample} lists id(s) twice, e.g. {', '.join(dup[:3])}; the sample is damaged")
    if comp.test_csv and (root / comp.test_csv).is_file():
        listed = set(read_csv(root / comp.test_csv, [comp.id_col])[comp.id_col].str.strip())
        if listed != set(ids):
            raise PaddyError(f"{comp.test_csv} and {comp.sample} list different test ids ({len(listed)} and {len(ids)}); "
                             "the sample decides what is scored: fix or remove the other file")
    if not ids: raise PaddyError(f"{comp.sample} lists no test ids")
    return pd.DataFrame(dict(id=ids, path=(index or ImageIndex(root)).paths(ids, comp.sample)))


def summary(comp, train=None, test=None):
    "What was detected, a line each, with the flag that changes it (`paddy inspect`; `paddy train` prints the first two)."
    root = comp.path
    where = lambda items: ", ".join(f"{n} in {d}/" for d, n in pd.Series([top_folder(root, p) for p in items.path]).value_counts().items())
    lines = [f"competition {root}: {comp.task} task ({comp.notes.get('task', '')}) [--task], metric {comp.metric} "
             f"({comp.notes.get('metric', '')}) [--metric]"]
    lines.append(f"train: {comp.notes.get('train', '')} [--train-csv, --id-col, --target]" + (f"; {len(train)} images: {where(train)}" if train is not None else ""))
    if train is not None and comp.task != "regression":
        counts = pd.Series([t for y in train.y for t in str(y).split()] if comp.task == "multi" else train.y).value_counts()
        lines.append(f"classes: {len(counts)} ({', '.join(f'{k} {v}' for k, v in counts.head(8).items())}{', ...' if len(counts) > 8 else ''})")
    elif train is not None:
        lines.append(f"values: {len(train)} from {min(train.y):g} to {max(train.y):g}, mean {np.mean(train.y):.4g}")
    if test is not None: lines.append(f"test: {len(test)} ids from {comp.sample} (its order): {where(test)}" + (f", checked against {comp.test_csv}" if comp.test_csv else "") + " [--sample]")
    cols = comp.columns if len(comp.columns) <= 5 else [*comp.columns[:4], "...", comp.columns[-1]]
    lines.append(f"submission: {comp.id_col},{','.join(cols)} ({len(comp.columns) + 1} columns): {describe_kind(comp)} [--sample, --metric, --top-k]")
    return lines


def top_folder(root, path):
    "The folder right under `root` that holds `path` ('.' for root itself)."
    parts = Path(path).relative_to(root).parts
    return parts[0] if len(parts) > 1 else "."


def describe_kind(comp):
    "What the submission's value columns hold, in words."
    return {"label": "the predicted label", "probability": "the probability of the positive class",
            "probabilities": "a probability per class", "indicators": "0/1 per class (thresholds tuned on validation)",
            "tags": "space-separated tags (thresholds tuned on validation)", "top_k": f"the top {comp.top_k} labels, space-separated",
            "value": "the predicted value"}[comp.kind]
