"""`--swa K`: the average of the last K epochs' weights, batch norm recomputed, kept when it validates better, both scores
in meta.json; a run interrupted and resumed averages the same epochs; multi-target runs average too."""
import pandas as pd
import pytest
import torch
from conftest import make_competition, tiny_config
from fake_runs import source_run

from paddy import runs
from paddy.errors import PaddyError
from paddy.learn import checkpoint, swa
from paddy.learn.train import train


def copy(model): return {k: v.detach().clone().cpu() for k, v in model.state_dict().items()}


def test_swa_averages_the_last_epochs_and_keeps_the_better(tmp_path, monkeypatch, one_thread):
    root, _ = make_competition(tmp_path / "comp", per_label=6)
    epochs, scored = [], []
    after_epoch, score = swa.average_class().after_epoch, swa.score

    def counted(self):
        n = self.n
        after_epoch(self)
        if self.n > n: epochs.append(copy(self.learn.model))
    monkeypatch.setattr(swa.average_class(), "after_epoch", counted)
    monkeypatch.setattr(swa, "score", lambda learn, metric: (scored.append(copy(learn.model)), score(learn, metric))[1])
    meta = runs.load_meta(train(tiny_config(root, tmp_path, epochs=2, swa=2, name="s")))

    s = meta.swa
    assert len(epochs) == 2 and s["epochs"] == 2 and s["first_epoch"] == 1  # both epochs
    final, averaged = scored
    bn = [k for k in final if "running_" in k]
    assert all(torch.equal(final[k], epochs[-1][k]) for k in final)  # the final weights are the last epoch's
    for k, v in averaged.items():
        if v.is_floating_point() and k not in bn: assert torch.allclose(v, (epochs[0][k] + epochs[1][k]) / 2, atol=1e-6), k
    assert max((averaged[k] - final[k]).abs().max() for k in final if k not in bn and final[k].is_floating_point()) > 1e-4
    assert any(not torch.allclose(averaged[k], (epochs[0][k] + epochs[1][k]) / 2) for k in bn)  # recomputed, not averaged
    assert set(s["final"]) == set(s["averaged"]) == {"valid_loss", "error_rate", "accuracy"} and s["final"] != s["averaged"]
    kept = averaged if s["kept"] == "averaged" else final
    assert s["metric"] == "accuracy" and meta.valid_error == s[s["kept"]]["error_rate"]
    better = lambda a, b: (-a["accuracy"], a["valid_loss"]) < (-b["accuracy"], b["valid_loss"])  # the metric, then the loss
    assert (s["kept"] == "averaged") == better(s["averaged"], s["final"])
    saved = runs.load_tensors(tmp_path / "runs" / "s" / "model.safetensors")[0]
    assert all(torch.equal(saved[k], kept[k]) for k in kept)


@pytest.mark.slow
def test_an_interrupted_swa_run_resumes_to_the_same_average(tmp_path, monkeypatch, one_thread):
    "With pseudo-labels too: the resumed run rebuilds the same training set from its saved --pseudo."
    root, _ = make_competition(tmp_path / "comp", per_label=6)
    source_run(tmp_path / "runs")
    flags = dict(epochs=2, swa=2, pseudo="src")
    full = runs.load_meta(train(tiny_config(root, tmp_path, name="full", **flags)))
    save = checkpoint.Checkpoint.after_epoch

    def stop_after_one(self):
        save(self)
        if self.saved == 1: raise KeyboardInterrupt  # epoch 1, the first averaged one, is in the checkpoint
    monkeypatch.setattr(checkpoint.Checkpoint, "after_epoch", stop_after_one)
    with pytest.raises(KeyboardInterrupt): train(tiny_config(root, tmp_path, name="cut", **flags))
    monkeypatch.setattr(checkpoint.Checkpoint, "after_epoch", save)
    resumed = runs.load_meta(train(tiny_config(root, tmp_path, name="cut", **flags), resume=True))
    assert resumed.pseudo == full.pseudo and resumed.pseudo["n"] == 3 and resumed.n_train == full.n_train
    for kind in ("final", "averaged"):
        assert resumed.swa[kind]["valid_loss"] == pytest.approx(full.swa[kind]["valid_loss"], abs=1e-5)
    a, b = (runs.load_tensors(tmp_path / "runs" / n / "model.safetensors")[0] for n in ("full", "cut"))
    assert max((a[k].float() - b[k].float()).abs().max().item() for k in a) <= 1e-5


def test_multi_target_runs_average_and_bad_values_are_refused(tmp_path, one_thread):
    root, _ = make_competition(tmp_path / "comp", per_label=6)
    df = pd.read_csv(root / "train.csv")
    df.assign(variety=(["ADT45", "RR", "Surya"] * 4)[:len(df)]).to_csv(root / "train.csv", index=False)
    meta = runs.load_meta(train(tiny_config(root, tmp_path, epochs=2, swa=2, aux_targets="variety", name="mt")))
    assert meta.n_out == 5 and "variety_error" in meta.history[-1] and meta.swa["epochs"] == 2
    for kw, message in [(dict(swa=1), "bad --swa 1"), (dict(swa=4, epochs=3), "bad --swa 4"), (dict(swa=2, epochs=3, ema=0.9), "--swa and --ema")]:
        with pytest.raises(PaddyError, match=message): tiny_config(root, tmp_path, **kw)
