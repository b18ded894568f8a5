"""The predictor: test images sorted by name, TTA, class probabilities per run, and ensembles of runs."""
from pathlib import Path

import numpy as np

from . import data, runs, submission
from .errors import PaddyError
from .train import bars_off


def predict_run(folder, root, tta=4, bs=64, workers=None):
    "Class probabilities of one run on root/test_images (sorted by name); saved in the run folder. Returns (ids, probs)."
    import torch
    from fastai.vision.all import Learner, DataLoaders, CrossEntropyLossFlat
    meta = runs.load_meta(folder)
    model = runs.load_model(folder, meta)
    files = data.image_files(Path(root) / "test_images")
    if not files: raise PaddyError(f"no images under {Path(root) / 'test_images'}; check --data")
    dl = data.test_dataloader(meta, files, bs, workers)
    learn = bars_off(Learner(DataLoaders(dl, dl), model, loss_func=CrossEntropyLossFlat()))
    if torch.cuda.is_available(): learn = learn.to_fp16()
    probs = learn.tta(dl=dl, n=tta)[0] if tta else learn.get_preds(dl=dl)[0]
    ids = [f.name for f in files]
    runs.save_probs(folder, ids, probs.float().numpy())
    return ids, probs.float().numpy()


def ensemble(folders, weights=None):
    "Weighted mean of runs' saved test probabilities; the runs must share test ids and vocab. Returns (ids, probs, vocab)."
    weights = [1.0] * len(folders) if weights is None else [float(w) for w in weights]
    if len(weights) != len(folders): raise PaddyError(f"{len(weights)} run weight(s) for {len(folders)} run(s); give one per run")
    if min(weights) < 0 or sum(weights) <= 0: raise PaddyError("run weights must be non-negative and not all zero")
    ids = vocab = None
    total = 0
    for folder, w in zip(folders, weights):
        meta, saved = runs.load_meta(folder), runs.load_probs(folder)
        if saved is None: raise PaddyError(f"run {Path(folder).name} has no test probabilities yet; predict it first")
        run_ids, probs = saved
        if ids is not None and (run_ids != ids or meta["vocab"] != vocab):
            raise PaddyError(f"run {Path(folder).name} predicted other test images or labels than {Path(folders[0]).name}; predict them on the same data")
        ids, vocab = run_ids, meta["vocab"]
        total = total + w * probs
    return ids, total / sum(weights), vocab


def write_submission(ids, probs, vocab, root, out):
    "Labels by argmax, put in sample_submission's order, validated, written atomically to `out`."
    sample = submission.read_sample(Path(root) / "sample_submission.csv")
    labels = [vocab[i] for i in np.asarray(probs).argmax(1)]
    df = submission.validate(submission.build(ids, labels, sample), sample, vocab)
    return submission.write(df, out)


def predict(run_names, root, tta=4, weights=None, out=None, runs_dir="runs", bs=64, workers=None):
    "Predict each run (TTA), average them, and write submissions/<name>.csv. Returns the CSV path."
    folders = [runs.find(n, runs_dir) for n in (run_names or [None])]
    for folder in folders: predict_run(folder, root, tta, bs, workers)
    ids, probs, vocab = ensemble(folders, weights)
    out = out or Path("submissions") / ("+".join(f.name for f in folders) + ".csv")
    return write_submission(ids, probs, vocab, root, out)
