"""Data-parallel training on CPU: 2 processes over gloo under torchrun (what `make train GPUS=2` runs), one run folder
written by rank 0, the ranks' weights in step, and a result that matches a single-process run within noise."""
import json, subprocess, sys

import pytest
from conftest import ONE_THREAD, REPO, make_competition, paddy

from paddy import runs
from paddy.config import make_config
from paddy.learn import train

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]


@pytest.mark.slow
def test_two_processes_match_one(tmp_path, one_thread):
    root, _ = make_competition(tmp_path / "comp", per_label=12)
    # lr 0.003 over 5 epochs: at 0.01 over 3, both runs swung between 0 and 50% error on an AMX CPU (fine on an AVX2 one)
    base = dict(data=str(root), arch="resnet18", pretrained=False, size=32, epochs=5, workers=0, precision="fp32",
                method="fit_one_cycle", lr=0.003, cache_dir=str(tmp_path / "cache"), runs_dir=str(tmp_path / "runs"))
    (tmp_path / "tmp").mkdir()
    env = ONE_THREAD | dict(PYTHONPATH=str(REPO), TMPDIR=str(tmp_path / "tmp"))
    proc = subprocess.run([*TORCHRUN, str(REPO / "tests" / "ddp_train.py"), str(tmp_path / "ranks.json"),
                           json.dumps(base | dict(bs=4, name="ddp"))], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = json.loads((tmp_path / "ranks.json").read_text())
    r0, r1 = ranks["ranks"]
    assert r0["folder"] == str(tmp_path / "runs" / "ddp") and not r1["folder"].startswith(str(tmp_path / "runs"))
    assert 0 < r0["batches"] == r1["batches"] <= 5 * -(-r0["epoch_batches"] // 2)  # each rank trained on half of every epoch
    assert ranks["sums"][0] == ranks["sums"][1]  # gradients were averaged: both ranks hold the same weights
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["ddp"] and not list((tmp_path / "tmp").glob("paddy-rank*"))  # scratch removed

    single = train.train(make_config(**base | dict(bs=8, name="single")))  # the same 8 images a step, in one process
    ddp, one = runs.load_meta(tmp_path / "runs" / "ddp"), runs.load_meta(single)
    assert ddp.finished and ddp.world_size == 2 and one.world_size == 1
    assert (ddp.n_train, ddp.n_valid, len(ddp.history)) == (one.n_train, one.n_valid, 5)
    for meta in (ddp, one):  # both learn the two colours (4 validation images: one epoch's single miss is noise)
        losses, errors = [h["valid_loss"] for h in meta.history], [h["error_rate"] for h in meta.history]
        assert min(losses[1:]) < losses[0] and min(errors) == 0 and meta.valid_error <= 0.25, (meta.name, meta.history)
    assert abs(ddp.history[-1]["valid_loss"] - one.history[-1]["valid_loss"]) < 0.3


@pytest.mark.slow
def test_convnext_with_lr_auto_in_two_processes(tmp_path, one_thread):
    """ConvNeXt (whose timm head norm fastai's body never uses) trains both fits of fine_tune under DDP, and --lr auto
    finds one rate on rank 0 that every rank trains with."""
    root, _ = make_competition(tmp_path / "comp", per_label=40)  # fewer images: lr_find's loss diverges at once
    cfg = dict(data=str(root), arch="convnext_atto", pretrained=False, size=32, epochs=1, workers=0, precision="fp32", bs=4,
               lr="auto", cache_dir=str(tmp_path / "cache"), runs_dir=str(tmp_path / "runs"), name="cnx")
    env = ONE_THREAD | dict(PYTHONPATH=str(REPO), TMPDIR=str(tmp_path))
    proc = subprocess.run([*TORCHRUN, str(REPO / "tests" / "ddp_train.py"), str(tmp_path / "ranks.json"), json.dumps(cfg)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = json.loads((tmp_path / "ranks.json").read_text())
    meta = runs.load_meta(tmp_path / "runs" / "cnx")
    assert meta.finished and len(meta.history) == 2 and (tmp_path / "runs" / "cnx" / "lr_find.png").is_file()
    assert [r["lr"] for r in ranks["ranks"]] == [meta.lr_find["valley"]] * 2
    assert ranks["sums"][0] == ranks["sums"][1]


@pytest.mark.slow
def test_cli_gpus_trains_in_two_processes(tmp_path):
    root, _ = make_competition(tmp_path / "comp", per_label=12)
    proc = paddy("train", "--gpus", "2", "--data", root, "--arch", "resnet18", "--no-pretrained", "--size", "32", "--bs", "4",
                 "--epochs", "1", "--workers", "0", "--precision", "fp32", "--method", "fit_one_cycle", "--name", "g",
                 "--runs-dir", tmp_path / "runs", "--cache-dir", tmp_path / "cache", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    meta = runs.load_meta(tmp_path / "runs" / "g")
    assert meta.finished and meta.world_size == 2 and meta.config["size"] == [32, 32]
    assert proc.stdout.count("trained g: valid accuracy") == 1  # rank 0's line, once


def test_a_failing_ranks_traceback_is_shown(tmp_path, capfd):
    "Rank 0 prints to the console; another rank's output goes to a log file, whose end is shown when that rank fails."
    from paddy.learn import distributed
    script = tmp_path / "fails.py"
    script.write_text("import os\nprint('rank', os.environ['RANK'], 'says hello')\nif os.environ['RANK'] == '1': raise RuntimeError('rank 1 broke')\n")
    assert distributed.torchrun(2, [str(script)]) != 0
    out, err = capfd.readouterr()
    assert "rank 0 says hello" in out and "rank 1 says hello" not in out  # one rank on the console, as before
    assert "--- rank 1 failed; the end of its output ---" in err and "RuntimeError: rank 1 broke" in err


@pytest.mark.slow
def test_a_compiled_model_trains_in_two_processes_as_the_eager_one(tmp_path, one_thread):
    """--compile under DDP: the compiled model inside DistributedDataParallel keeps the ranks in step through fine_tune's
    freeze and unfreeze, with the eager run's losses, and compiles once per training state, not per batch."""
    root, _ = make_competition(tmp_path / "comp", per_label=12)
    base = dict(data=str(root), arch="resnet18", pretrained=False, size=32, epochs=2, workers=0, precision="fp32", bs=4,
                method="fine_tune", lr=0.003, cache_dir=str(tmp_path / "cache"), runs_dir=str(tmp_path / "runs"), compile_backend="eager")
    env = ONE_THREAD | dict(PYTHONPATH=str(REPO), TMPDIR=str(tmp_path))
    seen = {}
    for mode in ("off", "on"):
        proc = subprocess.run([*TORCHRUN, str(REPO / "tests" / "ddp_train.py"), str(tmp_path / f"{mode}.json"), json.dumps(base | dict(compile=mode, name=mode))],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        seen[mode] = json.loads((tmp_path / f"{mode}.json").read_text())
        assert seen[mode]["sums"][0] == seen[mode]["sums"][1]  # the ranks hold the same weights
    eager, done = (runs.load_meta(tmp_path / "runs" / m) for m in ("off", "on"))
    assert done.world_size == 2 and [r["graphs"] for r in seen["off"]["ranks"]] == [0, 0]
    assert all(0 < r["graphs"] <= 6 for r in seen["on"]["ranks"]) and done.compile_graphs == seen["on"]["ranks"][0]["graphs"], seen["on"]["ranks"]
    assert [h["valid_loss"] for h in done.history] == pytest.approx([h["valid_loss"] for h in eager.history], abs=1e-3)
    assert seen["on"]["sums"][0] == pytest.approx(seen["off"]["sums"][0], rel=1e-4)
