"""`make gpu-check`: paddy on a CUDA GPU as a user runs it, and its speed against fastai's recipe, in one run.

    python scripts/gpu_check.py [--out DIR]         # a GPU: DIR/gpu_check.json and the "GPU" section of DIR/BENCHMARKS.md
    python scripts/gpu_check.py --cpu [--out DIR]   # the same checks, tiny, on a CPU (gloo, the CPU's precision): CI's rehearsal
    python scripts/gpu_check.py --only CHECK[,...]  # those checks again, the other results of DIR/gpu_check.json kept

The checks run paddy's CLI (`paddy.cli.main` through PROBE, in fresh processes) on generated JPEGs, with timm models
without pretrained weights: fine_tune at fp16 with --accum 2 --ema; a run killed (SIGKILL) mid-epoch after its first
checkpoint and resumed, against an uninterrupted one; predict --tta 4; a Swin and a ViT batch; torchrun with an NCCL
process group; bf16 where the GPU has it. The measurements run in this process: a whole epoch of paddy against fastai's
recipe (bench.recipe_epoch, bench.paddy_epoch) with 2 and 4 DataLoader workers on 4 CPUs (a Kaggle GPU kernel's), and
training steps at fp32, fp16 and bf16 with channels_last off and on. Each check records ok, failed (with its error's
tail) or skipped (with the reason); the run goes on past a failure and exits 1 if any check failed. Both files are
rewritten after every check, so a run cut short still reports what it did.
"""
import argparse, json, os, signal, subprocess, sys, tempfile, time, traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402 (bench puts the repo root on sys.path)
from bench import REPO, EPOCH_SETS, make_photos, memory_batches, learner_rate, paddy_epoch, recipe_epoch  # noqa: E402
from fastai.callback.core import Callback  # noqa: E402
from paddy import runs  # noqa: E402
from paddy.models import precision  # noqa: E402

SETTINGS = {  # images per competition; functional runs: model, --size, --bs, --workers (None: fastai's default), epochs;
    # recipe: Road to the Top part 2's real work (model, item resize with pad, size, batch), its photos, repeats, compiled steps
    "gpu": dict(photos=1000, small=1000, n_test=64, batch=40, arch="resnet18", size=128, bs=32, workers=None, epochs=2,
                epoch_arch="resnet26d", epoch_bs=32, epoch_workers=(2, 4), cpus=4,  # a Kaggle GPU kernel has 4 CPUs
                step_archs=("resnet26d", "convnext_tiny", "vit_small_patch16_224"), step_size=224, step_bs=64, step_batches=30, backend="nccl", timeout=300,
                recipe=dict(arch="convnext_small", item=(480, 360), size=(256, 192), bs=64, images=3000, repeats=3, step_batches=20)),
    "cpu": dict(photos=16, small=16, n_test=4, batch=8, arch="test_resnet", size=32, bs=4, workers=0, epochs=1,  # timm's
                epoch_arch="test_resnet", epoch_bs=4, epoch_workers=(2,), cpus=None,  # test_resnet: 0.4M parameters
                step_archs=("test_resnet",), step_size=32, step_bs=4, step_batches=4, backend="gloo", timeout=300,
                recipe=dict(arch="test_convnext", item=(96, 72), size=(64, 48), bs=4, images=24, repeats=1, step_batches=3)),
}
LABELS, SWIN, VIT = 4, "swin_tiny_patch4_window7_224", "vit_tiny_patch16_224"
TORCHRUN = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "1"]
RESUME_TOL = 1e-3  # largest weight difference of a resumed run from an uninterrupted one that counts as the same run
TAIL = 3000

PROBE = '''"""gpu_check's wrapper of `paddy.cli`: with GPU_CHECK_BACKEND set (under torchrun), a process group over that backend
and one all_reduce through it first; then paddy's CLI; last, one JSON line: its exit code and the device memory it used."""
import json, os, sys
import torch
info = {}
if os.environ.get("GPU_CHECK_BACKEND"):
    import torch.distributed as dist
    device = f"cuda:{os.environ['LOCAL_RANK']}" if os.environ["GPU_CHECK_BACKEND"] == "nccl" else "cpu"
    if device != "cpu": torch.cuda.set_device(device)
    dist.init_process_group(os.environ["GPU_CHECK_BACKEND"])
    t = torch.full((1,), dist.get_rank() + 1.0, device=device)
    dist.all_reduce(t)
    info = dict(backend=dist.get_backend(), world_size=dist.get_world_size(), all_reduce=t.item())
from paddy.cli import main
rc = main(sys.argv[1:])
peak = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else 0.0
print("GPU_CHECK " + json.dumps(dict(info, rc=rc, device_peak_mb=round(peak, 1))), flush=True)
sys.exit(rc)
'''


