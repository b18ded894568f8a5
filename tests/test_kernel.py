"""`paddy kernel` against the emulator; then the pushed script, run end to end on the CPU in a simulated kernel:
training on two processes (torchrun over gloo, as on a 2xT4 kernel), and predicting pushed runs without training."""
import ast, json, shutil, subprocess, sys, sysconfig
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import no_credentials, paddy, served_competition

from dataclasses import replace

from paddy import __version__, config
from paddy.config import make_config
from paddy.infer import submission
from paddy.kaggle import kernel
from paddy.testing.competitions import build
from paddy.testing.kaggle_emulator import SLUG, KernelRunner, listing

WHEEL = f"paddy-{__version__}-py3-none-any.whl"
TINY = ["--arch", "resnet18", "--size", "32", "--bs", "2", "--epochs", "1", "--method", "fit_one_cycle", "--workers", "0"]


@pytest.fixture
def kaggle_comp(kaggle_emulator, tmp_path):
    "`kaggle_emulator` serving, as paddy-disease-classification, a competition big enough for two processes' batches."
    kaggle_emulator.add_competition(SLUG, *served_competition(tmp_path / "served", per_label=8))
    return kaggle_emulator


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


def kernel_runner(emulator, tmp_path, mounts="current"):
    """A KernelRunner that runs pushed kernels as Kaggle would, under tmp_path/kernels: the competition and the dataset
    mounted in input/ (`mounts`: "current", as links under competitions/ and datasets/<owner>/, or "classic"), an empty
    working/, a python without paddy that sees fastai, timm and torch as Kaggle's image has them, no index to install from.
    Returns (the runner, the python's site-packages)."""
    python, site = throwaway_venv(tmp_path / "venv")
    env = {k: v for k, v in emulator.env.items() if k != "PYTHONPATH"}
    env.update(PIP_INDEX_URL="http://127.0.0.1:9/simple", OMP_NUM_THREADS="1")
    has = lambda module: subprocess.run([python, "-c", f"import {module}"], cwd=tmp_path, env=env).returncode == 0
    assert has("safetensors") and not has("paddy")
    (tmp_path / "kernels").mkdir()
    return KernelRunner(tmp_path / "kernels", python, env, mounts), site


def run_kernel(emulator, tmp_path, mounts="current"):
    """Run the kernel `emulator` last received, as Kaggle would (`kernel_runner`), and check it ended well, installed
    paddy from the dataset's wheel and left its inputs as they were. Returns (the kaggle root, the venv's site-packages)."""
    runner, site = kernel_runner(emulator, tmp_path, mounts)
    k = emulator.kernels[-1]
    runner.run(emulator, k)
    assert k["status"] == "complete", k["log"][-6000:]
    root = k["root"]
    assert (site / "paddy" / "kaggle" / "kernel.py").is_file()  # installed from the dataset's wheel
    assert listing(root / "input") == k["inputs"]  # nothing written into the inputs (read-only on Kaggle)
    return root, site


def parsed(flags):
    "The run settings `flags` give, as `paddy train` parses them (None: not given)."
    import argparse
    p = argparse.ArgumentParser()
    config.parser_flags(p)
    return p.parse_args(flags)


def settings(text):
    "The SETTINGS a pushed kernel script was filled in with."
    return ast.literal_eval(next(n.value for n in ast.parse(text).body if isinstance(n, ast.Assign) and n.targets[0].id == "SETTINGS"))


def check_pushed(emulator, r, dataset, kernel_slug, files):
    "`paddy kernel` said what it pushed: `dataset` holding the wheel and `files`, and a private T4 kernel without the internet."
    ref = f"{emulator.user}/{dataset}"
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"pushed the dataset {ref} and the kernel https://www.kaggle.com/code/{emulator.user}/{kernel_slug}"
    (pushed,) = emulator.datasets
    assert (pushed["ref"], pushed["version"], pushed["private"]) == (ref, 1, True)
    assert set(pushed["files"]) == {WHEEL, *files} and all(pushed["files"][n] == p.read_bytes() for n, p in files.items())
    (k,) = emulator.kernels
    assert (k["slug"], k["language"], k["kernelType"], k["isPrivate"]) == (f"{emulator.user}/{kernel_slug}", "python", "script", True)
    assert k["enableGpu"] is True and k["machineShape"] == "NvidiaTeslaT4" and not k.get("enableInternet")
    assert k["competitionDataSources"] == [SLUG] and k["datasetDataSources"] == [ref]


