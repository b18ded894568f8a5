"""Data-parallel training in several processes (`make train GPUS=N`: torchrun) through fastai's DistributedTrainer and
accelerate. Each process takes `bs` images a step (the effective batch is bs x processes) and its share of every
epoch; gradients are averaged, validation metrics gathered over all processes. Rank 0 alone writes the run folder.

`setup` runs first in every process, before any data or model exists: it gives each process its own GPU (LOCAL_RANK;
else every rank's DataLoaders and normalization land on cuda:0) and joins the process group, so that rank 0 alone can
run lr_find and hand its rate to the others (`same_on_every_rank`).

fastai's DistributedTrainer assumes CUDA; on CPU processes (gloo) this module tells accelerate to use the CPU (else
it does not wrap the model at all), turns SyncBatchNorm off (CUDA only), reads the DataLoader's device from the model's
parameters (a DDP-wrapped CPU model has no `.device`), and broadcasts rank 0's shuffle through CPU tensors (fastai
moves them to CUDA for nccl). A model with parameters its forward pass never uses (fastai's body skips timm's ConvNeXt
head norm and MobileNetV3 head conv) is wrapped with DDP's `find_unused_parameters`, else the second step fails."""
import atexit, os, shutil, subprocess, sys, tempfile
from contextlib import contextmanager
from pathlib import Path

from paddy.errors import PaddyError


LOG_TAIL = 40  # lines of a failed rank's error output shown


def torchrun(n, args):
    """Run `args` (a script or `-m module`, and its arguments) in `n` processes under `torchrun --standalone`: rank 0
    prints to this console, the other ranks into log files, and when one of them fails the tail of its error output (its
    traceback) is printed here too. Returns torchrun's exit code."""
    with tempfile.TemporaryDirectory(prefix="paddy-torchrun.") as logs:
        quiet = ["--redirects", ",".join(f"{r}:3" for r in range(1, n))] if n > 1 else []
        code = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(n),
                               "--log-dir", logs, *quiet, *args]).returncode
        for log in sorted(Path(logs).glob("**/stderr.log")) if code else []:
            lines = log.read_text(errors="replace").splitlines()
            if any(ln.startswith("Traceback") for ln in lines):
                print("\n".join([f"--- rank {log.parent.name} failed; the end of its output ---", *lines[-LOG_TAIL:], "---"]), file=sys.stderr, flush=True)
    return code


def world_size(): return int(os.environ.get("WORLD_SIZE", 1))


def rank(): return int(os.environ.get("RANK", 0))


def local_rank(): return int(os.environ.get("LOCAL_RANK", 0))


def setup():
    "In one of several processes: take GPU LOCAL_RANK (where there are GPUs) and join the process group. Else nothing."
    if world_size() < 2: return
    import torch
    from accelerate import PartialState
    cuda = torch.cuda.is_available()
    if cuda: torch.cuda.set_device(local_rank())
    PartialState(cpu=not cuda)


def same_on_every_rank(compute):
    """`compute()` run on rank 0 alone, its (picklable) result handed to every process; plain `compute()` in one process.
    fastai gathers every logged loss across processes when WORLD_SIZE > 1: rank 0 computes with WORLD_SIZE=1."""
    if world_size() < 2: return compute()
    import torch.distributed as dist
    box = [None]
    if rank() == 0:
        os.environ["WORLD_SIZE"] = "1"
        try: box[0] = (True, compute())
        except Exception as e: box[0] = (False, e)  # the other ranks raise it too, rather than wait forever
        finally: os.environ["WORLD_SIZE"] = str(dist.get_world_size())
    dist.broadcast_object_list(box, src=0)
    ok, value = box[0]
    if not ok: raise value
    return value


def meta():
    "The RunMeta field of the processes that trained a run."
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


def unused_parameters(model, size):
    "Names of `model`'s parameters that its forward pass on a (1, 3, *size) input leaves out of the autograd graph."
    import torch
    params = dict(model.named_parameters())
    flags, training = {n: p.requires_grad for n, p in params.items()}, model.training
    try:
        model.eval()
        for p in params.values(): p.requires_grad_(True)  # a frozen body counts as used
        out = model(torch.zeros(1, 3, *size, device=next(model.parameters()).device))
        grads = torch.autograd.grad(out.float().sum(), list(params.values()), allow_unused=True)
    finally:
        for n, p in params.items(): p.requires_grad_(flags[n])
        model.train(training)
    return [n for n, g in zip(params, grads) if g is None]


@contextmanager
def context(learn, size):
    "Train `learn` (inputs of `size`) data-parallel while inside, when this process is one of several (torchrun); otherwise nothing."
    if world_size() < 2:
        yield learn
        return
    import torch
    from accelerate.utils import DistributedDataParallelKwargs
    from fastai.callback.progress import ProgressCallback
    cuda = torch.cuda.is_available()
    unused = bool(unused_parameters(unwrap(learn.model), size))
    cb = trainer_class()(sync_bn=cuda, cpu=not cuda, kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=unused)])
    learn.add_cb(cb)
    if rank(): learn.remove_cb(ProgressCallback)
    try: yield learn
    finally: learn.remove_cb(cb)


def close():
    """Tear down the process group, if training set one up, so that every rank exits cleanly (gloo's threads joined).
    The ranks meet at a barrier first, so none tears its connections down while a peer may still use them: once, in CI,
    rank 0 of a two-process gloo test ended with SIGABRT ("terminate called without an active exception") without it."""
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


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
