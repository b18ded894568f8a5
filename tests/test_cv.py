"""Stratified K-fold: disjoint covering folds, `paddy cv` (fold runs, out-of-fold predictions, CV accuracy), and fold
ensembles in `paddy predict`."""
import json

import numpy as np
import pandas as pd
import pytest
from conftest import DEMO_FLAGS, ONE_THREAD, TINY, assert_user_error, cli, make_competition, paddy
from fake_runs import fake_cv

from paddy import cv, preds as saved, runs
from paddy.data import split
from paddy.infer import blend, predict
from paddy.testing.competitions import build, kaggle_score


def test_folds_are_disjoint_covering_stratified_and_seeded():
    labels = ["a"] * 23 + ["b"] * 7 + ["c"] * 2
    fold = split.assign_folds(labels, 5, seed=1)
    parts = [split.valid_idx(labels, folds=5, fold=i, seed=1) for i in range(5)]
    assert sorted(sum(parts, [])) == list(range(len(labels)))  # each item in exactly one fold
    for label in "abc":
        counts = np.bincount(fold[np.asarray(labels) == label], minlength=5)
        assert counts.max() - counts.min() <= 1  # every label spread evenly
    assert np.bincount(fold).max() - np.bincount(fold).min() <= 1
    assert (split.assign_folds(labels, 5, seed=1) == fold).all() and (split.assign_folds(labels, 5, seed=2) != fold).any()


def test_a_group_stays_on_one_side_of_every_split():
    labels = ["a"] * 60 + ["b"] * 40
    groups = [f"patient{i // 4}" for i in range(100)]  # four images a patient
    for folds, fold in ((None, None), (5, 3)):
        valid = set(split.valid_idx(labels, 0.2, seed=0, folds=folds, fold=fold, groups=groups))
        assert {groups[i] for i in valid}.isdisjoint({groups[i] for i in set(range(100)) - valid})
        assert 10 <= len(valid) <= 30 and 0.4 <= np.mean([labels[i] == "a" for i in valid]) <= 0.8  # about a fifth, both labels
    plain = split.valid_idx(labels, 0.2, seed=0)
    assert {groups[i] for i in plain} & {groups[i] for i in set(range(100)) - set(plain)}  # without groups, patients straddle


def test_strata_of_tags_and_values():
    assert split.strata("multi", ["a b", "a", "a c", ""]) == ["b", "a", "c", ""]  # each image's rarest tag
    deciles = split.strata("regression", list(range(100)))
    assert sorted(set(deciles), key=int) == [str(i) for i in range(10)] and deciles[:10] == ["0"] * 10


def test_expand_replaces_a_cv_folder_by_its_folds(tmp_path):
    runs.write_cv(tmp_path / "k-cv", runs.CVResult(["k-f0", "k-f1"], "single", ["a"], "accuracy", 1.0, [1.0, 1.0], 2, 0))
    assert runs.expand(["k-cv", "other"], ["2", "1"], tmp_path) == (["k-f0", "k-f1", "other"], [1.0, 1.0, 1.0])
    assert runs.expand(["a", "b"], None, tmp_path) == (["a", "b"], [1.0, 1.0])


def _cv(folder, p_a, ys=("0", "1", "0")):
    "A cv folder of three images whose classes are written as numbers (Cassava's, APTOS's): oof.csv and cv.json."
    fake_cv(folder.parent, folder.name, ["1", "2", "3"], ys, np.stack([p_a, 1 - np.asarray(p_a)], 1), [0, 1, 0], ["f0", "f1"], ["0", "1"])


def test_ensemble_cv_weights_the_out_of_fold_probabilities(tmp_path):
    _cv(tmp_path / "x-cv", [0.9, 0.6, 0.4])  # right, wrong, wrong
    _cv(tmp_path / "y-cv", [0.3, 0.1, 0.8])  # wrong, right, right
    assert cv.ensemble_cv(["x-cv"], None, tmp_path) == ("accuracy", pytest.approx(1 / 3))  # numeric labels read as labels, not 0
    assert cv.ensemble_cv(["x-cv", "y-cv"], None, tmp_path) == ("accuracy", 1)  # p(0) 0.6, 0.35, 0.6: all right
    assert cv.ensemble_cv(["x-cv", "y-cv"], [9, 1], tmp_path) == ("accuracy", pytest.approx(1 / 3))  # p(0) 0.84, 0.55, 0.44: as x alone
    assert cv.ensemble_cv(["x-cv", "not-a-cv"], None, tmp_path) is None