@pytest.mark.slow
def test_push_then_train_on_two_gpus_in_the_kernel(kaggle_comp, tmp_path):
    weights = random_weights(tmp_path / "resnet18-start.safetensors")
    r = paddy("kernel", *TINY, "--weights", str(weights), "--name", "kern", "--tta", "0", "--gpus", "2",
              "--kernel", "paddy-test", cwd=tmp_path, env=kaggle_comp.env)
    check_pushed(kaggle_comp, r, "paddy-offline", "paddy-test", {weights.name: weights})

    root, _ = run_kernel(kaggle_comp, tmp_path, mounts="classic")  # input/<slug> and input/<dataset>, as kernels before 2026
    meta = json.loads((root / "working" / "runs" / "kern" / "meta.json").read_text())
    assert meta["finished"] and meta["world_size"] == 2  # torchrun: two processes, rank 0 wrote the run
    assert meta["config"]["weights"] == str(root / "input" / "paddy-offline" / weights.name)
    assert meta["config"]["cache_dir"] == str(root / "temp" / "cache") and any((root / "temp" / "cache").rglob("*.jpg"))
    assert sorted(p.name for p in (root / "working").iterdir()) == ["reports", "runs", "submission.csv"]  # no cache in the output
    assert "top-losses" in (root / "working" / "reports" / "kern.html").read_text() and meta["valid_tta"] == 4
    sample = submission.read_sample(root / "input" / SLUG / "sample_submission.csv")
    sub = submission.validate_file(root / "working" / "submission.csv", sample)
    assert set(sub.label) <= set(meta["vocab"])


@pytest.mark.slow
def test_push_finished_runs_then_predict_them_in_the_kernel(kaggle_comp, tmp_path):
    data = str(kaggle_comp.competitions[SLUG].folder)
    r = paddy("cv", *TINY, "--no-pretrained", "--data", data, "--folds", "2", "--name", "t", "--tta", "0", cwd=tmp_path, env=kaggle_comp.env)
    assert r.returncode == 0, r.stderr[-3000:]
    r = paddy("predict", "--run", "t-cv", "--tta", "0", "--data", data, "--out", "local.csv", cwd=tmp_path, env=kaggle_comp.env)
    assert r.returncode == 0, r.stderr[-3000:]

    r = paddy("kernel", "--predict", "t-cv", "--tta", "0", cwd=tmp_path, env=kaggle_comp.env)
    runs = tmp_path / "runs"
    pushed = {f"{run}.{name}": runs / run / name for run in ("t-f0", "t-f1") for name in ("model.safetensors", "meta.json")}
    check_pushed(kaggle_comp, r, "paddy-runs", "paddy-predict", pushed)  # weights and meta.json only: nothing pickled

    root, _ = run_kernel(kaggle_comp, tmp_path)
    assert sorted(p.name for p in (root / "working").iterdir()) == ["reports", "submission.csv"]  # no training, no cache
    assert sorted(p.name for p in (root / "working" / "reports").glob("*.html")) == ["index.html", "t-f0.html", "t-f1.html"]
    assert (root / "working" / "submission.csv").read_text() == (tmp_path / "local.csv").read_text()
    for run in ("t-f0", "t-f1"):  # both folds predicted there as here: the submission is their mean, as `paddy predict` makes it
        assert np.allclose(np.load(root / "temp" / "runs" / run / "test_probs.npy"), np.load(runs / run / "test_probs.npy"), atol=1e-5)

    job = kernel.prediction(["t-f1", "t-f0"], ["3", "1"], runs, tta=2)
    assert job.settings["predict"] == ["--tta", "2", "--run", "t-f1,t-f0", "--run-weights", "3.0,1.0"]


