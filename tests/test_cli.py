"""The CLI end to end on tiny generated competitions, run as a user would (subprocesses)."""
import json

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import DEMO_WEIGHTS, TINY, make_competition, paddy
from fastai.callback.core import Callback

from paddy import runs
from paddy.config import make_config
from paddy.infer import predict
from paddy.learn import train


@pytest.mark.slow
def test_train_predict_submission(tmp_path, competition):
    proc = paddy("train", "--data", competition, *TINY, "--epochs", "2", "--method", "fit_one_cycle", "--name", "r1", cwd=tmp_path, check=True)
    assert "epoch 2/2 train_loss" in proc.stdout and "trained r1" in proc.stdout
    run = tmp_path / "runs" / "r1"
    meta = json.loads((run / "meta.json").read_text())
    assert meta["finished"] and meta["vocab"] == ["blast", "normal"] and meta["size"] == [32, 32]
    assert meta["timm_name"] == "resnet18.a1_in1k" and meta["config"]["epochs"] == 2 and "fastai" in meta["versions"]
    assert len(pd.read_csv(run / "history.csv")) == 2 and (run / "model.safetensors").stat().st_size > 1e6
    paddy("predict", "--run", "r1", "--data", competition, "--tta", "2", cwd=tmp_path, check=True)
    sub = pd.read_csv(tmp_path / "submissions" / "r1.csv")
    sample = pd.read_csv(competition / "sample_submission.csv")
    assert list(sub.columns) == ["image_id", "label"] and list(sub.image_id) == list(sample.image_id)
    assert set(sub.label) <= {"blast", "normal"}
    ids, probs = runs.load_probs(run)
    assert ids == sorted(ids) and probs.shape == (6, 2) and np.allclose(probs.sum(1), 1, atol=1e-3)


@pytest.mark.slow
def test_fine_tune_with_accumulation_and_config_file(tmp_path, competition):
    toml = tmp_path / "exp.toml"
    toml.write_text('arch = "resnet18"\npretrained = false\nsize = [32, 24]\nbs = 8\naccum = 2\nepochs = 1\nworkers = 0\n')
    proc = paddy("train", "--config", toml, "--data", competition, "--resize", "pad", cwd=tmp_path, check=True)
    meta = json.loads((tmp_path / "runs" / "resnet18-32x24" / "meta.json").read_text())
    assert meta["config"]["accum"] == 2 and meta["resize"] == "pad" and meta["size"] == [32, 24]
    assert len(meta["history"]) == 2  # fine_tune: one frozen epoch, then one more
    assert "epoch 2/2" in proc.stdout


class StepLog(Callback):
    "Records each training micro-batch's size and its own gradient (of its mean loss), and the gradient each optimizer step applies."
    def before_fit(self):
        self.sizes, self.own, self.applied = [], [], []
        self.trained = [p for p in self.model.parameters() if p.requires_grad]
        step = self.opt.step
        def logged_step(*args, **kwargs):
            self.applied.append([p.grad.detach().clone() for p in self.trained])
            return step(*args, **kwargs)
        self.opt.step = logged_step

    def after_loss(self):
        if not self.training: return
        self.sizes.append(len(self.yb[0]))
        self.own.append(torch.autograd.grad(self.loss_func(self.pred, *self.yb), self.trained, retain_graph=True))


