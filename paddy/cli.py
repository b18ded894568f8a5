"""`paddy <command>`: a thin layer over the package's functions. A user's mistake prints one line and exits 2."""
import argparse, os, sys, warnings
from pathlib import Path

from .errors import PaddyError


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
    p.add_argument("--pretrained", action=argparse.BooleanOptionalAction, default=None, help="start from pretrained weights (default on)")
    p.add_argument("--weights", help="local pretrained weights file (safetensors or .pth, timm layout); never uses the network")
    p.add_argument("--workers", type=int, help="DataLoader worker processes (default: fastai's)")
    p.add_argument("--name", help="run name: the folder runs/NAME (default ARCH-HxW)")
    p.add_argument("--runs-dir", help="where run folders live (default runs)")


def _config(args):
    from .config import KEYS, make_config
    values = {k: v for k, v in vars(args).items() if k in KEYS}
    return make_config(args.config, **values)


def cmd_models(args):
    from . import zoo
    rows = zoo.table()
    width = max(len(r[0]) for r in rows)
    for name, timm_name, rule in rows: print(f"{name:<{width}}  {rule:<14} {timm_name}")


def cmd_lr_find(args):
    from .train import find_lr
    cfg = _config(args)
    sugg = find_lr(cfg)
    print(f"lr_find: valley {sugg['valley']:.2e}  slide {sugg['slide']:.2e}  plot {Path(cfg.runs_dir) / cfg.run_name / 'lr_find.png'}")


def cmd_train(args):
    from .runs import load_meta
    from .train import train
    folder = train(_config(args))
    meta = load_meta(folder)
    print(f"trained {meta['name']}: valid error {meta['valid_error']:.4f}, {meta['train_seconds']:.0f}s -> {folder}")


def cmd_predict(args):
    from .kaggle import data_root
    from .predict import predict
    from .runs import find, load_meta
    names = args.run.split(",") if args.run else None
    weights = args.run_weights.split(",") if args.run_weights else None
    slug = args.slug or load_meta(find(names[0] if names else None, args.runs_dir))["config"]["slug"]
    root = data_root(slug, args.data)
    out = predict(names, root, tta=args.tta, weights=weights, out=args.out, runs_dir=args.runs_dir, bs=args.bs, workers=args.workers)
    print(f"wrote {out}")


def cmd_data(args):
    from .kaggle import download
    print(f"data ready in {download(args.slug, Path(args.dest))}")


def cmd_submit(args):
    from . import kaggle, submission
    path = Path(args.file) if args.file else _newest_submission()
    sample = Path(kaggle.data_root(args.slug, args.data)) / "sample_submission.csv"
    submission.validate_file(path, submission.read_sample(sample))
    ref = kaggle.submit(path, args.message or f"paddy {path.stem}", args.slug)
    print(f"submitted {path}: ref {ref}")


def cmd_submissions(args):
    from .kaggle import submissions
    rows = submissions(args.slug)
    if not rows: print("no submissions yet")
    for s in rows:
        print(f"{s.get('date', '')!s:<20} {s.get('status', '')!s:<9} public {s.get('publicScore') or '-':<8} "
              f"private {s.get('privateScore') or '-':<8} {s.get('fileName', '')}  {s.get('description', '')}")


def _newest_submission():
    files = sorted(Path("submissions").glob("*.csv"), key=lambda p: p.stat().st_mtime)
    if not files: raise PaddyError("no CSV under submissions/; run `make predict` first or pass FILE")
    return files[-1]


def parser():
    from .kaggle import SLUG
    ap = Parser(prog="paddy", description="fastai + timm from Kaggle competition data to a scored submission")
    sub = ap.add_subparsers(dest="command", required=True, parser_class=Parser)
    sub.add_parser("models", help="list the model table").set_defaults(func=cmd_models)
    for name, func, text in [("lr-find", cmd_lr_find, "run fastai's lr_find and save the plot"),
                             ("train", cmd_train, "train a run into runs/NAME")]:
        p = sub.add_parser(name, help=text)
        _run_flags(p)
        p.set_defaults(func=func)
    p = sub.add_parser("predict", help="TTA predictions of one or more runs, averaged into submissions/NAME.csv")
    p.add_argument("--run", help="run name(s), comma-separated (default: the newest finished run)")
    p.add_argument("--run-weights", help="ensemble weights, comma-separated, one per run")
    p.add_argument("--data", help="competition folder (default: the run's competition)")
    p.add_argument("--slug", help="Kaggle competition slug (default: the run's)")
    p.add_argument("--tta", type=int, default=4, help="TTA augmented passes (0: plain prediction; default 4)")
    p.add_argument("--bs", type=int, default=64, help="batch size for prediction (default 64)")
    p.add_argument("--workers", type=int, help="DataLoader worker processes")
    p.add_argument("--out", help="submission CSV (default submissions/RUN.csv)")
    p.add_argument("--runs-dir", default="runs", help="where run folders live (default runs)")
    p.set_defaults(func=cmd_predict)
    p = sub.add_parser("data", help="download and extract the competition data into DEST/SLUG")
    p.add_argument("--slug", default=SLUG)
    p.add_argument("--dest", default="data")
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
    except KeyboardInterrupt:
        print("paddy: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
