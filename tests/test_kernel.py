"""`paddy kernel` against the emulator; then the pushed script, run end to end on the CPU in a simulated kernel."""
import json, shutil, subprocess, sys, sysconfig
from pathlib import Path

import pytest
from kaggle_emulator import SLUG, kaggle_emulator, tiny_kaggle  # noqa: F401 (fixtures)

from paddy import __version__, kernel, submission

WHEEL = f"paddy-{__version__}-py3-none-any.whl"
TINY = ["--arch", "resnet18", "--size", "32", "--bs", "2", "--epochs", "1", "--method", "fit_one_cycle"]


def paddy(emulator, *args, cwd):
    "Run `paddy ARGS` in `cwd` with the real kaggle client pointed at `emulator`."
    return subprocess.run([sys.executable, "-m", "paddy.cli", *args], cwd=cwd, env=emulator.env,
                          capture_output=True, text=True, timeout=120)


def random_weights(path):
    "A resnet18 state dict in timm layout, as a local --weights file."
    import timm
    from safetensors.torch import save_file
    save_file(timm.create_model("resnet18", pretrained=False).state_dict(), str(path))
    return path


def throwaway_venv(folder):
    """A venv without paddy that sees this venv's packages (fastai, timm, torch, pip) through a .pth file, the way a
    Kaggle image has them; this venv's own .pth files (the editable paddy) are not run. Returns (python, site-packages)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    python = folder / "bin" / "python"
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site / "kaggle-image.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python, site


def test_push_then_run_the_kernel_to_a_submission(tiny_kaggle, tmp_path):
    weights = random_weights(tmp_path / "resnet18-start.safetensors")
    r = paddy(tiny_kaggle, "kernel", *TINY, "--weights", str(weights), "--name", "kern", "--tta", "0",
              "--kernel", "paddy-test", cwd=tmp_path)
    ref = f"{tiny_kaggle.user}/paddy-offline"
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"pushed the dataset {ref} and the kernel https://www.kaggle.com/code/{tiny_kaggle.user}/paddy-test"

    (dataset,) = tiny_kaggle.datasets
    assert (dataset["ref"], dataset["version"], dataset["private"]) == (ref, 1, True)
    assert set(dataset["files"]) == {WHEEL, weights.name} and dataset["files"][weights.name] == weights.read_bytes()
    (k,) = tiny_kaggle.kernels
    assert (k["slug"], k["language"], k["kernelType"], k["isPrivate"]) == (f"{tiny_kaggle.user}/paddy-test", "python", "script", True)
    assert k["enableGpu"] is True and not k.get("enableInternet")
    assert k["competitionDataSources"] == [SLUG] and k["datasetDataSources"] == [ref]

    # the simulated kernel: inputs (the competition, the dataset as pushed), a working folder, a python without paddy
    root = tmp_path / "kaggle"
    shutil.copytree(tiny_kaggle.competitions[SLUG].folder, root / "input" / SLUG)
    (root / "input" / "paddy-offline").mkdir()
    for name, data in dataset["files"].items(): (root / "input" / "paddy-offline" / name).write_bytes(data)
    (root / "working").mkdir()
    python, site = throwaway_venv(tmp_path / "venv")
    env = {k: v for k, v in tiny_kaggle.env.items() if k != "PYTHONPATH"}
    env.update(KAGGLE_KERNEL_RUN_TYPE="Batch", PADDY_KAGGLE_ROOT=str(root), PIP_INDEX_URL="http://127.0.0.1:9/simple")
    has = lambda module: subprocess.run([python, "-c", f"import {module}"], cwd=root / "working", env=env).returncode == 0
    assert has("safetensors") and not has("paddy")
    inputs = sorted(p.relative_to(root) for p in (root / "input").rglob("*"))
    (tmp_path / "kernel.py").write_text(k["text"])
    r = subprocess.run([python, str(tmp_path / "kernel.py")], cwd=root / "working", env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr

    assert (site / "paddy" / "kernel.py").is_file()  # installed from the dataset's wheel
    meta = json.loads((root / "working" / "runs" / "kern" / "meta.json").read_text())
    assert meta["finished"] and meta["config"]["weights"] == str(root / "input" / "paddy-offline" / weights.name)
    sample = submission.read_sample(root / "input" / SLUG / "sample_submission.csv")
    submission.validate_file(root / "working" / "submission.csv", sample, meta["vocab"])
    assert sorted(p.relative_to(root) for p in (root / "input").rglob("*")) == inputs  # read-only on Kaggle


def test_a_second_push_is_a_new_dataset_version(tiny_kaggle, tmp_path):
    ref = f"{tiny_kaggle.user}/paddy-offline"
    tiny_kaggle.datasets.append(dict(ref=ref, version=1, files={"old.whl": b"old"}, title="paddy-offline", notes=None,
                                     private=True, request={}))
    r = paddy(tiny_kaggle, "kernel", *TINY, "--no-pretrained", "--internet", "--no-gpu", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    latest = tiny_kaggle.datasets[-1]
    assert (latest["ref"], latest["version"], latest["notes"], set(latest["files"])) == (ref, 2, f"paddy {__version__}", {WHEEL})
    (k,) = tiny_kaggle.kernels
    assert k["slug"] == f"{tiny_kaggle.user}/paddy-train" and k["enableInternet"] is True and not k.get("enableGpu")


@pytest.mark.parametrize("case", ["no credentials", "a local data folder"])
def test_a_refused_push_pushes_nothing(tiny_kaggle, tmp_path, case):
    if case == "no credentials": (tiny_kaggle.home / ".kaggle" / "kaggle.json").unlink()
    extra = ["--data", str(tmp_path)] if case == "a local data folder" else []
    r = paddy(tiny_kaggle, "kernel", *TINY, "--no-pretrained", *extra, cwd=tmp_path)
    (line,) = r.stderr.splitlines()
    assert r.returncode == 2 and line.startswith("paddy: ") and ("--data" in line or "kaggle.json" in line), r.stderr
    assert tiny_kaggle.datasets == [] and tiny_kaggle.kernels == []


def test_the_script_gets_train_and_predict_flags():
    values = kernel.settings({"arch": "resnet18", "flip": False, "cache": True, "weights": "w/x.safetensors", "name": "r"},
                             Path("dist") / WHEEL, "me/paddy-offline", 2)
    assert values == dict(wheel=WHEEL, dataset="me/paddy-offline", weights="x.safetensors",
                          train=["--arch", "resnet18", "--no-flip", "--cache", "--name", "r"], predict=["--tta", "2", "--run", "r"])
    text = kernel.script(values)
    assert "SETTINGS = {}" not in text and "'--no-flip'" in text
    compile(text, "kernel.py", "exec")
