"""`make bench`: paddy's data path, trainer, precision, compile, TTA, memory and image cache against their baselines, in one run.

The headline is a whole training epoch, data and model together, of paddy against fastai's recipe on the same photos
(480x640 and 300x300); then whole epochs at each precision x memory format x eager/compiled, and the demo's accuracy
after fine_tune at fp32 and bf16 over three seeds. Everything is measured in the same run on this machine, on generated JPEGs and the demo digits; the
script writes BENCHMARKS.md (tables, machine, the command, profiles of missed targets) and bench.json (the same figures).

    python scripts/bench.py                      # full run: writes BENCHMARKS.md and bench.json here
    python scripts/bench.py --quick --out DIR    # a few minutes: checks that every measurement runs
"""
import argparse, cProfile, copy, io, json, os, platform, pstats, shutil, subprocess, sys, tempfile, time, tomllib
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "scripts")]
from paddy.testing.competitions import synthetic  # noqa: E402
DEMO, DEMO_W = REPO / "data" / "demo-digits", REPO / "data" / "weights" / "mobilenetv2_100.safetensors"
DEMO_FLAGS = {k: v for k, v in tomllib.loads((REPO / "experiments" / "demo.toml").read_text()).items() if k not in ("data", "name")} \
    | dict(weights=str(DEMO_W), epochs=1)  # `make demo`'s recipe, one epoch
EPOCH_SETS = {"photos": ((480, 640), 480), "small": ((300, 300), 256)}  # (width, height), the recipe's item resize on them
SETTINGS = {  # photos: 480x640 JPEGs; epoch: a whole epoch's images, labels, model and batch size; matrix: the photos of the
    # precision x memory format x compile epochs (80% train: >= 10 batches); batches: timed after one warm-up; demo: (train,
    # test) images and batch size; seeds: of the demo runs compared; rss: image counts. bf16 is emulated on CPUs without
    # native bf16 (10x+ slower): the matrix and the accuracy comparison leave it out there.
    "full": dict(photos=960, epoch_images=320, epoch_labels=10, epoch_arch="resnet26d", second_arch="efficientnet_b0", epoch_bs=32, matrix_images=480,
                 fastai_batches=5, loader_batches=20, train_size=64, train_batches=20,
                 demo=(4000, 1000, 32), seeds=(1, 2, 3), rss=(2000, 8000)),
    "quick": dict(photos=100, epoch_images=16, epoch_labels=2, epoch_arch="test_resnet", second_arch="test_efficientnet", epoch_bs=4, matrix_images=16,  # timm's test models: < 1M parameters
                  fastai_batches=1, loader_batches=1, train_size=32, train_batches=2,
                  demo=(128, 64, 8), seeds=(1,), rss=(128, 512)),
}
GPU_PENDING = ('## GPU\n\nNo GPU figures yet: `make gpu-check` on a CUDA machine writes this section (README, "The GPU check", '
               "says how on a machine without the internet).\n")
TARGETS = dict(data_vs_fastai=8.0, data_vs_decode=0.70, learner_vs_loop=0.95, best_vs_fp32=2.0, compile_vs_eager=1.15, tta_cost=5.3,
               rss_growth=0.15)
MATRIX = [(prec, cl, comp) for comp in (False, True) for prec in ("fp32", "bf16") for cl in (False, True)]  # (precision, channels_last, compiled)


# ---------------------------------------------------------------- inputs

