"""The CUDA paths a Kaggle GPU takes, reached on the CPU with a mocked GPU or an injected error: each process's own GPU
before any data, bf16 only where the GPU has it, prediction in the run's precision and never from NaN, cuDNN's
benchmark mode, memory freed between runs, and CUDA out-of-memory as one line that keeps the checkpoint."""
import gc, weakref
from functools import partial

import accelerate
import pytest
import torch
from conftest import TINY, cli, make_competition, tiny_config
from fastai.callback.core import Callback

from paddy import runs
from paddy.config import make_config
from paddy.data import block
from paddy.errors import PaddyError
from paddy.learn import options, train
from paddy.models import precision

pytestmark = pytest.mark.usefixtures("one_thread")


tiny = partial(tiny_config, epochs=2, name="r")  # tiny(root, tmp_path, **settings): two epochs, the run "r"


def fake_gpu(monkeypatch, capability=(7, 5), name="Tesla T4"):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a: capability)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a: name)


def test_each_process_takes_its_gpu_before_any_data(monkeypatch, tmp_path):
    calls = []

    class Stop(Exception): pass

    def prepare(cfg):
        calls.append("prepare")
        raise Stop
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    fake_gpu(monkeypatch)
    monkeypatch.setattr(torch.cuda, "set_device", lambda d: calls.append(f"cuda:{d}"))
    monkeypatch.setattr(accelerate, "PartialState", lambda cpu: calls.append(f"process group, cpu={cpu}"))
    monkeypatch.setattr(train, "prepare", prepare)
    with pytest.raises(Stop): train.train(tiny(tmp_path, tmp_path))
    assert calls == ["cuda:1", "process group, cpu=False", "prepare"]


def test_bf16_only_on_gpus_that_have_it(monkeypatch):
    fake_gpu(monkeypatch, (7, 5), "Tesla T4")
    with pytest.raises(PaddyError, match="Tesla T4 has 7.5.*--precision fp16"): precision.resolve("bf16")
    assert precision.resolve("auto") == "fp16"
    fake_gpu(monkeypatch, (8, 0), "NVIDIA A100")
    assert precision.resolve("bf16") == "bf16" and precision.resolve("auto") == "fp16"


def test_prediction_autocasts_to_the_run_precision_on_a_gpu():
    gpu, cpu = torch.device("cuda"), torch.device("cpu")
    assert precision.inference(gpu, "fp16").fast_dtype == torch.float16
    assert precision.inference(gpu, "bf16").fast_dtype == torch.bfloat16
    assert not isinstance(precision.inference(gpu, "fp32"), torch.autocast)
    assert not isinstance(precision.inference(cpu, "fp16"), torch.autocast)  # fp16 runs predict in fp32 on a CPU


def test_channels_last_by_default_for_fp16_on_a_gpu_and_on_request(tmp_path, monkeypatch):
    assert precision.channels_last(None, "fp16", cuda=True) and not precision.channels_last(None, "bf16", cuda=True)
    assert not precision.channels_last(None, "fp32", cuda=False, cpu="plain") and not precision.channels_last(False, "fp16", cuda=True)
    assert precision.channels_last(True, "fp32", cuda=False, cpu="plain")
    monkeypatch.setattr(precision, "cpu_class", lambda: "plain")  # a CPU class no bench has measured: contiguous by default
    formats = []

    class Format(Callback):
        def before_batch(self):
            convs = [p for p in self.model.parameters() if p.ndim == 4]
            formats.append(all(p.is_contiguous(memory_format=torch.channels_last) for p in convs))
    make = train.learner
    monkeypatch.setattr(train, "learner", lambda *a, **kw: make(*a, **kw).add_cb(Format()))
    root, _ = make_competition(tmp_path / "comp")
    folder = train.train(tiny(root, tmp_path, epochs=1, channels_last=True))
    assert formats and all(formats) and runs.load_meta(folder).channels_last
    formats.clear()
    assert not runs.load_meta(train.train(tiny(root, tmp_path, epochs=1, name="plain"))).channels_last and not any(formats)
    assert cli("predict", "--run", "r", "--data", root, "--tta", 0, "--workers", 0, "--out", tmp_path / "s.csv", cwd=tmp_path, monkeypatch=monkeypatch) == 0


def test_non_finite_probabilities_are_refused(tmp_path, monkeypatch, capsys):
    root, _ = make_competition(tmp_path / "comp")
    folder = train.train(tiny(root, tmp_path, epochs=1))
    weights = runs.load_tensors(folder / runs.WEIGHTS)[0]
    runs.save_tensors(folder / runs.WEIGHTS, {k: v.float() * float("nan") if v.is_floating_point() else v for k, v in weights.items()})
    out = tmp_path / "sub.csv"
    assert cli("predict", "--run", "r", "--data", root, "--tta", 0, "--workers", 0, "--out", out, cwd=tmp_path, monkeypatch=monkeypatch) == 2
    assert "non-finite outputs for 6 of 6 images" in capsys.readouterr().err and not out.exists()


def test_cudnn_benchmark_unless_deterministic(monkeypatch):
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    monkeypatch.setattr(torch.backends.cudnn, "deterministic", True)
    block.seed(42)
    assert torch.backends.cudnn.benchmark and not torch.backends.cudnn.deterministic
    block.seed(42, deterministic=True)
    assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
    assert make_config(deterministic=True).deterministic and not make_config().deterministic


def test_a_finished_run_lets_go_of_its_learner(tmp_path, monkeypatch):
    root, _ = make_competition(tmp_path / "comp")
    made, build = [], train.learner
    monkeypatch.setattr(train, "learner", lambda *a, **kw: made.append(weakref.ref(build(*a, **kw))) or made[-1]())
    gc.disable()  # no collection by chance, as between two folds of `paddy cv` on a GPU
    try: train.train(tiny(root, tmp_path, epochs=1))
    finally: gc.enable()
    assert made[0]() is None  # its model, optimizer and cached GPU memory went with it


class OutOfMemory(Callback):
    "Raises what CUDA raises when a batch does not fit, in the second epoch (after the first was checkpointed)."
    def before_batch(self):
        if self.epoch == 1 and self.training: raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")


def test_out_of_memory_is_one_line_that_keeps_the_checkpoint(tmp_path, monkeypatch, capsys):
    root, _ = make_competition(tmp_path / "comp")
    callbacks = options.callbacks
    monkeypatch.setattr(options, "callbacks", lambda cfg: callbacks(cfg) + [OutOfMemory()])
    args = ["train", "--data", root, *TINY[:-4], "--epochs", 2, "--workers", 0, "--method", "fit_one_cycle", "--name", "r"]
    assert cli(*args, cwd=tmp_path, monkeypatch=monkeypatch) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["paddy: out of GPU memory training resnet18 at 32x32 in micro-batches of 4 images: the last finished epoch "
                   "is saved; continue in smaller micro-batches with `paddy train --resume r --accum 2`"]
    assert (tmp_path / "runs" / "r" / runs.CHECKPOINT).is_file()
    monkeypatch.setattr(options, "callbacks", callbacks)
    assert cli("train", "--resume", "r", "--accum", 2, "--workers", 0, cwd=tmp_path, monkeypatch=monkeypatch) == 0
    meta = runs.load_meta(tmp_path / "runs" / "r")
    assert meta.finished and len(meta.history) == 2 and meta.config["accum"] == 2
