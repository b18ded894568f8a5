"""`paddy kernel`: paddy's wheel (and weights) as a Kaggle dataset, and a script kernel that trains and predicts.

The kernel's code is scripts/kaggle_kernel.py with its SETTINGS filled in: it installs the wheel from the
attached dataset without the internet, runs `paddy train` then `paddy predict`, and leaves submission.csv in
the kernel's working folder. Building the wheel needs paddy's source, so this runs from a clone.
"""
import pprint, shutil, subprocess, sys, tempfile
from pathlib import Path

from . import __version__, kaggle, zoo
from .config import make_config
from .errors import PaddyError
from .files import write_json

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = REPO / "scripts" / "kaggle_kernel.py"
CODE_FILE = "paddy_kernel.py"
LOCAL_ONLY = ("config", "data", "runs_dir")  # run flags naming local files or folders: a kernel has its own


def build_wheel(dest) -> Path:
    "Build paddy's wheel into `dest` from a clean copy of the source: no dependencies, no index, no build isolation."
    if not (REPO / "pyproject.toml").is_file() or not TEMPLATE.is_file():
        raise PaddyError("`paddy kernel` builds paddy from its source: run it from a clone of the repository (pip install -e .)")
    with tempfile.TemporaryDirectory(prefix="paddy-src.") as src:
        for name in ("pyproject.toml", "README.md"):
            if (REPO / name).is_file(): shutil.copy2(REPO / name, src)
        shutil.copytree(REPO / "paddy", Path(src) / "paddy", ignore=shutil.ignore_patterns("__pycache__"))
        pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-index", "--no-build-isolation", "-q", "-w", str(dest), src]
        r = subprocess.run(pip, capture_output=True, text=True)
    if r.returncode: raise PaddyError(f"building paddy's wheel failed: {(r.stderr.strip().splitlines() or ['pip failed'])[-1]}")
    return next(Path(dest).glob("paddy-*.whl"))


def train_args(flags) -> list[str]:
    "`paddy train` arguments for `flags` ({config key: value given on the command line}), without --weights."
    args = []
    for key, value in flags.items():
        name = key.replace("_", "-")
        if key == "weights": continue
        args += [f"--{'' if value else 'no-'}{name}"] if isinstance(value, bool) else [f"--{name}", str(value)]
    return args


def settings(flags, wheel, dataset_ref, tta) -> dict:
    "What the kernel script needs: the wheel to find and install, the weights file's name, train and predict arguments."
    predict = ["--tta", str(tta)] + (["--run", flags["name"]] if flags.get("name") else [])
    weights = Path(flags["weights"]).name if flags.get("weights") else None
    return dict(wheel=Path(wheel).name, dataset=dataset_ref, weights=weights, train=train_args(flags), predict=predict)


def script(values) -> str:
    "The kernel's code: the template with its SETTINGS line filled in with `values`."
    line = "SETTINGS = {}"
    text = TEMPLATE.read_text()
    if line not in text: raise RuntimeError(f"{TEMPLATE} lost its line {line!r}")
    return text.replace(line, f"SETTINGS = {pprint.pformat(values, width=110, sort_dicts=False)}", 1)


def metadata(user, kernel, slug, dataset_ref, gpu=True, internet=False) -> dict:
    "kernel-metadata.json of a private script kernel `user/kernel` on competition `slug` with our dataset attached."
    return dict(id=f"{user}/{kernel}", title=kernel, code_file=CODE_FILE, language="python", kernel_type="script",
                is_private=True, enable_gpu=gpu, enable_internet=internet, competition_sources=[slug],
                dataset_sources=[dataset_ref], kernel_sources=[], keywords=[])


def push(flags, kernel="paddy-train", dataset="paddy-offline", tta=4, gpu=True, internet=False):
    """Push paddy's wheel (and the --weights file) as dataset `dataset`, then kernel `kernel` that trains with the
    run flags `flags` ({config key: value}) and predicts with `tta` TTA passes. Returns (dataset ref, kernel URL)."""
    local = [f"--{k.replace('_', '-')}" for k in LOCAL_ONLY if flags.get(k) is not None]
    if local:
        raise PaddyError(f"`paddy kernel` takes no {', '.join(local)}: the kernel reads the competition from its inputs "
                         "and writes into its working folder; give the settings as flags")
    cfg = make_config(**flags)  # bad values are refused before anything is built or pushed
    user = kaggle.user()
    zoo.spec(cfg.arch).check_size(cfg.size)
    dataset_ref = f"{user}/{dataset}"
    with tempfile.TemporaryDirectory(prefix="paddy-kernel.") as tmp:
        files, code = Path(tmp) / "dataset", Path(tmp) / "code"
        files.mkdir(); code.mkdir()
        wheel = build_wheel(files)
        if cfg.weights: shutil.copy2(cfg.weights, files)
        write_json(files / "dataset-metadata.json", dict(title=dataset, id=dataset_ref, licenses=[dict(name="CC0-1.0")]))
        kaggle.push_dataset(files, f"paddy {__version__}")
        (code / CODE_FILE).write_text(script(settings(flags, wheel, dataset_ref, tta)))
        write_json(code / "kernel-metadata.json", metadata(user, kernel, cfg.slug, dataset_ref, gpu, internet))
        return dataset_ref, kaggle.push_kernel(code)
