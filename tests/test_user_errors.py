"""Bad flags and config files: one line on stderr, exit code 2, and no run folder (refused before any training).
The cases run as parallel subprocesses, started once for the module."""
import os, subprocess, sys

import pytest
from conftest import REPO, assert_user_error, make_competition

BASE = ["--arch", "resnet18", "--no-pretrained", "--size", "32", "--bs", "4", "--epochs", "1", "--workers", "0"]
CASES = {  # name: (flags after BASE, fragments the message must contain)
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
    env = dict(os.environ, PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    procs = {name: subprocess.Popen([sys.executable, "-m", "paddy.cli", "train", "--data", str(root), *BASE, *flags,
                                     "--name", name], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for name, (flags, _) in CASES.items()}
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
