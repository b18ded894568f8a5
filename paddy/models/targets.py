"""What the model predicts: the competition's target as one head (class logits, tag logits, or one standardized value),
then, for a class target, one head per auxiliary column of `--aux-targets` (recipe part 4: the variety helps the model
learn the disease). One linear layer gives all heads: its outputs are the heads' logits side by side.

Per task: single-label and ordinal train with cross-entropy (label smoothing optional), multi-label with fastai's
BCEWithLogitsLossFlat. A regression's head is given the training values' range: the target is scaled to [0, 1] in it
and learnt with BCEWithLogitsLossFlat, the prediction being sigmoid(output) scaled back, so it never leaves the range
(a sigmoid range, as fastai's y_range; binary cross-entropy on the scaled target is what PetFinder Pawpularity
notebooks trained with). Plain MSE on a standardized target learnt the Pawpularity-shaped replica in
paddy.testing.competitions worse than the constant answer in three epochs (RMSE 27.1-27.5 against 27.6), this 22.2.
The activation turns the target head's outputs into what is saved and scored: softmax probabilities, sigmoid
probabilities, or the value in the target's units.
"""
from paddy import scoring
from paddy.errors import PaddyError

CLASS_TASKS = ("single", "ordinal")


def check(cfg):
    "Normalize `aux_targets` ('variety' or a list) to a tuple of distinct names."
    given = cfg.aux_targets.split(",") if isinstance(cfg.aux_targets, str) else list(cfg.aux_targets or ())
    names = tuple(str(t).strip() for t in given)
    if not all(names) or len(set(names)) != len(names):
        raise PaddyError(f"bad --aux-targets {cfg.aux_targets!r}: give distinct training CSV columns, e.g. --aux-targets variety")
    cfg.aux_targets = names


def extra(cfg, items, task):
    "[(column, vocab)] of the auxiliary targets, checked against the training CSV's columns and the task."
    if not cfg.aux_targets: return []
    if task not in CLASS_TASKS: raise PaddyError(f"--aux-targets adds class heads beside a class target; this is a {task} task: drop it")
    missing = [c for c in cfg.aux_targets if c not in items.columns or c in ("id", "y", "path")]
    if missing:
        have = ", ".join(c for c in items.columns if c not in ("id", "y", "path"))
        raise PaddyError(f"--aux-targets names {', '.join(missing)}, not a column of the training CSV ({have or 'none beside id and target'})")
    return [(c, scoring.sort_classes(items[c].astype(str))) for c in cfg.aux_targets]


def vocabs(dls):
    "The vocabularies of the DataLoaders' class targets, in head order ([] for a regression's value)."
    return [list(getattr(tl, "vocab", None) or []) for tl in dls.train_ds.tls[dls.n_inp:]]


def widths(task, dls):
    "The output width of each head."
    return [1 if task == "regression" else len(v) for v in vocabs(dls)]


def meta(cfg, comp, dls):
    "The RunMeta fields of a run's heads: the target's classes, every head's vocabulary and the model's output width."
    names = ["+".join(comp.target), *cfg.aux_targets]
    vs = vocabs(dls)
    vs[0] = vs[0] or list(comp.classes or [])  # a regression cut into grades (qwk): the grades
    return dict(vocab=vs[0], targets=names, vocabs=dict(zip(names, vs)), n_out=sum(widths(comp.task, dls)))


def head_kwargs(cfg, task, metric, dls, stats=None, classes=None):
    """vision_learner's n_out, loss_func and metrics: the competition's metric on the target head, and an error rate per
    class head. `classes`: a regression's grades, when kappa scores it."""
    from fastai.vision.all import BCEWithLogitsLossFlat, CrossEntropyLossFlat, LabelSmoothingCrossEntropyFlat, error_rate
    from paddy.models.metric import TaskMetric
    sizes, vocab = widths(task, dls), vocabs(dls)[0] or list(classes or [])
    score = [] if metric == "error_rate" else [TaskMetric(task, metric, activation(task, sizes[0], stats), vocab, stats)]
    if task == "multi": return dict(n_out=sizes[0], loss_func=BCEWithLogitsLossFlat(), metrics=score)
    if task == "regression": return dict(n_out=1, loss_func=BCEWithLogitsLossFlat(), metrics=score)
    if len(sizes) == 1:
        loss = LabelSmoothingCrossEntropyFlat(eps=cfg.label_smoothing) if cfg.label_smoothing else CrossEntropyLossFlat()
        return dict(n_out=sizes[0], loss_func=loss, metrics=[error_rate, *score])
    bounds = [sum(sizes[:i]) for i in range(len(sizes) + 1)]
    names = ["error_rate", *(f"{c}_error" for c in cfg.aux_targets)]
    errors = [HeadError(i, bounds[i], bounds[i + 1], name) for i, name in enumerate(names)]
    return dict(n_out=bounds[-1], loss_func=MultiTargetLoss(sizes, cfg.label_smoothing), metrics=[*errors, *score])


def activation(task, n, stats=None):
    "The target head's outputs (first `n` of the model's) → softmax probabilities, sigmoid probabilities, or the value in its range."
    low, high = (stats or {}).get("target_range", (0.0, 1.0))

    def act(x):
        x = x[:, :n].float()
        if task == "multi": return x.sigmoid()
        if task == "regression": return x.sigmoid() * (high - low) + low
        return x.softmax(-1)
    return act


class MultiTargetLoss:
    "Sum over heads of the (label-smoothed) cross-entropy of each head's slice of the logits; probabilities are the target head's."
    y_int = True  # integer targets: MixUp mixes the losses, not the targets

    def __init__(self, sizes, eps=0.0, reduction="mean"):
        self.sizes, self.eps, self.reduction = list(sizes), float(eps), reduction

    def __call__(self, pred, *ys):
        import torch.nn.functional as F
        heads = pred.float().split(self.sizes, dim=1)
        return sum(F.cross_entropy(p, y.long(), label_smoothing=self.eps, reduction=self.reduction) for p, y in zip(heads, ys))

    def activation(self, x): return x[:, :self.sizes[0]].softmax(dim=-1)

    def decodes(self, x): return x.argmax(dim=-1)


class HeadError:
    "fastai metric: the error rate of the head in logits [start, stop) against target `i`."
    def __init__(self, i, start, stop, name):
        self.i, self.start, self.stop, self.__name__ = i, start, stop, name

    def __call__(self, pred, *ys):
        from fastai.vision.all import error_rate
        return error_rate(pred[:, self.start:self.stop], ys[self.i])


def target_head(model, meta):
    "The model of a run (RunMeta `meta`) restricted to its target head's outputs (unchanged for a run with one head)."
    import torch.nn as nn
    from fastai.layers import Lambda
    n = head_width(meta)
    return model if meta.n_out in (None, n) else nn.Sequential(model, Lambda(lambda x: x[:, :n]))


def head_width(meta):
    "The target head's output width in a run (RunMeta `meta`)."
    return 1 if task_of(meta) == "regression" else len(meta.vocab)


def task_of(meta):
    "A run's task (runs from before tasks were detected are single-label)."
    return (meta.competition or {}).get("task", "single")


def run_activation(meta):
    "The activation of a run's target head (RunMeta `meta`), with its target statistics."
    return activation(task_of(meta), head_width(meta), dict(target_range=meta.target_range) if meta.target_range else None)
