"""`paddy kernel`: paddy's wheel (with weights or finished runs) as a Kaggle dataset, and a script kernel that runs it.

The kernel's code is paddy/kernel_script.py (package data, beside the CLI it runs) with its SETTINGS filled in: it installs the wheel from the attached
dataset without the internet, then either trains (`paddy train`, under torchrun on several GPUs) and predicts, or, with
`--predict`, only predicts the pushed runs; either way it leaves submission.csv in the kernel's working folder. paddy's
wheel is built from the source in a clone, or repacked from the installed distribution when paddy was installed with pip.
"""
import base64, csv, hashlib, importlib.metadata, io, pprint, re, shutil, subprocess, sys, tempfile, zipfile
from pathlib import Path
from typing import NamedTuple

from paddy import __version__
from paddy.kaggle import api as kaggle
from paddy import runs
from dataclasses import replace

from paddy.config import KEYS, Config, make_config, to_flags
from paddy.errors import PaddyError
from paddy.files import atomic_path, write_json
from paddy.infer.predict import TTA
from paddy.models import zoo

ROOT = Path(__file__).resolve().parents[2]  # what paddy/ sits in: the clone, or the site-packages it was installed into
TEMPLATE = Path(__file__).parents[1] / "kernel_script.py"  # a file read here, not imported: it runs paddy's CLI, above this layer
CODE_FILE = "paddy_kernel.py"
LOCAL_ONLY = ("data", "runs_dir", "cache_dir", "init_from", "pseudo")  # run flags naming this machine's files: a kernel has its own
ACCELERATORS = {"t4": ("NvidiaTeslaT4", 2)}  # --accelerator: Kaggle's machine shape and its GPUs (the client: "GPU T4 x2")
RETIRED = {"p100": "the kaggle client marks NvidiaTeslaP100 retired: Kaggle runs such a session on a T4 instead"}


class Job(NamedTuple):
    "What one kind of kernel pushes: its competition, the dataset's files beside the wheel {name: path}, the script's SETTINGS."
    slug: str
    files: dict
    settings: dict
    kernel: str   # default slugs of the kernel and of the dataset
    dataset: str


def build_wheel(dest) -> Path:
    "paddy's wheel in `dest`: built from the source in a clone, else repacked from the installed distribution."
    return _wheel_from_source(dest) if (ROOT / "pyproject.toml").is_file() else _wheel_from_install(dest)


def _wheel_from_source(dest) -> Path:
    "Build paddy's wheel into `dest` from a clean copy of the source: no dependencies, no index, no build isolation."
    with tempfile.TemporaryDirectory(prefix="paddy-src.") as src:
        for name in ("pyproject.toml", "README.md"):
            if (ROOT / name).is_file(): shutil.copy2(ROOT / name, src)
        shutil.copytree(ROOT / "paddy", Path(src) / "paddy", ignore=shutil.ignore_patterns("__pycache__"))
        pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-index", "--no-build-isolation", "-q", "-w", str(dest), src]
        r = subprocess.run(pip, capture_output=True, text=True)
    if r.returncode: raise PaddyError(f"building paddy's wheel failed: {(r.stderr.strip().splitlines() or ['pip failed'])[-1]}")
    return next(Path(dest).glob("paddy-*.whl"))


def _installed():
    "The installed distribution this paddy belongs to (its dist-info beside paddy/)."
    found = list(importlib.metadata.distributions(name="paddy", path=[str(ROOT)]))
    if not found:
        raise PaddyError(f"{ROOT / 'paddy'} is neither a clone (no pyproject.toml beside it) nor an install (no paddy-*.dist-info): "
                         "reinstall paddy with pip, or run `paddy kernel` from a clone")
    return found[0]


