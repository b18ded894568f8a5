"""Mixed precision: fastai's to_fp16 on CUDA; on a CPU, a small bf16 autocast callback of our own.

fastai's MixedPrecision autocasts with device type 'cuda' only, so on a CPU it does nothing.
"""
from contextlib import nullcontext
from pathlib import Path

import torch
from fastai.callback.core import Callback
from fastai.callback.fp16 import MixedPrecision

from paddy.errors import PaddyError


def cpu_class():
    """This CPU's class, as far as precision and memory format go: `amx` (Intel AMX), `avx512_bf16` (bf16 instructions
    without AMX, as AMD Zen 4 has) or `plain` (neither: bf16 is emulated, 10x and more slower than fp32)."""
    try: flags = Path("/proc/cpuinfo").read_text()
    except OSError: return "plain"
    return "amx" if "amx_bf16" in flags else "avx512_bf16" if "avx512_bf16" in flags else "plain"


def cpu_has_native_bf16():
    "True when the CPU has bf16 instructions (AVX512-BF16 or AMX): only then can bf16 autocast be faster than fp32."
    return cpu_class() != "plain"


# What `make bench` found for each CPU class (BENCHMARKS.md, section c), and so what `auto` trains in there. A class no
# bench run has measured keeps fastai's defaults: fp32, contiguous.
CPU_DEFAULTS = {
    # AMD EPYC (Zen 4), 2 cores, whole epochs at 128 px: channels_last was faster for both models at both precisions
    # (fp32: resnet26d 1.49x, efficientnet_b0 1.35x); bf16 with channels_last was faster for resnet26d (2.24x fp32) but
    # slower than fp32 with channels_last for efficientnet_b0 (11.4 s against 10.3 s), so fp32 stays the default.
    "avx512_bf16": dict(precision="fp32", channels_last=True),
}
FASTAI_DEFAULTS = dict(precision="fp32", channels_last=False)


def cpu_defaults(cpu=None):
    "The precision and memory format `auto` picks on a CPU of class `cpu` (default: this one's)."
    return CPU_DEFAULTS.get(cpu or cpu_class(), FASTAI_DEFAULTS)


def gpu_has_native_bf16():
    "True on GPUs of compute capability 8.0 and up (A100, H100, L4…); T4 and P100 emulate bf16, far slower than fp16."
    return torch.cuda.get_device_capability() >= (8, 0)


def resolve(precision, cuda=None, cpu=None):
    """Turn auto | fp16 | bf16 | fp32 into what this machine will run: fp16, bf16 or fp32. auto is fp16 on CUDA, and on
    a CPU what `make bench` found for its class (`cpu_defaults`)."""
    cuda = torch.cuda.is_available() if cuda is None else cuda
    if precision == "auto": return "fp16" if cuda else cpu_defaults(cpu)["precision"]
    if precision == "fp16" and not cuda:
        raise PaddyError("--precision fp16 needs a CUDA GPU; on a CPU use --precision bf16 or fp32 (or auto)")
    if precision == "bf16" and cuda and not gpu_has_native_bf16():
        major, minor = torch.cuda.get_device_capability()
        raise PaddyError(f"--precision bf16 needs a GPU with native bf16 (compute capability 8.0+); this {torch.cuda.get_device_name()} "
                         f"has {major}.{minor} and would emulate it: use --precision fp16 (or auto)")
    return precision


def channels_last(wanted, precision, cuda=None, cpu=None):
    """Whether to train in channels_last memory format (fastai's to_channelslast): `wanted`, or where it is None, on a
    GPU for fp16, the one case where it measured faster there (README, "GPU check"), and on a CPU what `make bench`
    found for its class (`cpu_defaults`)."""
    cuda = torch.cuda.is_available() if cuda is None else cuda
    if wanted is not None: return wanted
    return precision == "fp16" if cuda else cpu_defaults(cpu)["channels_last"]


def inference(device, precision):
    """The autocast of a run's `precision` for prediction on `device`: fp16 or bf16 on a GPU; bf16 on a CPU (emulated,
    and many times slower, on CPUs without native bf16: `--precision fp32` trades its accuracy for speed there). A model
    trained under bf16 autocast predicts under it: its head learned the bf16 body's features, and the demo's bf16 runs
    predicted in fp32 scored 0.048 lower on average (BENCHMARKS.md, section h)."""
    if torch.device(device).type == "cuda":
        dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(precision)
        return torch.autocast("cuda", dtype) if dtype else nullcontext()
    return torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16" else nullcontext()


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