def make_photos(root, n, labels=10, size=(480, 640), n_test=0):
    """A competition in Paddy Doctor's layout of `n` photo-like JPEGs of `size` (width, height) over `labels` labels, and
    `n_test` test ones (paddy.testing.competitions.synthetic, made on every core). Returns the training images' paths."""
    root, _ = synthetic(root, tuple(f"label{k}" for k in range(labels)), n // labels, n_test, tuple(size), photos=True)
    return sorted(Path(root, "train_images").rglob("*.jpg"))


def competition(out, n_train, n_test, repeat_ok=False):
    "A competition folder of `n_train`/`n_test` demo images (symlinks; repeated under new ids when `repeat_ok`); returns its solution."
    train = pd.read_csv(DEMO / "train.csv", dtype=str)
    train = pd.concat([train] * (-(-n_train // len(train)) if repeat_ok else 1)).iloc[:n_train].reset_index(drop=True)
    src = [DEMO / "train_images" / r.label / r.image_id for r in train.itertuples()]
    train["image_id"] = [f"{k:06d}-{i}" for k, i in enumerate(train.image_id)]
    out = Path(out)
    for s, r in zip(src, train.itertuples()):
        (out / "train_images" / r.label).mkdir(parents=True, exist_ok=True)
        (out / "train_images" / r.label / r.image_id).symlink_to(s)
    train.to_csv(out / "train.csv", index=False)
    solution = pd.read_csv(f"{DEMO}-solution.csv", dtype=str).sort_values("image_id").iloc[:n_test]
    (out / "test_images").mkdir()
    for i in solution.image_id: (out / "test_images" / i).symlink_to(DEMO / "test_images" / i)
    solution.assign(label=solution.label.iloc[0]).to_csv(out / "sample_submission.csv", index=False)
    return solution.reset_index(drop=True)


# ---------------------------------------------------------------- measurements

def loader_rate(dl, n):
    "img/s of `n` batches from a DataLoader, after one warm-up batch (worker start-up excluded)."
    it = iter(dl)
    next(it)
    start = time.perf_counter()
    count = sum(len(next(it)[0]) for _ in range(n))
    return count / (time.perf_counter() - start)


def fastai_default_dl(root, bs=32, workers=None, item=480):
    "The reference recipe's DataLoaders (Road to the Top part 1), as written there: `item` is its Resize(480, squish)."
    from fastai.vision.all import ImageDataLoaders, Resize, aug_transforms
    kw = {} if workers is None else dict(num_workers=workers)
    return ImageDataLoaders.from_folder(Path(root) / "train_images", valid_pct=0.2, seed=42, bs=bs, **kw,
                                        item_tfms=Resize(item, method="squish"), batch_tfms=aug_transforms(size=128, min_scale=0.75))


def fastai_augment(size, min_scale=0.75, flip=True):
    "fastai's own `aug_transforms`, in place of paddy.data.augment.batch_augment: the fast path's baseline."
    from fastai.vision.all import aug_transforms
    return aug_transforms(size=tuple(size), min_scale=min_scale, do_flip=flip)


def paddy_dl(root, cache, cache_dir):
    "paddy's train DataLoaders for the default Config (size 128, item size 256, squish) with or without the cache."
    from paddy import config
    from paddy.data import block, competition
    from paddy.models import zoo
    cfg = config.make_config(data=str(root), size=128, cache=cache, cache_dir=str(cache_dir))
    comp = competition.from_config(cfg)
    items = competition.train_items(comp)
    return block.dataloaders(cfg, zoo.spec(cfg.arch), comp.task, items, block.valid_split(cfg, comp.task, items))


def _decode(paths, resize):
    from paddy.data.cache import cover_size
    from paddy.data.images import open_rgb
    for p in paths:
        im = open_rgb(p, 256)
        if resize: im.resize(cover_size(*im.size, (256, 256)), Image.BILINEAR)
        else: im.load()
    return len(paths)


def decode_rate(paths, workers, resize=False):
    """img/s of decoding `paths` as paddy's loader opens them (`open_rgb`), with `resize` also resized to the 256 item
    size (what building the cache does to an original), spread over `workers` processes."""
    chunks = [paths[i::workers * 4] for i in range(workers * 4)]
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_decode, [c[:1] for c in chunks], [resize] * len(chunks)))  # start the workers first
        start = time.perf_counter()
        n = sum(pool.map(_decode, chunks, [resize] * len(chunks)))
    return n / (time.perf_counter() - start)


def memory_batches(n, size, bs=32, seed=0):
    "`n` in-memory (x, y) batches of normalized-looking noise at `size` (H or (H, W)), so only the training loop is timed."
    import torch
    g, (h, w) = torch.Generator().manual_seed(seed), ((size, size) if isinstance(size, int) else size)
    return [(torch.randn(bs, 3, h, w, generator=g), torch.randint(0, 10, (bs,), generator=g)) for _ in range(n)]


def paddy_learner(batches, precision):
    "paddy's Learner (train.learner: fastai vision_learner over timm resnet18) on in-memory batches."
    import torch
    from fastai.data.core import Datasets
    from fastai.data.transforms import Categorize
    from paddy import config
    from paddy.learn import train
    from paddy.models import zoo
    xs = torch.cat([x for x, _ in batches])
    ys = [str(int(v)) for _, y in batches for v in y]
    n = len(ys)
    dsets = Datasets(range(n), tfms=[[lambda i: xs[i]], [lambda i: ys[i], Categorize(vocab=[str(i) for i in range(10)])]],
                     splits=[list(range(n)), list(range(32))])
    dls = dsets.dataloaders(bs=len(batches[0][1]), num_workers=0)
    cfg = config.make_config(arch="resnet18", pretrained=False, precision=precision)
    learn = train.learner(dls, zoo.spec("resnet18"), cfg)
    learn.unfreeze()
    return learn


def learner_rate(learn, first=False):
    """img/s of a Learner's training batches (one fit_one_cycle epoch), the first one excluded as warm-up; with `first`,
    (img/s, seconds from the fit's start to the first batch's end: the warm-up, compiles included)."""
    from fastai.callback.core import Callback
    marks = []
    class Clock(Callback):
        def before_fit(self): marks.append(time.perf_counter())
        def after_batch(self):
            if self.training: marks.append(time.perf_counter())
    learn.fit_one_cycle(1, 1e-3, cbs=Clock())
    rate = learn.dls.train.bs * (len(marks) - 2) / (marks[-1] - marks[1])
    return (rate, marks[1] - marks[0]) if first else rate


def loop_rate(model, batches, channels_last=False):
    "img/s of a plain PyTorch loop (AdamW, cross-entropy) over `batches`, the first one excluded as warm-up."
    import torch
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt).train()
    opt = torch.optim.AdamW(model.parameters(), 1e-3, weight_decay=0.01)
    marks = []
    for x, y in batches:
        loss = torch.nn.functional.cross_entropy(model(x.contiguous(memory_format=fmt)), y)
        loss.backward()
        opt.step()
        opt.zero_grad()
        marks.append(time.perf_counter())
    return len(batches[0][1]) * (len(marks) - 1) / (marks[-1] - marks[0])


def epoch_seconds(learn, lr=1e-3):
    "Seconds of one whole epoch of `learn.fit` after its warm-up (`warm_and_epoch`)."
    return warm_and_epoch(learn, lr)[1]


def warm_and_epoch(learn, lr=1e-3):
    """(seconds of a warm-up fit of one batch each way: the first worker start, kernel selection, the allocator, and
    with --compile the compiles; seconds of the whole epoch of `learn.fit` that follows: training then validation, data
    and model together, as a user waits for it)."""
    import torch
    from fastai.callback.core import Callback
    from fastai.callback.training import ShortEpochCallback
    marks = []
    class Clock(Callback):
        def before_epoch(self): marks.append(time.perf_counter())
        def after_epoch(self):
            if torch.cuda.is_available(): torch.cuda.synchronize()
            marks.append(time.perf_counter())
    with learn.no_bar(), learn.no_logging():
        start = time.perf_counter()
        learn.fit(1, lr, cbs=ShortEpochCallback(1e-9))
        warm = time.perf_counter() - start
        learn.fit(1, lr, cbs=Clock())
    return warm, marks[1] - marks[0]


def recipe_epoch(root, arch, bs, workers=None, item=480):
    """(seconds of one whole epoch, precision) of fastai's default recipe on root/train_images: `fastai_default_dl`,
    `vision_learner(...).to_fp16()`, `fit`; cuDNN at torch's defaults, as the recipe leaves it."""
    import torch
    from fastai.vision.all import error_rate, vision_learner
    torch.backends.cudnn.deterministic = torch.backends.cudnn.benchmark = False  # paddy's set_seed(reproducible) changes them
    learn = vision_learner(fastai_default_dl(root, bs, workers, item), arch, metrics=error_rate, pretrained=False).to_fp16()
    return epoch_seconds(learn), "fp16" if torch.cuda.is_available() else "fp32"  # fastai's to_fp16 autocasts on CUDA only


def paddy_epoch(root, cache_dir, arch, bs, workers=None, precision="auto", **settings):
    """(seconds of one whole epoch, seconds before it, precision) of paddy's DataLoaders and Learner on the competition
    `root`; before it: `train.prepare` (every image decoded once, the image cache built or reused)."""
    (_, epoch), before, prec = paddy_warm_and_epoch(root, cache_dir, arch, bs, workers, precision, **settings)
    return epoch, before, prec


def paddy_warm_and_epoch(root, cache_dir, arch, bs, workers=None, precision="auto", **settings):
    "((warm-up seconds, epoch seconds) as `warm_and_epoch`, seconds of `train.prepare`, precision) of `paddy_run_learner`."
    learn, before, prec = paddy_run_learner(root, cache_dir, arch, bs, workers, precision, **settings)
    return warm_and_epoch(learn), before, prec


def paddy_run_learner(root, cache_dir, arch, bs, workers=None, precision="auto", **settings):
    """(paddy's Learner on the competition `root` with run `settings`, no pretrained weights; seconds of `train.prepare`:
    every image decoded once, the image cache built or reused; the precision it resolved to)."""
    from paddy import config
    from paddy.learn import train
    cfg = config.make_config(data=str(root), arch=arch, pretrained=False, bs=bs, workers=workers, precision=precision,
                             cache_dir=str(cache_dir), **settings)
    p, before = timed(train.prepare, cfg)
    return train.learner(p.dls, p.spec, cfg, p.comp.task, p.comp.metric), before, p.precision


def demo_run(root, work, name, **flags):
    "Train the demo recipe (1 epoch) on `root`; returns (run folder, seconds)."
    from paddy import config
    from paddy.learn import train
    cfg = config.make_config(data=str(root), runs_dir=str(work / "runs"), cache_dir=str(work / "cache"), name=name, **(DEMO_FLAGS | flags))
    start = time.perf_counter()
    folder = train.train(cfg)
    return folder, time.perf_counter() - start


def run_model(folder, root, tta=0):
    "A finished run's model, its test DataLoader (with `tta` views) and meta, as paddy.infer.predict builds them."
    from paddy import runs
    from paddy.data import block
    from paddy.data.competition import predict_items
    from paddy.infer.predict import competition
    from paddy.models import targets
    meta = runs.load_meta(folder)
    files = list(predict_items(competition(meta, root)).path)
    return targets.target_head(runs.load_model(folder, meta), meta), block.test_dataloader(meta, files, 64, tta=tta), meta


def probabilities(model, dl, precision="fp32"):
    "Class probabilities of `model` over the test DataLoader `dl`, as paddy.infer.predict.outputs gives them for a run of `precision`."
    from paddy.infer.predict import outputs
    return outputs(model, dl, lambda x: x.float().softmax(-1), precision=precision)


def accuracy(probs, meta, solution):
    return float((np.array(meta.vocab)[np.asarray(probs).argmax(1)] == solution.label.to_numpy()).mean())


def timed(fn, *args, **kw):
    start = time.perf_counter()
    out = fn(*args, **kw)
    return out, time.perf_counter() - start


def tree_pss_mb(pid):
    """Proportional set size (MB) of process `pid` and all its descendants: each shared page (the forked DataLoader
    workers share most of theirs) counted once, split among the processes that share it."""
    todo, kb = [pid], 0
    while todo:
        p = todo.pop()
        try:
            kb += next(int(ln.split()[1]) for ln in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines() if ln.startswith("Pss:"))
            todo += [int(c) for t in os.listdir(f"/proc/{p}/task") for c in Path(f"/proc/{p}/task/{t}/children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError, PermissionError, StopIteration): pass  # a process that ended meanwhile
    return kb / 1024


def peak_rss(root, work, name):
    """Peak memory (MB) of a `paddy train` demo run in a fresh process: the PSS of the whole process tree (main process
    and DataLoader workers), sampled every 0.1 s; the peak RSS of the main process; that of its largest child."""
    child = ("import json, resource, sys\nfrom paddy.cli import main\nrc = main(sys.argv[1:])\nr = resource.getrusage\n"
             "print('RSS', json.dumps([rc, r(resource.RUSAGE_SELF).ru_maxrss, r(resource.RUSAGE_CHILDREN).ru_maxrss]))")
    from paddy import config
    argv = ["train", *config.to_flags(config.make_config(**DEMO_FLAGS | dict(data=str(root), runs_dir=str(work / "runs"),
                                                                              cache_dir=str(work / "cache"), name=name)))]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen([sys.executable, "-c", child, *argv], stdout=out, stderr=err, text=True, cwd=work,
                                env=dict(os.environ, PYTHONPATH=str(REPO)))
        tree = 0.0
        while proc.poll() is None:
            tree = max(tree, tree_pss_mb(proc.pid))
            time.sleep(0.1)
        out.seek(0), err.seek(0)
        stdout, stderr = out.read(), err.read()
    line = next((ln for ln in stdout.splitlines() if ln.startswith("RSS ")), None)
    if proc.returncode or line is None or json.loads(line[4:])[0]: raise RuntimeError(f"RSS run failed:\n{stdout[-2000:]}\n{stderr[-2000:]}")
    _, self_kb, child_kb = json.loads(line[4:])
    return tree, self_kb / 1024, child_kb / 1024


def cache_rate(paths, cache_dir, workers):
    "img/s of building the image cache of `paths` at 256x256 with `workers` processes, from nothing."
    from paddy.data.cache import cached
    shutil.rmtree(cache_dir, ignore_errors=True)
    _, seconds = timed(cached, paths, (256, 256), cache_dir, "squish", workers, echo=False)
    return len(paths) / seconds


# ---------------------------------------------------------------- profiles of missed targets

def cprofile(fn, top=12):
    "cProfile's top entries by own time while `fn` runs."
    prof = cProfile.Profile()
    prof.runcall(fn)
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(top)
    text = out.getvalue()
    return text[text.index("ncalls"):].rstrip() if "ncalls" in text else text


# ---------------------------------------------------------------- the run

def loader_figures(s, work, photos, files):
    "(a) the train DataLoader's images/s: fastai's default, paddy's without and with its cache, and the decode limit."
    r, dls = {}, fastai_default_dl(photos)
    r["workers"] = dls.train.fake_l.num_workers
    r["fastai_default_ips"] = loader_rate(dls.train, s["fastai_batches"])
    r["paddy_nocache_ips"] = loader_rate(paddy_dl(photos, False, work / "cache").train, s["loader_batches"])
    _, r["cache_build_default_s"] = timed(paddy_dl, photos, True, work / "cache")
    dls = paddy_dl(photos, True, work / "cache")
    r["paddy_default_ips"] = loader_rate(dls.train, s["loader_batches"])
    cached = [str(p) for p in sorted((work / "cache").rglob("*")) if p.suffix.lower() in (".jpg", ".jpeg", ".png")]
    r["decode_limit_ips"] = decode_rate(cached, len(os.sched_getaffinity(0)))  # the copies paddy's loader reads
    r["decode_originals_ips"] = decode_rate([str(p) for p in files], len(os.sched_getaffinity(0)), resize=True)  # what the cache build does
    r["data_vs_fastai"] = r["paddy_default_ips"] / r["fastai_default_ips"]
    r["data_vs_decode"] = r["paddy_default_ips"] / r["decode_limit_ips"]
    return r, {}


def epoch_figures(s, work):
    """(g) a whole training epoch of fastai's recipe and of paddy on each EPOCH_SETS: paddy at fp32 (the recipe's
    precision on a CPU, and paddy's `auto` there), and at bf16 where the CPU has it natively."""
    from paddy.models import precision
    r = dict(epoch_paddy_auto_precision=precision.resolve("auto"),
             epoch_paddy_precisions=["fp32"] + (["bf16"] if precision.cpu_has_native_bf16() else []))
    for kind, (size, item) in EPOCH_SETS.items():
        root = work / f"epoch-{kind}"
        make_photos(root, s["epoch_images"], s["epoch_labels"], size=size)  # every label in fastai's random train split
        args = (s["epoch_arch"], s["epoch_bs"])
        r[f"epoch_{kind}_fastai_s"], r["epoch_fastai_precision"] = recipe_epoch(root, *args, item=item)
        for prec in r["epoch_paddy_precisions"]:
            r[f"epoch_{kind}_paddy_{prec}_s"], r[f"epoch_{kind}_paddy_{prec}_before_s"], _ = paddy_epoch(root, work / "cache", *args, precision=prec)
            r[f"epoch_{kind}_vs_paddy_{prec}"] = r[f"epoch_{kind}_fastai_s"] / r[f"epoch_{kind}_paddy_{prec}_s"]
    return r, {}


def learner_figures(s):
    "(b) paddy's Learner against a plain PyTorch loop over the same in-memory batches and model."
    batches = memory_batches(s["train_batches"] + 1, s["train_size"])
    learn = paddy_learner(batches, "fp32")
    model = copy.deepcopy(learn.model)
    r = dict(loop_ips=loop_rate(copy.deepcopy(model), batches), learner_ips=learner_rate(learn),
             loop_channels_last_ips=loop_rate(copy.deepcopy(model), batches, channels_last=True))
    r["learner_vs_loop"] = r["learner_ips"] / r["loop_ips"]
    return r, dict(learner=lambda: cprofile(lambda: learner_rate(paddy_learner(batches[:4], "fp32"))))


def matrix_key(prec, cl, comp):
    return f"matrix_{prec}{'_cl' if cl else ''}{'_compiled' if comp else ''}"


def matrix_figures(s, work):
    """(c) one whole epoch of paddy (resnet26d at 128 px in full) at each precision (fp32, and bf16 where the CPU has it
    natively) x memory format (contiguous, channels_last) x eager or compiled (--compile on); the warm-up fit before
    each epoch holds the compiles. Ratios: each against fp32 eager contiguous. Then the eager half again for a second
    model (efficientnet_b0: depthwise convolutions, SiLU, squeeze-excite)."""
    from paddy.models import precision
    root = work / "matrix"
    make_photos(root, s["matrix_images"], s["epoch_labels"])
    r = dict(native_bf16=precision.cpu_has_native_bf16(), auto_precision=precision.resolve("auto"), matrix=[])
    for prec, cl, comp in MATRIX:
        if prec == "bf16" and not r["native_bf16"]: continue
        (warm, epoch), _, _ = paddy_warm_and_epoch(root, work / "cache", s["epoch_arch"], s["epoch_bs"], precision=prec,
                                                   channels_last=cl, compile="on" if comp else "off")
        key = matrix_key(prec, cl, comp)
        r[f"{key}_s"], r[f"{key}_warm_s"] = epoch, warm
        r["matrix"].append(key)
    for prec, cl, comp in MATRIX:  # the second model: eager only, to see whether what is faster for one is for another
        if comp or (prec == "bf16" and not r["native_bf16"]): continue
        (_, epoch), _, _ = paddy_warm_and_epoch(root, work / "cache", s["second_arch"], s["epoch_bs"], precision=prec, channels_last=cl, compile="off")
        r[f"second_{prec}{'_cl' if cl else ''}_s"] = epoch
    base = r[f"{matrix_key('fp32', False, False)}_s"]
    for key in r["matrix"]: r[f"{key}_speedup"] = base / r[f"{key}_s"]
    r["matrix_best"] = max(r["matrix"], key=lambda k: r[f"{k}_speedup"])
    r["best_vs_fp32"] = r[f"{r['matrix_best']}_speedup"]
    r["compile_precisions"] = ["fp32"] + (["bf16"] if r["native_bf16"] else [])
    for prec in r["compile_precisions"]:
        eager, comp = matrix_key(prec, False, False), matrix_key(prec, False, True)
        r[f"compile_vs_eager_{prec}"] = r[f"{eager}_s"] / r[f"{comp}_s"]
        r[f"compile_overhead_{prec}_s"] = r[f"{comp}_warm_s"] - r[f"{eager}_warm_s"]
        gain = r[f"{eager}_s"] - r[f"{comp}_s"]
        r[f"compile_break_even_{prec}_epochs"] = r[f"compile_overhead_{prec}_s"] / gain if gain > 0 else None  # epochs before it pays
    r["compile_vs_eager"] = r[f"compile_vs_eager_{r['auto_precision']}"]  # the target: at the precision paddy trains in by default
    return r, {}


def accuracy_figures(s, work, demo, sol):
    """(h) the demo's test accuracy and valid loss after a real fine_tune (the pretrained MobileNetV2: one frozen epoch,
    one unfrozen) over the seeds: at fp32, at bf16 where the CPU has it natively (predicting in bf16, as paddy does, and
    in fp32), and compiled at fp32 (--compile on): whether bf16 or compiling costs accuracy beyond seed noise."""
    from paddy import runs
    from paddy.models import precision
    r = dict(accuracy_configs=["fp32"] + (["bf16"] if precision.cpu_has_native_bf16() else []) + ["fp32_compiled"])
    *_, bs = s["demo"]
    for name in r["accuracy_configs"]:
        prec, comp = name.split("_")[0], name.endswith("_compiled")
        accs, secs, curves, fp32_eval = [], [], [], []
        for seed in s["seeds"]:
            folder, sec = demo_run(demo, work, f"acc-{name}-{seed}", precision=prec, compile="on" if comp else "off",
                                   method="fine_tune", epochs=1, bs=bs, seed=seed)
            model, dl, meta = run_model(folder, demo)
            accs.append(accuracy(probabilities(model, dl, meta.precision), meta, sol))
            if prec == "bf16": fp32_eval.append(accuracy(probabilities(model, dl, "fp32"), meta, sol))
            curves.append([round(h["valid_loss"], 4) for h in runs.load_meta(folder).history])
            secs.append(sec)
        r[f"accuracy_{name}_accs"], r[f"accuracy_{name}_train_s"], r[f"accuracy_{name}_curves"] = accs, float(np.mean(secs)), curves
        if fp32_eval: r["accuracy_bf16_fp32_eval_accs"] = fp32_eval
    eager = [n for n in r["accuracy_configs"] if not n.endswith("_compiled")]
    r["accuracy_seed_spread"] = float(max(np.ptp(r[f"accuracy_{n}_accs"]) for n in eager))
    if "bf16" in eager: r["bf16_accuracy_gap"] = float(np.mean(r["accuracy_fp32_accs"]) - np.mean(r["accuracy_bf16_accs"]))
    last = {n: np.array([c[-1] for c in r[f"accuracy_{n}_curves"]]) for n in ("fp32", "fp32_compiled")}
    r["compile_loss_gap"] = float(np.abs(last["fp32_compiled"] - last["fp32"]).max())  # same seed, compiled against eager
    r["compile_loss_spread"] = float(np.ptp(last["fp32"]))  # eager's final valid loss across seeds
    return r, {}


def auto_figures(r):
    """What this run's figures pick for `auto` on this CPU class: bf16 only where it was faster than fp32 for both models
    and within seed noise in accuracy; channels_last only where it was faster for both models at that precision; and
    whether paddy's table (`precision.CPU_DEFAULTS`) gives the same."""
    from paddy.models import precision

    def epoch(arch, prec, cl): return r[f"{matrix_key(prec, cl, False) if arch == 'first' else f'second_{prec}' + ('_cl' if cl else '')}_s"]
    archs = ("first", "second")
    faster = r["native_bf16"] and all(min(epoch(a, "bf16", cl) for cl in (False, True)) < min(epoch(a, "fp32", cl) for cl in (False, True)) for a in archs)
    accurate = r.get("bf16_accuracy_gap", np.inf) <= r["accuracy_seed_spread"]
    prec = "bf16" if faster and accurate else "fp32"
    rule = dict(precision=prec, channels_last=all(epoch(a, prec, True) < epoch(a, prec, False) for a in archs))
    table_says = precision.cpu_defaults()
    return dict(cpu_class=precision.cpu_class(), bf16_faster_everywhere=bool(faster), bf16_accurate=bool(accurate), auto_rule=rule,
                auto_table=dict(table_says), auto_agrees=rule == dict(table_says))


def fast_path_figures(s, work, demo, sol):
    """(d) the demo's accuracy trained with fastai's augmentation on full-size files and with paddy's fast path (cache,
    batch augmentation), over seeds; then TTA's cost and gain, paddy's and fastai's."""
    from fastai.vision.all import CrossEntropyLossFlat, DataLoaders, Learner, set_seed
    from paddy.data.augment import batch_augment
    r, (*_, bs) = {}, s["demo"]
    for fast in (False, True):  # without: fastai's own aug_transforms, full-size files; with: paddy's defaults
        accs, secs = [], []
        for seed in s["seeds"]:  # one epoch's accuracy swings by a few points with the seed: compare means
            set_seed(seed)
            with mock.patch("paddy.data.augment.batch_augment", batch_augment if fast else fastai_augment):
                folder, sec = demo_run(demo, work, f"demo-fast-{fast}-{seed}", cache=fast, bs=bs, item_size=64, seed=seed)
            model, dl, meta = run_model(folder, demo)
            probabilities(model, dl)  # warm-up: workers and caches
            probs, r["plain_pass_s"] = timed(probabilities, model, dl)
            accs.append(accuracy(probs, meta, sol))
            secs.append(sec)
        r[f"demo_fast_{fast}_accs"], r[f"demo_fast_{fast}_acc"], r[f"demo_fast_{fast}_train_s"] = accs, float(np.mean(accs)), float(np.mean(secs))
    r["demo_plain_acc"] = accs[-1]
    _, r["five_plain_passes_s"] = timed(lambda: [probabilities(model, dl) for _ in range(5)])
    _, tta_dl, _ = run_model(folder, demo, tta=4)
    probabilities(model, tta_dl)  # warm-up, as the plain pass had
    probs, r["tta4_s"] = timed(probabilities, model, tta_dl)
    r["demo_tta_acc"] = accuracy(probs, meta, sol)
    learn = Learner(DataLoaders(dl, dl), model, loss_func=CrossEntropyLossFlat())
    learn.tta(dl=dl, n=4)  # warm-up
    (probs, _), r["fastai_tta4_s"] = timed(learn.tta, dl=dl, n=4)
    r["demo_fastai_tta_acc"] = accuracy(probs, meta, sol)
    r["tta_cost"] = r["tta4_s"] / r["plain_pass_s"]
    r["tta_vs_five_plain"] = r["tta4_s"] / r["five_plain_passes_s"]
    return r, dict(tta=lambda: cprofile(lambda: probabilities(model, tta_dl)))


def rss_figures(s, work):
    "(e) the peak memory of training runs on a small and a large competition (workers included), and its growth between them."
    r = {}
    for n in s["rss"]:
        competition(work / f"rss{n}", n, 8, repeat_ok=True)
        r[f"rss_{n}_tree_mb"], r[f"rss_{n}_mb"], r[f"rss_{n}_child_mb"] = peak_rss(work / f"rss{n}", work, f"rss{n}")
    lo, hi = s["rss"]
    r["rss_growth"] = r[f"rss_{hi}_tree_mb"] / r[f"rss_{lo}_tree_mb"] - 1
    return r, {}


def cache_figures(work, files):
    "(f) the image cache's build rate on 1 core and on all, and how well it scales."
    paths, cores = [str(p) for p in files], len(os.sched_getaffinity(0))
    r = dict(cores=cores, cache_1_ips=cache_rate(paths, work / "cache-1", 1), **{f"cache_{cores}_ips": cache_rate(paths, work / f"cache-{cores}", cores)})
    r["cache_efficiency"] = r[f"cache_{cores}_ips"] / (cores * r["cache_1_ips"])
    return r, {}


def measure(s, work, log):
    "Every figure of the benchmark, as a flat dict, and the profiles to run on request; `log` prints progress."
    log(f"making {s['photos']} 480x640 JPEGs")
    photos, demo = work / "photos", work / "demo"
    files = make_photos(photos, s["photos"])
    sol = competition(demo, *s["demo"][:2])
    r, profiles = dict(photo_kb=round(np.mean([p.stat().st_size for p in files]) / 1024, 1)), {}
    sections = [("(a) train DataLoader throughput", lambda: loader_figures(s, work, photos, files)),
                ("(g) a whole training epoch, paddy against fastai's recipe", lambda: epoch_figures(s, work)),
                ("(b) paddy Learner vs a plain PyTorch loop", lambda: learner_figures(s)),
                ("(c) a whole epoch: precision x memory format x compile", lambda: matrix_figures(s, work)),
                ("(h) demo accuracy after fine_tune: fp32, bf16 and compiled, over seeds", lambda: accuracy_figures(s, work, demo, sol)),
                ("(d) demo accuracy with and without the fast path; TTA cost and gain", lambda: fast_path_figures(s, work, demo, sol)),
                ("(e) peak RSS of training runs", lambda: rss_figures(s, work)),
                ("(f) image cache build, 1 vs all cores", lambda: cache_figures(work, files))]
    for title, section_figures in sections:
        log(title)
        figures, section_profiles = section_figures()
        r |= figures
        profiles |= section_profiles
    return r | auto_figures(r), profiles


def verdicts(r):
    "{target name: (value, target, met)}; lower is better for tta_cost and rss_growth."
    lower = {"tta_cost", "rss_growth"}
    return {k: (r[k], t, r[k] <= t if k in lower else r[k] >= t) for k, t in TARGETS.items()}


def machine():
    "A description of where the figures come from."
    import fastai, timm, torch
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("model name")), platform.processor())
    flags = Path("/proc/cpuinfo").read_text()
    isa = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in flags]
    return dict(cpu=cpu, cores=len(os.sched_getaffinity(0)), isa=isa, load_avg=[round(x, 2) for x in os.getloadavg()],
                torch=torch.__version__, fastai=fastai.__version__, timm=timm.__version__, python=platform.python_version())


