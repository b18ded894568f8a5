"""`paddy report`: the numbers on a run's page against a confusion matrix worked out by hand, the top losses with the
actual label's probability, cv and comparison pages, the index; validation predictions saved by `paddy train`, the
TTA warning of `paddy predict`, and the optional tracker."""
import json
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import TINY, assert_user_error, cli, make_competition
from fake_runs import VOCAB, Tables, fake_cv, fake_run

from paddy import preds as saved, runs
from paddy.learn import valid
from paddy.report import figures, pages

IDS = ["000000.jpg", "000001.jpg", "010000.jpg", "010001.jpg", "020000.jpg", "020001.jpg"]  # make_competition's, labels a a b b c c
LABELS = ["a", "a", "b", "b", "c", "c"]
PROBS = [[0.7, 0.2, 0.1],   # a -> a
         [0.3, 0.6, 0.1],   # a -> b   p(actual) 0.3: the top loss
         [0.1, 0.8, 0.1],   # b -> b
         [0.2, 0.5, 0.3],   # b -> b
         [0.5, 0.1, 0.4],   # c -> a   p(actual) 0.4
         [0.1, 0.2, 0.7]]   # c -> c


@pytest.fixture
def comp(tmp_path):
    "A competition whose train_images hold the IDS under their labels (thumbnails for the top losses)."
    return make_competition(tmp_path / "comp", labels=tuple(VOCAB), per_label=2, size=(24, 24))[0]


def test_run_page_numbers_match_a_hand_computed_confusion_matrix(tmp_path, comp):
    fake_run(tmp_path / "runs", "r", comp, IDS, LABELS, PROBS)
    written = pages.write(["r"], tmp_path / "runs", tmp_path / "reports")
    assert written == [tmp_path / "reports" / "r.html", tmp_path / "reports" / "index.html"]
    page = Tables(written[0].read_text())
    assert page.sections == ["settings", "training", "score", "confusion", "per-class", "most-confused", "top-losses"]
    # actual a: 1 right, 1 taken for b; b: both right; c: 1 taken for a, 1 right
    assert page.table("actual \\ predicted")[1:] == [["a", "1", "1", "0"], ["b", "0", "2", "0"], ["c", "1", "0", "1"]]
    # precision = right / predicted as the class (a: 1/2, b: 2/3, c: 1/1); recall = right / actual (1/2, 2/2, 1/2)
    assert page.table("class")[1:] == [["a", "0.5000", "0.5000", "0.5000", "2"], ["b", "0.6667", "1.0000", "0.8000", "2"],
                                       ["c", "1.0000", "0.5000", "0.6667", "2"]]
    assert page.table("actual")[1:] == [["a", "b", "1"], ["c", "a", "1"]]  # most confused pairs
    assert page.table("prediction")[1:] == [["plain", "0.6667"], ["TTA, 4 views", "0.6667"]]  # the metric: accuracy
    assert page.table("epoch")[1:][-1][0] == "2"  # epochs counted from 1, as training prints them
    assert {"confusion matrix, counts", "top losses", "loss and metrics per epoch"} <= set(page.images)
    for png in ("confusion", "confusion_normalized", "history", "top_losses"):
        assert (tmp_path / "reports" / "r" / f"{png}.png").read_bytes()[:4] == b"\x89PNG"  # the same figures beside the page


def test_top_losses_show_the_actual_labels_probability(tmp_path, comp):
    fake_run(tmp_path / "runs", "r", comp, IDS, LABELS, PROBS)
    page = Tables(pages.write(["r"], tmp_path / "runs", tmp_path / "reports")[0].read_text())
    top = page.table("image")
    assert top[0] == ["image", "actual", "p(actual)", "predicted", "p(predicted)", "loss"]
    assert top[1] == ["000001.jpg", "a", "0.300", "b", "0.600", f"{-np.log(0.3):.3f}"]  # not fastai's p(predicted) 0.600
    assert [r[0] for r in top[1:]] == ["000001.jpg", "020000.jpg", "010001.jpg", "000000.jpg", "020001.jpg", "010000.jpg"]
    rows = pages.top_losses(saved.load_valid(tmp_path / "runs" / "r"))
    fig = figures.top_losses(rows, [figures.thumbnail(comp / "train_images" / r["actual"] / r["id"]) for r in rows])
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles[0] == "000001.jpg\nactual a p=0.300\npredicted b" and titles[1] == "020000.jpg\nactual c p=0.400\npredicted a"
    assert all(ax.images for ax in fig.axes[:6])  # each title sits over its thumbnail