@pytest.mark.slow
def test_a_predict_only_kernel_on_another_competitions_layout(kaggle_emulator, tmp_path):
    slug = "plant-pathology-2020-fgvc7"  # one images/ folder, one-hot train.csv, a probability column per class
    r = build("plant_pathology", tmp_path / "served" / slug, n_train=40, n_test=12)
    (tmp_path / "served" / "solution.csv").write_text("image_id,label\n")  # not scored here: nothing is submitted
    kaggle_emulator.add_competition(slug, r.root, tmp_path / "served" / "solution.csv")
    for args in (("train", "--data", r.root, "--slug", slug, "--metric", "auc", *TINY, "--no-pretrained", "--name", "pp"),
                 ("predict", "--run", "pp", "--tta", "0", "--out", "local.csv"),  # here: the data it trained on
                 ("kernel", "--predict", "pp", "--tta", "0")):
        assert paddy(*args, cwd=tmp_path, env=kaggle_emulator.env).returncode == 0
    (k,) = kaggle_emulator.kernels
    assert k["competitionDataSources"] == [slug]
    root, _ = run_kernel(kaggle_emulator, tmp_path)  # there: the competition as Kaggle mounts it, no data flag
    sub = pd.read_csv(root / "working" / "submission.csv")
    assert list(sub.columns) == ["image_id", "healthy", "multiple_diseases", "rust", "scab"]
    assert list(sub.image_id) == [f"Test_{i}" for i in range(12)] and np.allclose(sub.iloc[:, 1:].sum(1), 1, atol=1e-3)
    assert (root / "working" / "submission.csv").read_text() == (tmp_path / "local.csv").read_text()


@pytest.mark.slow
def test_a_second_push_is_a_new_dataset_version(tiny_kaggle, tmp_path):
    ref = f"{tiny_kaggle.user}/paddy-offline"
    tiny_kaggle.datasets.append(dict(ref=ref, version=1, files={"old.whl": b"old"}, title="paddy-offline", notes=None,
                                     private=True, request={}))
    (tmp_path / "exp.toml").write_text('arch = "resnet18"\nsize = [48, 32]\naux_targets = ["variety"]\nepochs = 2\n')
    r = paddy("kernel", "--config", "exp.toml", "--epochs", "1", "--no-pretrained", "--internet", "--no-gpu", cwd=tmp_path, env=tiny_kaggle.env)
    assert r.returncode == 0, r.stderr
    latest = tiny_kaggle.datasets[-1]
    assert (latest["ref"], latest["version"], latest["notes"], set(latest["files"])) == (ref, 2, f"paddy {__version__}", {WHEEL})
    (k,) = tiny_kaggle.kernels
    assert k["slug"] == f"{tiny_kaggle.user}/paddy-train" and k["enableInternet"] is True
    assert not k.get("enableGpu") and not k.get("machineShape")
    sent = make_config(**vars(parsed(settings(k["text"])["train"])))
    assert sent == make_config(tmp_path / "exp.toml", epochs=1, pretrained=False)  # the preset is read here and sent as flags; flags win


