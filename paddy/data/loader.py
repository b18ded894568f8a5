"""fastai DataLoaders that put the batch transforms where they cost least.

fastai collates a batch in a worker, then augments and normalizes it (`after_batch`) in the training process, just
before the step — right for a GPU, where `after_batch` runs on the device. On a CPU that work queues up in front of
every step on the process that trains. `WorkerBatchDL` runs it where the batch is collated instead: in the workers,
beside training. On a GPU, and under fastai's DistributedDL (which calls `after_batch` itself), nothing changes.

`TTADL` turns each collated test batch into its test-time-augmentation views in the same place, so each test image
is read and decoded once however many views TTA takes (fastai's `Learner.tta` reads it n+1 times).
"""
import torch
from fastai.data.core import Pipeline, TfmdDL


class WorkerBatchDL(TfmdDL):
    "TfmdDL whose batch transforms (`finish`) run in `do_batch`, in the workers, when its device is the CPU."

    def __iter__(self):
        on_cpu = self.device is None or torch.device(self.device).type == "cpu"
        self.batch_tfms, self.after_batch = self.after_batch, Pipeline([])
        self.batch_tfms.split_idx = getattr(self.dataset, "split_idx", None)  # what before_iter gives after_batch
        self.in_workers = on_cpu
        try:
            for b in super().__iter__(): yield b if on_cpu else self.finish(b)
        finally: self.after_batch, self.batch_tfms = self.batch_tfms, None

    def do_batch(self, b):
        b = super().do_batch(b)
        return self.finish(b) if getattr(self, "batch_tfms", None) is not None and self.in_workers else b

    def finish(self, b):
        "The batch transforms applied to a collated batch."
        with torch.no_grad(): return self.batch_tfms(b)


class TTADL(WorkerBatchDL):
    "A test DataLoader whose batches are (views,): `n_aug` augmented versions of each image stacked before the plain one."
    n_aug = 4

    def finish(self, b):
        views = []
        with torch.no_grad():
            for split in (0,) * self.n_aug + (1,):  # 0: training augmentation, 1: validation (plain resize)
                self.batch_tfms.split_idx = split
                views.append(self.batch_tfms(b)[0])
        return (torch.stack(views),)
