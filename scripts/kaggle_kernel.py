"""paddy in a Kaggle kernel: install paddy from the attached dataset without the internet, train, predict.

`paddy kernel` pushes this file with SETTINGS filled in. fastai, timm and torch come with Kaggle's image, so
the wheel goes in with --no-deps --no-index. The run lands in working/runs/, the predictions in
working/submission.csv. PADDY_KAGGLE_ROOT moves /kaggle, to rehearse a kernel in a temporary folder.
"""
import importlib, os, subprocess, sys
from pathlib import Path

SETTINGS = {}  # filled in by `paddy kernel`: wheel, dataset, weights, train, predict


def pip_install(wheel):
    "Install paddy's wheel alone: no dependencies, no index, so no internet."
    args = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--force-reinstall", "-q", str(wheel)]
    print("$", " ".join(args[2:]), flush=True)
    if code := subprocess.run(args).returncode: sys.exit(code)
    importlib.invalidate_caches()


def paddy(*args):
    "Run `paddy ARGS` in this process, so fastai is imported once; stop the kernel with its exit code if it fails."
    from paddy.cli import main
    print("$ paddy", " ".join(args), flush=True)
    if code := main(list(args)): sys.exit(code)


def main():
    root = Path(os.environ.get("PADDY_KAGGLE_ROOT", "/kaggle"))
    os.chdir(root / "working")
    wheels = sorted((root / "input").glob(f"**/{SETTINGS['wheel']}"))
    if not wheels: sys.exit(f"paddy: no {SETTINGS['wheel']} under {root / 'input'}: add the dataset {SETTINGS['dataset']} to the kernel's inputs")
    pip_install(wheels[0])
    weights = ["--weights", str(wheels[0].parent / SETTINGS["weights"])] if SETTINGS["weights"] else []
    paddy("train", *SETTINGS["train"], *weights)
    paddy("predict", *SETTINGS["predict"], "--out", "submission.csv")


if __name__ == "__main__":
    main()
