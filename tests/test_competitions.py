"""Any Kaggle image competition: real digits laid out as other competitions lay out their files
(paddy.testing.competitions). paddy detects each layout, target, task, metric and submission shape; trains with only
`--metric`; predicts with no flag; and its submission has the sample's exact header, ids and order, holds the right
kind of values, and scores clearly better than the best constant answer when Kaggle's way of scoring is applied."""
import json

import numpy as np
import pandas as pd
import pytest
from conftest import DEMO_FLAGS, assert_user_error, cli
from fake_runs import Tables
from types import SimpleNamespace

from paddy.data.competition import describe, predict_items, train_items
from paddy.errors import PaddyError
from paddy.testing.competitions import best_constant, build, kaggle_score

DETECTED = {  # replica: (train CSV, target, task, metric without --metric, submission kind with the competition's metric)
    "paddy": ("train.csv", ["label"], "single", "accuracy", "label"),
    "cassava": ("train.csv", ["label"], "single", "accuracy", "label"),
    "aptos": ("train.csv", ["diagnosis"], "single", "accuracy", "label"),  # integers 0-4: classes, until --metric qwk says ordinal
    "pawpularity": ("train.csv", ["Pawpularity"], "regression", "rmse", "value"),
    "plant_pathology": ("train.csv", ["healthy", "multiple_diseases", "rust", "scab"], "single", "logloss", "probabilities"),
    "histopathologic": ("train_labels.csv", ["label"], "single", "accuracy", "probability"),
    "aerial_cactus": ("train.csv", ["has_cactus"], "single", "auc", "probability"),  # the sample holds 0.5: probabilities
    "planet": ("train_v2.csv", ["tags"], "multi", "f1", "tags"),
    "plant_seedlings": (None, ["species"], "single", "accuracy", "label"),
    "dog_breed": ("labels.csv", ["breed"], "single", "logloss", "probabilities"),
    "siim_isic": ("train.csv", ["target"], "single", "accuracy", "probability"),
}


@pytest.mark.parametrize("name", DETECTED)
def test_each_layout_is_detected_from_its_files(tmp_path, name):
    r = build(name, tmp_path / name, n_train=40, n_test=10)
    csv, target, task, default_metric, kind = DETECTED[name]
    comp = describe(r.root)
    assert (comp.train_csv, comp.target, comp.task, comp.metric) == (csv, target, task, default_metric)
    sample = pd.read_csv(next(r.root.glob("sample_submission*.csv")), dtype=str)
    assert [comp.id_col, *comp.columns] == list(sample.columns)
    train, test = train_items(comp), predict_items(comp)
    assert len(train) == 40 and all(p.is_file() for p in train.path)
    assert list(test.id) == list(sample.iloc[:, 0]) and all(p.is_file() and p.stem == str(i).removesuffix(p.suffix) for i, p in zip(test.id, test.path))
    assert describe(r.root, metric=r.metric).kind == kind
    if name == "aptos": assert describe(r.root, metric="qwk").task == "ordinal"


def test_a_group_column_keeps_each_patient_on_one_side(tmp_path):
    from paddy.config import make_config
    from paddy.learn.train import prepare
    r = build("siim_isic", tmp_path / "siim", n_train=80, n_test=10)
    p = prepare(make_config(data=str(r.root), metric="auc", group_col="patient_id", bs=8, workers=0, cache_dir=str(tmp_path / "c")))
    train, valid = set(p.dls.train_ds.items.patient_id), set(p.dls.valid_ds.items.patient_id)
    assert train and valid and not train & valid and p.comp.kind == "probability"
    with pytest.raises(PaddyError, match="--group-col patient is not a column"):
        prepare(make_config(data=str(r.root), group_col="patient", bs=8, workers=0, cache_dir=str(tmp_path / "c")))


def test_labels_keep_their_written_form(tmp_path):
    r = build("cassava", tmp_path / "c", n_train=30, n_test=5)
    items = train_items(describe(r.root))
    assert set(items.y) <= {"0", "1", "2", "3", "4"}  # read as text: written back as 0, not 0.0
    one_hot = train_items(describe(build("plant_pathology", tmp_path / "p", n_train=30, n_test=5).root))
    assert set(one_hot.y) <= {"healthy", "multiple_diseases", "rust", "scab"}
    tags = train_items(describe(build("planet", tmp_path / "t", n_train=30, n_test=5).root))
    assert all("primary" in y.split() for y in tags.y)


def test_flags_override_each_choice(tmp_path):
    r = build("aptos", tmp_path / "a", n_train=40, n_test=10)
    graded = describe(r.root, task="regression", metric="qwk")  # a value, cut into the grades at points fitted for kappa
    assert (graded.task, graded.kind, graded.classes) == ("regression", "label", ["0", "1", "2", "3", "4"])
    assert describe(r.root, metric="rmse").task == "regression"
    comp = describe(r.root, metric="map5")
    assert (comp.kind, comp.top_k) == ("top_k", 5) and describe(r.root, top_k=3).top_k == 3
    (r.root / "extra.csv").write_text("id_code,other\n")
    assert describe(r.root, train_csv="train.csv", target=["diagnosis"]).train_csv == "train.csv"


