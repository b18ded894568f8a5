"""`paddy <command>`: a thin layer over the package's functions. A user's mistake prints one line and exits 2."""
import argparse, os, sys, warnings
from pathlib import Path

from paddy.errors import PaddyError


class Parser(argparse.ArgumentParser):
    "argparse whose errors are one line (no usage block), exit code 2."
    def error(self, message):
        raise PaddyError(f"{message}; see `{self.prog} --help`" if " " in self.prog else f"{message}; see `paddy --help` or `paddy COMMAND --help`")


def _run_flags(p):
    "The flags of a training run: every Config field (paddy/config.py declares them), a TOML file or a preset."
    from paddy.config import parser_flags
    p.add_argument("--config", help="TOML file with any of these keys; flags win")
    p.add_argument("--exp", metavar="NAME", help="the preset experiments/NAME.toml, as --config (`make train EXP=NAME`)")
    parser_flags(p)


def _settings(args):
    "{Config key: value} of the run flags given (None: not given), with --config and --exp."
    from paddy.config import KEYS
    return {k: v for k, v in vars(args).items() if k in KEYS} | dict(toml=args.config, exp=args.exp)


def cmd_models(args):
    from paddy.api import models
    rows = models()
    width = max(len(r[0]) for r in rows)
    for name, timm_name, rule in rows: print(f"{name:<{width}}  {rule:<14} {timm_name}")


def cmd_inspect(args):
    from paddy.api import inspect
    from paddy.config import COMPETITION_KEYS
    _, lines = inspect(**{k: getattr(args, k) for k in COMPETITION_KEYS if getattr(args, k) is not None})
    print("\n".join(lines))


def cmd_lr_find(args):
    from paddy.api import lr_find, settings
    cfg = settings(**_settings(args))
    sugg = lr_find(cfg)
    print(f"lr_find: valley {sugg['valley']:.2e}  slide {sugg['slide']:.2e}  plot {Path(cfg.runs_dir) / cfg.run_name / 'lr_find.png'}")


def cmd_train(args):
    from paddy.config import KEYS, make_config, resume_config
    given = {k: v for k, v in vars(args).items() if k in KEYS}
    if args.resume: cfg = resume_config(args.resume, config=args.config, exp=args.exp, **given)  # checked before the heavy imports
    else: cfg = make_config(args.config, args.exp, **given)
    from paddy import api
    from paddy.learn.distributed import rank
    from paddy.runs import CHECKPOINT, load_meta
    try: folder = api.train(cfg, args.gpus, resume=bool(args.resume))
    except KeyboardInterrupt:
        if not (Path(cfg.runs_dir) / cfg.run_name / CHECKPOINT).is_file(): raise
        raise KeyboardInterrupt(f"the last finished epoch is saved; continue with `paddy train --resume {cfg.run_name}`") from None
    if rank() or args.gpus > 1: return  # under torchrun, rank 0's own process prints its run
    meta = load_meta(folder)
    metric = meta.competition["metric"]
    score = "-" if meta.valid_score is None else f"{meta.valid_score:.4f}"
    print(f"trained {meta.name}: valid {metric} {score}" + (f" ({meta.valid_score_tta:.4f} with TTA)" if meta.valid_score_tta is not None else "")
          + f", {meta.train_seconds:.0f}s -> {folder}")
    print(f"report {Path(api.REPORTS) / (folder.name + '.html')}")


def cmd_predict(args):
    from paddy.api import predict
    from paddy.config import PREDICT_KEYS
    out, cv = predict(**{k: getattr(args, k) for k in PREDICT_KEYS})
    print(f"wrote {out}" + ("" if cv is None else f"; out-of-fold {cv[0]} of this ensemble {cv[1]:.4f}"))


def cmd_cv(args):
    from paddy.api import REPORTS, cross_validate, cv_settings
    from paddy.runs import load_cv
    out = cross_validate(cv_settings(**_settings(args)), tta=args.tta)
    cv = load_cv(out)
    print(f"cv {cv.metric} {cv.score:.4f} over {cv.folds} folds ({' '.join(f'{s:.4f}' for s in cv.fold_scores)}), {cv.n} images -> {out}")
    print(f"report {Path(REPORTS) / (out.name + '.html')}")


def cmd_report(args):
    from paddy.api import report
    for path in report([n for a in args.run for n in a.split(",") if n] or None, args.runs_dir, args.out, args.data): print(f"wrote {path}")


def cmd_blend(args):
    from paddy.api import blend
    from paddy.infer.blend import blends_dir, summary
    result = blend([n for n in args.cv.split(",") if n], args.name, args.method, args.rounds, args.runs_dir)
    print("\n".join(summary(result) + [f"wrote {blends_dir(args.runs_dir) / (result.name + '.json')}"]))


def cmd_runs(args):
    from paddy.api import runs_table
    print(runs_table(args.runs_dir))


def cmd_data(args):
    from paddy.api import download
    print(f"data ready in {download(args.slug, Path(args.dest), retries=args.retries)}")


def cmd_submit(args):
    from paddy.api import submit, submit_kernel
    if args.kernel:
        if args.file: raise PaddyError("--kernel submits the kernel's own output: drop FILE")
        kernel, ref = submit_kernel(args.kernel, args.message, args.slug, args.version)
        print(f"submitted the output of the kernel {kernel}" + (f" version {args.version}" if args.version else "") + f": ref {ref}")
        return
    if args.version: raise PaddyError("--version goes with --kernel NAME")
    path, ref = submit(args.file, args.message, args.slug, args.data)
    print(f"submitted {path}: ref {ref}")


