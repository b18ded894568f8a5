"""An exponential moving average of the weights (timm's ModelEmaV3) as a fastai callback."""
import torch
from fastai.callback.core import Callback
from timm.utils import ModelEmaV3

from paddy.learn.distributed import unwrap


class EMA(Callback):
    """Updates an EMA of the weights after every optimizer step (with timm's warmup, so short runs average too).
    Validation runs on the average; after each fit the model holds the average (what the run saves), and the next fit
    continues training from the raw weights. lr_find's fits are left alone."""

    def __init__(self, decay):
        self.decay, self.average, self.raw, self.steps = decay, None, None, 0

    def before_fit(self):
        self.run = not hasattr(self.learn, "lr_finder")
        if not self.run: return
        if self.raw is not None: self._load(self.raw)
        if self.average is None: self.average = self._new()
        else: self.average.module.to(next(unwrap(self.learn.model).parameters()).device)  # restored on the CPU, say

    def state(self):
        "(the average's tensors, the step count): what a checkpoint keeps, so a resumed run averages on."
        return dict(self.average.module.state_dict()), self.steps

    def restore(self, tensors, steps):
        "Continue from a checkpoint's `state()`."
        self.average = self._new()
        self.average.module.load_state_dict(tensors)
        self.steps = steps

    def _new(self): return ModelEmaV3(unwrap(self.learn.model), decay=self.decay, use_warmup=True)

    def after_step(self):
        self.steps += 1
        self.average.update(unwrap(self.learn.model), step=self.steps)

    def before_validate(self): self.raw = self._swap()

    def after_validate(self):
        self._load(self.raw)
        self.raw = None

    def after_fit(self): self.raw = self._swap()

    def _swap(self):
        "Put the average into the model; returns a copy of the weights it had."
        model = unwrap(self.learn.model)
        raw = {k: v.detach().clone() for k, v in model.state_dict().items()}
        model.load_state_dict(self.average.module.state_dict())
        return raw

    def _load(self, state):
        with torch.no_grad(): unwrap(self.learn.model).load_state_dict(state)
