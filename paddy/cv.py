"""Stratified K-fold cross-validation: `--folds K --fold I` validates on fold I; `paddy cv` trains every fold as run
<name>-f<I>, then gathers each fold's saved validation predictions (made by its own model at the end of its training,
so no second prediction pass) into runs/<name>-cv/: oof.csv (out-of-fold outputs) and cv.json (the competition's
metric out of fold and per fold, and the decoder fitted out of fold). `paddy predict --run <name>-cv` averages the
folds' test outputs and decodes them with that decoder."""
import dataclasses, json
from pathlib import Path

import numpy as np

from paddy import preds as saved, runs, scoring
from paddy.errors import PaddyError, warn
from paddy.infer.predict import TTA

CV_SUFFIX = "-cv"


def base_name(cfg):
    "The name the fold runs and the cv folder share: --name, or ARCH-HxW."
    return dataclasses.replace(cfg, folds=None, fold=None).run_name


def fold_config(cfg, i):
    "The Config of fold `i`: run name <base>-f<i>."
    return dataclasses.replace(cfg, fold=i, name=f"{base_name(cfg)}-f{i}")


def cross_validate(cfg, tta=TTA):
    """Train every fold of `cfg.folds` (a fold run already finished with the same settings is kept), then write the
    out-of-fold predictions (TTA's when `tta`, else plain). Returns the cv folder."""
    from paddy.learn.train import train
    folders = []
    for i in range(cfg.folds):
        fc = fold_config(cfg, i)
        folder = Path(fc.runs_dir) / fc.run_name
        done_before = runs.load_meta(folder) if (folder / runs.META).is_file() else runs.RunMeta()
        done = done_before.finished and done_before.config == json.loads(json.dumps(fc.to_dict(), default=str))
        if done: print(f"fold {i}: {folder} already trained", flush=True)
        else:
            print(f"fold {i + 1}/{cfg.folds}: training {folder}", flush=True)
            train(fc)
        folders.append(folder)
    return out_of_fold(folders, Path(cfg.runs_dir) / (base_name(cfg) + CV_SUFFIX), tta)


def fold_preds(folder, tta):
    "A fold run's saved validation Preds, its fold number on every row; plain outputs, or TTA's when `tta`."
    meta, p = runs.load_meta(folder), saved.load_valid(folder)
    if p is None: raise PaddyError(f"fold run {Path(folder).name} has no saved validation predictions; train it again")
    outputs = p.outputs_tta if tta else p.outputs
    return meta, dataclasses.replace(p, outputs=outputs, outputs_tta=None, tta=p.tta if tta else 0, folds=np.full(len(p.ids), meta.config["fold"]))


def out_of_fold(folders, out, tta=TTA):
    "Gather the fold runs' validation predictions into out/oof.csv (one row per image) and out/cv.json; returns `out`."
    parts = [fold_preds(f, tta) for f in folders]
    first_meta, first = parts[0]
    for (meta, p), folder in zip(parts[1:], folders[1:]):
        if p.vocab != first.vocab or p.task != first.task: raise PaddyError(f"fold run {Path(folder).name} predicts other classes than {Path(folders[0]).name}")
    if tta and tta != first.tta: warn(f"the folds saved their validation predictions with TTA {first.tta}; out of fold uses those, not {tta}")
    oof = saved.Preds(first.task, first.vocab, [i for _, p in parts for i in p.ids], [y for _, p in parts for y in p.ys],
                      np.concatenate([p.outputs for _, p in parts]), tta=first.tta, folds=np.concatenate([p.folds for _, p in parts]))
    if len(set(oof.ids)) != len(oof.ids): raise PaddyError("the fold runs' validation sets overlap; give runs of one `paddy cv`")
    metric = first_meta.competition["metric"]
    decoder = scoring.fit_decoder(oof.task, metric, oof.targs, oof.outputs, oof.vocab)
    saved.write_oof(out, oof)
    cv = runs.CVResult([Path(f).name for f in folders], oof.task, oof.vocab, metric, oof.score(metric, decoder),
                       oof.fold_scores(metric, decoder), len(oof.ids), oof.tta, decoder)
    runs.write_cv(out, cv)
    return Path(out)


def ensemble_cv(names, weights=None, runs_dir="runs"):
    """(metric, score) of the weighted mean of cv folders' out-of-fold outputs, decoded with a decoder fitted on it,
    when every name is a cv folder and they predicted the same images; otherwise None."""
    folders = [Path(runs_dir) / n if runs.load_cv(Path(runs_dir) / n) else Path(n) for n in names]
    cvs = [runs.load_cv(f) for f in folders]
    if not all(cvs) or any(c.vocab != cvs[0].vocab or c.task != cvs[0].task for c in cvs): return None
    oofs = [saved.read_oof(f, c.task, c.vocab) for f, c in zip(folders, cvs)]
    if any(o.ids != oofs[0].ids for o in oofs): return None
    weights = np.ones(len(names)) if weights is None else np.asarray(weights, dtype=np.float64)
    mean = np.tensordot(weights / weights.sum(), np.stack([o.outputs for o in oofs]), axes=1)
    metric = cvs[0].metric
    return metric, oofs[0].score(metric, scoring.fit_decoder(oofs[0].task, metric, oofs[0].targs, mean, oofs[0].vocab), mean)