BROKEN = {  # case: (how the folder is broken, what the one line names)
    "two train CSVs": (lambda root: (root / "train_labels.csv").write_text((root / "train.csv").read_text()), ["several CSVs", "--train-csv"]),
    "two samples": (lambda root: (root / "sample_submission_v2.csv").write_text((root / "sample_submission.csv").read_text()), ["--sample"]),
    "no sample": (lambda root: (root / "sample_submission.csv").unlink(), ["no sample_submission", "--sample"]),
    "an id with two files": (lambda root: copy_into(next((root / "test_images").iterdir()), root / "train_images"), ["matches 2 images"]),
    "a test id without an image": (lambda root: next((root / "test_images").iterdir()).unlink(), ["sample_submission.csv lists 1 id", "no image"]),
    "test.csv disagrees with the sample": (lambda root: (root / "test.csv").write_text("id_code\nnope\n"), ["test.csv", "sample_submission.csv"]),
    "a target the sample does not name": (lambda root: pd.read_csv(root / "train.csv").assign(extra=1).rename(columns={"diagnosis": "grade"})
                                          .to_csv(root / "train.csv", index=False), ["--target"]),
    "a metric the task cannot take": (None, ["--metric rmse", "single"]),
}


def copy_into(path, folder):
    "A second copy of the file `path`, under the same name in `folder`."
    (folder / path.name).write_bytes(path.read_bytes())


@pytest.mark.parametrize("case", BROKEN)
def test_a_broken_or_ambiguous_layout_is_one_line_naming_the_flag(tmp_path, monkeypatch, capsys, case):
    r = build("aptos", tmp_path / "a", n_train=20, n_test=5)
    breaks, fragments = BROKEN[case]
    if breaks: breaks(r.root)
    flags = ["--task", "single", "--metric", "rmse"] if breaks is None else []
    code = cli("inspect", "--data", r.root, *flags, cwd=tmp_path, monkeypatch=monkeypatch)
    assert_user_error(SimpleNamespace(returncode=code, stderr=capsys.readouterr().err), *fragments)


def test_inspect_prints_what_it_found_with_the_flag_for_each_choice(tmp_path, monkeypatch, capsys):
    r = build("planet", tmp_path / "planet", n_train=30, n_test=8)
    assert cli("inspect", "--data", r.root, "--metric", "f2", cwd=tmp_path, monkeypatch=monkeypatch) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"competition {r.root}: multi task (space-separated tags) [--task], metric f2 (given) [--metric]"
    assert out[1] == "train: train_v2.csv: id image_name, target tags (the sample's column) [--train-csv, --id-col, --target]; 30 images: 30 in train-jpg/"
    assert out[2].startswith("classes: 5 (primary 30")
    assert out[3] == "test: 8 ids from sample_submission_v2.csv (its order): 8 in test-jpg/ [--sample]"
    assert out[4] == "submission: image_name,tags (2 columns): space-separated tags (thresholds tuned on validation) [--sample, --metric, --top-k]"


SHAPES = {  # replica: what each value column must hold
    "cassava": "label", "aptos": "label", "pawpularity": "value", "plant_pathology": "probabilities", "histopathologic": "probability",
    "planet": "tags", "plant_seedlings": "label", "dog_breed": "probabilities",
}
REPORTED = {"label": {"score", "confusion", "top-losses"}, "probability": {"score", "confusion", "roc"}, "probabilities": {"score", "confusion"},
            "tags": {"score", "per-tag"}, "value": {"score", "regression"}}  # sections of the run's page, by what it predicts
MARGIN = {"accuracy": 0.2, "f1": 0.2, "qwk": 0.3, "auc": 0.15, "f2": 0.03, "rmse": -3.0, "logloss": -0.5}  # clearly better than constant


@pytest.mark.slow
@pytest.mark.parametrize("name", SHAPES)
def test_train_with_only_the_metric_then_predict_with_no_flag(tmp_path, monkeypatch, capsys, demo_assets, one_thread, name):
    r = build(name, tmp_path / name, n_train=400, n_test=120)
    assert cli("train", "--data", r.root, "--metric", r.metric, *DEMO_FLAGS, cwd=tmp_path, monkeypatch=monkeypatch) == 0
    assert cli("predict", cwd=tmp_path, monkeypatch=monkeypatch) == 0
    (csv,) = (tmp_path / "submissions").glob("*.csv")
    text = pd.read_csv(csv, dtype=str)
    sample = pd.read_csv(next(r.root.glob("sample_submission*.csv")), dtype=str)
    assert list(text.columns) == list(sample.columns) and list(text.iloc[:, 0]) == list(sample.iloc[:, 0])
    values = text.iloc[:, 1:]
    kind = SHAPES[name]
    (meta,) = [json.loads(p.read_text()) for p in (tmp_path / "runs").glob("*/meta.json")]
    if kind == "label": assert set(values.iloc[:, 0]) <= set(meta["vocab"])
    if name == "cassava": assert set(values.iloc[:, 0]) <= {"0", "1", "2", "3", "4"}  # `3`, never `3.0`
    if kind in ("probability", "probabilities", "value"): assert values.astype(float).notna().all().all()
    if kind == "probability": assert values.astype(float).iloc[:, 0].between(0, 1).all() and values.iloc[:, 0].nunique() > 2  # not 0/1 labels
    if kind == "probabilities": assert np.allclose(values.astype(float).sum(1), 1, atol=1e-3)
    if kind == "tags": assert all(set(t.split()) <= {"clear", "cloudy", "primary", "water", "road"} and t for t in values.iloc[:, 0])
    sections = Tables((tmp_path / "reports" / f"{meta['name']}.html").read_text()).sections  # the page `paddy train` wrote
    assert REPORTED[kind] <= set(sections) and ("confusion" in sections) == (kind not in ("tags", "value")), sections
    score, constant = kaggle_score(r.metric, text, r.solution), best_constant(r.metric, r.solution)
    print(f"{name}: {r.metric} {score:.4f}, best constant {constant:.4f}")
    assert score >= constant + MARGIN[r.metric] if MARGIN[r.metric] > 0 else score <= constant + MARGIN[r.metric], (score, constant)