# ---------------------------------------------------------------- the report

def fmt(x, nd=1):
    return f"{x:.{nd}f}" if isinstance(x, float) else str(x)


def table(r):
    "BENCHMARKS.md's figures table: (section, measurement, value)."
    c = r["cores"]
    return [
        ("a", "fastai default recipe (`Resize(480,'squish')` + `aug_transforms(size=128, min_scale=0.75)`), img/s", fmt(r["fastai_default_ips"])),
        ("a", "paddy default data path (image cache squished to 256; the same augmentation resampled once, at 128), img/s", fmt(r["paddy_default_ips"])),
        ("a", "paddy without the cache (JPEG draft decode and resize per item), img/s", fmt(r["paddy_nocache_ips"])),
        ("a", f"decode limit: decoding the cached 256x256 copies paddy's loader reads, {c} processes, img/s", fmt(r["decode_limit_ips"])),
        ("a", f"decoding the 480x640 originals and resizing them to 256 (what building the cache does), {c} processes, img/s", fmt(r["decode_originals_ips"])),
        ("a", f"building the cache inside `dataloaders` ({r['photo_kb']} KB JPEGs, once per size), s", fmt(r["cache_build_default_s"], 2)),
        ("b", "plain PyTorch loop (AdamW), resnet18, fp32, img/s", fmt(r["loop_ips"])),
        ("b", "paddy Learner (`train.learner`, fit_one_cycle), same model/batches, img/s", fmt(r["learner_ips"])),
        ("b", "plain loop with channels_last, img/s", fmt(r["loop_channels_last_ips"])),
        ("c", "CPU has native bf16 / `--precision auto` picks", f"{r['native_bf16']} / {r['auto_precision']}"),
        *[("c", f"whole epoch {r['second_arch']} {p} {'channels_last' if cl else 'contiguous'} eager: epoch s / speed against its fp32 contiguous",
           f"{r[f'second_{p}' + ('_cl' if cl else '') + '_s']:.1f} / {r['second_fp32_s'] / r[f'second_{p}' + ('_cl' if cl else '') + '_s']:.2f}×")
          for p in (["fp32", "bf16"] if r["native_bf16"] else ["fp32"]) for cl in (False, True)],
        ("c", f"CPU class {r['cpu_class']}: what this run's figures pick for auto (bf16 only if faster for both models and within seed noise "
              "in accuracy; channels_last only if faster for both) / what paddy's table (`precision.CPU_DEFAULTS`) gives auto",
         f"{auto_text(r['auto_rule'])} / {auto_text(r['auto_table'])} ({'agree' if r['auto_agrees'] else '**disagree**'})"),
        *[("c", f"whole epoch {matrix_text(k)}: epoch s / warm-up s (compiles included) / speed against fp32 eager",
           f"{r[f'{k}_s']:.1f} / {r[f'{k}_warm_s']:.1f} / {r[f'{k}_speedup']:.2f}×") for k in r["matrix"]],
        *[("c", f"--compile at {p}, contiguous: compiled / eager epoch, seconds its compiles add (inductor's cache empty at the run's start), epochs before it pays for them",
           f"{r[f'compile_vs_eager_{p}']:.2f}× / {r[f'compile_overhead_{p}_s']:.0f} / "
           + ("never (no faster)" if r[f"compile_break_even_{p}_epochs"] is None else f"{r[f'compile_break_even_{p}_epochs']:.1f}"))
          for p in r["compile_precisions"]],
        *[("h", f"demo test accuracy after fine_tune (1 frozen + 1 epoch, {r['demo'][0]} images, bs {r['demo'][2]}), {p.replace('_', ' ')}, seeds {', '.join(map(str, r['seeds']))}",
           " / ".join(f"{a:.4f}" for a in r[f"accuracy_{p}_accs"]) + f" (mean {np.mean(r[f'accuracy_{p}_accs']):.4f}; {r[f'accuracy_{p}_train_s']:.0f} s a run)")
          for p in r["accuracy_configs"]],
        *([("h", "the bf16 runs' test accuracy predicted in fp32 instead of bf16 (what paddy did before), per seed",
            " / ".join(f"{a:.4f}" for a in r["accuracy_bf16_fp32_eval_accs"]) + f" (mean {np.mean(r['accuracy_bf16_fp32_eval_accs']):.4f})")]
          if "accuracy_bf16_fp32_eval_accs" in r else []),
        *[("h", f"demo valid loss after each epoch, {p.replace('_', ' ')}, per seed", " ; ".join(" → ".join(f"{x:.4f}" for x in c) for c in r[f"accuracy_{p}_curves"]))
          for p in r["accuracy_configs"] if p != "bf16"],
        ("d", "one plain inference pass over the demo test set, s", fmt(r["plain_pass_s"], 2)),
        ("d", "five plain passes, s", fmt(r["five_plain_passes_s"], 2)),
        ("d", "paddy TTA n=4 (`predict.probabilities` over a TTA DataLoader: each image decoded once), s", fmt(r["tta4_s"], 2)),
        ("d", "fastai `learn.tta(n=4)` (five passes over the DataLoader), s", fmt(r["fastai_tta4_s"], 2)),
        ("d", "demo test accuracy plain / paddy TTA n=4 / fastai TTA n=4", f"{r['demo_plain_acc']:.4f} / {r['demo_tta_acc']:.4f} / {r['demo_fastai_tta_acc']:.4f}"),
        ("d", "demo test accuracy, mean of seeds {} (1 epoch on {} images, item size 64, bs {}), without / with the fast path (fastai's `aug_transforms` from the files / paddy's cache and one-resample augmentation)".format(
            ", ".join(map(str, r["seeds"])), r["demo"][0], r["demo"][2]), f"{r['demo_fast_False_acc']:.4f} / {r['demo_fast_True_acc']:.4f}"),
        ("d", "the same, per seed: without / with", " ; ".join(f"{a:.3f} / {b:.3f}" for a, b in zip(r["demo_fast_False_accs"], r["demo_fast_True_accs"]))),
        ("d", "demo training time (1 epoch, mean) without / with the fast path, s", f"{r['demo_fast_False_train_s']:.0f} / {r['demo_fast_True_train_s']:.0f}"),
        *[("e", f"peak memory, `paddy train` on {n} images: PSS of all its processes / RSS of the main process / of its largest child, MB",
           f"{r[f'rss_{n}_tree_mb']:.0f} / {r[f'rss_{n}_mb']:.0f} / {r[f'rss_{n}_child_mb']:.0f}")
          for n in (k for k in r["rss_counts"])],
        ("f", "cache build, 1 process, img/s", fmt(r["cache_1_ips"])),
        ("f", f"cache build, {c} processes, img/s", fmt(r[f"cache_{c}_ips"])),
    ]


