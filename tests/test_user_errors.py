"""A user's mistakes through the CLI: one line on stderr starting `paddy:`, exit code 2, no traceback, and no run folder
left behind (refused before any training). The commands run in this process (`conftest.cli`); one runs as a user's
own process, to show that what reaches the terminal is the same."""
from types import SimpleNamespace

import pytest
from conftest import DEMO_WEIGHTS, TINY, assert_user_error, cli, make_competition, paddy

CASES = {  # name: (arguments; "COMP" is a tiny competition's folder, "BAD" a TOML file with an unknown key; what the message names)
    "no data": (["train", "--data", "no/such/dir"], ["no/such/dir", "--data"]),
    "unknown arch": (["train", "--data", "COMP", *TINY, "--arch", "resnet81"], ["unknown arch 'resnet81'", "closest", "resnet18"]),
    "fixed size": (["train", "--data", "COMP", *TINY, "--arch", "vit_tiny_patch16_224", "--size", "128"], ["takes only 224x224", "--size 224"]),
    "batch too big": (["train", "--data", "COMP", *TINY, "--bs", "64"], ["batch size 64 is larger than the", "lower --bs"]),
    "zero epochs": (["train", "--data", "COMP", *TINY, "--epochs", "0"], ["bad --epochs 0"]),
    "negative lr": (["train", "--data", "COMP", *TINY, "--lr=-0.01"], ["bad --lr", "positive"]),
    "weights with no pretrained": (["train", "--data", "COMP", *TINY, "--weights", "BAD"], ["--weights and --no-pretrained conflict"]),
    "missing weights": (["train", "--data", "COMP", "--weights", "missing.safetensors"], ["missing.safetensors", "not found"]),
    "resume with run flags": (["train", *TINY, "--resume", "somerun"], ["--resume continues a run with its saved settings", "--arch", "--epochs"]),
    "unknown TOML key": (["train", "--data", "COMP", *TINY, "--config", "BAD"], ["unknown key(s) in", "epoch"]),
    "accum not dividing": (["train", "--data", "COMP", *TINY, "--accum", "3"], ["not divisible by --accum 3"]),
    "fp16 on a CPU": (["train", "--data", "COMP", "--precision", "fp16"], ["needs a CUDA GPU"]),
    "unknown flag": (["train", "--bogus"], ["unrecognized arguments: --bogus"]),
    "unknown run": (["predict", "--run", "nope"], ["no run 'nope'"]),
    "no submission": (["submit", "nothing.csv", "--data", "COMP"], ["nothing.csv not found", "paddy predict"]),
    "no sample": (["submit", "nothing.csv", "--data", "no-sample"], ["no sample_submission", "--sample"]),
    "bad metric": (["inspect", "--data", "COMP", "--metric", "kappa"], ["unknown --metric 'kappa'", "qwk"]),
}


@pytest.mark.parametrize("case", CASES)
def test_a_mistake_is_one_line_exit_2_and_nothing_written(tmp_path, monkeypatch, capsys, case):
    root, _ = make_competition(tmp_path / "comp", per_label=4)
    (tmp_path / "bad.toml").write_text("arch = 'resnet18'\nepoch = 3\n")
    (tmp_path / "no-sample").mkdir()
    args, fragments = CASES[case]
    code = cli(*[{"COMP": root, "BAD": tmp_path / "bad.toml"}.get(a, a) for a in args], cwd=tmp_path, monkeypatch=monkeypatch)
    assert_user_error(SimpleNamespace(returncode=code, stderr=capsys.readouterr().err), *fragments)
    assert not (tmp_path / "runs").exists()


def test_weights_that_do_not_load_and_labels_against_folders(tmp_path, competition, demo_assets, monkeypatch, capsys):
    code = cli("train", "--data", competition, "--arch", "resnet18", "--weights", DEMO_WEIGHTS, "--bs", "4", cwd=tmp_path, monkeypatch=monkeypatch)
    assert_user_error(SimpleNamespace(returncode=code, stderr=capsys.readouterr().err), "does not load into resnet18")
    (competition / "train.csv").write_text("image_id,label\n000000.jpg,normal\n")  # the image is under blast/
    code = cli("train", "--data", competition, *TINY, cwd=tmp_path, monkeypatch=monkeypatch)
    assert_user_error(SimpleNamespace(returncode=code, stderr=capsys.readouterr().err), "sit in a folder other than")
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_the_users_own_process_shows_one_line_even_when_the_hub_fails(tmp_path, competition):
    """What a terminal sees: the process's exit code and its stderr, with the interpreter's own start-up and shut-down,
    and the model hub's own logging as it fails to reach the network (no traceback reaches the user)."""
    assert_user_error(paddy("train", "--data", competition, "--arch", "resnet18", "--bs", "4", cwd=tmp_path),
                      "could not fetch pretrained weights", "--weights FILE")
