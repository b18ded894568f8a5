"""The competition's metric as a fastai metric: each epoch's line and history show what the leaderboard will score."""
import numpy as np
import torch
from fastai.learner import Metric

from paddy import scoring


class TaskMetric(Metric):
    """The competition's metric (paddy.scoring) over the validation set, from the target head's activations (`act`);
    multi-label answers at thresholds 0.5 (tuned ones come at the end of the run)."""
    def __init__(self, task, metric, act, vocab, stats=None):
        self.task, self.metric, self.act, self.vocab, self.stats = task, metric, act, list(vocab), stats or {}

    @property
    def name(self): return self.metric

    def reset(self): self.outputs, self.targs = [], []

    def accumulate(self, learn):
        self.outputs.append(self.act(learn.pred.detach()).cpu())
        self.targs.append(learn.yb[0].detach().float().cpu())

    @property
    def value(self):
        if not self.outputs: return None
        targs, outputs = torch.cat(self.targs).numpy(), torch.cat(self.outputs).numpy()
        if self.task == "regression":
            low, high = self.stats["target_range"]
            targs = targs.reshape(len(targs)) * (high - low) + low
        else: targs = np.rint(targs).astype(np.int64)
        return scoring.score(self.metric, self.task, targs, outputs, vocab=self.vocab)
