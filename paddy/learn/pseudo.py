"""Pseudo-labels: `--pseudo SOURCE --pseudo-threshold 0.9` adds the test images that SOURCE predicts with probability at
least the threshold, labelled with that prediction, to the training part of a run (every fold of `paddy cv`), never to
its validation part: the split is made from train.csv alone, and the test images join the training rows after it.

SOURCE is a blend (blends/NAME.json: its members' fold runs' saved test probabilities, weighted as the blend says), a
run or cv folder (its saved test probabilities; a cv folder: the mean of its folds), or a submission CSV. A CSV holds
labels without probabilities, so no threshold can pick the confident ones: it is accepted only with
`--pseudo-threshold 0`, which takes every label it holds.
"""
from pathlib import Path

from paddy.errors import PaddyError


def check(cfg):
    "`pseudo_threshold` in [0, 1]; `pseudo` names a blend, a run or cv folder, or a CSV (threshold 0), for a label-only run."
    try: ok = 0 <= float(cfg.pseudo_threshold) <= 1
    except (TypeError, ValueError): ok = False
    if not ok: raise PaddyError(f"bad --pseudo-threshold {cfg.pseudo_threshold!r}: give a probability from 0 to 1, e.g. 0.9")
    cfg.pseudo_threshold = float(cfg.pseudo_threshold)
    if cfg.pseudo is None: return
    if cfg.aux_targets:
        raise PaddyError(f"--pseudo labels test images with the target only, not {', '.join(cfg.aux_targets)}: drop --aux-targets")
    kind, _ = source(cfg.pseudo, cfg.runs_dir)
    if kind == "csv" and cfg.pseudo_threshold > 0:
        raise PaddyError(f"--pseudo {cfg.pseudo} is a submission CSV: labels without probabilities, so no threshold can pick the confident ones; "
                         "pass the blend or run it came from, or --pseudo-threshold 0 to take every label")


def source(name, runs_dir="runs"):
    "(kind, path) of a pseudo-label source: ('csv', file), ('blend', json file) or ('runs', folder)."
    from paddy.infer.blend import blends_dir
    from paddy.runs import META, load_cv
    path = Path(name)
    if path.suffix.lower() in (".csv", ".json"):
        if not path.is_file(): raise PaddyError(f"--pseudo {name}: file not found; check the path")
        return ("csv" if path.suffix.lower() == ".csv" else "blend"), path
    if (blends_dir(runs_dir) / f"{name}.json").is_file(): return "blend", blends_dir(runs_dir) / f"{name}.json"
    for folder in (Path(runs_dir) / name, path):
        if (folder / META).is_file() or load_cv(folder): return "runs", folder
    raise PaddyError(f"--pseudo {name}: no submission CSV, blend ({blends_dir(runs_dir)}/{name}.json) or run under {runs_dir}/ of that name; "
                     "make one with `paddy blend` and `paddy predict --blend NAME`")


def predictions(cfg):
    "(test ids, vocab or None, probabilities or None, labels) of the source: probabilities None for a CSV."
    import numpy as np
    from paddy import runs
    from paddy.infer import blend, predict
    kind, path = source(cfg.pseudo, cfg.runs_dir)
    if kind == "csv":
        from paddy.data.layout import read_csv
        sub = read_csv(path, [])
        if len(sub.columns) < 2: raise PaddyError(f"--pseudo {path} should have an id column and a label column, like sample_submission.csv")
        return list(sub[sub.columns[0]]), None, None, list(sub[sub.columns[1]])
    names, weights = blend.members(str(path), cfg.runs_dir) if kind == "blend" else ([str(path)], None)
    names, weights = runs.expand(names, weights, cfg.runs_dir)
    ids, probs, metas = predict.ensemble([runs.find(n, cfg.runs_dir) for n in names], weights)
    vocab = metas[0].vocab
    return ids, vocab, probs, [vocab[i] for i in np.asarray(probs).argmax(1)]


def rows(cfg, comp, items, index=None):
    """The confident test images as training rows (id, y, path, pseudo=True) for a run on train `items` of competition
    `comp`, or None without --pseudo. Test images that do not decode are left out (one warning); with the cache on,
    their paths are cached copies."""
    if cfg.pseudo is None: return None
    import numpy as np
    import pandas as pd
    from paddy import errors
    from paddy.data import checks
    from paddy.data.block import classes
    from paddy.data.competition import predict_items
    vocab = classes(comp.task, items.y)
    ids, source_vocab, probs, labels = predictions(cfg)
    if (source_vocab is not None and list(source_vocab) != list(vocab)) or not set(labels) <= set(vocab):
        raise PaddyError(f"--pseudo {cfg.pseudo} predicts other labels than the training data has; use a source trained on this competition")
    tests = predict_items(comp, index)
    on_disk = dict(zip(tests.id, tests.path))
    absent = [i for i in ids if i not in on_disk]
    if absent: raise PaddyError(f"--pseudo {cfg.pseudo} predicted {len(absent)} image(s) that are not this competition's test images, e.g. "
                                f"{', '.join(absent[:3])}; it was predicted on other data")
    keep = np.ones(len(ids), bool) if probs is None else np.asarray(probs).max(1) >= cfg.pseudo_threshold
    picked = pd.DataFrame(dict(id=ids, y=labels, path=[on_disk[i] for i in ids]))[keep]
    bad = checks.scan(picked.path)
    if bad: errors.warn(f"leaving {len(bad)} unreadable test image(s) out of the pseudo-labels: {checks.describe_bad(bad)}")
    picked = picked[~picked.path.isin(list(bad))]
    if cfg.cache and len(picked):  # every test image, as `paddy predict` caches them: one copy serves both
        from paddy.data.cache import cached
        files = list(tests.path)
        small = dict(zip(files, cached(files, cfg.item_size, cfg.cache_dir, cfg.resize)))
        picked = picked.assign(path=[small[p] for p in picked.path])
    return picked.assign(pseudo=True).reset_index(drop=True)


def meta(cfg, dls):
    "The RunMeta field of the pseudo-labels: source, threshold, how many and which images with which label; {} without --pseudo."
    if cfg.pseudo is None: return {}
    items = dls.train_ds.items
    used = items[items["pseudo"].eq(True)] if "pseudo" in items else items.iloc[:0]
    return dict(pseudo=dict(source=cfg.pseudo, kind=source(cfg.pseudo, cfg.runs_dir)[0], threshold=cfg.pseudo_threshold,
                            n=len(used), images=dict(zip(used.id, used.y))))


def note(meta):
    "The `paddy runs` note of a pseudo-labelled run (RunMeta `meta`), or ''."
    p = meta.pseudo
    return f"pseudo {p['source']} >={p['threshold']:g}: {p['n']} test images" if p else ""
