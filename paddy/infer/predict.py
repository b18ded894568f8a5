"""The predictor: the competition's test images in the sample submission's order, TTA, each run's outputs (class
probabilities, tag probabilities or values), ensembles of runs, and the submission the sample asks for."""
from pathlib import Path

import numpy as np

from paddy import errors, runs, scoring
from paddy.data import block, checks
from paddy.data.competition import describe, from_dict, predict_items
from paddy.errors import PaddyError
from paddy.infer import submission
from paddy.models import targets

TTA, BS = 4, 64  # prediction's defaults: augmented views (fastai's Learner.tta takes 4), images a batch


def competition(meta, root):
    "The competition run `meta` trained on, with its files at `root` (a run trained elsewhere: described anew if it predates descriptions)."
    return from_dict(meta.competition).at(root) if meta.competition else describe(root)


def predict_run(folder, tests, tta=TTA, bs=BS, workers=None, use_checkpoint=False, precision=None):
    """Outputs of one run on the test images `tests` (id, path; the sample's order), saved in the run folder. Returns
    (ids, outputs). A test image that does not decode is predicted from a black image, named in a warning and in
    meta.json. The run predicts in the precision it trained in (`precision.inference`; on a CPU fp16 runs predict in fp32),
    unless `precision` (fp16 | bf16 | fp32) says otherwise."""
    meta = runs.load_meta(folder)
    model = targets.target_head(runs.load_model(folder, meta, use_checkpoint), meta)
    files = list(tests.path)
    bad = checks.scan(files)
    if bad: errors.warn(f"{len(bad)} UNREADABLE test image(s) predicted from a blank image: {checks.describe_bad(bad, 20)}")
    runs.update_meta(folder, test_unreadable={Path(p).name: r for p, r in bad.items()}, tta=tta)
    precision = precision or meta.precision
    out = outputs(model, block.test_dataloader(meta, files, bs, workers, unreadable=bad, tta=tta), targets.run_activation(meta), precision=precision)
    ids = list(tests.id)
    check_finite(out, ids, Path(folder).name, precision)
    runs.save_probs(folder, ids, out)
    return ids, out


def outputs(model, dl, act, beta=0.25, precision="fp32"):
    """The activations `act` (probabilities or values, NumPy) of `model` over the test DataLoader `dl`, under the autocast
    of `precision` (`precision.inference`). When `dl` gives TTA views (block.test_dataloader with `tta`), fastai's TTA result:
    lerp(mean over the augmented views, the plain view, beta)."""
    import torch
    from paddy.models.precision import inference
    device = torch.device(dl.device or "cpu")
    model = model.to(device).eval()
    out = []
    with torch.no_grad(), inference(device, precision):
        for (x,) in dl:
            if x.dim() == 4:
                out.append(act(model(x)))
                continue
            views = torch.stack([act(model(v)) for v in x])
            out.append(torch.lerp(views[:-1].mean(0), views[-1], beta))
    return torch.cat(out).cpu().numpy()


def check_finite(out, ids, run, precision):
    "Refuse outputs that hold NaN or inf (a model that overflowed): their argmax would silently be the first label."
    bad = [i for i, row in zip(ids, np.isfinite(out).all(1)) if not row]
    if bad: raise PaddyError(f"run {run} gave non-finite outputs for {len(bad)} of {len(ids)} images (e.g. {', '.join(map(str, bad[:3]))}) "
                             f"in {precision}: predict with --precision fp32; if they persist, the weights hold NaN: train the run again")


def ensemble(folders, weights=None):
    """Weighted mean of runs' saved test outputs; the runs must share test ids, task and classes. Returns (ids, outputs,
    metas)."""
    weights = [1.0] * len(folders) if weights is None else [float(w) for w in weights]
    if len(weights) != len(folders): raise PaddyError(f"{len(weights)} run weight(s) for {len(folders)} run(s); give one per run")
    if min(weights) < 0 or sum(weights) <= 0: raise PaddyError("run weights must be non-negative and not all zero")
    ids, metas, total = None, [], 0
    for folder, w in zip(folders, weights):
        meta, saved = runs.load_meta(folder), runs.load_probs(folder)
        if saved is None: raise PaddyError(f"run {Path(folder).name} has no test predictions yet; predict it first")
        run_ids, out = saved
        if ids is not None and (run_ids != ids or meta.vocab != metas[0].vocab or targets.task_of(meta) != targets.task_of(metas[0])):
            raise PaddyError(f"run {Path(folder).name} predicted other test images, classes or task than {Path(folders[0]).name}; "
                             "ensemble runs of the same competition")
        ids = run_ids
        metas.append(meta)
        total = total + w * out
    return ids, total / sum(weights), metas


def write_submission(comp, ids, out, vocab, decoder, path):
    "The submission the sample asks for (labels, probabilities, tags, values...), in its order, validated, written atomically to `path`."
    sample = submission.read_sample(comp.path / comp.sample)
    values = scoring.columns(comp.kind, out, vocab, decoder, comp.columns, comp.task, comp.top_k)
    df = submission.validate(submission.build(ids, values, sample), sample, comp.kind, vocab, comp.task, comp.top_k)
    return submission.write(df, path)


def submission_path(names):
    "Where a prediction's CSV goes by default: submissions/<the runs, cv folders or blend it names, joined by +>.csv."
    return Path("submissions") / ("+".join(Path(str(n)).name for n in names) + ".csv")


def predict(folders, root, out, weights=None, decoder=None, tta=TTA, bs=BS, workers=None, use_checkpoint=False, precision=None):
    """Predict each run folder (TTA), average them, and write the submission to `out`. `decoder`: thresholds or cut
    points fitted out of fold (a cv folder, a blend); default: the runs' own, averaged. Returns the CSV path."""
    comp = competition(runs.load_meta(folders[0]), root)
    tests = predict_items(comp)
    for folder in folders: predict_run(folder, tests, tta, bs, workers, use_checkpoint, precision)
    ids, mean, metas = ensemble(folders, weights)
    decoder = decoder if decoder is not None else scoring.combine([m.decoder or {} for m in metas], weights)
    return write_submission(comp, ids, mean, metas[0].vocab, decoder, out)
