"""What the model predicts: one head per train.csv column in `targets` (recipe part 4), their loss and error metrics.

The first target is always `label`, the submission's; the others (e.g. `variety`) only help the model learn features.
One linear layer gives all heads: its outputs are the heads' logits side by side, in the order of `targets`.
"""
from paddy.errors import PaddyError


def check(cfg):
    "Normalize `targets` ('label,variety' or a list) to a tuple starting with label."
    given = cfg.targets.split(",") if isinstance(cfg.targets, str) else list(cfg.targets)
    names = tuple(str(t).strip() for t in given)
    if not names or not all(names) or len(set(names)) != len(names):
        raise PaddyError(f"bad --targets {cfg.targets!r}: give distinct train.csv columns, e.g. --targets label,variety")
    if names[0] != "label": raise PaddyError(f"--targets must start with label (the submission's target), e.g. --targets label,{names[0]}")
    cfg.targets = names


def extra(cfg, items):
    "[(column, vocab)] of the targets after `label`, checked against the columns of train.csv."
    missing = [c for c in cfg.targets[1:] if c not in items.columns or c == "path"]
    if missing:
        have = ", ".join(c for c in items.columns if c != "path")
        raise PaddyError(f"--targets names {', '.join(missing)}, not a column of train.csv ({have})")
    return [(c, sorted(items[c].unique())) for c in cfg.targets[1:]]


def vocabs(dls):
    "The vocabularies of the DataLoaders' targets, in the order of `targets`."
    return [list(tl.vocab) for tl in dls.train_ds.tls[dls.n_inp:]]


def meta(cfg, dls):
    "The RunMeta fields of a run's heads: every target's vocabulary and the model's output width."
    vs = vocabs(dls)
    return dict(targets=list(cfg.targets), vocabs=dict(zip(cfg.targets, vs)), n_out=sum(map(len, vs)))


def head_kwargs(cfg, dls):
    "vision_learner's n_out, loss_func and metrics: one error rate per head (the label head's is `error_rate`)."
    from fastai.vision.all import CrossEntropyLossFlat, LabelSmoothingCrossEntropyFlat, error_rate
    sizes = [len(v) for v in vocabs(dls)]
    if len(sizes) == 1:
        loss = LabelSmoothingCrossEntropyFlat(eps=cfg.label_smoothing) if cfg.label_smoothing else CrossEntropyLossFlat()
        return dict(n_out=sizes[0], loss_func=loss, metrics=error_rate)
    bounds = [sum(sizes[:i]) for i in range(len(sizes) + 1)]
    metrics = [HeadError(i, bounds[i], bounds[i + 1], "error_rate" if i == 0 else f"{name}_error")
               for i, name in enumerate(cfg.targets)]
    return dict(n_out=bounds[-1], loss_func=MultiTargetLoss(sizes, cfg.label_smoothing), metrics=metrics)


class MultiTargetLoss:
    "Sum over heads of the (label-smoothed) cross-entropy of each head's slice of the logits; probabilities are the label head's."
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


def label_head(model, meta):
    "The model of a run (RunMeta `meta`) restricted to its label head's logits (unchanged for a single-target run)."
    import torch.nn as nn
    from fastai.layers import Lambda
    n = len(meta.vocab)
    return model if meta.n_out in (None, n) else nn.Sequential(model, Lambda(lambda x: x[:, :n]))
