"""The image cache: small copies of a set of images, built once per size in parallel, reused while the sources are unchanged.

For `squish` (the default) each copy is squished to the item size already, so the DataBlock's Resize has nothing
left to do; for `crop` and `pad` it keeps its aspect ratio with both sides >= the item size, so their Resize gives
the same result as from the full-size file. Copies are never enlarged. A JPEG at least twice the item size on
both sides is decoded with draft (DCT-domain downscale by 2, 4 or 8: PIL's `draft`); a 480x640 photo at item size 256
is not, so it is decoded whole. The result is saved as JPEG (quality 95) for JPEG sources and as PNG (lossless) otherwise.

A cache folder, `<cache_dir>/<root name>-<hash of root and file list>/<H>x<W>[-squish]/`, is complete exactly when its
manifest.json matches the sources' sizes and modification times; it is built in a temporary folder and renamed
into place, so an interrupted build never leaves a folder that looks complete.
"""
import hashlib, json, os, shutil, tempfile, time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from paddy.errors import PaddyError

MANIFEST = "manifest.json"
JPEG_EXTS = (".jpg", ".jpeg")


def cover_size(w, h, size):
    "The (w, h) with the aspect of a w×h image whose sides are >= `size` (H, W), no larger than w×h."
    scale = min(1.0, max(size[0] / h, size[1] / w))
    return max(1, round(w * scale)), max(1, round(h * scale))


def squish_size(w, h, size):
    "The (w, h) a w×h image squishes to for `size` (H, W), each side no larger than the image's."
    return min(w, size[1]), min(h, size[0])


def shrink(src, dst, size, kind="cover"):
    "Write `src` (EXIF-rotated, RGB) to `dst`, scaled by `squish_size` for kind `squish`, by `cover_size` for `cover`."
    from PIL import Image
    from paddy.data.images import open_rgb
    im = open_rgb(src, max(size))
    target = (squish_size if kind == "squish" else cover_size)(*im.size, size)
    if target != im.size: im = im.resize(target, Image.LANCZOS)
    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    if Path(dst).suffix.lower() in JPEG_EXTS: im.save(dst, "JPEG", quality=95)
    else: im.save(dst, "PNG")


def _shrink_all(jobs):
    "Worker: shrink every (src, dst, size, kind); returns the first failure as (src, message), or None."
    for src, dst, size, kind in jobs:
        try: shrink(src, dst, size, kind)
        except Exception as e: return src, f"{type(e).__name__}: {e}"
    return None


def cached_name(rel):
    "The cache's file name for a source's relative path: JPEGs and PNGs keep theirs, other formats become PNG."
    return rel if rel.suffix.lower() in JPEG_EXTS + (".png",) else rel.with_name(rel.name + ".png")


def stamp(path):
    "What says a source changed: its size in bytes and its modification time (ns)."
    st = os.stat(path)
    return [st.st_size, st.st_mtime_ns]


def plan(paths, size, cache_dir="cache", method="squish"):
    """(folder, manifest wanted, [(source, relative path)]) for caching `paths` at `size` for Resize `method` under `cache_dir`.
    `squish` gets squished copies; `crop` and `pad` share aspect-keeping (`cover`) ones."""
    kind = "squish" if method == "squish" else "cover"
    paths = [Path(p).absolute() for p in paths]
    if not paths: raise PaddyError("no images to cache")
    root = Path(os.path.commonpath([p.parent for p in paths]))
    rels = [p.relative_to(root) for p in paths]
    key = hashlib.sha1("\n".join([str(root), *map(str, rels)]).encode()).hexdigest()[:12]
    folder = Path(cache_dir) / f"{root.parent.name}-{root.name}-{key}" / (f"{size[0]}x{size[1]}" + ("-squish" if kind == "squish" else ""))
    want = dict(size=list(size), kind=kind, files={str(r): stamp(p) for p, r in zip(paths, rels)})
    return folder, want, list(zip(paths, rels))


def read_manifest(folder):
    "The manifest of a cache folder, or None when there is no complete cache there."
    try: return json.loads((Path(folder) / MANIFEST).read_text())
    except (OSError, ValueError): return None


def cached(paths, size, cache_dir="cache", method="squish", workers=None, echo=True):
    "Paths of the cached copies of `paths` for an item Resize to `size` (H, W) by `method`, in the same order; built or rebuilt if needed."
    size = tuple(int(s) for s in size)
    folder, want, pairs = plan(paths, size, cache_dir, method)
    outs = [folder / cached_name(rel) for _, rel in pairs]
    if read_manifest(folder) == want: return outs
    workers = workers or len(os.sched_getaffinity(0))
    start = time.time()
    if echo: print(f"caching {len(pairs)} images at {size[0]}x{size[1]} in {folder} ({workers} workers)", flush=True)
    build(folder, want, [(str(src), cached_name(rel), size, want["kind"]) for src, rel in pairs], workers)
    if echo: print(f"cached {len(pairs)} images in {time.time() - start:.1f}s", flush=True)
    return outs


def build(folder, want, jobs, workers):
    "Shrink every (src, rel, size, kind) into a temporary folder, write the manifest last, then rename it to `folder`."
    folder = Path(folder)
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=folder.parent))
    except OSError as e: raise PaddyError(f"cannot write the image cache in {folder.parent}: {e.strerror}; pass --cache-dir DIR or --no-cache") from e
    try:
        tasks = [(src, str(tmp / rel), size, kind) for src, rel, size, kind in jobs]
        failure = next((f for f in _run(tasks, workers) if f), None)
        if failure: raise PaddyError(f"cannot cache image {failure[0]} ({failure[1]}); fix or remove the file")
        (tmp / MANIFEST).write_text(json.dumps(want))
        _swap(tmp, folder, want)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _run(tasks, workers):
    "Results of `_shrink_all` over chunks of `tasks`: in this process for one worker, else in a process pool."
    n = max(1, min(workers * 4, len(tasks)))
    chunks = [tasks[i::n] for i in range(n)]
    if workers == 1: return [_shrink_all(c) for c in chunks]
    with ProcessPoolExecutor(workers) as pool: return list(pool.map(_shrink_all, chunks))


def _swap(tmp, folder, want):
    "Rename the finished `tmp` to `folder`, replacing a stale cache; a concurrent builder's identical cache is kept."
    old = None
    if folder.exists():
        old = folder.with_name(f".{folder.name}.{os.getpid()}.old")
        os.rename(folder, old)
    try: os.rename(tmp, folder)
    except OSError:
        if read_manifest(folder) != want: raise
    if old: shutil.rmtree(old, ignore_errors=True)
