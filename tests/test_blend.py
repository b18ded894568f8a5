"""`paddy blend`: weights from out-of-fold outputs (greedy selection with replacement under the competition's metric, or least log-loss), the
printed evidence, blends/NAME.json, members whose folds or images differ refused, and `paddy predict --blend`'s runs."""
import dataclasses, json

import numpy as np
import pandas as pd
import pytest
from conftest import cli
from fake_runs import fake_cv
from paddy import preds as saved, runs
from paddy.errors import PaddyError
from paddy.infer import blend

N, LABELS = 300, ["a", "b", "c"]


def synthetic(seed=0):
    """Out-of-fold probabilities whose right blend is known: `left` is right and sure on the first half and says nothing
    (uniform) on the second, `right` the reverse, `liar` is sure of a wrong class everywhere. Half `left` + half `right`
    is right everywhere; any weight on `liar` only hurts."""
    targs = np.random.default_rng(seed).integers(0, 3, N)
    sure = lambda cls, p: np.where(np.eye(3, dtype=bool)[cls], p, (1 - p) / 2)
    first = (np.arange(N) < N // 2)[:, None]
    return targs, dict(left=np.where(first, sure(targs, 0.9), 1 / 3), right=np.where(first, 1 / 3, sure(targs, 0.9)),
                       liar=sure((targs + 1) % 3, 0.96))


def preds(targs, probs=None, folds=None):
    "Out-of-fold Preds of images 0000.png... with classes `targs` (indices into LABELS)."
    return saved.Preds("single", LABELS, [f"{i:04d}.png" for i in range(len(targs))], list(np.asarray(LABELS)[targs]),
                       np.zeros((len(targs), 3)) if probs is None else probs, folds=np.arange(len(targs)) % 3 if folds is None else folds)


def write_cv(runs_dir, name, probs, targs, folds=None):
    "A cv folder as `paddy cv` writes it, rows in reverse order: the images of `preds`."
    p = preds(targs, probs, folds)
    fake_cv(runs_dir, name, p.ids, p.ys, p.outputs, p.folds, [f"{name}-f{i}" for i in range(3)], LABELS, reverse=True)


def test_greedy_and_logloss_find_the_known_weights():
    targs, m = synthetic()
    probs = [m["left"], m["right"], m["liar"]]
    assert np.allclose(blend.greedy(preds(targs), probs, "accuracy"), [0.5, 0.5, 0])
    assert np.allclose(blend.logloss_weights(targs, probs), [0.5, 0.5, 0], atol=1e-3)
    assert np.allclose(blend.greedy(preds(targs), [m["liar"], m["left"]], "accuracy"), [0, 1])  # a member that only hurts is never picked
    assert (blend.mix(probs, [1, 1, 0]).argmax(1) == targs).all() and (blend.mix(probs, [1, 1, 1]).argmax(1) != targs).all()


def test_greedy_optimizes_the_competitions_metric():
    "Under log loss the sure-but-wrong `liar` is ruinous; under accuracy `left` alone ties with `left` + a little `liar`."
    targs, m = synthetic()
    probs = [m["left"], m["right"], m["liar"]]
    assert np.allclose(blend.greedy(preds(targs), probs, "logloss"), [0.5, 0.5, 0])
    assert blend.key(preds(targs), "logloss", blend.mix(probs, [1, 1, 0])) < blend.key(preds(targs), "logloss", blend.mix(probs, [1, 0, 0]))


def test_blend_prints_members_equal_mean_and_blend_and_writes_the_json(tmp_path, monkeypatch, capsys):
    targs, m = synthetic()
    for name, p in m.items(): write_cv(tmp_path / "runs", f"{name}-cv", p, targs)
    assert cli("blend", "left-cv,right-cv,liar-cv", "--name", "best", cwd=tmp_path, monkeypatch=monkeypatch) == 0
    out = capsys.readouterr().out.splitlines()
    got = json.loads((tmp_path / "blends" / "best.json").read_text())
    assert got["members"] == ["left-cv", "right-cv", "liar-cv"] and got["weights"] == [0.5, 0.5, 0] and got["n"] == N
    assert got["metric"] == "accuracy" and out[0].split() == ["out", "of", "fold", "weight", "accuracy", "accuracy", "per", "fold"]
    s = got["scores"]
    assert s["blend"]["score"] == 1 and s["equal"]["score"] == 0 and s["members"]["liar-cv"]["score"] == 0
    assert s["members"]["left-cv"]["score"] == pytest.approx((N // 2 + np.sum(targs[N // 2:] == 0)) / N)  # uniform rows: argmax is the first class
    for name, score in [*s["members"].items(), ("equal mean", s["equal"]), ("blend (greedy)", s["blend"])]:
        line = next(ln for ln in out if ln.split("  ")[0] == name)
        assert f"{score['score']:8.4f}  {' '.join(f'{a:.4f}' for a in score['fold_scores'])}" in line, line
    assert "exceeds the fold-to-fold spread" in out[-2] and out[-1] == "wrote blends/best.json"

    assert cli("blend", "left-cv,right-cv,liar-cv", "--name", "ll", "--method", "logloss", cwd=tmp_path, monkeypatch=monkeypatch) == 0
    assert np.allclose(json.loads((tmp_path / "blends" / "ll.json").read_text())["weights"], [0.5, 0.5, 0], atol=1e-3)
    run, weights, out_csv, decoder = blend.as_runs("best", None, None, tmp_path / "runs")
    assert (run, weights, str(out_csv), decoder) == (["left-cv", "right-cv"], [0.5, 0.5], "submissions/best.csv", {})  # no weight: not predicted
    with pytest.raises(PaddyError, match="drop --run"): blend.as_runs("best", ["x-cv"], None, tmp_path / "runs")


def test_a_gain_within_the_fold_spread_is_called_so():
    members = dict(a=dict(score=0.90, fold_scores=[0.86, 0.90, 0.94]), b=dict(score=0.88, fold_scores=[0.88] * 3))
    result = blend.Blend("x", ["a", "b"], [0.6, 0.4], "greedy", 25, "accuracy", "single", 300, 3,
                         scores=dict(members=members, equal=dict(score=0.89, fold_scores=[0.89] * 3), blend=dict(score=0.91, fold_scores=[0.85, 0.92, 0.96])))
    result.evidence = blend.evidence(result)
    assert result.evidence == dict(best_member="a", gain=pytest.approx(0.01), spread=pytest.approx(0.04), within_spread=True, folds_better=2)
    assert "gain over its best member a, +0.0100 accuracy, is within the fold-to-fold spread (std 0.0400 over 3 folds; better on 2 of 3)" in blend.summary(result)[-1]
    rmse = blend.Blend("y", ["a", "b"], [0.5, 0.5], "greedy", 25, "rmse", "regression", 300, 3,
                       scores=dict(members=dict(a=dict(score=20.0, fold_scores=[19, 20, 21]), b=dict(score=22.0, fold_scores=[22] * 3)),
                                   blend=dict(score=18.0, fold_scores=[17, 18, 19])))
    assert blend.evidence(rmse)["best_member"] == "a" and blend.evidence(rmse)["gain"] == pytest.approx(2.0)  # lower is better


def rename_class(folder):
    "Make a cv folder predict classes a, b, d instead of a, b, c."
    cv = runs.load_cv(folder)
    runs.write_cv(folder, dataclasses.replace(cv, vocab=["a", "b", "d"]))
    oof = pd.read_csv(folder / "oof.csv").rename(columns={"p_c": "p_d"})
    oof.assign(y=oof.y.replace("c", "d")).to_csv(folder / "oof.csv", index=False)


@pytest.mark.parametrize("change, message", [
    (lambda f: (lambda o: o.assign(fold=(o.fold + 1) % 3).to_csv(f / "oof.csv", index=False))(pd.read_csv(f / "oof.csv")),
     "split the images into other folds than left-cv"),
    (lambda f: pd.read_csv(f / "oof.csv").iloc[1:].to_csv(f / "oof.csv", index=False), "predicted other images out of fold than left-cv"),
    (rename_class, "predicts another task, classes or metric than left-cv")], ids=["folds", "images", "labels"])
def test_members_with_other_folds_images_or_labels_are_refused(tmp_path, monkeypatch, capsys, change, message):
    targs, m = synthetic()
    write_cv(tmp_path / "runs", "left-cv", m["left"], targs)
    write_cv(tmp_path / "runs", "right-cv", m["right"], targs)
    change(tmp_path / "runs" / "right-cv")
    assert cli("blend", "left-cv,right-cv", cwd=tmp_path, monkeypatch=monkeypatch) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("paddy: right-cv ") and message in err[0]
    assert not (tmp_path / "blends").exists()


def test_other_mistakes_are_one_line(tmp_path, monkeypatch, capsys):
    targs, m = synthetic()
    write_cv(tmp_path / "runs", "left-cv", m["left"], targs)
    (tmp_path / "runs" / "plain").mkdir()
    for args, message in [(["left-cv,plain"], "plain is not a cv folder"), (["left-cv,left-cv"], "left-cv named twice"),
                          (["left-cv", "--method", "best"], "bad --method 'best'"), (["left-cv", "--rounds", "0"], "bad --rounds 0")]:
        assert cli("blend", *args, cwd=tmp_path, monkeypatch=monkeypatch) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
    assert cli("predict", "--blend", "nope", cwd=tmp_path, monkeypatch=monkeypatch) == 2
    assert "no blend 'nope'" in capsys.readouterr().err
