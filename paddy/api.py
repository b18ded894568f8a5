"""paddy in a notebook: one function per CLI command (`paddy train` is `train(cfg)`, `paddy predict` is `predict(runs)`,
and so on). The CLI parses flags and prints; everything it does happens here or below.

    from paddy import api
    cfg = api.settings(exp="part1-resnet26d", epochs=1)   # a preset, flags win (`--exp`, `--config`, `--arch` ...)
    api.inspect(data="data/paddy-disease-classification") # what paddy detects: task, metric, submission
    folder = api.train(cfg)                               # runs/part1-resnet26d/; api.train(cfg, gpus=2): torchrun
    csv, _ = api.predict(folder.name)                     # submissions/part1-resnet26d.csv
    api.submit(csv, "first try")                          # needs Kaggle credentials
"""
from pathlib import Path

from paddy.config import RESUME_KEEPS, cv_config, make_config, predict_settings, resume_config, to_flags
from paddy.cv import ensemble_cv
from paddy.data import competition
from paddy.data.layout import SLUG, data_root
from paddy.errors import PaddyError, warn
from paddy.infer.blend import as_runs, blend  # noqa: F401 (`paddy blend`)
from paddy.infer.predict import predict as predict_runs, submission_path
from paddy.infer.submission import read_sample, validate_file
from paddy.kaggle.api import download, submissions  # noqa: F401 (`paddy data`, `paddy submissions`)
from paddy.kaggle.api import submit as upload
from paddy.kaggle.api import submit_code
from paddy.kaggle.kernel import land as follow  # noqa: F401 (`paddy follow`, `paddy kernel --wait`)
from paddy.kaggle.kernel import kernel_ref, push as kernel  # noqa: F401 (`paddy kernel`)
from paddy.learn import distributed
from paddy.learn.train import lr_find  # noqa: F401 (`paddy lr-find`)
from paddy.learn.valid import tta_note
from paddy.models.zoo import table as models  # noqa: F401 (`paddy models`)
from paddy.report.listing import table as runs_table  # noqa: F401 (`paddy runs`)
from paddy.report.pages import write as report  # noqa: F401 (`paddy report`)
from paddy.runs import expand, find, load_cv, load_meta

__all__ = ["settings", "cv_settings", "models", "inspect", "lr_find", "train", "resume", "cross_validate", "blend", "predict", "runs_table",
           "report", "download", "submit", "submit_kernel", "submissions", "kernel", "follow"]

settings = make_config  # a Config from defaults, a TOML file (`toml`) or preset (`exp`), then keyword settings
cv_settings = cv_config  # the same for `paddy cv`: --folds K (default 5)
resume_settings = resume_config  # the saved Config of an unfinished run, with what may change on resume


def inspect(data=None, slug=SLUG, sample=None, train_csv=None, id_col=None, target=None, task=None, metric=None, top_k=None):
    """What paddy detects in a competition folder (`data`, default the slug's): returns (the Competition, the lines
    `paddy inspect` prints: train CSV and columns, images matched and where, test ids, task, metric, submission)."""
    from paddy.data.layout import ImageIndex
    target = tuple(target.split(",")) if isinstance(target, str) else target
    comp = competition.describe(data_root(slug, data), sample, train_csv, id_col, target, task, metric, top_k)
    index = ImageIndex(comp.root)
    return comp, competition.summary(comp, competition.train_items(comp, index), competition.predict_items(comp, index))


REPORTS = "reports"  # where `paddy train` and `paddy cv` write their pages


def train(cfg, gpus=1, resume=False):
    """Train a run from a Config and write its page (reports/<run>.html); returns its folder. With `gpus` > 1, in that
    many processes under torchrun (one per GPU, or gloo processes on a CPU), rank 0 writing the run and the page.
    `resume`: continue the run folder's unfinished run from its checkpoint (a Config from `resume_settings`), however
    many processes saved it."""
    from paddy.learn.train import train as train_run
    if gpus > 1: return _torchrun(gpus, cfg, resume)
    try: folder = train_run(cfg, resume=resume)
    finally: distributed.close()
    if distributed.rank() == 0: report([str(folder)], folder.parent, REPORTS)
    return folder


