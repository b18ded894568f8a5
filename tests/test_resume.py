"""A training run killed (SIGKILL) after a checkpoint, then resumed, ends where an uninterrupted run ends."""
import json, signal, struct, time

import pytest
from conftest import ONE_THREAD, TINY, assert_user_error, make_competition, paddy, start_paddy

FLAGS = [*TINY[:-4], "--epochs", "4", "--workers", "0", "--no-cache"]  # fine_tune: 1 frozen + 4 unfrozen epochs


def epochs_done(folder):
    "The epoch count in a run's checkpoint header (read without torch), or 0 when there is none yet."
    try:
        with open(folder / "checkpoint.safetensors", "rb") as f:
            header = json.loads(f.read(struct.unpack("<Q", f.read(8))[0]))
    except (OSError, ValueError, struct.error): return 0
    return json.loads(header["__metadata__"]["info"])["epochs_done"]


def start(cwd, root, name, extra):
    return start_paddy("train", "--data", root, *FLAGS, *extra, "--name", name, cwd=cwd)


@pytest.mark.slow
@pytest.mark.parametrize("extra", [[], ["--ema", "0.9"]], ids=["plain", "ema"])  # with --ema, the average is checkpointed too
def test_kill_then_resume_matches_an_uninterrupted_run(tmp_path, extra):
    from safetensors.torch import load_file
    from paddy import runs
    from paddy.errors import PaddyError
    from paddy.infer import predict
    root, _ = make_competition(tmp_path / "comp", per_label=5)
    full, killed = start(tmp_path, root, "full", extra), start(tmp_path, root, "killed", extra)
    folder = tmp_path / "runs" / "killed"
    deadline = time.monotonic() + 600
    while epochs_done(folder) < 2 and killed.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)  # poll the filesystem: the second epoch (the first unfrozen one) is checkpointed
    assert killed.poll() is None, f"the run ended before it could be killed:\n{killed.stderr.read()}"
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert not json.loads((folder / "meta.json").read_text())["finished"]
    assert not (folder / "model.safetensors").exists()

    with pytest.raises(PaddyError, match="never finished training.*--resume killed.*--use-checkpoint"):
        runs.load_model(folder, runs.load_meta(folder))
    from paddy.data.competition import describe, predict_items
    ids, probs = predict.predict_run(folder, predict_items(describe(root)), tta=0, workers=0, use_checkpoint=True)
    assert len(ids) == len(probs) == 6

    assert_user_error(paddy("train", "--resume", "killed", "--epochs", "5", cwd=tmp_path, env=ONE_THREAD), "--resume", "--epochs")
    resumed = paddy("train", "--resume", "killed", cwd=tmp_path, env=ONE_THREAD, check=True)
    assert full.wait(timeout=600) == 0, full.stderr.read()
    assert "epoch 2/5" not in resumed.stdout and "epoch 5/5" in resumed.stdout  # only the missing epochs ran
    a, b = (json.loads((tmp_path / "runs" / n / "meta.json").read_text()) for n in ("full", "killed"))
    assert b["finished"] and not (folder / "checkpoint.safetensors").exists()
    assert len(b["history"]) == 5 and b["valid_error"] == a["valid_error"]
    for ra, rb in zip(a["history"], b["history"]):
        assert rb["valid_loss"] == pytest.approx(ra["valid_loss"], abs=1e-5)
        assert rb["train_loss"] == pytest.approx(ra["train_loss"], abs=1e-5)
    # CPU, no workers, every RNG (torch, numpy, python, each DataLoader's) restored: the two runs compute the same
    # numbers in the same order, so the weights agree to float rounding; 1e-5 leaves room for nothing more.
    wa, wb = load_file(str(tmp_path / "runs/full/model.safetensors")), load_file(str(folder / "model.safetensors"))
    assert wa.keys() == wb.keys()
    assert max((wa[k].float() - wb[k].float()).abs().max().item() for k in wa) <= 1e-5


@pytest.mark.slow
def test_a_checkpoint_of_one_process_resumes_in_two(tmp_path):
    "A run killed mid-way in one process goes on in two (gloo processes here; GPUs under torchrun on a GPU machine)."
    root, _ = make_competition(tmp_path / "comp", per_label=8)
    killed, folder = start(tmp_path, root, "one", []), tmp_path / "runs" / "one"
    deadline = time.monotonic() + 600
    while epochs_done(folder) < 2 and killed.poll() is None and time.monotonic() < deadline: time.sleep(0.05)
    assert killed.poll() is None, f"the run ended before it could be killed:\n{killed.stderr.read()}"
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    r = paddy("train", "--resume", "one", "--gpus", "2", cwd=tmp_path, env=ONE_THREAD)
    assert r.returncode == 0, r.stderr[-3000:]
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["finished"] and meta["world_size"] == 2 and len(meta["history"]) == 5  # every epoch, the first two from the checkpoint
    assert (folder / "model.safetensors").is_file() and not (folder / "checkpoint.safetensors").exists()


def test_ctrl_c_says_how_to_resume(monkeypatch, capsys, tmp_path):
    import paddy.learn.train
    from paddy.cli import main

    def interrupted(cfg, resume=False): raise KeyboardInterrupt
    monkeypatch.setattr(paddy.learn.train, "train", interrupted)
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--data", str(tmp_path), "--name", "r"]) == 130
    assert capsys.readouterr().err.strip().splitlines()[-1] == "paddy: interrupted"  # before the first epoch ended: nothing to resume
    (tmp_path / "runs" / "r").mkdir(parents=True)
    (tmp_path / "runs" / "r" / "checkpoint.safetensors").write_bytes(b"")
    assert main(["train", "--data", str(tmp_path), "--name", "r"]) == 130
    assert capsys.readouterr().err.strip().splitlines()[-1] == "paddy: interrupted; the last finished epoch is saved; continue with `paddy train --resume r`"


def test_resume_needs_an_unfinished_run_with_a_checkpoint(tmp_path):
    from paddy import runs
    from paddy.errors import PaddyError
    from paddy.learn.checkpoint import resumable
    folder = runs.start(tmp_path / "r", runs.RunMeta(vocab=["a", "b"]))  # killed inside its first epoch: nothing saved
    with pytest.raises(PaddyError, match="no checkpoint.*train it again"): resumable(folder, runs.RunMeta())
    runs.finish(folder, runs.load_meta(folder), __import__("pandas").DataFrame())
    with pytest.raises(PaddyError, match="already finished"): resumable(folder, runs.RunMeta())