def matrix_text(key):
    "fp32 contiguous eager, bf16 channels_last compiled, ... of a matrix key."
    parts = key.split("_")[1:]
    return f"{parts[0]} {'channels_last' if 'cl' in parts else 'contiguous'} {'compiled' if 'compiled' in parts else 'eager'}"


def auto_text(choice):
    return f"{choice['precision']}, {'channels_last' if choice['channels_last'] else 'contiguous'}"


def bf16_text(native):
    return "native bf16: avx512_bf16/amx_bf16" if native else "no avx512_bf16/amx_bf16: no native bf16"


def headline(r):
    "BENCHMARKS.md's first section: a whole training epoch, paddy against fastai's recipe, on Paddy-sized and small photos."
    auto, fastai_prec, precs = r["epoch_paddy_auto_precision"], r["epoch_fastai_precision"], r["epoch_paddy_precisions"]
    lines = ["## Headline: a whole training epoch, paddy against fastai's recipe", "",
             f"One epoch (training then validation: data and model together, as a user waits for it) of {r['epoch_arch']} at 128 px, "
             f"batch size {r['epoch_bs']}, fastai's default DataLoader workers ({r['workers']}), on the same {r['epoch_images']} generated photos "
             "(80% train), each side after a warm-up fit of one batch each way. fastai's recipe: `ImageDataLoaders.from_folder` with "
             "`Resize(480, 'squish')` (256, paddy's item size, for the 300x300 photos) and `aug_transforms(size=128, min_scale=0.75)`, "
             f"`vision_learner(...).to_fp16()`, `fit`; on a CPU it trains in {fastai_prec} (fastai's `to_fp16` autocasts on CUDA only). "
             f"paddy: `train.prepare` + `train.learner`, defaults (image cache at 256, one-resample augmentation), `fit`, at "
             f"{' and at '.join(precs)} (`--precision auto` is {auto} on a CPU).", "",
             f"| photos | fastai's recipe ({fastai_prec}), s | " + " | ".join(f"paddy {p}, s" for p in precs) + " | "
             + " | ".join(f"recipe / paddy {p}" for p in precs) + " | paddy before its first epoch (scan + cache build), s |",
             "|---|---|" + "---|" * (2 * len(precs)) + "---|"]
    for kind, ((w, h), _) in EPOCH_SETS.items():
        lines.append(f"| {w}x{h} | {r[f'epoch_{kind}_fastai_s']:.1f} | " + " | ".join(f"{r[f'epoch_{kind}_paddy_{p}_s']:.1f}" for p in precs)
                     + " | " + " | ".join(f"**{r[f'epoch_{kind}_vs_paddy_{p}']:.2f}×**" for p in precs)
                     + f" | {r[f'epoch_{kind}_paddy_fp32_before_s']:.1f} |")
    return lines + [""]