def _wheel_from_install(dest) -> Path:
    "Repack the installed distribution into `dest` as paddy's wheel: its files under paddy/, METADATA, WHEEL, entry points."
    dist = _installed()
    files = [f for f in dist.files or () if f.parts[0] == "paddy" and f.suffix != ".pyc"]
    missing = [str(f) for f in files if not f.locate().is_file()]
    if missing or not files: raise PaddyError(f"the installed paddy lacks {', '.join(missing[:3]) or 'its RECORD'}: reinstall it with pip")
    info = f"paddy-{dist.version}.dist-info"
    meta = {f"{info}/{name}": text.encode() for name in ("METADATA", "WHEEL", "entry_points.txt") if (text := dist.read_text(name))}
    wheel = Path(dest) / f"paddy-{dist.version}-py3-none-any.whl"
    wheel.parent.mkdir(parents=True, exist_ok=True)  # as pip wheel -w does
    _write_wheel(wheel, {f.as_posix(): f.locate().read_bytes() for f in files} | meta, info)
    return wheel


def _record_hash(data) -> str:
    "A RECORD entry's hash of `data`: sha256, urlsafe base64 without padding."
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _write_wheel(path, members, info):
    "Write the wheel `path` holding `members` {archive name: bytes} and `info`/RECORD, which lists each with its hash and size."
    record = io.StringIO()
    rows = [(name, _record_hash(data), len(data)) for name, data in members.items()] + [(f"{info}/RECORD", "", "")]
    csv.writer(record, lineterminator="\n").writerows(rows)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items(): z.writestr(name, data)
        z.writestr(f"{info}/RECORD", record.getvalue())


def machine_shape(accelerator=None, gpu=True, gpus=1):
    "kernel-metadata.json's machine_shape for `--accelerator` (None: t4) with `gpus` training processes; None for a CPU kernel."
    if gpus < 1: raise PaddyError(f"--gpus {gpus}: give the number of GPUs to train on, 1 or more")
    if not gpu:
        if accelerator or gpus > 1: raise PaddyError("--no-gpu runs the kernel on CPUs: drop --accelerator and --gpus, or --no-gpu")
        return None
    name = (accelerator or "t4").lower()
    if name in RETIRED: raise PaddyError(f"--accelerator {name}: {RETIRED[name]}; use --accelerator t4")
    if name not in ACCELERATORS: raise PaddyError(f"unknown --accelerator {accelerator!r}: choose {', '.join(ACCELERATORS)}")
    shape, count = ACCELERATORS[name]
    if gpus > count: raise PaddyError(f"--gpus {gpus}: Kaggle's {name} machine has {count} GPUs; give 1 to {count}")
    return shape


def training(cfg, internet=False, gpus=1, tta=TTA) -> Job:
    "A kernel that trains the run of Config `cfg` in `gpus` processes, then predicts with `tta`."
    local = [f"--{k.replace('_', '-')}" for k in LOCAL_ONLY if getattr(cfg, k) != getattr(Config(), k)]
    if local:
        raise PaddyError(f"`paddy kernel` takes no {', '.join(local)}: a kernel cannot see this machine's files (it reads the "
                         "competition from its inputs, caches images in /kaggle/temp, writes runs into /kaggle/working); give the settings as flags")
    if cfg.pretrained and not cfg.weights and not internet:
        raise PaddyError(f"a kernel without the internet cannot download {cfg.arch}'s pretrained weights: "
                         "pass --weights FILE (pushed beside paddy's wheel), --internet, or --no-pretrained")
    zoo.spec(cfg.arch).check_size(cfg.size)
    weights = Path(cfg.weights) if cfg.weights else None
    settings = dict(weights=weights.name if weights else None, gpus=gpus, train=to_flags(replace(cfg, weights=None)),
                    predict=["--tta", str(tta), "--run", cfg.run_name])
    return Job(cfg.slug, {weights.name: weights} if weights else {}, settings, "paddy-train", "paddy-offline")


