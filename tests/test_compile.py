"""`--compile`: the model compiled in place trains as the eager one does through fine_tune's freeze and unfreeze, EMA and
SWA, keeps its weights' names, resumes from a checkpoint, and compiles once per training state, not once per batch shape."""
import pytest
import torch
from conftest import make_competition, tiny_config

from paddy import runs
from paddy.errors import PaddyError
from paddy.learn import checkpoint
from paddy.learn.train import train
from paddy.models import compiled

pytestmark = pytest.mark.slow  # each trains whole runs, 15-25 s

FLAGS = dict(method="fine_tune", epochs=2, bs=5)  # 12 images, 9 to train: a partial last batch each epoch


@pytest.fixture
def eager_backend(monkeypatch, one_thread):
    "dynamo's `eager` backend: the tracing, guards and recompiles of torch.compile without inductor's code generation."
    monkeypatch.setattr(compiled, "BACKEND", "eager")
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def losses(meta): return [round(h["valid_loss"], 4) for h in meta.history]


def test_a_compiled_run_trains_as_the_eager_one(tmp_path, eager_backend):
    root, _ = make_competition(tmp_path / "comp", per_label=6)
    eager = runs.load_meta(train(tiny_config(root, tmp_path, name="eager", compile="off", swa=2, **FLAGS)))
    graphs = compiled.graphs()
    done = runs.load_meta(train(tiny_config(root, tmp_path, name="compiled", compile="on", swa=2, **FLAGS)))
    assert compiled.graphs() > graphs and done.compile_graphs == compiled.graphs() - graphs and eager.compile_graphs is None
    assert done.compile_graphs <= 6, done.compile_graphs  # training and evaluation, frozen and unfrozen, and a batch whose size fails a guard: not one per batch size, none for SWA
    assert losses(done) == pytest.approx(losses(eager), abs=1e-3) and done.swa["kept"] == eager.swa["kept"]
    a, b = (runs.load_tensors(tmp_path / "runs" / n / "model.safetensors")[0] for n in ("eager", "compiled"))
    assert list(a) == list(b)  # no `_orig_mod.` prefix: predict, --init-from and kernels read it as any run


def test_a_compiled_run_with_ema_resumes_from_its_checkpoint(tmp_path, monkeypatch, eager_backend):
    root, _ = make_competition(tmp_path / "comp", per_label=6)
    full = runs.load_meta(train(tiny_config(root, tmp_path, name="full", compile="on", ema=0.9, **FLAGS)))
    save = checkpoint.Checkpoint.after_epoch

    def stop_after_two(self):
        save(self)
        if self.saved == 2: raise KeyboardInterrupt  # the frozen epoch and the first unfrozen one are in the checkpoint
    monkeypatch.setattr(checkpoint.Checkpoint, "after_epoch", stop_after_two)
    with pytest.raises(KeyboardInterrupt): train(tiny_config(root, tmp_path, name="cut", compile="on", ema=0.9, **FLAGS))
    monkeypatch.setattr(checkpoint.Checkpoint, "after_epoch", save)
    resumed = runs.load_meta(train(tiny_config(root, tmp_path, name="cut", compile="on", ema=0.9, **FLAGS), resume=True))
    assert losses(resumed) == pytest.approx(losses(full), abs=1e-3)
    a, b = (runs.load_tensors(tmp_path / "runs" / n / "model.safetensors")[0] for n in ("full", "cut"))
    assert max((a[k].float() - b[k].float()).abs().max().item() for k in a) <= 1e-4


def test_a_bad_compile_value_is_refused(tmp_path):
    with pytest.raises(PaddyError, match="bad --compile 'yes': choose one of auto, on, off"): tiny_config(tmp_path, tmp_path, compile="yes")


def test_every_compiled_run_in_one_process_compiles(tmp_path, eager_backend):
    """dynamo keeps one cache for `nn.Module._call_impl`'s code across every model in a process and runs it eagerly,
    silently, past 8 entries: each compiled model starts from a reset dynamo, so the third run of a process (paddy cv's
    folds, a notebook) still compiles."""
    root, _ = make_competition(tmp_path / "comp", per_label=6)
    counts = [runs.load_meta(train(tiny_config(root, tmp_path, name=f"r{i}", compile="on", **FLAGS))).compile_graphs for i in range(3)]
    assert min(counts) >= 3, counts  # training, frozen and unfrozen, and evaluation, each run