def _span(lines, title):
    "(first, end) line indices of the `## title` section (up to the next `## ` heading), or None."
    start = next((i for i, ln in enumerate(lines) if ln.rstrip() == f"## {title}"), None)
    if start is None: return None
    return start, next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))


def section(text, title):
    "The `## title` section of a markdown text, or None."
    lines = text.splitlines(keepends=True)
    span = _span(lines, title)
    return None if span is None else "".join(lines[span[0]:span[1]]).rstrip("\n") + "\n"


def replace_section(text, title, new):
    "`text` with its `## title` section replaced by `new` (a whole section, heading included), or `new` appended."
    lines = text.splitlines(keepends=True)
    span = _span(lines, title)
    if span is None: return (text.rstrip("\n") + "\n\n" if text.strip() else "") + new
    rest = "".join(lines[span[1]:])
    return "".join(lines[:span[0]]) + new + ("\n" + rest if rest else "")


TARGET_TEXT = dict(data_vs_fastai="data path / fastai default recipe", data_vs_decode="data path / decode limit",
                   learner_vs_loop="paddy Learner / plain loop", best_vs_fp32="whole epoch, best configuration / fp32 eager",
                   compile_vs_eager="whole epoch, compiled / eager (after the compiles)",
                   tta_cost="TTA n=4 / one plain pass", rss_growth="RSS growth, 2,000 → 8,000 images")