def prediction(names, weights=None, runs_dir="runs", tta=TTA) -> Job:
    """A kernel that predicts the finished runs `names` (a cv folder: its folds), averaged with `weights` as
    `paddy predict --run` does. Each run goes into the dataset as NAME.model.safetensors and NAME.meta.json."""
    names, weights = runs.expand(names, weights, runs_dir)
    folders = [runs.find(n, runs_dir) for n in names]
    metas = [runs.load_meta(f) for f in folders]
    unfinished = [f.name for f, m in zip(folders, metas) if not m.finished]
    if unfinished: raise PaddyError(f"run {', '.join(unfinished)} never finished training: finish it (`paddy train --resume {unfinished[0]}`) before pushing it")
    if len({f.name for f in folders}) != len({f.resolve() for f in folders}): raise PaddyError("two of the runs have the same folder name: rename one")
    if len({(m.config["slug"], tuple(m.vocab)) for m in metas}) > 1:
        raise PaddyError(f"runs {', '.join(f.name for f in folders)} predict different competitions or labels: push runs of one competition")
    files = {f"{f.name}.{name}": f / name for f in folders for name in (runs.WEIGHTS, runs.META)}
    settings = dict(train=None, runs=sorted({f.name for f in folders}),
                    predict=["--tta", str(tta), "--run", ",".join(f.name for f in folders), "--run-weights", ",".join(map(str, weights))])
    return Job(metas[0].config["slug"], files, settings, "paddy-predict", "paddy-runs")


def script(values) -> str:
    "The kernel's code: the template with its SETTINGS line filled in with `values`."
    line = "SETTINGS = {}"
    text = TEMPLATE.read_text()
    if line not in text: raise RuntimeError(f"{TEMPLATE} lost its line {line!r}")
    return text.replace(line, f"SETTINGS = {pprint.pformat(values, width=110, sort_dicts=False)}", 1)


def metadata(user, kernel, slug, dataset_ref, shape=None, internet=False) -> dict:
    """kernel-metadata.json of a private script kernel `user/kernel` on competition `slug` with our dataset attached;
    on the GPU machine `shape` (None: a CPU kernel)."""
    return dict(id=f"{user}/{kernel}", title=kernel, code_file=CODE_FILE, language="python", kernel_type="script",
                is_private=True, enable_gpu=shape is not None, enable_internet=internet, competition_sources=[slug],
                dataset_sources=[dataset_ref], kernel_sources=[], keywords=[], **({"machine_shape": shape} if shape else {}))


MIN_CLIENT = (1, 8, 4)  # the kaggle client sends kernel-metadata.json's machine_shape from 1.8.4 on (kaggle-cli #907)
LANDED = ".kaggle-kernel"  # in a run folder brought from a kernel: the kernel it came from
LOG_TAIL = 30  # lines of a failed kernel's log shown


def check_client(version=None):
    "Refuse a kaggle client older than 1.8.4: it would drop the kernel's machine_shape, and the kernel would get Kaggle's default machine."
    version = version or importlib.metadata.version("kaggle")
    numbers = tuple(int(n) for n in re.findall(r"\d+", version)[:3])
    if numbers < MIN_CLIENT:
        raise PaddyError(f"the installed kaggle client {version} is older than 1.8.4 and would push the kernel without its machine "
                         "(machine_shape): upgrade it with `pip install -U 'kaggle>=1.8.4'`")


def kernel_ref(kernel):
    "owner/slug of `kernel` (a slug alone is the signed-in user's)."
    return kernel if "/" in kernel else f"{kaggle.user()}/{kernel}"


def land(ref, runs_dir="runs", submissions_dir="submissions", echo=print):
    """Follow kernel `ref` until it stops, then bring its output here: each run it trained into `runs_dir` (paths that
    named the kernel's machine, such as its image cache, made this machine's), its submission.csv as
    submissions/<kernel>.csv. A run folder here that did not come from this kernel is never replaced. A failed kernel
    prints its log's tail and is an error. Returns (the run folders, the CSV or None)."""
    status, failure = kaggle.follow(ref, echo)
    slug = ref.split("/")[1]
    with tempfile.TemporaryDirectory(prefix="paddy-kernel-output.") as tmp:
        kaggle.kernel_output(ref, tmp)
        log = Path(tmp) / f"{slug}.log"
        if status != "complete":
            tail = log.read_text(errors="replace").strip().splitlines()[-LOG_TAIL:] if log.is_file() else []
            if tail: print("\n".join([f"--- the last {len(tail)} lines of the kernel's log ---", *tail, "---"]), file=sys.stderr)
            raise PaddyError(f"the kernel {ref} ended {status.replace('_', ' ')}" + (f": {failure}" if failure else "") +
                             f"; see its log{' above' if tail else ''} or at https://www.kaggle.com/code/{ref}")
        folders = [land_run(meta.parent, Path(runs_dir), ref) for meta in sorted(Path(tmp).glob(f"runs/*/{runs.META}"))]
        csv = None
        if (Path(tmp) / "submission.csv").is_file():
            csv = Path(submissions_dir) / f"{slug}.csv"
            with atomic_path(csv) as out: shutil.copyfile(Path(tmp) / "submission.csv", out)
    return folders, csv


