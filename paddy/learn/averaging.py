"""The callback of `--swa` (paddy/learn/swa.py): a running sum of the weights after each of a run's last epochs."""
import torch
from fastai.callback.core import Callback

from paddy.learn.distributed import unwrap


class Average(Callback):
    "Adds the weights to a running sum after each of the run's epochs from `first` (1-based) on."
    order = 51.5  # after History (51) counts the epoch, before Checkpoint (52) saves the sum with it

    def __init__(self, first, history):
        self.first, self.history, self.seen, self.sum, self.n = first, history, len(history.rows), None, 0

    def after_epoch(self):
        done = len(self.history.rows)
        if done == self.seen: return  # an epoch a resumed fit skipped, or learn.validate()
        self.seen = done
        if done < self.first: return
        state = unwrap(self.learn.model).state_dict()
        if self.sum is None: self.sum = {k: torch.zeros(v.shape) for k, v in state.items() if v.is_floating_point()}
        for k, total in self.sum.items(): total += state[k].detach().float().cpu()
        self.n += 1

    def averaged(self):
        "The average as a state dict of the model's dtypes; integer buffers (batch counts) keep their final values."
        state = unwrap(self.learn.model).state_dict()
        return {k: (self.sum[k] / self.n).to(v.dtype) if k in self.sum else v for k, v in state.items()}