class Failed(Exception):
    "A check's failure; its message is the evidence (the output's tail)."


class Skipped(Exception):
    "A check that cannot run on this machine; its message says why."


def require(ok, message):
    if not ok: raise Failed(message)


@dataclass
class Ctx:
    "One run of the check: its settings, scratch folder, output folder and the results so far."
    s: dict
    gpu: bool
    work: Path
    out: Path
    start: float = field(default_factory=time.perf_counter)
    results: dict = field(default_factory=dict)

    @property
    def runs(self): return self.work / "runs"

    @property
    def precision(self): return "fp16" if self.gpu else "auto"  # --precision fp16 needs CUDA; auto is the CPU's own

    def log(self, text): print(f"[{time.perf_counter() - self.start:5.0f}s] {text}", flush=True)

    def root(self, kind): return self.work / kind

    def flags(self, **given):
        "The CLI flags of a functional run: a model without pretrained weights (the settings', or `given`), scratch folders."
        s = self.s | given
        return ["--arch", s["arch"], "--no-pretrained", "--size", s["size"], "--bs", s["bs"], "--runs-dir", self.runs,
                "--cache-dir", self.work / "cache"] + ([] if s["workers"] is None else ["--workers", s["workers"]])

    def env(self, **extra):
        "The environment of a child: paddy imported from the repository (not installed), nothing from the network."
        path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
        return dict(os.environ, PYTHONPATH=path, HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1", **extra)

    def command(self, args, launcher=()):
        return [sys.executable, *launcher, str(self.work / "probe.py"), *map(str, args)]

    def cli(self, *args, launcher=(), **env):
        "Run `paddy ARGS` through the probe in the scratch folder; returns (stdout, the probe's JSON). A failure raises Failed."
        proc = subprocess.run(self.command(args, launcher), cwd=self.work, env=self.env(**env), capture_output=True,
                              text=True, timeout=self.s["timeout"])
        return probed(proc.returncode, proc.stdout, proc.stderr, args)

    def start_cli(self, name, *args):
        "Start `paddy ARGS` in the background, its output in logs/NAME.{out,err}; returns the Popen."
        logs = self.work / "logs"
        logs.mkdir(exist_ok=True)
        with open(logs / f"{name}.out", "w") as out, open(logs / f"{name}.err", "w") as err:
            return subprocess.Popen(self.command(args), cwd=self.work, env=self.env(), stdout=out, stderr=err)

    def logs(self, name):
        return "".join((self.work / "logs" / f"{name}.{k}").read_text() for k in ("out", "err"))

    def ratio(self, key, value): self.results["ratios"][key] = round(value, 3)

    def save(self):
        "Write gpu_check.json and BENCHMARKS.md's GPU section as they stand (each written whole, then renamed into place)."
        from paddy.files import write_json, write_text
        seconds = round(time.perf_counter() - self.start, 1)
        if self.results.get("reruns"): self.results["reruns"][-1]["seconds"] = seconds
        else: self.results["seconds"] = seconds
        write_json(self.out / "gpu_check.json", self.results)
        md = self.out / "BENCHMARKS.md"
        write_text(md, bench.replace_section(md.read_text() if md.is_file() else "", "GPU", report(self.results)))


def probed(rc, stdout, stderr, args):
    "(stdout, the probe's JSON line) of a finished CLI run; Failed with the output's tail unless it exited 0."
    line = next((ln for ln in stdout.splitlines() if ln.startswith("GPU_CHECK ")), None)
    if rc or line is None:
        raise Failed(f"`paddy {' '.join(map(str, args))}` exited {rc}:\n{(stdout + stderr)[-TAIL:]}")
    return stdout, json.loads(line[len("GPU_CHECK "):])


def finished(c, name, epochs):
    "The RunMeta of run `name`, required finished after `epochs` epochs."
    m = runs.load_meta(c.runs / name)
    require(m.finished and len(m.history) == epochs, f"run {name}: finished {m.finished}, {len(m.history)} epoch(s) of {epochs}")
    return m


def on_device(c, probe):
    "Require that a GPU run put its work on the device."
    require(not c.gpu or probe["device_peak_mb"] > 0, "the run allocated no device memory: it ran on the CPU")


def losses(m): return [round(h["valid_loss"], 5) for h in m.history]


def summary(m, probe):
    return dict(precision=m.precision, valid_error=m.valid_error, valid_loss=losses(m), train_s=m.train_seconds,
                device_peak_mb=probe["device_peak_mb"])


# ---------------------------------------------------------------- checks through the CLI

def check_fine_tune(c):
    "fine_tune (1 frozen epoch, then `epochs`) at fp16 (with --cpu: the CPU's precision), --accum 2, --ema."
    _, probe = c.cli("train", "--data", c.root("photos"), *c.flags(), "--precision", c.precision, "--accum", 2, "--ema",
                     "--epochs", c.s["epochs"], "--name", "finetune")
    on_device(c, probe)
    return summary(finished(c, "finetune", c.s["epochs"] + 1), probe)


def check_predict(c):
    "predict --tta 4 of the fine_tune run into a submission CSV, on the device."
    import pandas as pd
    out = c.work / "submission.csv"
    workers = [] if c.s["workers"] is None else ["--workers", c.s["workers"]]
    _, probe = c.cli("predict", "--run", "finetune", "--runs-dir", c.runs, "--data", c.root("photos"), "--tta", 4, "--out", out, *workers)
    on_device(c, probe)
    rows = len(pd.read_csv(out))
    require(rows == c.s["n_test"], f"the submission has {rows} rows for {c.s['n_test']} test images")
    return dict(rows=rows, device_peak_mb=probe["device_peak_mb"])


def epochs_done(folder):
    "The epoch count of a run's checkpoint (its header alone is read), or 0 when there is none yet."
    from safetensors import safe_open
    try:  # checkpoints are renamed into place whole; the run's end removes its checkpoint
        with safe_open(str(folder / "checkpoint.safetensors"), "pt") as f: return json.loads(f.metadata()["info"])["epochs_done"]
    except FileNotFoundError: return 0


def kill_mid_epoch(c, proc, folder):
    """SIGKILL `proc` halfway through the epoch after its first checkpoint (half as long after it as its first epoch took,
    meta.json's writing to the checkpoint's), or at its second checkpoint if that comes first. Returns (epochs checkpointed
    at the kill, seconds after the first checkpoint)."""
    deadline = time.monotonic() + c.s["timeout"]
    while epochs_done(folder) < 1:
        require(proc.poll() is None and time.monotonic() < deadline, "the run ended or stalled before its first checkpoint")
        time.sleep(0.02)  # poll the filesystem
    saved = (folder / "checkpoint.safetensors").stat().st_mtime
    kill_at = saved + (saved - (folder / "meta.json").stat().st_mtime) / 2
    while time.time() < kill_at and proc.poll() is None and epochs_done(folder) < 2: time.sleep(0.02)
    require(proc.poll() is None, "the run finished before it could be killed")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return epochs_done(folder), time.time() - saved


def max_weight_diff(a, b):
    "The largest absolute difference between two runs' saved weights."
    from safetensors.torch import load_file
    wa, wb = (load_file(str(f / "model.safetensors")) for f in (a, b))
    require(wa.keys() == wb.keys(), "the two runs saved different tensors")
    return max((wa[k].float() - wb[k].float()).abs().max().item() for k in wa)


def check_resume(c):
    """A run killed (SIGKILL) mid-epoch after its first checkpoint, then `--resume`d, at fp16 with --ema, against the same
    run left alone (started together): only the missing epochs run again, and the weights agree to RESUME_TOL. Both run
    with --deterministic: in cuDNN's benchmark mode two processes sharing a GPU time and pick their own kernels, so even two
    uninterrupted runs part (seen on an H200: valid losses apart from the first epoch, weights by 7.2)."""
    epochs = c.s["epochs"] + 1  # unfrozen epochs after fine_tune's frozen one: two at least, so the kill leaves one to run
    flags = [*c.flags(), "--data", c.root("photos"), "--precision", c.precision, "--ema", "--deterministic", "--epochs", epochs]
    procs = {n: c.start_cli(n, "train", *flags, "--name", n) for n in ("full", "killed")}
    try:
        done, after = kill_mid_epoch(c, procs["killed"], c.runs / "killed")
        require(not runs.load_meta(c.runs / "killed").finished, "the killed run says it finished")
        out, probe = c.cli("train", "--resume", "killed", "--runs-dir", c.runs)
        require(procs["full"].wait(timeout=c.s["timeout"]) == 0, f"the uninterrupted run failed:\n{c.logs('full')[-TAIL:]}")
    except Failed as e: raise Failed(f"{e}\nkilled run's output:\n{c.logs('killed')[-TAIL:]}") from None
    finally:
        for p in procs.values():
            if p.poll() is None: p.kill()
    total = epochs + 1
    full, resumed = finished(c, "full", total), finished(c, "killed", total)
    redone = [i for i in range(1, done + 1) if f"epoch {i}/{total} " in out]
    require(not redone and f"epoch {total}/{total} " in out, f"the resumed run ran epochs {redone or 'none'} again or not to the end:\n{out[-TAIL:]}")
    diff = max_weight_diff(c.runs / "full", c.runs / "killed")
    figures = dict(killed_after_epochs=done, killed_s_after_checkpoint=round(after, 2),
                   max_weight_diff=diff, valid_loss_full=losses(full), valid_loss_resumed=losses(resumed),
                   precision=resumed.precision, device_peak_mb=probe["device_peak_mb"])
    require(diff <= RESUME_TOL, f"the resumed run's weights differ from the uninterrupted run's by {diff:.3g} (> {RESUME_TOL}): {figures}")
    return figures


def one_epoch(c, name, kind="photos", precision=None, launcher=(), env=None, **given):
    """`paddy train` of one fit_one_cycle epoch on competition `kind`, with `c.flags(**given)`, on the device; returns
    (its meta.json, the probe's JSON)."""
    _, probe = c.cli("train", "--data", c.root(kind), *c.flags(**given), "--precision", precision or c.precision, "--epochs", 1,
                     "--method", "fit_one_cycle", "--name", name, launcher=launcher, **(env or {}))
    on_device(c, probe)
    return finished(c, name, 1), probe


def check_one_batch(c, arch):
    "One training batch (and one validation batch) of `arch` at 224 px."
    from paddy.data.split import stratified_split
    labels = [f"label{i % LABELS}" for i in range(c.s["batch"])]
    n_train = len(labels) - len(stratified_split(labels))
    return dict(summary(*one_epoch(c, arch, "batch", arch=arch, size=224, bs=n_train)), arch=arch, batch=n_train)


def check_torchrun(c):
    "`torchrun --nproc_per_node 1` of `paddy train`, the probe's process group over NCCL (gloo with --cpu) checked first."
    m, probe = one_epoch(c, "torchrun", launcher=TORCHRUN, env=dict(GPU_CHECK_BACKEND=c.s["backend"]))
    require(probe.get("backend") == c.s["backend"] and probe.get("all_reduce") == 1.0, f"the process group did not work: {probe}")
    return dict(summary(m, probe), backend=probe["backend"], world_size=m.world_size)


def bf16_missing(gpu):
    "Why this machine has no native bf16, or None."
    import torch
    if gpu:
        cap = torch.cuda.get_device_capability()
        return None if precision.gpu_has_native_bf16() else f"{torch.cuda.get_device_name()} (compute capability {cap[0]}.{cap[1]}) has no native bf16"
    return None if precision.cpu_has_native_bf16() else "this CPU has no avx512_bf16/amx_bf16: bf16 would be emulated"


def check_bf16(c):
    "One epoch at --precision bf16, where the hardware has bf16 (CUDA compute capability >= 8; a CPU with avx512_bf16/AMX)."
    reason = bf16_missing(c.gpu)
    if reason: raise Skipped(reason)
    return summary(*one_epoch(c, "bf16", precision="bf16"))


# ---------------------------------------------------------------- measurements in this process

@contextmanager
def pinned(n):
    """Inside, this process and the DataLoader workers it starts run on `n` of the machine's CPUs (a count: the first
    ones; or a list of CPU numbers; None: all of them)."""
    import torch
    cpus, threads = os.sched_getaffinity(0), torch.get_num_threads()
    if n:
        chosen = sorted(cpus)[:n] if isinstance(n, int) else n
        os.sched_setaffinity(0, chosen)
        torch.set_num_threads(len(chosen))
    try: yield
    finally:
        os.sched_setaffinity(0, cpus)
        torch.set_num_threads(threads)


def check_epoch(c, kind):
    "A whole epoch of paddy (its defaults) against fastai's recipe on the same photos, with each DataLoader worker count."
    (w, h), item = EPOCH_SETS[kind]
    s, figures = c.s, {}
    for workers in s["epoch_workers"]:
        with pinned(s["cpus"]):
            fastai_s, fastai_prec = recipe_epoch(c.root(kind), s["epoch_arch"], s["epoch_bs"], workers, item)
            paddy_s, before, prec = paddy_epoch(c.root(kind), c.work / "cache", s["epoch_arch"], s["epoch_bs"], workers)
        figures[f"workers_{workers}"] = dict(fastai_s=round(fastai_s, 2), paddy_s=round(paddy_s, 2), paddy_before_s=round(before, 2),
                                             fastai_precision=fastai_prec, paddy_precision=prec)
        c.ratio(f"epoch {w}x{h}, {workers} workers: fastai's recipe / paddy", fastai_s / paddy_s)
    return dict(figures, images=s[kind], arch=s["epoch_arch"], bs=s["epoch_bs"], cpus=s["cpus"] or len(os.sched_getaffinity(0)),
                recipe_item_resize=item)


def cpu_list(text):
    "CPU numbers of a sysfs list such as `0-1,8-9`."
    return [c for part in text.strip().split(",") for c in (range(int(part.split("-")[0]), int(part.split("-")[-1]) + 1))]


def kaggle_like_cpus(cores=2):
    """The CPUs of the first `cores` physical cores this process may use and their hyperthread siblings (sysfs
    `thread_siblings_list`): a Kaggle GPU kernel's 4 CPUs are 2 cores with 2 threads each."""
    allowed, chosen = sorted(os.sched_getaffinity(0)), []
    for cpu in allowed:
        if cpu in chosen: continue
        siblings = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list")
        chosen += [c for c in (cpu_list(siblings.read_text()) if siblings.is_file() else [cpu]) if c in allowed]
        cores -= 1
        if not cores: break
    return chosen


class StallMeter(Callback):
    """Sums, over an epoch's training batches, the time from one batch's end (the device synchronized: its work done)
    to the next batch's arrival at the model (loading, transfer, batch transforms): the time the device waited for
    data. The device's queue is drained at each batch's end, so this is an upper bound."""

    def before_train(self): self.waited, self.last, self.start = 0.0, None, time.perf_counter()

    def before_batch(self):
        if self.training and self.last is not None: self.waited += time.perf_counter() - self.last

    def after_batch(self):
        import torch
        if not self.training: return
        if torch.cuda.is_available(): torch.cuda.synchronize()
        self.last = time.perf_counter()

    def after_train(self): self.train_s = time.perf_counter() - self.start

    @property
    def share(self): return self.waited / self.train_s


def recipe_learner(root, r, workers=None):
    "fastai's recipe of Road to the Top part 2 as written: Resize(item, pad, zeros), aug_transforms(size, min_scale 0.75), vision_learner, to_fp16."
    from fastai.vision.all import ImageDataLoaders, PadMode, Resize, ResizeMethod, aug_transforms, error_rate, vision_learner
    kw = {} if workers is None else dict(num_workers=workers)
    dls = ImageDataLoaders.from_folder(Path(root) / "train_images", valid_pct=0.2, seed=42, bs=r["bs"], **kw,
                                       item_tfms=Resize(r["item"], method=ResizeMethod.Pad, pad_mode=PadMode.Zeros),
                                       batch_tfms=aug_transforms(size=r["size"], min_scale=0.75))
    return vision_learner(dls, r["arch"], metrics=error_rate, pretrained=False).to_fp16()


def check_recipe_work(c):
    """The recipe's real work (convnext_small, item 480x360 pad, 256x192, batch 64, fp16 on a GPU, paddy with its default
    channels_last there) for fastai's recipe and for paddy, on Kaggle-like CPUs (2 physical cores and their
    hyperthreads), cuDNN benchmark mode on both sides: `repeats` whole epochs each, medians of the epoch seconds and of
    the share of training spent waiting for batches (StallMeter)."""
    import statistics, torch
    r, cpus, figures = c.s["recipe"], kaggle_like_cpus(2), {}
    paddy_side = dict(item_size=",".join(map(str, r["item"])), resize="pad", size=",".join(map(str, r["size"])))  # the same work, paddy's flags
    with pinned(cpus):
        for side in ("fastai", "paddy"):
            learn = recipe_learner(c.root("recipe"), r) if side == "fastai" else \
                bench.paddy_run_learner(c.root("recipe"), c.work / "cache", r["arch"], r["bs"], precision=c.precision, **paddy_side)[0]
            torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = True, False
            meter = StallMeter()
            learn.add_cb(meter)
            epochs, stalls = [], []
            for _ in range(r["repeats"]):
                epochs.append(bench.warm_and_epoch(learn)[1])
                stalls.append(meter.share)
            figures[side] = dict(epoch_s=round(statistics.median(epochs), 2), stall_share=round(statistics.median(stalls), 3),
                                 epochs_s=[round(e, 2) for e in epochs], stall_shares=[round(x, 3) for x in stalls])
    c.ratio("recipe's work, whole epoch: fastai's recipe / paddy (medians)", figures["fastai"]["epoch_s"] / figures["paddy"]["epoch_s"])
    return dict(figures, arch=r["arch"], item=list(r["item"]), size=list(r["size"]), bs=r["bs"], images=r["images"], cpus=cpus,
                repeats=r["repeats"])


def check_compile(c):
    """Training steps of the recipe's model at the recipe's size and batch, eager against compiled (`--compile on`:
    paddy.models.compiled), fp16 on a GPU (the CPU's precision with --cpu); the compile time is the compiled run's
    first step beyond the eager run's."""
    from paddy.models import compiled
    r, device = c.s["recipe"], "cuda" if c.gpu else "cpu"
    prec = precision.resolve(c.precision)
    batches = [(x.to(device), y.to(device)) for x, y in memory_batches(r["step_batches"] + 1, r["size"], r["bs"])]
    rates = {}
    for comp in (False, True):
        learn = step_learner(r["arch"], batches, prec, False)
        if comp: compiled.apply(learn.model)
        with learn.no_bar(), learn.no_logging(): rates[comp] = learner_rate(learn, first=True)
    (eager, eager_first), (comp, comp_first) = rates[False], rates[True]
    c.ratio(f"{r['arch']} {prec} steps: compiled / eager", comp / eager)
    return dict(arch=r["arch"], precision=prec, eager_img_per_s=round(eager, 1), compiled_img_per_s=round(comp, 1),
                compile_s=round(comp_first - eager_first, 1), backend=compiled.BACKEND, graphs=compiled.graphs())


class Batches(list):
    "In-memory (x, y) batches that fastai's Learner reads as a DataLoader."
    bs = property(lambda self: len(self[0][1]))

    def to(self, device): return self


def step_learner(arch, batches, prec, channels_last):
    """The script's own fastai Learner of timm `arch` over in-memory `batches`, at precision `prec`, channels_last on or
    off, set up as paddy trains (paddy.models.precision.apply)."""
    import timm
    from fastai.vision.all import CrossEntropyLossFlat, DataLoaders, Learner, set_seed
    device = batches[0][0].device
    set_seed(42, reproducible=True)  # the cuDNN settings paddy trains with
    learn = Learner(DataLoaders(Batches(batches), Batches(batches[:2]), device=device),
                    timm.create_model(arch, num_classes=10).to(device), loss_func=CrossEntropyLossFlat())
    return precision.apply(learn, prec, channels_last)


def step_rate(arch, batches, prec, channels_last):
    "img/s of training steps of `step_learner`."
    learn = step_learner(arch, batches, prec, channels_last)
    with learn.no_bar(), learn.no_logging(): return learner_rate(learn)


def check_steps(c):
    "Training steps at fp32, fp16 and bf16 (where the hardware has them), channels_last off and on, models alone."
    s, device, no_bf16 = c.s, "cuda" if c.gpu else "cpu", bf16_missing(c.gpu)
    not_measured = ({} if c.gpu else {"fp16": "fastai's to_fp16 autocasts on CUDA only"}) | ({"bf16": no_bf16} if no_bf16 else {})
    precisions, rates = [p for p in ("fp32", "fp16", "bf16") if p not in not_measured], {}
    for arch in s["step_archs"]:
        batches = [(x.to(device), y.to(device)) for x, y in memory_batches(s["step_batches"] + 1, s["step_size"], s["step_bs"])]
        for prec in precisions:
            for cl in (False, True): rates[f"{arch} {prec}{' channels_last' if cl else ''}"] = round(step_rate(arch, batches, prec, cl), 1)
            c.ratio(f"{arch} {prec}: channels_last / contiguous", rates[f"{arch} {prec} channels_last"] / rates[f"{arch} {prec}"])
            if prec != "fp32": c.ratio(f"{arch}: {prec} / fp32", rates[f"{arch} {prec}"] / rates[f"{arch} fp32"])
    return dict(img_per_s=rates, size=s["step_size"], bs=s["step_bs"], batches=s["step_batches"], not_measured=not_measured)


CHECKS = [
    ("fine_tune_fp16_accum2_ema", check_fine_tune),
    ("predict_tta4", check_predict),
    ("kill_resume_fp16_ema", check_resume),
    ("swin_one_batch", partial(check_one_batch, arch=SWIN)),
    ("vit_one_batch", partial(check_one_batch, arch=VIT)),
    ("torchrun_1proc", check_torchrun),
    ("bf16_train", check_bf16),
    ("epoch_photos_480x640", partial(check_epoch, kind="photos")),
    ("epoch_small_300x300", partial(check_epoch, kind="small")),
    ("steps_precision_channels_last", check_steps),
    ("recipe_work_convnext_small", check_recipe_work),
    ("compile_steps", check_compile),
]


def run_check(c, name, fn):
    "Run one check; record ok with its figures, failed with the error's tail, or skipped with the reason. Never raises."
    start = time.perf_counter()
    try: entry = dict(status="ok", **fn(c))
    except Skipped as e: entry = dict(status="skipped", reason=str(e))
    except Failed as e: entry = dict(status="failed", error=str(e)[-TAIL:])
    except Exception: entry = dict(status="failed", error=traceback.format_exc()[-TAIL:])
    entry |= dict(ok=entry["status"] == "ok", seconds=round(time.perf_counter() - start, 1))
    c.results["checks"][name] = entry
    c.save()
    c.log(f"{name}: {entry['status']} ({entry['seconds']}s)" + ("" if entry["ok"] else f": {why(entry)}"))


def why(entry):
    "The reason a check was skipped, or the last line of its error."
    return ((entry.get("reason") or entry.get("error") or "").strip().splitlines() or ["?"])[-1]


# ---------------------------------------------------------------- the run

def prepare(c):
    "The generated competitions (Paddy's layout, photo-like JPEGs over LABELS labels) and the CLI probe."
    s = c.s
    for kind, n, n_test in (("photos", s["photos"], s["n_test"]), ("small", s["small"], 0), ("batch", s["batch"], 0),
                            ("recipe", s["recipe"]["images"], 0)):
        size = EPOCH_SETS["small" if kind == "small" else "photos"][0]
        make_photos(c.root(kind), n, LABELS, size, n_test)
    (c.work / "probe.py").write_text(PROBE)


def device_info(gpu):
    "Where the figures come from: the machine (bench.machine) and, on a GPU, the device."
    import torch
    info = bench.machine()
    if gpu:
        p = torch.cuda.get_device_properties(0)
        info |= dict(gpu=torch.cuda.get_device_name(), capability=f"{p.major}.{p.minor}", gpu_memory_gb=round(p.total_memory / 2**30, 1),
                     cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version())
    return info


def cell(v):
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def figures_text(entry):
    "A check's scalar figures as `key value` pairs for a table cell."
    skip = {"status", "ok", "seconds", "error", "reason"}
    return "; ".join(f"{k} {cell(v) if not isinstance(v, list) else ' '.join(map(cell, v))}" for k, v in entry.items()
                     if k not in skip and not isinstance(v, dict))


def report(r):
    "BENCHMARKS.md's `## GPU` section."
    d, checks = r["device"], r["checks"]
    where = (f"{d['gpu']} (compute capability {d['capability']}, {d['gpu_memory_gb']} GB, CUDA {d['cuda']}, cuDNN {d['cudnn']})"
             if r["mode"] == "gpu" else "no GPU: the CPU rehearsal (`--cpu`, tiny inputs; these are not GPU figures)")
    s = SETTINGS[r["mode"]]
    lines = ["## GPU", "",
             f"Measured by `{r['command']}` in one run of {r['seconds'] / 60:.1f} minutes, {r['date']}, on {where}; "
             f"{d['cores']} CPUs ({d['cpu']}); torch {d['torch']}, fastai {d['fastai']}, timm {d['timm']}, Python {d['python']}.",
             f"Inputs: generated photo-like JPEGs over {LABELS} labels: {s['photos']} at 480x640 ({s['n_test']} test images), "
             f"{s['small']} at 300x300, {s['batch']} for the one-batch checks; timm models without pretrained weights "
             f"(functional runs: {s['arch']} at {s['size']} px, batch size {s['bs']}).", "",
             *(f"Run again afterwards on {e['device']}: {', '.join(e['checks'])}, by `{e['command']}`, {e['date']} "
               f"({e.get('seconds', 0) / 60:.1f} minutes)." for e in r.get("reruns", ())),
             *(["Each check's row and ratios below come from the last run that ran it.", ""] if r.get("reruns") else []),
             "### Checks", "", "| check | result | seconds | figures |", "|---|---|---|---|"]
    for name, e in checks.items():
        result = e["status"] if e["ok"] else f"**{e['status']}**: {why(e)}"
        lines.append(f"| {name} | {result} | {e['seconds']} | {figures_text(e).replace('|', '/')} |")
    lines += ["", "### Ratios, measured side by side in this run", "", "| ratio | value |", "|---|---|"]
    lines += [f"| {k} | {v:.2f}× |" for k, v in r["ratios"].items()]
    epochs = {k: e for k, e in checks.items() if k.startswith("epoch_") and e["ok"]}
    if epochs:
        lines += ["", "### Whole epoch (training + validation, as a user waits), paddy against fastai's recipe", "",
                  "| photos | workers (CPUs) | fastai's recipe, s | paddy, s | precision recipe / paddy | paddy before its first epoch (scan, cache), s |",
                  "|---|---|---|---|---|---|"]
        for k, e in epochs.items():
            for w in s["epoch_workers"]:
                f = e[f"workers_{w}"]
                lines.append(f"| {k.split('_')[-1]} ({e['images']}) | {w} ({e['cpus']}) | {f['fastai_s']} | {f['paddy_s']} | "
                             f"{f['fastai_precision']} / {f['paddy_precision']} | {f['paddy_before_s']} |")
    steps = checks.get("steps_precision_channels_last", {})
    if steps.get("ok"):
        lines += ["", f"### Training steps, models alone (in-memory batches of {steps['bs']} at {steps['size']} px), img/s", "",
                  "| model and precision | img/s |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in steps["img_per_s"].items()]
        lines += [f"| {k} | not measured: {why} |" for k, why in steps["not_measured"].items()]
    work = checks.get("recipe_work_convnext_small", {})
    if work.get("ok"):
        lines += ["", f"### The recipe's real work: {work['arch']}, item {work['item'][0]}x{work['item'][1]} pad, {work['size'][0]}x{work['size'][1]}, "
                  f"batch {work['bs']}, {work['images']} photos, CPUs {work['cpus']}, medians of {work['repeats']} epochs", "",
                  "| side | whole epoch, s | share of training waiting for batches | per epoch: s; share |", "|---|---|---|---|"]
        lines += [f"| {side} | {work[side]['epoch_s']} | {work[side]['stall_share']:.1%} | "
                  f"{' '.join(map(str, work[side]['epochs_s']))}; {' '.join(f'{x:.1%}' for x in work[side]['stall_shares'])} |" for side in ("fastai", "paddy")]
    failed = {k: e for k, e in checks.items() if e["status"] == "failed"}
    for name, e in failed.items(): lines += ["", f"### Failure: {name}", "", "```", e["error"].strip(), "```"]
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cpu", action="store_true", help="the tiny CPU rehearsal (gloo, the CPU's precision): every check runs, figures mean nothing")
    ap.add_argument("--out", help="folder for gpu_check.json and BENCHMARKS.md's GPU section (default: here; with --cpu, build/gpu-check-cpu)")
    ap.add_argument("--only", type=lambda v: v.split(","), metavar="CHECK[,CHECK...]",
                    help=f"run these checks again, keeping the other results of OUT's gpu_check.json; checks: {', '.join(n for n, _ in CHECKS)}")
    args = ap.parse_args(argv)
    unknown = sorted(set(args.only or ()) - {n for n, _ in CHECKS})
    if unknown: ap.error(f"no check named {', '.join(unknown)}; the checks are {', '.join(n for n, _ in CHECKS)}")
    import warnings
    warnings.filterwarnings("ignore")
    os.environ.setdefault("MPLBACKEND", "Agg")
    import torch
    if not args.cpu and not torch.cuda.is_available(): ap.error("no CUDA GPU here; `--cpu` runs the CPU rehearsal")
    out = Path(args.out or ("build/gpu-check-cpu" if args.cpu else "."))
    out.mkdir(parents=True, exist_ok=True)
    mode = "cpu" if args.cpu else "gpu"
    if args.cpu:  # inductor compiles for minutes on a small CPU: the rehearsal traces with dynamo's eager backend instead
        from paddy.models import compiled
        compiled.BACKEND = "eager"
    command = "python scripts/gpu_check.py" + (" --cpu" if args.cpu else "")
    date = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    earlier = json.loads((out / "gpu_check.json").read_text()) if args.only and (out / "gpu_check.json").is_file() else None
    if earlier and earlier["mode"] != mode: ap.error(f"{out / 'gpu_check.json'} is from the {earlier['mode']} mode; rerun in that mode or use another --out")
    with tempfile.TemporaryDirectory(prefix="paddy-gpu-check-") as tmp:
        c = Ctx(SETTINGS[mode], not args.cpu, Path(tmp), out)
        c.results = dict(mode=mode, command=command, date=date, device=device_info(c.gpu), checks={}, ratios={})
        if earlier:
            c.results = earlier
            c.results.setdefault("reruns", []).append(dict(command=f"{command} --only {','.join(args.only)}", date=date, checks=args.only,
                                                           device=device_info(c.gpu).get("gpu", "the CPU")))
        c.log(f"making the competitions in {tmp}")
        prepare(c)
        for name, fn in CHECKS:
            if args.only and name not in args.only: continue
            c.log(f"{name} ...")
            run_check(c, name, fn)
    c.log(f"wrote {out / 'gpu_check.json'} and the GPU section of {out / 'BENCHMARKS.md'}")
    return int(any(e["status"] == "failed" for e in c.results["checks"].values()))

if __name__ == "__main__":
    sys.exit(main())
