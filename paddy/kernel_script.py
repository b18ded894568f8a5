"""paddy in a Kaggle kernel: install paddy from the attached dataset without the internet, train or not, predict.

`paddy kernel` pushes this file with SETTINGS filled in. fastai, timm and torch come with Kaggle's image, so the wheel
goes in with --no-deps --no-index. The wheel is looked for anywhere under input/ (Kaggle mounts a dataset at
input/<slug> or input/datasets/<owner>/<slug>, as links), and only the one whose sha256 is the pushed wheel's is
installed: a kernel that sees an older version of the dataset stops with one line instead of running old code. A training kernel trains into working/runs/ (under torchrun when SETTINGS['gpus'] > 1:
rank 0 writes the run), then predicts in this one process; a prediction kernel (`paddy kernel --predict`) predicts the
runs pushed in the dataset. The predictions land in working/submission.csv, the kernel's output; the image cache and the
pushed runs live in temp/, which is not. PADDY_KAGGLE_ROOT moves /kaggle, to rehearse a kernel in a temporary folder.
"""
import hashlib, importlib, os, subprocess, sys
from pathlib import Path

SETTINGS = {}  # filled in by `paddy kernel`: wheel and its sha256, dataset, train (None: predict only) with weights and gpus, or runs; predict


def run(args):
    "Run the command `args`; stop the kernel with its exit code if it fails."
    print("$", " ".join(args), flush=True)
    if code := subprocess.run(args).returncode: sys.exit(code)


def pip_install(wheel):
    "Install paddy's wheel alone: no dependencies, no index, so no internet."
    run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--force-reinstall", "-q", str(wheel)])
    importlib.invalidate_caches()


def paddy(*args, required=True):
    """Run `paddy ARGS` in this process, so fastai is imported once; stop the kernel with its exit code if it fails
    (unless not `required`: then a warning, and the kernel goes on). Returns the exit code."""
    from paddy.cli import main
    print("$ paddy", " ".join(args), flush=True)
    code = main(list(args))
    if code and required: sys.exit(code)
    if code: print(f"paddy: warning: `paddy {args[0]}` failed (exit code {code}); the submission is written all the same", file=sys.stderr, flush=True)
    return code


def find(folder, name):
    "The files called `name` under `folder`, symbolic links followed (pathlib's `**` does not follow them)."
    return sorted(Path(d) / name for d, _, files in os.walk(folder, followlinks=True) if name in files)


def sha256(path):
    "The sha256 of a file, in hex."
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""): digest.update(block)
    return digest.hexdigest()


def pushed_wheel(inputs):
    "The wheel `paddy kernel` pushed, under `inputs`: found by name, told from an older version by its sha256."
    found = find(inputs, SETTINGS["wheel"])
    if not found: sys.exit(f"paddy: no {SETTINGS['wheel']} under {inputs}: add the dataset {SETTINGS['dataset']} to the kernel's inputs")
    fresh = [w for w in found if sha256(w) == SETTINGS["wheel_sha256"]]
    if not fresh:
        sys.exit(f"paddy: {found[0]} is not the wheel `paddy kernel` pushed (another sha256): the kernel sees an older version of the "
                 f"dataset {SETTINGS['dataset']}; push again, or run the kernel once that version is ready on Kaggle")
    return fresh[0]


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
    wheel = pushed_wheel(root / "input")
    pip_install(wheel)
    if SETTINGS["train"] is None:
        stage(SETTINGS["runs"], wheel.parent, temp / "runs", temp / "cache")
        where = ["--runs-dir", str(temp / "runs")]
    else:
        weights = ["--weights", str(wheel.parent / SETTINGS["weights"])] if SETTINGS["weights"] else []
        train([*SETTINGS["train"], *weights, "--cache-dir", str(temp / "cache")], SETTINGS["gpus"])
        where = []
    paddy("predict", *SETTINGS["predict"], *where, "--out", "submission.csv")
    paddy("report", *where, required=False)  # working/reports/: a page per run and reports/index.html; a failure here costs no submission


if __name__ == "__main__":
    main()
