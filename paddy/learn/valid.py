"""Validation predictions saved with every run, so that a report never needs the model again, and what is fitted on them.

At the end of `paddy train` (each fold of `paddy cv` too) the validation images are predicted the way `paddy predict`
predicts test images, plain and with TTA, and saved in the run folder (paddy/preds.py). The decoder the submission
needs (multi-label thresholds, an ordinal target's cut points) is fitted on the TTA predictions for the competition's
metric, and the metric is scored plain and with TTA.
"""
from dataclasses import replace

from paddy import preds as saved, scoring

def evaluate(learn, meta, tta=None, bs=None, workers=None):
    """The validation images of `learn` predicted by its model as `paddy predict` predicts test images (target head,
    its activation, the autocast of the run's precision: `precision.inference`), plain and with `tta` views. Returns
    Preds, or None without validation images."""
    from paddy.data import block
    from paddy.infer.predict import BS, TTA, outputs
    from paddy.learn import distributed
    tta, bs = TTA if tta is None else tta, bs or BS  # `paddy predict`'s defaults: the report compares what it will predict
    from paddy.models import targets
    items = learn.dls.valid.items
    if not len(items): return None
    model = targets.target_head(distributed.unwrap(learn.model), meta)
    as_read = replace(meta, config=meta.config | dict(cache=False))  # the items are the files validation read (cached copies or not)
    plain, views = (outputs(model, block.test_dataloader(as_read, list(items.path), bs, workers, tta=n), targets.run_activation(meta), precision=meta.precision)
                    for n in (0, tta))
    return saved.Preds(targets.task_of(meta), list(meta.vocab), list(items.id), list(items.y), plain, views, tta)


def save(folder, meta, preds):
    """Write `preds` into the run folder; returns the RunMeta fields: the decoder fitted on the TTA predictions, the
    metric plain and with TTA, and TTA's views."""
    if preds is None: return {}
    saved.save_valid(folder, preds)
    metric = meta.competition["metric"]
    decoder = scoring.fit_decoder(preds.task, metric, preds.targs, preds.outputs_tta, preds.vocab)
    return dict(decoder=decoder, valid_score=preds.score(metric, decoder), valid_score_tta=preds.score(metric, decoder, preds.outputs_tta),
                valid_tta=preds.tta)


def tta_note(meta):
    "A warning when TTA made the run (RunMeta `meta`) worse on its validation images; else None."
    plain, views = meta.valid_score, meta.valid_score_tta
    if plain is None or views is None or not scoring.better(meta.competition["metric"], plain, views): return None
    metric = meta.competition["metric"]
    return (f"TTA made run {meta.name} worse on validation ({metric} {plain:.4f} plain, {views:.4f} with TTA "
            f"{meta.valid_tta}); compare with `paddy predict --tta 0`")
