"""`paddy <command>`: a thin layer over the package's functions. A user's mistake prints one line and exits 2."""
import argparse, os, sys, warnings
from pathlib import Path

from paddy.errors import PaddyError


class Parser(argparse.ArgumentParser):
    "argparse whose errors are one line (no usage block), exit code 2."
    def error(self, message):
        raise PaddyError(f"{message}; see `{self.prog} --help`" if " " in self.prog else f"{message}; see `paddy --help` or `paddy COMMAND --help`")


def _run_flags(p):
    "The flags of a training run; defaults are None so a config file's values are kept unless a flag is given."
    p.add_argument("--config", help="TOML file with any of these keys; flags win")
    p.add_argument("--data", help="competition folder (train_images/, test_images/, train.csv, sample_submission.csv)")
    p.add_argument("--slug", help="Kaggle competition slug (default paddy-disease-classification)")
    p.add_argument("--arch", help="model name from `paddy models`, or any timm name")
    p.add_argument("--size", help="final image size H or H,W (default 128)")
    p.add_argument("--item-size", help="per-item resize before batch augmentation, H or H,W (default twice --size)")
    p.add_argument("--resize", help="item resize method: squish | crop | pad")
    p.add_argument("--min-scale", type=float, help="aug_transforms min_scale (default 0.75)")
    p.add_argument("--flip", action=argparse.BooleanOptionalAction, default=None, help="random horizontal flips (default on)")
    p.add_argument("--valid-pct", type=float, help="share of each label held out for validation (default 0.2)")
    p.add_argument("--seed", type=int, help="seed of the split and the training (default 42)")
    p.add_argument("--bs", type=int, help="effective batch size (default 32)")
    p.add_argument("--accum", type=int, help="gradient accumulation: split each batch into N micro-batches (default 1)")
    p.add_argument("--epochs", type=int, help="epochs (default 3)")
    p.add_argument("--method", help="fine_tune | fit_one_cycle")
    p.add_argument("--lr", help="learning rate, or 'auto' for lr_find's valley (default 0.01)")
    p.add_argument("--precision", help="auto | fp16 | bf16 | fp32 (auto: fp16 on CUDA, bf16 on CPUs with native bf16, else fp32)")
    p.add_argument("--deterministic", action=argparse.BooleanOptionalAction, default=None, help="on a GPU, cuDNN's deterministic kernels (slower); default: its benchmark mode")
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None, help="train in channels_last memory format (default: on for fp16 on a GPU, where it measured faster)")
    p.add_argument("--pretrained", action=argparse.BooleanOptionalAction, default=None, help="start from pretrained weights (default on)")
    p.add_argument("--weights", help="local pretrained weights file (safetensors or .pth, timm layout); never uses the network")
    p.add_argument("--workers", type=int, help="DataLoader worker processes (default: fastai's)")
    p.add_argument("--cache", action=argparse.BooleanOptionalAction, default=None, help="train on resized copies made once per item size (default on)")
    p.add_argument("--cache-dir", help="where the resized copies live (default cache)")
    p.add_argument("--label-smoothing", type=float, help="label-smoothing eps of the cross-entropy, e.g. 0.1 (default 0: off)")
    p.add_argument("--mixup", type=float, help="MixUp alpha, e.g. 0.4 (default 0: off)")
    p.add_argument("--cutmix", type=float, help="CutMix alpha, e.g. 1.0 (default 0: off)")
    p.add_argument("--ema", type=float, nargs="?", const=0.999, help="validate and save an EMA of the weights with decay EMA (--ema alone: 0.999)")
    p.add_argument("--init-from", metavar="RUN", help="start from finished run RUN's weights, e.g. at a larger --size (progressive resizing)")
    p.add_argument("--folds", type=int, help="stratified K-fold: split into K folds and validate on --fold")
    p.add_argument("--fold", type=int, help="the fold (0 to K-1) to validate on")
    p.add_argument("--targets", help="train.csv columns to predict, label first, e.g. label,variety (default label)")
    p.add_argument("--tracker", help="also log the run to tensorboard or wandb (optional extras: pip install 'paddy[tensorboard]')")
    p.add_argument("--pseudo", metavar="SOURCE", help="add the test images a blend, run or cv folder predicts confidently to the training part (a CSV: with --pseudo-threshold 0)")
    p.add_argument("--pseudo-threshold", type=float, help="least probability of a pseudo-labelled test image (default 0.9)")
    p.add_argument("--swa", type=int, help="average the weights of the last K epochs and keep the average if it validates better (default 0: off)")
    p.add_argument("--name", help="run name: the folder runs/NAME (default ARCH-HxW, plus -fI for fold I)")
    p.add_argument("--runs-dir", help="where run folders live (default runs)")