REFUSED = {  # case: (flags after TINY, what the one line must name)
    "no credentials": (["--no-pretrained"], ["kaggle.json"]),
    "a local data folder": (["--no-pretrained", "--data", "."], ["takes no --data"]),
    "another run's weights": (["--no-pretrained", "--init-from", "r"], ["--init-from r"]),
    "hub weights without the internet": ([], ["--weights", "--internet", "--no-pretrained"]),
    "a retired accelerator": (["--no-pretrained", "--accelerator", "p100"], ["retired", "t4"]),
    "more GPUs than Kaggle's": (["--no-pretrained", "--gpus", "3"], ["--gpus 3", "2 GPUs"]),
    "GPUs in a CPU kernel": (["--no-pretrained", "--no-gpu", "--gpus", "2"], ["--no-gpu"]),
    "an unfinished run": (["--predict", "r"], ["never finished", "--resume r"]),
    "training flags with --predict": (["--predict", "r", "--arch", "resnet18"], ["--arch"]),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", REFUSED)
def test_a_refused_push_pushes_nothing(tiny_kaggle, tmp_path, case):
    if case == "no credentials": no_credentials(tiny_kaggle)
    (tmp_path / "runs" / "r").mkdir(parents=True)
    (tmp_path / "runs" / "r" / "meta.json").write_text(json.dumps(dict(name="r", finished=False)))  # a run killed mid-training
    flags, needles = REFUSED[case]
    args = ["--arch", "resnet18", "--size", "32", *flags] if "--predict" not in flags else flags
    r = paddy("kernel", *args, cwd=tmp_path, env=tiny_kaggle.env)
    (line,) = r.stderr.splitlines()
    assert r.returncode == 2 and line.startswith("paddy: ") and all(n in line for n in needles), r.stderr
    assert tiny_kaggle.datasets == [] and tiny_kaggle.kernels == []


def test_the_script_gets_train_and_predict_flags(tmp_path):
    (tmp_path / "x.safetensors").write_bytes(b"")
    cfg = make_config(arch="resnet18", size="32", flip=False, weights=str(tmp_path / "x.safetensors"))
    job = kernel.training(cfg, gpus=2, tta=2)
    assert (job.slug, job.files, job.kernel, job.dataset) == (SLUG, {"x.safetensors": tmp_path / "x.safetensors"}, "paddy-train", "paddy-offline")
    assert job.settings == dict(weights="x.safetensors", gpus=2, train=config.to_flags(replace(cfg, weights=None)),
                                predict=["--tta", "2", "--run", "resnet18-32x32"])
    assert make_config(**{k: v for k, v in vars(parsed(job.settings["train"])).items()}) == replace(cfg, weights=None)  # the same run there
    text = kernel.script(dict(wheel=WHEEL, dataset="me/paddy-offline", **job.settings))
    assert settings(text) == dict(wheel=WHEEL, dataset="me/paddy-offline", **job.settings)


@pytest.mark.slow
def test_wait_follows_the_kernel_brings_its_run_here_and_submits_its_output(kaggle_comp, tmp_path):
    runner, _ = kernel_runner(kaggle_comp, tmp_path)  # kernels run as they are pushed, inputs mounted as links
    kaggle_comp.run_kernels(runner)
    r = paddy("kernel", *TINY, "--no-pretrained", "--name", "kern", "--tta", "0", "--wait", cwd=tmp_path, env=kaggle_comp.env)
    assert r.returncode == 0, r.stderr[-3000:]
    ref = f"{kaggle_comp.user}/paddy-train"
    lines = r.stdout.splitlines()
    assert [ln.split(": ")[1].split(" (")[0] for ln in lines if ln.startswith(f"kernel {ref}: ")][-1] == "complete"
    assert lines[-2:] == ["run kern -> runs/kern", "submission -> submissions/paddy-train.csv"]
    meta = json.loads((tmp_path / "runs" / "kern" / "meta.json").read_text())
    assert meta["finished"] and meta["config"]["cache_dir"] == "cache"  # the kernel's /kaggle/temp/cache made this machine's
    assert (tmp_path / "runs" / "kern" / "model.safetensors").is_file() and (tmp_path / "runs" / "kern" / "valid.json").is_file()
    here = paddy("predict", "--run", "kern", "--tta", "0", "--data", kaggle_comp.competitions[SLUG].folder, "--out", "here.csv",
                 cwd=tmp_path, env=kaggle_comp.env)
    assert here.returncode == 0, here.stderr
    assert (tmp_path / "here.csv").read_text() == (tmp_path / "submissions" / "paddy-train.csv").read_text()  # the same model, here
    assert paddy("report", "kern", cwd=tmp_path, env=kaggle_comp.env).returncode == 0

    r = paddy("submit", "--kernel", "paddy-train", "-m", "from the kernel", cwd=tmp_path, env=kaggle_comp.env)
    assert r.returncode == 0 and r.stdout.startswith(f"submitted the output of the kernel {ref}: ref "), r.stderr
    (sub,) = kaggle_comp.submissions
    assert (sub["kernel"], sub["kernelVersion"], sub["status"], sub["description"]) == (ref, 1, "COMPLETE", "from the kernel")
    listed = paddy("submissions", cwd=tmp_path, env=kaggle_comp.env).stdout
    assert "COMPLETE" in listed and "from the kernel" in listed
    again = paddy("follow", "paddy-train", cwd=tmp_path, env=kaggle_comp.env)  # a run that came from this kernel: replaced
    assert again.returncode == 0 and "run kern -> runs/kern" in again.stdout, again.stderr


@pytest.mark.slow
def test_a_kernel_that_sees_an_old_wheel_stops_and_following_it_shows_why(tiny_kaggle, tmp_path):
    weights = random_weights(tmp_path / "resnet18-start.safetensors")
    r = paddy("kernel", *TINY, "--weights", str(weights), "--name", "kern", cwd=tmp_path, env=tiny_kaggle.env)
    assert r.returncode == 0, r.stderr
    (tmp_path / "runs" / "kern").mkdir(parents=True)  # a run of the same name here, trained here: never replaced
    tiny_kaggle.datasets[-1]["files"][WHEEL] = b"the wheel of an older version"  # what Kaggle mounts before the new version is ready
    runner, _ = kernel_runner(tiny_kaggle, tmp_path, "classic")
    runner.run(tiny_kaggle, tiny_kaggle.kernels[-1])
    assert tiny_kaggle.kernels[-1]["status"] == "error"
    r = paddy("follow", "paddy-train", cwd=tmp_path, env=tiny_kaggle.env)
    assert r.returncode == 2 and "is not the wheel `paddy kernel` pushed" in r.stderr and "the last" in r.stderr
    assert r.stderr.splitlines()[-1].startswith(f"paddy: the kernel {tiny_kaggle.user}/paddy-train ended error")
    assert list((tmp_path / "runs" / "kern").iterdir()) == []
    tiny_kaggle.kernels[-1].update(status="complete", output={"runs/kern/meta.json": b"{}"})
    r = paddy("follow", "paddy-train", cwd=tmp_path, env=tiny_kaggle.env)
    assert r.returncode == 2 and "runs/kern exists and did not come from the kernel" in r.stderr


def test_a_failed_report_in_the_kernel_is_a_warning(tmp_path, monkeypatch, capsys):
    from paddy import kernel_script
    monkeypatch.chdir(tmp_path)
    assert kernel_script.paddy("report", "nosuch", required=False) == 2
    assert "warning: `paddy report` failed (exit code 2); the submission is written all the same" in capsys.readouterr().err
    with pytest.raises(SystemExit): kernel_script.paddy("report", "nosuch")


def test_an_old_kaggle_client_is_refused_before_any_push():
    from paddy.errors import PaddyError
    with pytest.raises(PaddyError, match=r"kaggle client 1.6.17 is older than 1.8.4.*pip install -U 'kaggle>=1.8.4'"):
        kernel.check_client("1.6.17")
    kernel.check_client("1.8.4")
    kernel.check_client("2.2.5")


def test_the_emulator_checks_the_machine_shape(kaggle_emulator):
    from paddy.testing.kaggle_emulator import ApiError
    body = dict(slug=f"{kaggle_emulator.user}/k", text="", machineShape="NvidiaTeslaV100")
    with pytest.raises(ApiError, match="Unknown machine shape 'NvidiaTeslaV100'"): kaggle_emulator.SaveKernel(body, "localhost")
    assert kaggle_emulator.SaveKernel(body | dict(machineShape="NvidiaTeslaT4"), "localhost")["versionNumber"] == 1
