import pytest
import torch
from fastai.vision.all import Learner, DataLoaders, TfmdDL, CrossEntropyLossFlat

from paddy.errors import PaddyError
from paddy.models import precision


def test_resolve():
    assert precision.resolve("auto", cuda=True) == "fp16"
    assert precision.resolve("auto", cuda=False) == "fp32"  # bf16 on a CPU lost accuracy in make bench: asked for only
    assert precision.resolve("bf16", cuda=False) == "bf16"
    with pytest.raises(PaddyError, match="needs a CUDA GPU"): precision.resolve("fp16", cuda=False)


def _learner(cbs):
    xs, ys = torch.randn(16, 8), torch.randint(0, 2, (16,))
    dl = TfmdDL(list(zip(xs, ys)), bs=8)
    seen = []
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    model[0].register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    return Learner(DataLoaders(dl, dl), model, loss_func=CrossEntropyLossFlat(), cbs=cbs), seen


def test_cpu_autocast_runs_forward_in_bf16_and_keeps_fp32_weights():
    learn, seen = _learner([precision.CPUAutocast()])
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
    assert seen and set(seen) == {torch.bfloat16}
    assert all(p.dtype == torch.float32 for p in learn.model.parameters())
    preds, _ = learn.get_preds()
    assert preds.dtype == torch.float32 and not torch.is_autocast_enabled("cpu")


def test_without_the_callback_cpu_runs_fp32():
    learn, seen = _learner([])
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
    assert set(seen) == {torch.float32}