def _config(args):
    from paddy.config import KEYS, make_config
    values = {k: v for k, v in vars(args).items() if k in KEYS}
    return make_config(args.config, **values)


def cmd_models(args):
    from paddy.models import zoo
    rows = zoo.table()
    width = max(len(r[0]) for r in rows)
    for name, timm_name, rule in rows: print(f"{name:<{width}}  {rule:<14} {timm_name}")


def cmd_lr_find(args):
    from paddy.learn.train import find_lr
    cfg = _config(args)
    sugg = find_lr(cfg)
    print(f"lr_find: valley {sugg['valley']:.2e}  slide {sugg['slide']:.2e}  plot {Path(cfg.runs_dir) / cfg.run_name / 'lr_find.png'}")


RESUME_KEEPS = ("data", "workers", "runs_dir", "cache_dir", "accum")  # this machine's paths and memory: free to change on resume


def _resume_config(args):
    "The saved Config of run `args.resume`; flags that would change the run conflict with --resume."
    from paddy.config import KEYS, make_config
    from paddy.runs import find, load_meta
    given = sorted(k for k, v in vars(args).items() if k in KEYS and k not in RESUME_KEEPS and v is not None)
    if args.config: given.insert(0, "config")
    if given: raise PaddyError(f"--resume continues a run with its saved settings; drop --{', --'.join(g.replace('_', '-') for g in given)}")
    folder = find(args.resume, args.runs_dir or "runs")
    saved = {k: v for k, v in load_meta(folder).get("config", {}).items() if k in KEYS}
    here = {k: getattr(args, k) for k in RESUME_KEEPS if getattr(args, k, None) is not None}
    return make_config(None, **saved | here | dict(runs_dir=str(folder.parent), name=folder.name))


def cmd_train(args):
    from paddy.runs import load_meta
    cfg = _resume_config(args) if args.resume else _config(args)  # flags checked before the heavy imports
    from paddy.learn.train import train
    try: folder = train(cfg, resume=bool(args.resume))
    except KeyboardInterrupt:
        from paddy.runs import CHECKPOINT
        if not (Path(cfg.runs_dir) / cfg.run_name / CHECKPOINT).is_file(): raise
        raise KeyboardInterrupt(f"the last finished epoch is saved; continue with `paddy train --resume {cfg.run_name}`") from None
    finally:
        from paddy.learn.distributed import close
        close()
    meta = load_meta(folder)
    print(f"trained {meta['name']}: valid error {meta['valid_error']:.4f}, {meta['train_seconds']:.0f}s -> {folder}")
    from paddy.learn.distributed import rank
    from paddy.report.pages import write
    if rank() == 0: print(f"report {write([str(folder)], folder.parent)[0]}")


def cmd_predict(args):
    from paddy.cv import ensemble_cv
    from paddy.data.layout import data_root
    from paddy.infer.blend import as_runs
    from paddy.infer.predict import predict
    from paddy.runs import expand, find, load_meta
    if args.blend: args.run, args.run_weights, args.out = as_runs(args.blend, args.run or args.run_weights, args.out, args.runs_dir)
    given = args.run.split(",") if args.run else None
    weights = args.run_weights.split(",") if args.run_weights else None
    names, fold_weights = expand(given, weights, args.runs_dir) if given else (None, weights)  # a cv folder: its folds
    if given and not args.out: args.out = Path("submissions") / ("+".join(Path(n).name for n in given) + ".csv")
    slug = args.slug or load_meta(find(names[0] if names else None, args.runs_dir))["config"]["slug"]
    root = data_root(slug, args.data)
    out = predict(names, root, tta=args.tta, weights=fold_weights, out=args.out, runs_dir=args.runs_dir, bs=args.bs, workers=args.workers,
                  use_checkpoint=args.use_checkpoint, precision=args.precision)
    cv = ensemble_cv(given, weights, args.runs_dir) if given else None
    print(f"wrote {out}" + ("" if cv is None else f"; out-of-fold accuracy of this ensemble {cv:.4f}"))
    from paddy.errors import warn
    from paddy.learn.valid import tta_note
    notes = [tta_note(load_meta(find(n, args.runs_dir))) for n in names or [None]] if args.tta else []
    for note in filter(None, notes): warn(note)


def cmd_cv(args):
    from paddy.config import load_toml
    from paddy.cv import cross_validate
    from paddy.runs import load_cv
    if args.fold is not None: raise PaddyError("paddy cv trains every fold: drop --fold (`paddy train --folds K --fold I` trains one)")
    args.fold = 0
    if args.folds is None: args.folds = (load_toml(args.config) if args.config else {}).get("folds") or 5
    out = cross_validate(_config(args), tta=args.tta, workers=args.workers)
    cv = load_cv(out)
    print(f"cv accuracy {cv['accuracy']:.4f} (error {cv['error']:.4f}) over {cv['folds']} folds, {cv['n']} images -> {out}")
    from paddy.report.pages import write
    print(f"report {write([str(out)], out.parent)[0]}")


