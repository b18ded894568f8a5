"""A user's mistakes through the CLI: one line on stderr starting `paddy:`, exit code 2, no traceback. Bad flags and
config files on a real competition leave no run folder (refused before any training): those cases run as parallel
subprocesses, started once for the module. Then commands without data, bad data and weights that do not load."""
import subprocess

import pytest
from conftest import DEMO_WEIGHTS, TINY, assert_user_error, make_competition, paddy, start_paddy

CASES = {  # name: (flags after TINY, fragments the message must contain)
    "unknown_arch": (["--arch", "resnet81"], ["unknown arch 'resnet81'", "closest", "resnet18"]),
    "fixed_size": (["--arch", "vit_tiny_patch16_224", "--size", "128"], ["takes only 224x224", "--size 224"]),
    "batch_too_big": (["--bs", "64"], ["batch size 64 is larger than the", "lower --bs"]),
    "zero_epochs": (["--epochs", "0"], ["bad --epochs 0"]),
    "negative_lr": (["--lr=-0.01"], ["bad --lr", "positive"]),
    "zero_lr": (["--lr", "0"], ["bad --lr"]),
    "weights_and_no_pretrained": (["--weights", "w.safetensors"], ["--weights and --no-pretrained conflict"]),
    "resume_and_run_flags": (["--resume", "somerun"], ["--resume continues a run with its saved settings", "--arch", "--epochs"]),
    "unknown_toml_key": (["--config", "bad.toml"], ["unknown key(s) in bad.toml: epoch"]),
    "accum_not_dividing": (["--accum", "3"], ["not divisible by --accum 3"]),
}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("flags")
    root, _ = make_competition(cwd / "comp", per_label=4)
    (cwd / "bad.toml").write_text("epoch = 3\n")
    procs = {name: start_paddy("train", "--data", root, *TINY, *flags, "--name", name, cwd=cwd) for name, (flags, _) in CASES.items()}
    out = {}
    for name, p in procs.items():
        stdout, stderr = p.communicate(timeout=300)
        out[name] = subprocess.CompletedProcess(p.args, p.returncode, stdout, stderr)
    return cwd, out


@pytest.mark.parametrize("case", CASES)
def test_bad_flag_is_one_line_before_any_work(results, case):
    cwd, out = results
    assert_user_error(out[case], *CASES[case][1])
    assert not (cwd / "runs" / case).exists()


@pytest.mark.parametrize("args, fragments", [
    (["train", "--data", "no/such/dir"], ["no/such/dir", "--data"]),
    (["train", "--arch", "convnxt_small"], ["unknown arch", "convnext_small"]),
    (["train", "--arch", "vit_tiny_patch16_224", "--size", "128"], ["224x224", "--size 224"]),
    (["train", "--epochs", "0"], ["--epochs"]),
    (["train", "--lr", "-1"], ["--lr"]),
    (["train", "--bogus"], ["unrecognized arguments: --bogus"]),
    (["train", "--weights", "missing.safetensors"], ["missing.safetensors", "not found"]),
    (["train", "--precision", "fp16"], ["needs a CUDA GPU"]),
    (["predict", "--run", "nope"], ["no run 'nope'"]),
    (["submit", "nothing.csv", "--data", "."], ["no sample_submission", "--sample"]),
])
def test_user_errors_are_one_line_exit_2(tmp_path, args, fragments):
    assert_user_error(paddy(*args, cwd=tmp_path), *fragments)


def test_data_problems_and_weights_problems(tmp_path, competition, demo_assets):
    toml = tmp_path / "bad.toml"
    toml.write_text("arch = 'resnet18'\nepoch = 3\n")
    assert_user_error(paddy("train", "--config", toml, cwd=tmp_path), "unknown key", "epoch")
    assert_user_error(paddy("train", "--data", competition, "--arch", "resnet18", "--bs", "4", cwd=tmp_path),
                      "could not fetch pretrained weights", "--weights FILE")
    assert_user_error(paddy("train", "--data", competition, "--arch", "resnet18", "--weights", DEMO_WEIGHTS, "--bs", "4", cwd=tmp_path),
                      "does not load into resnet18")
    (competition / "train.csv").write_text("image_id,label\n000000.jpg,normal\n")  # the image is under blast/
    assert_user_error(paddy("train", "--data", competition, *TINY, cwd=tmp_path), "sit in a folder other than")
    assert not (tmp_path / "runs").exists()
