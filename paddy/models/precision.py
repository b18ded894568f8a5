"""Mixed precision: fastai's to_fp16 on CUDA; on a CPU, a small bf16 autocast callback of our own.

fastai's MixedPrecision autocasts with device type 'cuda' only, so on a CPU it does nothing.
"""
from contextlib import nullcontext
from pathlib import Path

import torch
from fastai.callback.core import Callback
from fastai.callback.fp16 import MixedPrecision

from paddy.errors import PaddyError


def cpu_has_native_bf16():
    "True when the CPU has bf16 instructions (AVX512-BF16 or AMX): only then is bf16 autocast faster than fp32."
    try: flags = Path("/proc/cpuinfo").read_text()
    except OSError: return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def gpu_has_native_bf16():
    "True on GPUs of compute capability 8.0 and up (A100, H100, L4…); T4 and P100 emulate bf16, far slower than fp16."
    return torch.cuda.get_device_capability() >= (8, 0)


def resolve(precision, cuda=None):
    """Turn auto | fp16 | bf16 | fp32 into what this machine will run: fp16, bf16 or fp32. auto is fp16 on CUDA and fp32
    on a CPU: there `make bench` measured bf16 autocast 1.66x faster a whole epoch but 0.042 lower in demo test
    accuracy after fine_tune, beyond the seeds' 0.038 spread (BENCHMARKS.md), so bf16 is for those who ask for it."""
    cuda = torch.cuda.is_available() if cuda is None else cuda
    if precision == "auto": return "fp16" if cuda else "fp32"
    if precision == "fp16" and not cuda:
        raise PaddyError("--precision fp16 needs a CUDA GPU; on a CPU use --precision bf16 or fp32 (or auto)")
    if precision == "bf16" and cuda and not gpu_has_native_bf16():
        major, minor = torch.cuda.get_device_capability()
        raise PaddyError(f"--precision bf16 needs a GPU with native bf16 (compute capability 8.0+); this {torch.cuda.get_device_name()} "
                         f"has {major}.{minor} and would emulate it: use --precision fp16 (or auto)")
    return precision


def channels_last(wanted, precision, cuda=None):
    """Whether to train in channels_last memory format (fastai's to_channelslast): `wanted`, or where it is None, on for
    fp16 on a GPU, the one case where it measured faster (BENCHMARKS.md, "GPU")."""
    cuda = torch.cuda.is_available() if cuda is None else cuda
    return wanted if wanted is not None else (precision == "fp16" and cuda)


def inference(device, precision):
    "The autocast of a run's `precision` for prediction on `device`: fp16 or bf16 on a GPU; on a CPU, or for fp32, none."
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(precision) if torch.device(device).type == "cuda" else None
    return torch.autocast("cuda", dtype) if dtype else nullcontext()


class CPUAutocast(Callback):
    "Run the forward pass and loss under torch.autocast('cpu', bfloat16); bf16 needs no loss scaling."
    order = MixedPrecision.order

    def before_batch(self):
        self.autocast = torch.autocast("cpu", dtype=torch.bfloat16)
        self.autocast.__enter__()

    def after_pred(self):
        self.learn.pred = self.pred.float()

    def after_loss(self):  # the backward pass runs outside autocast
        self._leave()

    def after_batch(self):  # test batches have no loss: leave here too
        self._leave()

    def _leave(self):
        if getattr(self, "autocast", None) is not None:
            self.autocast.__exit__(None, None, None)
            self.autocast = None


def apply(learn, precision, memory_channels_last=False):
    "Set `learn` up for a resolved precision and memory format; returns `learn`."
    if memory_channels_last:
        from fastai.callback.channelslast import ChannelsLast
        learn.add_cb(ChannelsLast())
    if precision == "fp16": return learn.to_fp16()
    if precision == "bf16": return learn.to_bf16() if torch.cuda.is_available() else learn.add_cb(CPUAutocast())
    return learn