@pytest.mark.slow
def test_cv_trains_every_fold_and_saves_out_of_fold_predictions(tmp_path, monkeypatch, capsys, one_thread):
    root, _ = make_competition(tmp_path / "comp", per_label=6)
    proc = paddy("cv", "--data", root, *TINY, "--method", "fit_one_cycle", "--folds", "2", "--name", "k", "--tta", "0",
                 cwd=tmp_path, env=ONE_THREAD, check=True)
    cv = runs.load_cv(tmp_path / "runs" / "k-cv")
    oof = pd.read_csv(tmp_path / "runs" / "k-cv" / "oof.csv", dtype={"id": str, "y": str})
    assert cv.runs == ["k-f0", "k-f1"] and cv.n == 12 and f"cv accuracy {cv.score:.4f} over 2 folds" in proc.stdout
    assert sorted(oof.id) == sorted(pd.read_csv(root / "train.csv").image_id)  # every image predicted once
    assert cv.score == pytest.approx((oof.y == np.where(oof.p_blast > oof.p_normal, "blast", "normal")).mean())
    for i in range(2):
        meta = runs.load_meta(tmp_path / "runs" / f"k-f{i}")
        assert meta.config["folds"] == 2 and meta.config["fold"] == i and meta.n_valid == 6
        assert sorted(oof[oof.fold == i].y.value_counts()) == [3, 3]  # each fold validates on half of each label
        assert meta.valid_error == pytest.approx(1 - cv.fold_scores[i])  # the fold's own validation set
        fold = saved.load_valid(tmp_path / "runs" / f"k-f{i}")  # out of fold: the fold's own saved predictions, no second pass
        at = dict(zip(fold.ids, fold.outputs[:, 0]))
        assert sorted(fold.ids) == sorted(oof[oof.fold == i].id) and np.allclose(oof[oof.fold == i].p_blast, [at[k] for k in oof[oof.fold == i].id], atol=1e-6)
    assert "report reports/k-cv.html" in proc.stdout and (tmp_path / "reports" / "k-f1.html").is_file()

    assert cli("predict", "--run", "k-cv", "--data", root, "--tta", "0", cwd=tmp_path, monkeypatch=monkeypatch) == 0
    assert f"out-of-fold accuracy of this ensemble {cv.score:.4f}" in capsys.readouterr().out
    (_, p0), (_, p1) = runs.load_probs(tmp_path / "runs" / "k-f0"), runs.load_probs(tmp_path / "runs" / "k-f1")
    _, mean, _ = predict.ensemble([tmp_path / "runs" / "k-f0", tmp_path / "runs" / "k-f1"])
    _, weighted, _ = predict.ensemble([tmp_path / "runs" / "k-f0", tmp_path / "runs" / "k-f1"], [3, 1])
    assert np.allclose(mean, (p0 + p1) / 2) and np.allclose(weighted, 0.75 * p0 + 0.25 * p1) and not np.allclose(weighted, mean)
    sub = pd.read_csv(tmp_path / "submissions" / "k-cv.csv", dtype=str)
    assert list(sub.label) == [["blast", "normal"][i] for i in mean.argmax(1)]


@pytest.mark.slow
def test_cv_refuses_fold(tmp_path, competition):
    assert_user_error(paddy("cv", "--data", competition, *TINY, "--folds", "2", "--fold", "1", cwd=tmp_path), "drop --fold")


@pytest.mark.slow
def test_cv_and_blend_under_quadratic_kappa(tmp_path, monkeypatch, capsys, demo_assets, one_thread):
    r = build("aptos", tmp_path / "aptos", n_train=240, n_test=60)  # integer grades 0-4, ids without an extension
    for name, lr in (("a", "0.003"), ("b", "0.002")):
        assert cli("cv", "--data", r.root, "--metric", "qwk", *DEMO_FLAGS, "--lr", lr, "--folds", "2", "--name", name, "--tta", "0",
                   cwd=tmp_path, monkeypatch=monkeypatch) == 0
    a = runs.load_cv(tmp_path / "runs" / "a-cv")
    assert (a.task, a.metric, a.vocab) == ("ordinal", "qwk", ["0", "1", "2", "3", "4"]) and a.decoder["mode"] in ("argmax", "expected")
    assert a.score > 0.3 and f"cv qwk {a.score:.4f} over 2 folds" in capsys.readouterr().out
    assert cli("blend", "a-cv,b-cv", "--name", "best", cwd=tmp_path, monkeypatch=monkeypatch) == 0
    printed = capsys.readouterr().out
    assert "out of fold" in printed and " qwk " in printed.splitlines()[0] and "wrote" in printed
    b = blend.load("best", tmp_path / "runs")
    assert (b.metric, b.task, b.members) == ("qwk", "ordinal", ["a-cv", "b-cv"]) and sum(b.weights) == pytest.approx(1)
    assert b.scores["blend"]["score"] == pytest.approx(cv.ensemble_cv(["a-cv", "b-cv"], b.weights, tmp_path / "runs")[1])
    assert cli("predict", "--blend", "best", cwd=tmp_path, monkeypatch=monkeypatch) == 0
    sub = pd.read_csv(tmp_path / "submissions" / "best.csv", dtype=str)
    assert set(sub.diagnosis) <= {"0", "1", "2", "3", "4"} and kaggle_score("qwk", sub, r.solution) > 0.3