def cmd_submissions(args):
    from paddy.api import submissions
    rows = submissions(args.slug)
    if not rows: print("no submissions yet")
    score = lambda v: "-" if v is None else v  # a score of 0.0 is a score
    for s in rows:
        print(f"{s.get('date', '')!s:<20} {s.get('status', '')!s:<9} public {score(s.get('publicScore'))!s:<8} "
              f"private {score(s.get('privateScore'))!s:<8} {s.get('fileName', '')}  {s.get('description', '')}")


def cmd_kernel(args):
    from paddy.api import kernel, settings
    cfg = settings(**_settings(args))
    predict = args.predict.split(",") if args.predict else None
    run_weights = args.run_weights.split(",") if args.run_weights else None
    dataset, url, ref = kernel(cfg, args.kernel, args.dataset, args.tta, args.gpu, args.internet, args.gpus, args.accelerator, predict, run_weights)
    print(f"pushed the dataset {dataset} and the kernel {url}", flush=True)
    if args.wait: _landed(ref, cfg.runs_dir)


def cmd_follow(args):
    from paddy.kaggle.kernel import kernel_ref
    _landed(kernel_ref(args.kernel), args.runs_dir)


def _landed(ref, runs_dir):
    "Follow kernel `ref`, bring its output here, and say what came."
    from paddy.api import follow
    folders, csv = follow(ref, runs_dir)
    for f in folders: print(f"run {f.name} -> {f}")
    print(f"submission -> {csv}" if csv else "no submission.csv in the kernel's output")


def parser():
    from paddy.config import COMPETITION_KEYS, PredictSettings, parser_flags
    from paddy.data.layout import SLUG
    from paddy.infer.predict import TTA
    ap = Parser(prog="paddy", description="fastai + timm from Kaggle competition data to a scored submission")
    sub = ap.add_subparsers(dest="command", required=True, parser_class=Parser)
    sub.add_parser("models", help="list the model table").set_defaults(func=cmd_models)
    p = sub.add_parser("inspect", help="what paddy detects in a competition folder: train CSV, images, test ids, task, metric, submission")
    parser_flags(p, COMPETITION_KEYS)
    p.set_defaults(func=cmd_inspect)
    p = sub.add_parser("lr-find", help="run fastai's lr_find and save the plot")
    _run_flags(p)
    p.set_defaults(func=cmd_lr_find)
    p = sub.add_parser("train", help="train a run into runs/NAME")
    _run_flags(p)
    p.add_argument("--resume", metavar="RUN", help="continue the unfinished run RUN from its last finished epoch, with its saved settings")
    p.add_argument("--gpus", type=int, default=1, help="train in N processes under torchrun, one per GPU, rank 0 writing the run (default 1)")
    p.set_defaults(func=cmd_train)
    p = sub.add_parser("predict", help="TTA predictions of one or more runs, averaged into submissions/NAME.csv")
    parser_flags(p, settings=PredictSettings)
    p.set_defaults(func=cmd_predict)
    p = sub.add_parser("cv", help="train every fold of a stratified K-fold (runs NAME-fI), then out-of-fold predictions into runs/NAME-cv")
    _run_flags(p)
    p.add_argument("--tta", type=int, default=TTA, help=f"0: the out-of-fold predictions are the folds' plain ones; else their TTA ones (default {TTA})")
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
    p.add_argument("--kernel", metavar="NAME", help="a code competition: submit the output of the pushed kernel NAME (or OWNER/NAME)")
    p.add_argument("--version", type=int, help="with --kernel: that kernel version (default: its newest)")
    p.set_defaults(func=cmd_submit)
    p = sub.add_parser("follow", help="follow a pushed kernel until it ends, then bring its runs into runs/ and its submission into submissions/")
    p.add_argument("kernel", help="the kernel: NAME (yours) or OWNER/NAME")
    p.add_argument("--runs-dir", default="runs", help="where its runs land (default runs)")
    p.set_defaults(func=cmd_follow)
    p = sub.add_parser("submissions", help="list past submissions and their scores")
    p.add_argument("--slug", default=SLUG)
    p.set_defaults(func=cmd_submissions)
    p = sub.add_parser("kernel", help="push paddy (wheel, --weights or finished runs) as a dataset and a kernel that trains and predicts, or only predicts, on Kaggle")
    _run_flags(p)
    p.add_argument("--predict", metavar="RUN[,RUN...]", help="push these finished runs (a cv folder: its folds) and a kernel that only predicts them, averaged")
    p.add_argument("--run-weights", help="ensemble weights of the --predict runs, comma-separated, one per run")
    p.add_argument("--tta", type=int, default=TTA, help=f"TTA augmented views of the kernel's prediction (default {TTA})")
    p.add_argument("--kernel", help="the kernel's slug (default paddy-train; with --predict paddy-predict)")
    p.add_argument("--dataset", help="the slug of the dataset holding paddy's wheel and the weights or runs (default paddy-offline; with --predict paddy-runs)")
    p.add_argument("--gpu", action=argparse.BooleanOptionalAction, default=True, help="run the kernel on a GPU (default on)")
    p.add_argument("--accelerator", help="Kaggle's GPU machine: t4 (NvidiaTeslaT4, two T4s; the default); p100 is retired")
    p.add_argument("--gpus", type=int, help="train in N processes, one per GPU, under torchrun in the kernel (default 1; t4 has 2)")
    p.add_argument("--internet", action=argparse.BooleanOptionalAction, default=False, help="give the kernel the internet (default off)")
    p.add_argument("--wait", action="store_true", help="follow the kernel until it ends, then bring its runs and submission here (as `paddy follow`)")
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