def cmd_report(args):
    from paddy.report.pages import write
    for path in write([n for a in args.run for n in a.split(",") if n] or None, args.runs_dir, args.out, args.data): print(f"wrote {path}")


def cmd_blend(args):
    from paddy.infer.blend import blend, blends_dir, summary
    result = blend([n for n in args.cv.split(",") if n], args.name, args.method, args.rounds, args.runs_dir)
    print("\n".join(summary(result) + [f"wrote {blends_dir(args.runs_dir) / (result['name'] + '.json')}"]))


def cmd_runs(args):
    from paddy.report.listing import table
    print(table(args.runs_dir))


def cmd_data(args):
    from paddy.kaggle.api import download
    print(f"data ready in {download(args.slug, Path(args.dest), retries=args.retries)}")


def cmd_submit(args):
    from paddy.data import layout
    from paddy.kaggle import api as kaggle
    from paddy.infer import submission
    path = Path(args.file) if args.file else _newest_submission()
    sample = Path(layout.data_root(args.slug, args.data)) / "sample_submission.csv"
    submission.validate_file(path, submission.read_sample(sample))
    ref = kaggle.submit(path, args.message or f"paddy {path.stem}", args.slug)
    print(f"submitted {path}: ref {ref}")


def cmd_submissions(args):
    from paddy.kaggle.api import submissions
    rows = submissions(args.slug)
    if not rows: print("no submissions yet")
    score = lambda v: "-" if v is None else v  # a score of 0.0 is a score
    for s in rows:
        print(f"{s.get('date', '')!s:<20} {s.get('status', '')!s:<9} public {score(s.get('publicScore'))!s:<8} "
              f"private {score(s.get('privateScore'))!s:<8} {s.get('fileName', '')}  {s.get('description', '')}")


def cmd_kernel(args):
    from paddy.config import KEYS
    from paddy.kaggle.kernel import push
    flags = {k: v for k, v in vars(args).items() if (k in KEYS or k == "config") and v is not None}
    predict = args.predict.split(",") if args.predict else None
    run_weights = args.run_weights.split(",") if args.run_weights else None
    dataset, url = push(flags, args.kernel, args.dataset, args.tta, args.gpu, args.internet, args.gpus, args.accelerator, predict, run_weights)
    print(f"pushed the dataset {dataset} and the kernel {url}")


def _newest_submission():
    files = sorted(Path("submissions").glob("*.csv"), key=lambda p: p.stat().st_mtime)
    if not files: raise PaddyError("no CSV under submissions/; run `make predict` first or pass FILE")
    return files[-1]


