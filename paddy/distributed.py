"""Data-parallel training in several processes (`make train GPUS=N`: torchrun) through fastai's DistributedTrainer and
accelerate. Each process takes `bs` images a step (the effective batch is bs x processes) and its share of every
epoch; gradients are averaged, validation metrics gathered over all processes. Rank 0 alone writes the run folder.

fastai's DistributedTrainer assumes CUDA; on CPU processes (gloo) this module tells accelerate to use the CPU (else
it does not wrap the model at all), turns SyncBatchNorm off (CUDA only), reads the DataLoader's device from the model's
parameters (a DDP-wrapped CPU model has no `.device`), and broadcasts rank 0's shuffle through CPU tensors (fastai
moves them to CUDA for nccl)."""
import atexit, os, shutil, tempfile
from contextlib import contextmanager
from pathlib import Path

from .errors import PaddyError


def world_size(): return int(os.environ.get("WORLD_SIZE", 1))


def rank(): return int(os.environ.get("RANK", 0))


def meta():
    "What a run folder records about the processes that trained it."
    return dict(world_size=world_size())


def unwrap(model):
    "The model inside a DistributedDataParallel wrapper (during a data-parallel fit), else `model`."
    from torch.nn.parallel import DistributedDataParallel
    return model.module if isinstance(model, DistributedDataParallel) else model


def run_folder(folder):
    "The folder this process writes the run into: `folder` on rank 0; elsewhere a scratch copy, removed at exit."
    folder = Path(folder)
    if rank() == 0: return folder
    scratch = Path(tempfile.mkdtemp(prefix=f"paddy-rank{rank()}-"))
    atexit.register(shutil.rmtree, scratch, True)
    if folder.is_dir(): shutil.copytree(folder, scratch / folder.name)  # a resumed run's checkpoint
    return scratch / folder.name


@contextmanager
def context(learn):
    "Train `learn` data-parallel while inside, when this process is one of several (torchrun); otherwise nothing."
    if world_size() < 2:
        yield learn
        return
    import torch
    from fastai.callback.progress import ProgressCallback
    cuda = torch.cuda.is_available()
    cb = trainer_class()(sync_bn=cuda, cpu=not cuda)
    learn.add_cb(cb)
    if rank(): learn.remove_cb(ProgressCallback)
    try: yield learn
    finally: learn.remove_cb(cb)


def close():
    "Tear down the process group, if training set one up, so that every rank exits cleanly (gloo's threads joined)."
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized(): dist.destroy_process_group()


def trainer_class():
    "fastai's DistributedTrainer, made to run on CPU processes too (see the module's docstring)."
    import torch
    import torch.distributed as dist
    try: import accelerate  # noqa: F401 (fastai.distributed needs it)
    except ImportError: raise PaddyError("training in several processes needs accelerate: pip install accelerate") from None
    from fastai.distributed import DistributedDL, DistributedTrainer

    class CPUFriendlyDL(DistributedDL):
        @property
        def rng(self): return self.dl.rng  # the checkpoint saves it

        def _broadcast(self, t, rank):
            if torch.cuda.is_available(): return super()._broadcast(t, rank)
            t = torch.tensor(t, dtype=torch.long)
            dist.broadcast(t, rank)
            return t.tolist()

    class Trainer(DistributedTrainer):
        def _wrap_dl(self, dl):
            return dl if isinstance(dl, DistributedDL) else CPUFriendlyDL(dl, device=next(self.learn.model.parameters()).device)

    return Trainer