def test_a_run_made_worse_by_tta_says_so(tmp_path, comp):
    worse = np.asarray(PROBS)[:, [1, 0, 2]]  # a and b swapped: 2 of 6 right
    fake_run(tmp_path / "runs", "r", comp, IDS, LABELS, PROBS, probs_tta=worse)
    meta = runs.load_meta(tmp_path / "runs" / "r")
    assert valid.tta_note(meta) == ("TTA made run r worse on validation (accuracy 0.6667 plain, 0.3333 with TTA 4); "
                                    "compare with `paddy predict --tta 0`")
    text = pages.write(["r"], tmp_path / "runs", tmp_path / "reports")[0].read_text()
    assert 'class="note">TTA made run r worse' in text
    assert valid.tta_note(replace(meta, valid_score_tta=0.7)) is None


def test_two_runs_compare_and_ensemble_on_their_common_validation_images(tmp_path, comp):
    fake_run(tmp_path / "runs", "x", comp, IDS[:4], LABELS[:4], [PROBS[0], PROBS[1], [0.1, 0.8, 0.1], [0.6, 0.3, 0.1]])
    fake_run(tmp_path / "runs", "y", comp, IDS[2:], LABELS[2:], [[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], PROBS[4], PROBS[5]])
    written = pages.write(["x", "y"], tmp_path / "runs", tmp_path / "reports")
    assert [p.name for p in written] == ["x.html", "y.html", "x+y.html", "index.html"]
    page = Tables(written[2].read_text())
    assert page.sections == ["runs", "ensemble"]
    assert [r[:5] for r in page.table("run")[1:]] == [["x", "resnet18", "4", "accuracy", "0.5000"], ["y", "resnet18", "4", "accuracy", "0.5000"]]  # 2 of 4 each
    # on 010000 and 010001 (both b) x is right once, y once; their mean (0.4, 0.5, 0.1), (0.35, 0.55, 0.1) twice
    ensemble = next(t for t in page.tables if t[0] == ["run", "accuracy", "TTA accuracy"])
    assert ensemble[1:] == [["x", "0.5000", "0.5000"], ["y", "0.5000", "0.5000"], ["ensemble (mean)", "1.0000", "1.0000"]]
    assert "2 images validated by every run" in written[2].read_text()
    index = Tables(written[3].read_text())
    assert [r[0] for r in index.table("run")[1:]] == ["x", "y"]
    assert '<a href="x.html">x</a>' in written[3].read_text() and 'href="x+y.html"' in written[3].read_text()


def test_cv_folder_page_shows_folds_and_out_of_fold_confusion(tmp_path, comp):
    for i in range(2): fake_run(tmp_path / "runs", f"k-f{i}", comp, IDS[i::2], LABELS[i::2], PROBS[i::2])
    fake_cv(tmp_path / "runs", "k-cv", IDS, LABELS, PROBS, [0, 1, 0, 1, 0, 1], ["k-f0", "k-f1"])
    written = pages.write(["k-cv"], tmp_path / "runs", tmp_path / "reports")
    assert [p.name for p in written] == ["k-cv.html", "k-f0.html", "k-f1.html", "index.html"]
    page = Tables(written[0].read_text())
    assert page.sections == ["folds", "confusion", "per-class", "most-confused", "top-losses"]
    # fold 0 holds images 0, 2, 4 (right, right, wrong); fold 1 holds 1, 3, 5 (wrong, right, right)
    assert page.table("fold")[1:] == [["0", "k-f0", "0.6667"], ["1", "k-f1", "0.6667"], ["out of fold", "6 images, TTA 0", "0.6667"]]
    assert page.table("actual \\ predicted")[1:] == [["a", "1", "1", "0"], ["b", "0", "2", "0"], ["c", "1", "0", "1"]]
    assert (tmp_path / "reports" / "k-cv" / "fold_scores.png").is_file()
    assert '<a href="k-f0.html">k-f0</a>' in written[0].read_text()


