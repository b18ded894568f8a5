"""The check that runs before the heavy work: every image decoded once (in parallel), the ones that fail named."""
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

SCAN_SIDE = 32  # decode size of the scan: a JPEG is read to its end but DCT-downscaled, so it is cheap


def why_unreadable(path):
    "None when `path` opens as training and prediction open it; otherwise a short reason."
    from paddy.data.images import open_rgb
    try:
        if Path(path).stat().st_size == 0: return "empty file"
        open_rgb(path, SCAN_SIDE)
    except Exception as e:  # PIL raises OSError, SyntaxError, ValueError, DecompressionBombError...
        return (str(e).splitlines() or [type(e).__name__])[0][:80] or type(e).__name__
    return None


def scan(paths, workers=None):
    "{path: reason} of the files among `paths` that do not decode. Threads: PIL releases the GIL while decoding."
    paths = list(paths)
    with ThreadPoolExecutor(workers or min(32, (os.cpu_count() or 1) + 4)) as pool:
        reasons = list(pool.map(why_unreadable, paths))
    return {p: r for p, r in zip(paths, reasons) if r}


def describe_bad(bad, n=3):
    "`'a.jpg (empty file), b.jpg (...)'` for the first `n` of {path: reason}, with how many more."
    names = [f"{Path(p).name} ({r})" for p, r in list(bad.items())[:n]]
    return ", ".join(names) + (f" and {len(bad) - n} more" if len(bad) > n else "")
