"""paddy in a Kaggle kernel: install paddy from the attached dataset without the internet, train or not, predict.

`paddy kernel` pushes this file with SETTINGS filled in. fastai, timm and torch come with Kaggle's image, so the wheel
goes in with --no-deps --no-index. A training kernel trains into working/runs/ (under torchrun when SETTINGS['gpus'] > 1:
rank 0 writes the run), then predicts in this one process; a prediction kernel (`paddy kernel --predict`) predicts the
runs pushed in the dataset. The predictions land in working/submission.csv, the kernel's output; the image cache and the
pushed runs live in temp/, which is not. PADDY_KAGGLE_ROOT moves /kaggle, to rehearse a kernel in a temporary folder.
"""
import importlib, os, subprocess, sys
from pathlib import Path

SETTINGS = {}  # filled in by `paddy kernel`: wheel, dataset, train (None: predict only) with weights and gpus, or runs; predict


def run(args):
    "Run the command `args`; stop the kernel with its exit code if it fails."
    print("$", " ".join(args), flush=True)
    if code := subprocess.run(args).returncode: sys.exit(code)


def pip_install(wheel):
    "Install paddy's wheel alone: no dependencies, no index, so no internet."
    run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--force-reinstall", "-q", str(wheel)])
    importlib.invalidate_caches()


def paddy(*args):
    "Run `paddy ARGS` in this process, so fastai is imported once; stop the kernel with its exit code if it fails."
    from paddy.cli import main
    print("$ paddy", " ".join(args), flush=True)
    if code := main(list(args)): sys.exit(code)


def train(args, gpus):
    "`paddy train ARGS --gpus N`: in this process on one GPU, else in `gpus` processes under torchrun, rank 0 writing the run."
    paddy("train", *args, "--gpus", str(gpus))


def stage(names, found, runs, cache):
    """Each pushed run NAME (found/NAME.meta.json, found/NAME.model.safetensors) as the run folder runs/NAME, writable
    for its predictions, with its image cache in `cache`: the inputs are read-only."""
    from paddy.runs import META, WEIGHTS, read_meta, write_meta
    for name in names:
        meta = read_meta(found / f"{name}.{META}")
        meta.config["cache_dir"] = str(cache)
        (runs / name).mkdir(parents=True)
        write_meta(runs / name, meta)
        (runs / name / WEIGHTS).symlink_to(found / f"{name}.{WEIGHTS}")


def main():
    "Install paddy; train, or stage the pushed runs; predict into working/submission.csv."
    root = Path(os.environ.get("PADDY_KAGGLE_ROOT", "/kaggle"))
    temp = root / "temp"  # scratch space that is not the kernel's output
    os.chdir(root / "working")
    wheels = sorted((root / "input").glob(f"**/{SETTINGS['wheel']}"))
    if not wheels: sys.exit(f"paddy: no {SETTINGS['wheel']} under {root / 'input'}: add the dataset {SETTINGS['dataset']} to the kernel's inputs")
    pip_install(wheels[0])
    if SETTINGS["train"] is None:
        stage(SETTINGS["runs"], wheels[0].parent, temp / "runs", temp / "cache")
        where = ["--runs-dir", str(temp / "runs")]
    else:
        weights = ["--weights", str(wheels[0].parent / SETTINGS["weights"])] if SETTINGS["weights"] else []
        train([*SETTINGS["train"], *weights, "--cache-dir", str(temp / "cache")], SETTINGS["gpus"])
        where = []
    paddy("predict", *SETTINGS["predict"], *where, "--out", "submission.csv")
    paddy("report", *where)  # working/reports/: a page per run and reports/index.html, in the kernel's output


if __name__ == "__main__":
    main()