def parser():
    from paddy.data.layout import SLUG
    ap = Parser(prog="paddy", description="fastai + timm from Kaggle competition data to a scored submission")
    sub = ap.add_subparsers(dest="command", required=True, parser_class=Parser)
    sub.add_parser("models", help="list the model table").set_defaults(func=cmd_models)
    for name, func, text in [("lr-find", cmd_lr_find, "run fastai's lr_find and save the plot"),
                             ("train", cmd_train, "train a run into runs/NAME")]:
        p = sub.add_parser(name, help=text)
        _run_flags(p)
        p.set_defaults(func=func)
    p.add_argument("--resume", metavar="RUN", help="continue the unfinished run RUN from its last finished epoch, with its saved settings")
    p = sub.add_parser("predict", help="TTA predictions of one or more runs, averaged into submissions/NAME.csv")
    p.add_argument("--run", help="run name(s), comma-separated (default: the newest finished run)")
    p.add_argument("--run-weights", help="ensemble weights, comma-separated, one per run")
    p.add_argument("--blend", metavar="NAME", help="predict blend NAME (blends/NAME.json from `paddy blend`): its cv folders, weighted")
    p.add_argument("--data", help="competition folder (default: the run's competition)")
    p.add_argument("--slug", help="Kaggle competition slug (default: the run's)")
    p.add_argument("--tta", type=int, default=4, help="TTA augmented passes (0: plain prediction; default 4)")
    p.add_argument("--bs", type=int, default=64, help="batch size for prediction (default 64)")
    p.add_argument("--workers", type=int, help="DataLoader worker processes")
    p.add_argument("--out", help="submission CSV (default submissions/RUN.csv)")
    p.add_argument("--runs-dir", default="runs", help="where run folders live (default runs)")
    p.add_argument("--use-checkpoint", action="store_true", help="predict an unfinished run from its last finished epoch")
    p.add_argument("--precision", choices=("fp16", "bf16", "fp32"), help="on a GPU, predict in this precision (default: each run's own)")
    p.set_defaults(func=cmd_predict)
    p = sub.add_parser("cv", help="train every fold of a stratified K-fold (runs NAME-fI), then out-of-fold predictions into runs/NAME-cv")
    _run_flags(p)
    p.add_argument("--tta", type=int, default=4, help="TTA augmented passes of the out-of-fold predictions (default 4)")
    p.set_defaults(func=cmd_cv)
    p = sub.add_parser("blend", help="ensemble weights of cv folders chosen on their out-of-fold predictions, into blends/NAME.json")
    p.add_argument("cv", help="cv folders (NAME-cv from `paddy cv`), comma-separated")
    p.add_argument("--name", help="the blend's name: blends/NAME.json (default: the cv folders joined by +)")
    p.add_argument("--method", default="greedy", help="greedy: forward selection with replacement (Caruana); logloss: weights of least log-loss")
    p.add_argument("--rounds", type=int, default=25, help="greedy selection steps (default 25)")
    p.add_argument("--runs-dir", default="runs", help="where run folders live (default runs; blends go beside it)")
    p.set_defaults(func=cmd_blend)
    p = sub.add_parser("runs", help="a table of the runs: arch, size, epochs, valid error, CV, TTA, time")
    p.add_argument("--runs-dir", default="runs", help="where run folders live (default runs)")
    p.set_defaults(func=cmd_runs)
    p = sub.add_parser("report", help="HTML pages of runs, cv folders and a comparison into reports/, with reports/index.html")
    p.add_argument("run", nargs="*", help="runs or cv folders, comma-separated (default: every one); several: also a comparison page")
    p.add_argument("--runs-dir", default="runs", help="where run folders live (default runs)")
    p.add_argument("--out", default="reports", help="folder of the pages (default reports)")
    p.add_argument("--data", help="competition folder for the top losses' thumbnails (default: the run's)")
    p.set_defaults(func=cmd_report)
    p = sub.add_parser("data", help="download and extract the competition data into DEST/SLUG")
    p.add_argument("--slug", default=SLUG)
    p.add_argument("--dest", default="data")
    p.add_argument("--retries", type=int, default=5, help="times the kaggle client resumes a broken download, with growing pauses (default 5)")
    p.set_defaults(func=cmd_data)
    p = sub.add_parser("submit", help="validate a submission CSV and upload it to Kaggle")
    p.add_argument("file", nargs="?", help="CSV to submit (default: the newest under submissions/)")
    p.add_argument("-m", "--message", help="submission description")
    p.add_argument("--slug", default=SLUG)
    p.add_argument("--data", help="competition folder holding sample_submission.csv")
    p.set_defaults(func=cmd_submit)
    p = sub.add_parser("submissions", help="list past submissions and their scores")
    p.add_argument("--slug", default=SLUG)
    p.set_defaults(func=cmd_submissions)
    p = sub.add_parser("kernel", help="push paddy (wheel, --weights or finished runs) as a dataset and a kernel that trains and predicts, or only predicts, on Kaggle")
    _run_flags(p)
    p.add_argument("--predict", metavar="RUN[,RUN...]", help="push these finished runs (a cv folder: its folds) and a kernel that only predicts them, averaged")
    p.add_argument("--run-weights", help="ensemble weights of the --predict runs, comma-separated, one per run")
    p.add_argument("--tta", type=int, default=4, help="TTA augmented passes of the kernel's prediction (default 4)")
    p.add_argument("--kernel", help="the kernel's slug (default paddy-train; with --predict paddy-predict)")
    p.add_argument("--dataset", help="the slug of the dataset holding paddy's wheel and the weights or runs (default paddy-offline; with --predict paddy-runs)")
    p.add_argument("--gpu", action=argparse.BooleanOptionalAction, default=True, help="run the kernel on a GPU (default on)")
    p.add_argument("--accelerator", help="Kaggle's GPU machine: t4 (NvidiaTeslaT4, two T4s; the default); p100 is retired")
    p.add_argument("--gpus", type=int, help="train in N processes, one per GPU, under torchrun in the kernel (default 1; t4 has 2)")
    p.add_argument("--internet", action=argparse.BooleanOptionalAction, default=False, help="give the kernel the internet (default off)")
    p.set_defaults(func=cmd_kernel)
    return ap


def main(argv=None):
    "Entry point of the `paddy` console script."
    warnings.filterwarnings("ignore", category=FutureWarning)
    os.environ.setdefault("MPLBACKEND", "Agg")
    try:
        args = parser().parse_args(argv)
        args.func(args)
    except PaddyError as e:
        print(f"paddy: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        print(f"paddy: interrupted{'; ' + str(e) if str(e) else ''}", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