def test_report_of_an_unknown_run_is_a_user_error(tmp_path, comp, monkeypatch, capsys):
    fake_run(tmp_path / "runs", "r", comp, IDS, LABELS, PROBS)
    code = cli("report", "r,nosuch", cwd=tmp_path, monkeypatch=monkeypatch)
    assert_user_error(SimpleNamespace(returncode=code, stderr=capsys.readouterr().err), "no run 'nosuch'", "known runs: r")
    assert not (tmp_path / "reports").exists()


def test_train_saves_validation_predictions_and_writes_the_report(tmp_path, monkeypatch, capsys, one_thread):
    root, _ = make_competition(tmp_path / "comp", per_label=6)
    assert cli("train", "--data", root, *TINY, "--method", "fit_one_cycle", "--precision", "fp32", "--name", "t",
               cwd=tmp_path, monkeypatch=monkeypatch) == 0
    assert "report reports/t.html" in capsys.readouterr().out
    folder, meta = tmp_path / "runs" / "t", runs.load_meta(tmp_path / "runs" / "t")
    preds = saved.load_valid(folder)
    assert sorted(preds.ids) == sorted(json.loads((folder / "valid.json").read_text())["ids"]) and len(preds.ids) == meta.n_valid
    assert preds.outputs.shape == preds.outputs_tta.shape == (meta.n_valid, 2) and np.allclose(preds.outputs.sum(1), 1, atol=1e-5)
    assert meta.valid_score == pytest.approx(1 - meta.valid_error)  # accuracy, on the images and transforms training validated on
    assert meta.valid_score_tta == preds.score("accuracy", outputs=preds.outputs_tta) and meta.valid_tta == 4
    page = Tables((tmp_path / "reports" / "t.html").read_text())
    assert page.sections == ["settings", "training", "score", "confusion", "per-class", "roc", "most-confused", "top-losses"]  # two classes: a ROC
    assert "top losses" in page.images  # thumbnails read from the competition

    runs.write_meta(folder, replace(meta, valid_score=1.0, valid_score_tta=0.5))  # pretend TTA cost accuracy on validation: predict says so
    assert cli("predict", "--run", "t", "--data", root, "--tta", "2", cwd=tmp_path, monkeypatch=monkeypatch) == 0
    assert "paddy: warning: TTA made run t worse on validation (accuracy 1.0000 plain, 0.5000 with TTA 4)" in capsys.readouterr().err
    assert cli("predict", "--run", "t", "--data", root, "--tta", "0", cwd=tmp_path, monkeypatch=monkeypatch) == 0
    assert "TTA made" not in capsys.readouterr().err  # no TTA used, nothing to say


def test_tracker_tensorboard_logs_the_run(tmp_path, monkeypatch, one_thread):
    pytest.importorskip("tensorboard", reason="tensorboard is an optional extra: pip install 'paddy[tensorboard]'")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    root, _ = make_competition(tmp_path / "comp", per_label=6)
    assert cli("train", "--data", root, *TINY, "--method", "fit_one_cycle", "--tracker", "tensorboard", "--name", "t",
               cwd=tmp_path, monkeypatch=monkeypatch) == 0
    logs = EventAccumulator(str(tmp_path / "runs" / "t" / "tensorboard"))
    logs.Reload()
    assert {"train_loss", "valid_loss", "error_rate"} <= set(logs.Tags()["scalars"])


def test_tracker_refuses_unknown_names_and_missing_packages(tmp_path, monkeypatch, capsys):
    from paddy.learn import tracking
    for args, fragments in ((["--tracker", "mlflow"], ["bad --tracker 'mlflow'", "tensorboard, wandb"]),
                            (["--tracker", "wandb"], ["needs the wandb package", "pip install 'paddy[wandb]'"])):
        monkeypatch.setattr(tracking.importlib.util, "find_spec", lambda name: None)
        code = cli("train", "--data", tmp_path, *TINY, *args, cwd=tmp_path, monkeypatch=monkeypatch)
        assert_user_error(SimpleNamespace(returncode=code, stderr=capsys.readouterr().err), *fragments)
