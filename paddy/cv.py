"""Stratified K-fold cross-validation: `--folds K --fold I` validates on fold I; `paddy cv` trains every fold as run
<name>-f<I>, then predicts each fold's validation images with its own model (out-of-fold) into runs/<name>-cv/
(oof.csv, cv.json). `paddy predict --run <name>-cv` averages the folds' test probabilities."""
import dataclasses, json
from pathlib import Path

import numpy as np

from paddy.errors import PaddyError
from paddy.runs import CV_JSON, OOF_CSV, load_cv

CV_SUFFIX = "-cv"


def base_name(cfg):
    "The name the fold runs and the cv folder share: --name, or ARCH-HxW."
    return dataclasses.replace(cfg, folds=None, fold=None).run_name


def fold_config(cfg, i):
    "The Config of fold `i`: run name <base>-f<i>."
    return dataclasses.replace(cfg, fold=i, name=f"{base_name(cfg)}-f{i}")


def cross_validate(cfg, tta=0, bs=64, workers=None):
    """Train every fold of `cfg.folds` (a fold run already finished with the same settings is kept), then write the
    out-of-fold predictions. Returns the cv folder."""
    from paddy import runs
    from paddy.learn.train import train
    folders = []
    for i in range(cfg.folds):
        fc = fold_config(cfg, i)
        folder = Path(fc.runs_dir) / fc.run_name
        saved = runs.load_meta(folder) if (folder / runs.META).is_file() else runs.RunMeta()
        done = saved.finished and saved.config == json.loads(json.dumps(fc.to_dict(), default=str))
        if done: print(f"fold {i}: {folder} already trained", flush=True)
        else:
            print(f"fold {i + 1}/{cfg.folds}: training {folder}", flush=True)
            train(fc)
        folders.append(folder)
    return out_of_fold(folders, Path(cfg.runs_dir) / (base_name(cfg) + CV_SUFFIX), tta, bs, workers)


def out_of_fold(folders, out, tta=0, bs=64, workers=None):
    "Predict every fold run on its own validation images; write out/oof.csv (one row per image) and out/cv.json."
    import pandas as pd
    from paddy import runs
    from paddy.data import block, layout, split
    from paddy.data.layout import data_root
    from paddy.infer.predict import check_finite, probabilities
    from paddy.models import targets
    rows, fold_acc, vocab = [], [], None
    for folder in folders:
        meta = runs.load_meta(folder)
        cfg = meta.config
        if vocab is not None and meta.vocab != vocab: raise PaddyError(f"fold run {folder.name} has other labels than {folders[0].name}")
        vocab = meta.vocab
        items = layout.train_items(data_root(cfg["slug"], cfg["data"]))
        items = items[~items.image_id.isin(list(meta.skipped_images))].reset_index(drop=True)
        items = items.iloc[split.fold_valid_idx(items.label, cfg["folds"], cfg["fold"], cfg["seed"])]
        model = targets.label_head(runs.load_model(folder, meta), meta)
        probs = probabilities(model, block.test_dataloader(meta, list(items.path), bs, workers, tta=tta), precision=meta.precision)
        check_finite(probs, list(items.image_id), folder.name, meta.precision)
        pred = np.asarray(vocab)[probs.argmax(1)]
        fold_acc.append(float((pred == items.label.to_numpy()).mean()))
        rows.append(pd.DataFrame(probs, columns=[f"p_{v}" for v in vocab]).assign(
            image_id=items.image_id.to_numpy(), label=items.label.to_numpy(), pred=pred, fold=cfg["fold"]))
    oof = pd.concat(rows, ignore_index=True)
    oof = oof[["image_id", "label", "pred", "fold", *[f"p_{v}" for v in vocab]]]
    if oof.image_id.duplicated().any(): raise PaddyError("the fold runs' validation sets overlap; give runs of one `paddy cv`")
    acc = float((oof.label == oof.pred).mean())
    from paddy.files import atomic_path, write_json
    with atomic_path(Path(out) / OOF_CSV) as tmp: oof.to_csv(tmp, index=False)
    write_json(Path(out) / CV_JSON, dict(runs=[f.name for f in folders], folds=len(folders), n=len(oof), accuracy=acc,
                                         error=1 - acc, fold_accuracy=fold_acc, tta=tta))
    return Path(out)


def ensemble_cv(names, weights=None, runs_dir="runs"):
    """The CV accuracy of the weighted mean of cv folders' out-of-fold probabilities, when every name is a cv folder
    and they predicted the same images (same folds); otherwise None."""
    import pandas as pd
    folders = [Path(runs_dir) / n if load_cv(Path(runs_dir) / n) else Path(n) for n in names]
    if not all(load_cv(f) for f in folders): return None
    weights = [1.0] * len(names) if weights is None else [float(w) for w in weights]
    oofs = [pd.read_csv(f / OOF_CSV).sort_values("image_id").reset_index(drop=True) for f in folders]
    cols = [c for c in oofs[0].columns if c.startswith("p_")]
    if any(list(o.image_id) != list(oofs[0].image_id) or [c for c in o.columns if c.startswith("p_")] != cols for o in oofs): return None
    probs = sum(w * o[cols].to_numpy() for w, o in zip(weights, oofs)) / sum(weights)
    return float((np.asarray([c[2:] for c in cols])[probs.argmax(1)] == oofs[0].label.to_numpy()).mean())
