"""A competition's folder: where it is (a kernel's input, data/<slug>, or --data), its CSVs, and its images found by id."""
import json, os
from collections import defaultdict
from pathlib import Path

import pandas as pd

from paddy.errors import PaddyError


SLUG = "paddy-disease-classification"
IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


def in_kernel() -> bool:
    "Are we running inside a Kaggle kernel?"
    return bool(os.environ.get("KAGGLE_KERNEL_RUN_TYPE"))


def kaggle_root() -> Path:
    "Kaggle's folder in a kernel (`input/`, `working/`); PADDY_KAGGLE_ROOT moves it, to simulate a kernel."
    return Path(os.environ.get("PADDY_KAGGLE_ROOT", "/kaggle"))


KAGGLE_INFO_FILE = ".paddy-kaggle.json"  # written by `paddy data` into the competition folder: what Kaggle's API says of it (its metric)
SAMPLE_NAMES = ("sample_submission", "samplesubmission")  # how a competition's sample submission begins (lower case)
MOUNT_DEPTH = 4  # folders below a kernel's input/ where an attached competition or dataset is looked for


def data_root(slug=SLUG, data=None) -> Path:
    "The competition folder: `data` if given, else the kernel's input folder, else data/<slug>."
    if data is not None: root, hint = Path(data), "check the --data path"
    elif in_kernel(): return kernel_input(slug)
    else: root, hint = Path("data") / slug, "run `make data` to download it, or pass --data DIR"
    if not root.is_dir(): raise PaddyError(f"no competition data at {root}: {hint}")
    return root


def kernel_input(slug):
    """Where a kernel sees competition `slug`: input/<slug> (older kernels), input/competitions/<slug> (kernels since 2026),
    or else the one folder under input/ (symbolic links followed) that holds a sample submission: Kaggle chooses the
    mount folder, and says it may change. Several candidates are an error naming them and --data."""
    inputs = kaggle_root() / "input"
    for folder in (inputs / slug, inputs / "competitions" / slug):
        if folder.is_dir(): return folder
    found = sorted({p.parent for p in walk(inputs, MOUNT_DEPTH) if p.suffix.lower() == ".csv" and p.name.lower().startswith(SAMPLE_NAMES)})
    if len(found) == 1: return found[0]
    if found: raise PaddyError(f"no input folder named {slug}, and several hold a sample submission: {', '.join(map(str, found[:4]))}; "
                               "pick the competition's with --data DIR")
    raise PaddyError(f"no competition data under {inputs}: add the competition {slug} to the kernel's inputs")


def read_csv(path, columns=()):
    "Read a CSV as strings (a label `0` stays `0`, an id `007` stays `007`) and check it has `columns`."
    if not Path(path).is_file(): raise PaddyError(f"{path} not found; check --data")
    try: df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise PaddyError(f"{path} is not a readable CSV ({type(e).__name__}); check the file") from e
    missing = [c for c in columns if c not in df.columns]
    if missing: raise PaddyError(f"{path} lacks column(s) {', '.join(missing)}; it has {', '.join(df.columns)}")
    return df


def kaggle_facts(root):
    "What `paddy data` recorded of the competition in folder `root` (its evaluation metric), or {}."
    path = Path(root) / KAGGLE_INFO_FILE
    try: return json.loads(path.read_text()) if path.is_file() else {}
    except json.JSONDecodeError: return {}


def walk(root, depth=None):
    """Every file under `root` (`depth` folders deep at most), symlinked folders followed (Kaggle mounts inputs as
    links, and pathlib's `**` does not follow them), hidden folders skipped."""
    base = len(Path(root).parts)
    for folder, dirs, names in os.walk(root, followlinks=True):
        if depth is not None and len(Path(folder).parts) - base >= depth: dirs[:] = []
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__MACOSX")
        for name in sorted(names):
            if not name.startswith("."): yield Path(folder) / name


def image_files(folder):
    "Image files under `folder`, sorted by name."
    return sorted((p for p in walk(folder) if p.suffix.lower() in IMAGE_EXTS), key=lambda p: p.name)


class ImageIndex:
    """Every image under a folder, found by id: its exact file name, or its name without the extension (ids without
    an extension, as APTOS's), or its path from the folder. One id matching two files is an error naming both."""

    def __init__(self, root):
        self.root, self.by_name, self.by_stem = Path(root), defaultdict(list), defaultdict(list)
        for p in image_files(root):
            self.by_name[p.name].append(p)
            self.by_stem[p.stem].append(p)

    def __len__(self): return sum(map(len, self.by_name.values()))

    def find(self, image_id):
        "The file of `image_id`, or None."
        found = self.by_name.get(image_id) or self.by_stem.get(image_id)
        if not found and "/" in image_id and (self.root / image_id).is_file(): found = [self.root / image_id]
        if found and len(found) > 1:
            raise PaddyError(f"id {image_id} matches {len(found)} images: {', '.join(str(p.relative_to(self.root)) for p in found[:3])}; "
                             "keep one of them, or point --data at a folder that holds one copy")
        return found[0] if found else None

    def paths(self, ids, what):
        "The files of `ids`; ids without an image are an error naming a few of them and `what` listed them."
        found = [self.find(str(i)) for i in ids]
        absent = [i for i, p in zip(ids, found) if p is None]
        if absent:
            hint = (f"; {', '.join(p.name for p in self.root.glob('*.zip'))} may hold them: extract it into {self.root}"
                    if any(self.root.glob("*.zip")) else "; the data is incomplete")
            raise PaddyError(f"{what} lists {len(absent)} id(s) with no image under {self.root}, e.g. {', '.join(map(str, absent[:3]))}{hint}")
        return found