def resume(run, runs_dir="runs", **settings):
    """Continue unfinished run `run` from its last finished epoch, with its saved settings (only data, workers,
    runs_dir, cache_dir and accum may change), and write its page; returns its folder."""
    return train(resume_settings(run, runs_dir, **settings), resume=True)


def _torchrun(gpus, cfg, resume=False):
    """Train `cfg` in `gpus` processes: `torchrun -m paddy.cli train` with the flags that rebuild it (resuming: the
    run and what may change on resume); returns the run folder."""
    flags = ["--resume", cfg.run_name, *to_flags(cfg, RESUME_KEEPS)] if resume else to_flags(cfg)
    if code := distributed.torchrun(gpus, ["-m", "paddy.cli", "train", *flags]):
        raise PaddyError(f"training in {gpus} processes failed (exit code {code}); its output is above")
    return Path(cfg.runs_dir) / cfg.run_name


def cross_validate(cfg, tta=4):
    """Train every fold of `cfg.folds` (see `cv_settings`), write the out-of-fold predictions and the pages of the cv
    folder and its folds; returns the cv folder."""
    from paddy.cv import cross_validate as run_folds
    folder = run_folds(cfg, tta=tta)
    report([str(folder)], folder.parent, REPORTS)
    return folder


def predict(run=None, **settings):
    """Predict the test images with finished runs `run` (names; a cv folder stands for its folds; None: the newest
    run) or a blend, into the submission CSV; `settings` are PredictSettings' (`blend`, `run_weights`, `data`, `tta`,
    `out`...). The images are the competition's at `data`, or by default those the first run trained on (its folder
    where it exists here, else its slug's). Thresholds and cut points come from the blend, from a lone cv folder's
    out-of-fold fit, or else from the runs' validation fits, averaged. Returns (the CSV, (metric, the ensemble's
    out-of-fold score) when every run is a cv folder, else None)."""
    s = predict_settings(run=run, **settings)
    runs, weights, out, decoder = as_runs(s.blend, s.run or s.run_weights, s.out, s.runs_dir) if s.blend else (s.run, s.run_weights, s.out, None)
    if not s.blend and runs and len(runs) == 1 and (cv := load_cv(Path(s.runs_dir) / runs[0]) or load_cv(runs[0])): decoder = cv.decoder
    names, fold_weights = expand(runs, weights, s.runs_dir) if runs else ([None], weights)  # a cv folder: its folds
    folders = [find(n, s.runs_dir) for n in names]
    metas = [load_meta(f) for f in folders]
    trained, data = metas[0].config, s.data  # default: the competition the first run trained on
    if data is None and trained.get("data") and Path(trained["data"]).is_dir(): data = trained["data"]
    csv = predict_runs(folders, data_root(s.slug or trained["slug"], data), out or submission_path(runs or [f.name for f in folders]),
                       fold_weights, decoder, s.tta, s.bs, s.workers, s.use_checkpoint, s.precision)
    if s.tta:
        for note in filter(None, map(tta_note, metas)): warn(note)
    return csv, ensemble_cv(runs, weights, s.runs_dir) if runs else None


def submit(file=None, message=None, slug=SLUG, data=None):
    """Check a submission CSV against the competition's sample submission (header, ids and their order, every cell,
    numbers where it has numbers) and upload it (default: the newest CSV under submissions/); returns (the CSV,
    Kaggle's reference of the submission)."""
    path = Path(file) if file else newest_submission()
    root = data_root(slug, data)
    validate_file(path, read_sample(root / competition.find_sample(root)))
    return path, upload(path, message or f"paddy {path.stem}", slug)


def submit_kernel(kernel, message=None, slug=SLUG, version=None):
    """Submit to the code competition `slug` the output (submission.csv) of pushed kernel `kernel` (NAME or OWNER/NAME),
    its newest version or `version`; returns (the kernel's owner/name, Kaggle's reference of the submission)."""
    ref = kernel_ref(kernel)
    return ref, submit_code(ref, message or f"paddy kernel {ref}" + (f" v{version}" if version else ""), slug, version)


def newest_submission(folder="submissions"):
    "The CSV under `folder` written last."
    files = sorted(Path(folder).glob("*.csv"), key=lambda p: p.stat().st_mtime)
    if not files: raise PaddyError(f"no CSV under {folder}/; run `make predict` first or pass FILE")
    return files[-1]
