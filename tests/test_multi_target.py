"""Multi-target (recipe part 4): the label head and a variety head (`--aux-targets variety`), summed cross-entropy, an
error rate per head; predictions use the label head."""
import json

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from conftest import ONE_THREAD, TINY, cli, make_competition, paddy

from paddy import runs
from paddy.config import make_config
from paddy.errors import PaddyError
from paddy.models import targets


def test_loss_is_the_sum_of_the_heads_cross_entropies():
    pred, label, variety = torch.randn(6, 5), torch.tensor([0, 1, 1, 0, 1, 0]), torch.tensor([0, 1, 2, 2, 1, 0])
    loss = targets.MultiTargetLoss([2, 3])
    assert loss(pred, label, variety) == pytest.approx(float(F.cross_entropy(pred[:, :2], label) + F.cross_entropy(pred[:, 2:], variety)))
    smooth = targets.MultiTargetLoss([2, 3], eps=0.1)
    assert smooth(pred, label, variety) == pytest.approx(float(F.cross_entropy(pred[:, :2], label, label_smoothing=0.1)
                                                              + F.cross_entropy(pred[:, 2:], variety, label_smoothing=0.1)))
    assert torch.allclose(loss.activation(pred), pred[:, :2].softmax(-1))
    err = targets.HeadError(1, 2, 5, "variety_error")
    assert err.__name__ == "variety_error" and float(err(pred, label, pred[:, 2:].argmax(1))) == 0


def test_target_head_keeps_the_targets_logits():
    model = torch.nn.Linear(3, 5)
    x = torch.randn(4, 3)
    assert targets.target_head(model, runs.RunMeta(vocab=["a", "b"], n_out=2)) is model
    assert torch.equal(targets.target_head(model, runs.RunMeta(vocab=["a", "b"], n_out=5))(x), model(x)[:, :2])


@pytest.mark.slow
def test_two_heads_train_and_predict_with_the_label_head(tmp_path, monkeypatch, one_thread):
    root, _ = make_competition(tmp_path / "comp", per_label=8)
    df = pd.read_csv(root / "train.csv")
    df["variety"] = (["ADT45", "RR", "Surya"] * 6)[:len(df)]
    df.to_csv(root / "train.csv", index=False)
    proc = paddy("train", "--data", root, *TINY, "--method", "fit_one_cycle", "--aux-targets", "variety", "--name", "mt",
                 cwd=tmp_path, env=ONE_THREAD, check=True)
    assert "error_rate" in proc.stdout and "variety_error" in proc.stdout
    meta = json.loads((tmp_path / "runs" / "mt" / "meta.json").read_text())
    assert meta["vocab"] == ["blast", "normal"] and meta["vocabs"] == dict(label=["blast", "normal"], variety=["ADT45", "RR", "Surya"])
    assert meta["n_out"] == 5 and meta["config"]["aux_targets"] == ["variety"]
    assert {"error_rate", "variety_error"} <= set(meta["history"][0]) and meta["valid_error"] == meta["history"][-1]["error_rate"]
    assert cli("predict", "--run", "mt", "--data", root, "--tta", "0", cwd=tmp_path, monkeypatch=monkeypatch) == 0
    ids, probs = runs.load_probs(tmp_path / "runs" / "mt")
    assert probs.shape == (6, 2) and np.allclose(probs.sum(1), 1, atol=1e-3)
    assert set(pd.read_csv(tmp_path / "submissions" / "mt.csv").label) <= {"blast", "normal"}


def test_unknown_target_column_and_a_task_without_classes():
    items = pd.DataFrame(dict(id=["a.jpg"], y=["blast"], variety=["RR"], path=["x/a.jpg"]))
    assert targets.extra(make_config(aux_targets="variety"), items, "single") == [("variety", ["RR"])]
    with pytest.raises(PaddyError, match="colour, not a column of the training CSV"): targets.extra(make_config(aux_targets="colour"), items, "single")
    with pytest.raises(PaddyError, match="this is a regression task"): targets.extra(make_config(aux_targets="variety"), items, "regression")
