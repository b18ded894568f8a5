"""Atomic writes: a temporary name in the same folder, then a rename, so a reader never sees half a file."""
import json, os, tempfile
from contextlib import contextmanager
from pathlib import Path

from paddy.errors import PaddyError


@contextmanager
def atomic_path(path):
    "Yield a temporary path beside `path`; on success rename it into place, on failure remove it."
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
    except OSError as e: raise PaddyError(f"cannot write {path}: {e.strerror}; check the folder's permissions and free space") from e
    tmp = Path(tmp)
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise PaddyError(f"cannot write {path}: {e.strerror}; the previous file, if any, is unchanged") from e
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(path, text):
    "Write `text` to `path` atomically."
    with atomic_path(path) as tmp: tmp.write_text(text)


def write_json(path, obj):
    "Write `obj` as indented JSON to `path` atomically."
    write_text(path, json.dumps(obj, indent=2, default=str) + "\n")