def land_run(folder, runs_dir, ref):
    "Copy the run `folder` from kernel `ref`'s output into `runs_dir`, its image cache made this machine's; returns it."
    target = runs_dir / folder.name
    came_from = (target / LANDED).read_text().strip() if (target / LANDED).is_file() else None
    if target.exists() and came_from != ref:
        raise PaddyError(f"{target} exists and did not come from the kernel {ref}: rename it, or bring the kernel's runs elsewhere with --runs-dir")
    meta = runs.load_meta(folder)
    meta.config["cache_dir"] = "cache"  # the kernel's /kaggle/temp/cache does not exist here
    runs.write_meta(folder, meta)
    (folder / LANDED).write_text(ref + "\n")
    staged = runs_dir / f".{folder.name}.landing"
    shutil.rmtree(staged, ignore_errors=True)
    shutil.copytree(folder, staged)
    if target.exists(): shutil.rmtree(target)
    staged.rename(target)
    return target


def push(cfg, kernel=None, dataset=None, tta=TTA, gpu=True, internet=False, gpus=None, accelerator=None, predict=None, run_weights=None):
    """Push paddy's wheel, with what the kernel needs, as dataset `dataset`, then kernel `kernel`, on a GPU machine chosen
    by `accelerator` unless `gpu` is False. With `predict` (run names), the kernel predicts those finished runs (of
    Config `cfg`, only runs_dir may differ from the defaults: where they are); else it trains the run of `cfg` in `gpus`
    processes and predicts. Everything is checked first: a refusal pushes nothing. Returns (dataset ref, kernel URL,
    kernel ref: owner/slug, for `land`)."""
    check_client()
    shape = machine_shape(accelerator, gpu, 1 if gpus is None else gpus)  # None: one process
    if predict:
        base = make_config(runs_dir=cfg.runs_dir)  # the settings a run flag would change
        given = [f"--{k.replace('_', '-')}" for k in sorted(KEYS) if getattr(cfg, k) != getattr(base, k)] + ([] if gpus is None else ["--gpus"])
        if given: raise PaddyError(f"--predict pushes finished runs, which keep their settings, and predicts in one process: drop {', '.join(given)}")
        job = prediction(predict, run_weights, cfg.runs_dir, tta)
    elif run_weights: raise PaddyError("--run-weights weighs the runs of --predict: give --predict RUN,RUN too, or drop it")
    else: job = training(cfg, internet, gpus or 1, tta)
    user = kaggle.user()
    dataset_ref = f"{user}/{dataset or job.dataset}"
    with tempfile.TemporaryDirectory(prefix="paddy-kernel.") as tmp:
        files, code = Path(tmp) / "dataset", Path(tmp) / "code"
        files.mkdir(); code.mkdir()
        wheel = build_wheel(files)
        for name, path in job.files.items(): shutil.copy2(path, files / name)
        write_json(files / "dataset-metadata.json", dict(title=dataset or job.dataset, id=dataset_ref, licenses=[dict(name="CC0-1.0")]))
        kaggle.push_dataset(files, f"paddy {__version__}")
        (code / CODE_FILE).write_text(script(dict(wheel=wheel.name, wheel_sha256=hashlib.sha256(wheel.read_bytes()).hexdigest(),
                                                  dataset=dataset_ref, **job.settings)))
        write_json(code / "kernel-metadata.json", metadata(user, kernel or job.kernel, job.slug, dataset_ref, shape, internet))
        return dataset_ref, kaggle.push_kernel(code), f"{user}/{kernel or job.kernel}"