def report(r, checks, profiles, notes, command, seconds):
    "BENCHMARKS.md's text."
    m = r["machine"]
    lines = ["# paddy benchmarks", "",
             f"Measured by `{command}` in one run of {seconds / 60:.1f} minutes, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
             f"Machine: {m['cpu']}, {m['cores']} cores, ISA {', '.join(m['isa'])} ({bf16_text(r['native_bf16'])}), "
             f"load average at the start {m['load_avg']} (absolute figures vary between runs on a shared machine; the ratios come "
             f"from one run). torch {m['torch']}, fastai {m['fastai']}, timm {m['timm']}, Python {m['python']}.",
             f"Inputs: {r['photos']} generated 480x640 photo-like JPEGs (mean {r['photo_kb']} KB), batch size 32, "
             f"DataLoader workers {r['workers']} (fastai's default); the demo digits for accuracy.", "",
             *headline(r), "## Targets", "", "| target | measured | goal | met |", "|---|---|---|---|"]
    for k, (v, t, ok) in checks.items():
        goal = f"≤ {t:.0%}" if k == "rss_growth" else (f"≤ {t}×" if k == "tta_cost" else (f"≥ {t:.0%}" if k == "data_vs_decode" else f"≥ {t}×"))
        val = f"{v:+.1%}" if k == "rss_growth" else (f"{v:.0%}" if k == "data_vs_decode" else f"{v:.2f}×")
        lines.append(f"| {TARGET_TEXT[k]} | {val} | {goal} | {'met' if ok else '**missed**'} |")
    lines += ["", "## Figures", "", "| | measurement | value |", "|---|---|---|"]
    lines += [f"| {s} | {what} | {v} |" for s, what, v in table(r)]
    lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    for name, text in profiles.items():
        lines += ["", f"## Profile: {name}", "", "```", text, "```"]
    return "\n".join(lines) + "\n"


