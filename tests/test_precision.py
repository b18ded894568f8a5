import pytest
import torch
from fastai.vision.all import Learner, DataLoaders, TfmdDL, CrossEntropyLossFlat

from paddy.errors import PaddyError
from paddy.models import precision


def test_resolve():
    assert precision.resolve("auto", cuda=True) == "fp16"
    assert precision.resolve("bf16", cuda=False) == "bf16"
    with pytest.raises(PaddyError, match="needs a CUDA GPU"): precision.resolve("fp16", cuda=False)


@pytest.mark.parametrize("flags, cpu", [("fpu avx2 avx512f avx512_bf16 amx_bf16 amx_tile", "amx"), ("fpu avx2 avx512f avx512_bf16", "avx512_bf16"),
                                        ("fpu avx2 fma", "plain")])
def test_a_cpu_class_gets_what_bench_found_for_it(monkeypatch, flags, cpu):
    monkeypatch.setitem(precision.CPU_DEFAULTS, "amx", dict(precision="bf16", channels_last=False))  # a class where bf16 won
    read = precision.Path.read_text
    monkeypatch.setattr(precision.Path, "read_text", lambda self, *a, **k: f"flags : {flags}\n" if str(self) == "/proc/cpuinfo" else read(self, *a, **k))
    assert precision.cpu_class() == cpu and precision.cpu_has_native_bf16() == (cpu != "plain")
    measured = precision.CPU_DEFAULTS.get(cpu, precision.FASTAI_DEFAULTS)
    assert precision.resolve("auto", cuda=False) == measured["precision"]
    assert precision.channels_last(None, "fp32", cuda=False) == measured["channels_last"]
    assert precision.channels_last(False, "fp32", cuda=False) is False  # asked for: kept


def test_a_bf16_run_predicts_under_bf16_on_a_cpu(monkeypatch):
    """A model trained under CPU bf16 autocast predicts under it (its head learned the bf16 body's features), also where
    the CPU emulates bf16; fp32 and fp16 runs predict in fp32 on a CPU."""
    from paddy.infer.predict import outputs
    model, seen = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(8, 2)), []
    model[1].register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    dl = TfmdDL([(x,) for x in torch.randn(4, 2, 2, 2)], bs=2)  # images: batches of 4 dimensions
    for cpu, run, dtype in [("avx512_bf16", "bf16", torch.bfloat16), ("plain", "bf16", torch.bfloat16), ("amx", "fp32", torch.float32), ("amx", "fp16", torch.float32)]:
        monkeypatch.setattr(precision, "cpu_class", lambda: cpu)
        seen.clear()
        out = outputs(model, dl, lambda x: x.float().softmax(-1), precision=run)
        assert set(seen) == {dtype} and out.dtype == "float32" and out.shape == (4, 2), (cpu, run)


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