def test_accumulation_steps_once_per_two_micro_batches_on_both_gradients(tmp_path, one_thread):
    """bs 8 with accum 2 trains on micro-batches of 4 images; the optimizer steps after every second one, on the
    mean of both micro-batches' gradients (the gradient of the 8 images' mean loss), not on the last one's."""
    root, _ = make_competition(tmp_path / "comp", per_label=10)  # 16 training images: 4 micro-batches, 2 steps
    cfg = make_config(data=str(root), arch="resnet18", pretrained=False, size="32", bs=8, accum=2, epochs=1, workers=0,
                      cache_dir=str(tmp_path / "cache"))
    p = train.prepare(cfg)
    learn = train.learner(p.dls, p.spec, cfg, path=tmp_path)
    log = StepLog()
    learn.fit_one_cycle(1, 1e-3, cbs=[log])
    assert log.sizes == [4, 4, 4, 4] and len(log.applied) == 2, (log.sizes, f"{len(log.applied)} steps")
    close = lambda x, y: torch.allclose(x, y, rtol=1e-4, atol=1e-7)
    for k, applied in enumerate(log.applied):
        first, second = log.own[2 * k], log.own[2 * k + 1]
        mean = [close(g, (a + b) / 2) for g, a, b in zip(applied, first, second)]
        assert all(mean), f"step {k + 1}: {mean.count(False)} of {len(mean)} gradients are not the mean of its 2 micro-batches'"
        assert not all(close(g, b / 2) for g, b in zip(applied, second))  # the first micro-batch counts


@pytest.mark.slow
def test_lr_find_saves_plot_and_auto_lr(tmp_path, competition):
    proc = paddy("lr-find", "--data", competition, *TINY, "--name", "lf", cwd=tmp_path, check=True)
    assert "valley" in proc.stdout and "slide" in proc.stdout
    assert (tmp_path / "runs" / "lf" / "lr_find.png").read_bytes()[:4] == b"\x89PNG"
    paddy("train", "--data", competition, *TINY, "--lr", "auto", "--name", "auto", cwd=tmp_path, check=True)
    meta = json.loads((tmp_path / "runs" / "auto" / "meta.json").read_text())
    assert meta["lr"] == meta["lr_find"]["valley"] > 0


@pytest.mark.slow
def test_grayscale_png_other_labels_and_sizes(tmp_path):
    root, _ = make_competition(tmp_path / "gray", labels=("cat", "dog", "eel"), per_label=6, size=(50, 30), mode="L", ext=".png")
    paddy("train", "--data", root, *TINY, "--size", "24,40", "--name", "g", cwd=tmp_path, check=True)
    paddy("predict", "--data", root, "--tta", "0", cwd=tmp_path, check=True)  # newest finished run
    sub = pd.read_csv(tmp_path / "submissions" / "g.csv")
    assert len(sub) == 6 and set(sub.label) <= {"cat", "dog", "eel"}


@pytest.mark.slow
def test_local_weights_load_without_network(tmp_path, competition, demo_assets):
    paddy("train", "--data", competition, "--arch", "mobilenetv2_100", "--weights", DEMO_WEIGHTS, "--size", "32",
          "--bs", "4", "--epochs", "1", "--workers", "0", "--name", "w", cwd=tmp_path, check=True)
    from safetensors.torch import load_file
    trained, pretrained = load_file(tmp_path / "runs" / "w" / "model.safetensors"), load_file(DEMO_WEIGHTS)
    # fine_tune's frozen epoch keeps the stem; the unfrozen one moves it only a little from ImageNet's weights
    stem = trained["0.model.conv_stem.weight"]
    assert (stem - pretrained["conv_stem.weight"]).abs().mean() < 0.1 * pretrained["conv_stem.weight"].abs().mean()


def test_ensemble_weights(tmp_path):
    for name, p in [("a", [[0.7, 0.3], [0.4, 0.6]]), ("b", [[0.2, 0.8], [0.1, 0.9]])]:
        folder = tmp_path / name
        runs.start(folder, runs.RunMeta(vocab=["x", "y"]))
        runs.save_probs(folder, ["1.jpg", "2.jpg"], np.array(p))
    ids, probs, metas = predict.ensemble([tmp_path / "a", tmp_path / "b"], [3, 1])
    assert np.allclose(probs, [[0.575, 0.425], [0.325, 0.675]])
    assert predict.ensemble([tmp_path / "a", tmp_path / "b"])[1].argmax(1).tolist() == [1, 1]  # the plain mean differs
