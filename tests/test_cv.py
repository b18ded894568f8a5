"""Stratified K-fold: disjoint covering folds, `paddy cv` (fold runs, out-of-fold predictions, CV accuracy), and fold
ensembles in `paddy predict`."""
import json

import numpy as np
import pandas as pd
import pytest
from conftest import ONE_THREAD, TINY, assert_user_error, cli, make_competition, paddy

from paddy import cv, runs
from paddy.data import split
from paddy.infer import predict
from paddy.learn import valid


def test_folds_are_disjoint_covering_stratified_and_seeded():
    labels = ["a"] * 23 + ["b"] * 7 + ["c"] * 2
    fold = split.assign_folds(labels, 5, seed=1)
    parts = [split.fold_valid_idx(labels, 5, i, seed=1) for i in range(5)]
    assert sorted(sum(parts, [])) == list(range(len(labels)))  # each item in exactly one fold
    for label in "abc":
        counts = np.bincount(fold[np.asarray(labels) == label], minlength=5)
        assert counts.max() - counts.min() <= 1  # every label spread evenly
    assert np.bincount(fold).max() - np.bincount(fold).min() <= 1
    assert (split.assign_folds(labels, 5, seed=1) == fold).all() and (split.assign_folds(labels, 5, seed=2) != fold).any()


def test_expand_replaces_a_cv_folder_by_its_folds(tmp_path):
    (tmp_path / "k-cv").mkdir()
    (tmp_path / "k-cv" / "cv.json").write_text(json.dumps(dict(runs=["k-f0", "k-f1"])))
    assert runs.expand(["k-cv", "other"], ["2", "1"], tmp_path) == (["k-f0", "k-f1", "other"], [1.0, 1.0, 1.0])
    assert runs.expand(["a", "b"], None, tmp_path) == (["a", "b"], [1.0, 1.0])


def _cv(folder, p_a, label=("a", "b", "a")):
    folder.mkdir()
    (folder / "cv.json").write_text(json.dumps(dict(runs=[])))
    pd.DataFrame(dict(image_id=["1", "2", "3"], label=label, p_a=p_a, p_b=1 - np.asarray(p_a))).to_csv(folder / "oof.csv", index=False)


def test_ensemble_cv_weights_the_out_of_fold_probabilities(tmp_path):
    _cv(tmp_path / "x-cv", [0.9, 0.6, 0.4])  # right, wrong, wrong
    _cv(tmp_path / "y-cv", [0.3, 0.1, 0.8])  # wrong, right, right
    assert cv.ensemble_cv(["x-cv"], None, tmp_path) == pytest.approx(1 / 3)
    assert cv.ensemble_cv(["x-cv", "y-cv"], None, tmp_path) == 1  # p_a 0.6, 0.35, 0.6: all right
    assert cv.ensemble_cv(["x-cv", "y-cv"], [9, 1], tmp_path) == pytest.approx(1 / 3)  # p_a 0.84, 0.55, 0.44: as x alone
    assert cv.ensemble_cv(["x-cv", "not-a-cv"], None, tmp_path) is None


def test_cv_trains_every_fold_and_saves_out_of_fold_predictions(tmp_path, monkeypatch, capsys, one_thread):
    root, _ = make_competition(tmp_path / "comp", per_label=6)
    proc = paddy("cv", "--data", root, *TINY, "--method", "fit_one_cycle", "--folds", "2", "--name", "k", "--tta", "0",
                 cwd=tmp_path, env=ONE_THREAD, check=True)
    cv = json.loads((tmp_path / "runs" / "k-cv" / "cv.json").read_text())
    oof = pd.read_csv(tmp_path / "runs" / "k-cv" / "oof.csv")
    assert cv["runs"] == ["k-f0", "k-f1"] and cv["n"] == 12 and f"cv accuracy {cv['accuracy']:.4f}" in proc.stdout
    assert sorted(oof.image_id) == sorted(pd.read_csv(root / "train.csv").image_id)  # every image predicted once
    assert cv["accuracy"] == pytest.approx((oof.label == oof.pred).mean())
    for i in range(2):
        meta = runs.load_meta(tmp_path / "runs" / f"k-f{i}")
        assert meta.config["folds"] == 2 and meta.config["fold"] == i and meta.n_valid == 6
        assert sorted(oof[oof.fold == i].label.value_counts()) == [3, 3]  # each fold validates on half of each label
        assert meta.valid_error == pytest.approx(1 - cv["fold_accuracy"][i])  # the fold's own validation set
        assert sorted(valid.load(tmp_path / "runs" / f"k-f{i}").ids) == sorted(oof[oof.fold == i].image_id)  # saved for its report
    assert "report reports/k-cv.html" in proc.stdout and (tmp_path / "reports" / "k-f1.html").is_file()

    assert cli("predict", "--run", "k-cv", "--data", root, "--tta", "0", cwd=tmp_path, monkeypatch=monkeypatch) == 0
    assert f"out-of-fold accuracy of this ensemble {cv['accuracy']:.4f}" in capsys.readouterr().out
    (_, p0), (_, p1) = runs.load_probs(tmp_path / "runs" / "k-f0"), runs.load_probs(tmp_path / "runs" / "k-f1")
    _, mean, _ = predict.ensemble([tmp_path / "runs" / "k-f0", tmp_path / "runs" / "k-f1"])
    _, weighted, _ = predict.ensemble([tmp_path / "runs" / "k-f0", tmp_path / "runs" / "k-f1"], [3, 1])
    assert np.allclose(mean, (p0 + p1) / 2) and np.allclose(weighted, 0.75 * p0 + 0.25 * p1) and not np.allclose(weighted, mean)
    sub = pd.read_csv(tmp_path / "submissions" / "k-cv.csv")
    assert list(sub.label) == [["blast", "normal"][i] for i in mean.argmax(1)]


def test_cv_refuses_fold(tmp_path, competition):
    assert_user_error(paddy("cv", "--data", competition, *TINY, "--folds", "2", "--fold", "1", cwd=tmp_path), "drop --fold")