def notes_for(r, checks):
    "Plain-language readings of the figures, each from a value in bench.json; missed targets first."
    n = []
    best = r["matrix_best"]
    n.append(f"The fastest whole epoch here was {matrix_text(best)}, {r['best_vs_fp32']:.2f}× fp32 eager contiguous; `--precision auto` "
             f"picks {r['auto_precision']} on a CPU ({bf16_text(r['native_bf16'])} here).")
    for p in r["compile_precisions"]:
        be = r[f"compile_break_even_{p}_epochs"]
        n.append(f"--compile at {p} ran the epoch at {r[f'compile_vs_eager_{p}']:.2f}× eager's speed after compiles of "
                 f"{r[f'compile_overhead_{p}_s']:.0f} s: " + ("never faster" if be is None else f"it pays for itself after {be:.1f} "
                 "epochs of this size") + ". `--compile auto` leaves it off.")
    if "bf16_accuracy_gap" in r:
        gap, spread = r["bf16_accuracy_gap"], r["accuracy_seed_spread"]
        n.append(f"fp32 minus bf16 demo accuracy, mean of {len(r['seeds'])} seed(s): {gap:+.4f}; the spread across seeds within one "
                 f"precision is {spread:.4f}: the gap is {'within' if abs(gap) <= spread else 'beyond'} seed noise. The same bf16 "
                 f"runs predicted in bf16 (as paddy predicts them) minus in fp32: "
                 f"{np.mean(r['accuracy_bf16_accs']) - np.mean(r['accuracy_bf16_fp32_eval_accs']):+.4f} on average.")
    n.append(f"Compiled against eager fp32 demo fine_tunes, same seed: the final valid losses differ by at most {r['compile_loss_gap']:.4f}; "
             f"eager's final valid loss varies by {r['compile_loss_spread']:.4f} across seeds: "
             f"{'within' if r['compile_loss_gap'] <= r['compile_loss_spread'] else 'beyond'} seed noise.")
    n.append(f"On this CPU class ({r['cpu_class']}) bf16 was {'faster' if r['bf16_faster_everywhere'] else 'not faster'} than fp32 for both "
             f"models and {'within' if r['bf16_accurate'] else 'beyond'} seed noise in accuracy; the figures pick {auto_text(r['auto_rule'])} "
             f"for `auto`, and paddy's table gives {auto_text(r['auto_table'])}: {'they agree' if r['auto_agrees'] else 'they disagree: update precision.CPU_DEFAULTS'}.")
    n.append(f"The data path ran at {r['data_vs_fastai']:.1f}× the recipe's and {r['data_vs_decode']:.0%} of the rate at which {r['cores']} "
             f"processes decode the cached copies it reads ({r['decode_limit_ips']:.0f} img/s): decoding is not what bounds it, the rest "
             f"of each batch's work in the workers is (collate, augmentation, normalization). Decoding and resizing the originals, "
             f"as the cache build does once, runs at {r['decode_originals_ips']:.0f} img/s.")
    if not checks["learner_vs_loop"][2]:
        n.append(f"paddy's Learner ran at {r['learner_vs_loop']:.2f}× the plain loop's speed: see its profile.")
    n.append(f"TTA n=4 took {r['tta_cost']:.2f}× one plain pass, {r['tta_vs_five_plain']:.2f}× five plain passes and "
             f"{r['tta4_s'] / r['fastai_tta4_s']:.2f}× fastai's `learn.tta(n=4)`, each timed after a warm-up pass.")
    lo, hi = r["rss_counts"]
    n.append(f"Peak memory of all of a training run's processes grew {r['rss_growth']:+.1%} from {lo:,} to {hi:,} images "
             f"({r[f'rss_{lo}_tree_mb']:.0f} → {r[f'rss_{hi}_tree_mb']:.0f} MB PSS); the largest DataLoader worker's RSS went "
             f"{r[f'rss_{lo}_child_mb']:.0f} → {r[f'rss_{hi}_child_mb']:.0f} MB.")
    diff = r["demo_fast_True_acc"] - r["demo_fast_False_acc"]
    spread = max(np.ptp(r["demo_fast_False_accs"]), np.ptp(r["demo_fast_True_accs"]))
    n.append(f"Demo accuracy with the fast path minus without: {diff:+.3f} (mean of {len(r['seeds'])} seed(s)); the spread across "
             f"seeds within one setting is {spread:.3f}.")
    n.append(f"Cache build parallel efficiency across {r['cores']} cores: {r['cache_efficiency']:.0%}.")
    return n


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small counts and dynamo's eager backend: checks that it runs, figures are not stable")
    ap.add_argument("--out", default=".", help="folder for BENCHMARKS.md and bench.json (default: here)")
    args = ap.parse_args(argv)
    import warnings
    warnings.filterwarnings("ignore")
    os.environ.setdefault("MPLBACKEND", "Agg")
    import make_demo
    if not (DEMO / "train.csv").is_file(): make_demo.build_competition(DEMO)
    if not DEMO_W.is_file(): make_demo.convert_weights(DEMO_W)
    mode = "quick" if args.quick else "full"
    if args.quick:  # inductor compiles for minutes on 2 cores: the quick run traces with dynamo's eager backend instead
        from paddy.models import compiled
        compiled.BACKEND = "eager"
    s = SETTINGS[mode]
    start = time.perf_counter()
    log = lambda text: print(f"[{time.perf_counter() - start:5.0f}s] {text}", flush=True)
    with tempfile.TemporaryDirectory(prefix="paddy-bench-") as tmp:
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(Path(tmp) / "inductor")  # compiles start cold, as a model's first run's do
        host = machine()
        r, profile_fns = measure(s, Path(tmp), log)
        r |= dict(machine=host, mode=mode, photos=s["photos"], train_size=s["train_size"], epoch_images=s["epoch_images"],
                  epoch_arch=s["epoch_arch"], second_arch=s["second_arch"], epoch_bs=s["epoch_bs"], matrix_images=s["matrix_images"], rss_counts=list(s["rss"]),
                  demo=list(s["demo"]), seeds=list(s["seeds"]))
        checks = verdicts(r)
        missed = {"learner": ("learner_vs_loop",), "tta": ("tta_cost",)}  # in-process profiles (the data path's work is in its workers)
        profiles = {}
        for name, keys in missed.items():
            if any(not checks[k][2] for k in keys):
                log(f"profiling {name}")
                profiles[name] = profile_fns[name]()
    seconds = time.perf_counter() - start
    command = "make bench" if mode == "full" else "python scripts/bench.py --quick"
    r |= dict(seconds=round(seconds, 1), command=command, targets={k: dict(value=v, goal=t, met=ok) for k, (v, t, ok) in checks.items()})
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(REPO))
    from paddy.files import write_json, write_text
    text = report(r, checks, profiles, notes_for(r, checks), command, seconds)
    old = (out / "BENCHMARKS.md").read_text() if (out / "BENCHMARKS.md").is_file() else ""
    text = replace_section(text, "GPU", section(old, "GPU") or GPU_PENDING)  # scripts/gpu_check.py's section is kept
    write_text(out / "BENCHMARKS.md", text)
    write_json(out / "bench.json", {k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()})
    log(f"wrote {out / 'BENCHMARKS.md'} and {out / 'bench.json'}")


if __name__ == "__main__":
    main()
