"""The predictor: test images sorted by name, TTA, class probabilities per run, and ensembles of runs."""
from pathlib import Path

import numpy as np

from paddy import errors, runs
from paddy.data import block, checks, layout
from paddy.errors import PaddyError
from paddy.infer import submission
from paddy.models import targets


def test_files(root):
    """root/test_images sorted by name, checked against sample_submission.csv: an id it lists without an image is an
    error (before any prediction); images it does not list are predicted but left out of the submission (one warning)."""
    files = layout.image_files(Path(root) / "test_images")
    if not files: raise PaddyError(f"no images under {Path(root) / 'test_images'}; check --data")
    sample = submission.read_sample(Path(root) / "sample_submission.csv")
    names = {f.name for f in files}
    missing = [i for i in sample[sample.columns[0]] if i not in names]
    if missing: raise PaddyError(f"sample_submission.csv lists {len(missing)} id(s) with no file under test_images, "
                                 f"e.g. {', '.join(missing[:3])}; the test data is incomplete")
    extra = sorted(names - set(sample[sample.columns[0]]))
    if extra: errors.warn(f"{len(extra)} test image(s) are not in sample_submission.csv and are left out of the submission, e.g. {', '.join(extra[:3])}")
    return files


def predict_run(folder, root, tta=4, bs=64, workers=None, use_checkpoint=False, precision=None):
    """Class probabilities of one run on root/test_images (sorted by name); saved in the run folder. Returns (ids, probs).
    A test image that does not decode is predicted from a black image, named in a warning and in meta.json.
    On a GPU the run predicts in the precision it trained in, unless `precision` (fp16 | bf16 | fp32) says otherwise."""
    files = test_files(root)
    meta = runs.load_meta(folder)
    model = targets.label_head(runs.load_model(folder, meta, use_checkpoint), meta)
    bad = checks.scan(files)
    if bad: errors.warn(f"{len(bad)} UNREADABLE test image(s) predicted from a blank image: {checks.describe_bad(bad, 20)}")
    runs.update_meta(folder, test_unreadable={Path(p).name: r for p, r in bad.items()}, tta=tta)
    precision = precision or meta.precision
    probs = probabilities(model, block.test_dataloader(meta, files, bs, workers, unreadable=bad, tta=tta), precision=precision)
    ids = [f.name for f in files]
    check_finite(probs, ids, Path(folder).name, precision)
    runs.save_probs(folder, ids, probs)
    return ids, probs


def probabilities(model, dl, beta=0.25, precision="fp32"):
    """Softmax probabilities (NumPy) of `model` over the test DataLoader `dl`, under the autocast of `precision` on a GPU.
    When `dl` gives TTA views (block.test_dataloader with `tta`), fastai's TTA result: lerp(mean over the augmented
    views, the plain view, beta)."""
    import torch
    from paddy.models.precision import inference
    device = torch.device(dl.device or "cpu")
    model = model.to(device).eval()
    out = []
    with torch.no_grad(), inference(device, precision):
        for (x,) in dl:
            if x.dim() == 4:
                out.append(model(x).float().softmax(-1))
                continue
            views = torch.stack([model(v).float().softmax(-1) for v in x])
            out.append(torch.lerp(views[:-1].mean(0), views[-1], beta))
    return torch.cat(out).cpu().numpy()


def check_finite(probs, ids, run, precision):
    "Refuse probabilities that hold NaN or inf (a model that overflowed): their argmax would silently be the first label."
    bad = [i for i, row in zip(ids, np.isfinite(probs).all(1)) if not row]
    if bad: raise PaddyError(f"run {run} gave non-finite probabilities for {len(bad)} of {len(ids)} images (e.g. {', '.join(map(str, bad[:3]))}) "
                             f"in {precision}: predict with --precision fp32; if they persist, the weights hold NaN: train the run again")


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
        if ids is not None and (run_ids != ids or meta.vocab != vocab):
            raise PaddyError(f"run {Path(folder).name} predicted other test images or labels than {Path(folders[0]).name}; predict them on the same data")
        ids, vocab = run_ids, meta.vocab
        total = total + w * probs
    return ids, total / sum(weights), vocab


def write_submission(ids, probs, vocab, root, out):
    "Labels by argmax, put in sample_submission's order, validated, written atomically to `out`."
    sample = submission.read_sample(Path(root) / "sample_submission.csv")
    labels = [vocab[i] for i in np.asarray(probs).argmax(1)]
    df = submission.validate(submission.build(ids, labels, sample), sample, vocab)
    return submission.write(df, out)


def predict(run_names, root, tta=4, weights=None, out=None, runs_dir="runs", bs=64, workers=None, use_checkpoint=False, precision=None):
    "Predict each run (TTA), average them, and write submissions/<name>.csv. Returns the CSV path."
    folders = [runs.find(n, runs_dir) for n in (run_names or [None])]
    for folder in folders: predict_run(folder, root, tta, bs, workers, use_checkpoint, precision)
    ids, probs, vocab = ensemble(folders, weights)
    out = out or Path("submissions") / ("+".join(f.name for f in folders) + ".csv")
    return write_submission(ids, probs, vocab, root, out)
