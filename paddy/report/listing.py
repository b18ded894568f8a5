"""`paddy runs`: one line per run folder (and per cross-validation, and per blend) read from meta.json, cv.json and blends/."""
from pathlib import Path

from paddy.infer import blend
from paddy.learn import pseudo, swa
from paddy.runs import CV_JSON, META, RunMeta, load_cv, read_meta

COLUMNS = ("run", "arch", "size", "epochs", "metric", "valid", "cv", "tta", "time", "source")


def rows(runs_dir="runs"):
    """One dict per run folder under `runs_dir` (by name), then one per cv folder, with the COLUMNS: `valid` is the
    competition's metric on the run's validation images (TTA's where it predicts with TTA), `cv` out of fold."""
    runs_dir = Path(runs_dir)
    cvs = {p.parent.name: load_cv(p.parent) for p in runs_dir.glob(f"*/{CV_JSON}")}
    cv_of = {run: cv for cv in cvs.values() for run in cv.runs}
    metas = {p.parent.name: read_meta(p) for p in sorted(runs_dir.glob(f"*/{META}"))}
    out = []
    for name, m in metas.items():
        cv = cv_of.get(name)
        valid = m.valid_score_tta if m.tta and m.valid_score_tta is not None else m.valid_score
        out.append(dict(run=name, arch=unset(m.arch, "?"), size="x".join(map(str, m.size or [])), epochs=m.config.get("epochs", "?"),
                        metric=(m.competition or {}).get("metric", "?"), valid=_num(valid) if m.finished else "unfinished",
                        cv=_num(cv and cv.score), tta=unset(m.tta, "-"), time=_duration(m.train_seconds), source=_source([m])))
    for name, cv in sorted(cvs.items()):
        folds = [metas.get(r, RunMeta()) for r in cv.runs]  # a fold run that is not here: nothing known
        first = folds[0]
        out.append(dict(run=name, arch=unset(first.arch, "?"), size="x".join(map(str, first.size or [])),
                        epochs=first.config.get("epochs", "?"), metric=cv.metric, valid="-", cv=_num(cv.score), tta=cv.tta,
                        time=_duration(sum(m.train_seconds or 0 for m in folds)), source=_source(folds)))
    return out + blend.rows(runs_dir)  # blends last, naming the cv folders they weight


def _source(metas):
    "What runs (one, or a cv folder's folds) trained on beyond train.csv (pseudo-labels) and whether they kept averaged weights; '-' for neither."
    return "; ".join(filter(None, (pseudo.note(metas[0]), swa.note(metas)))) or "-"


def table(runs_dir="runs"):
    "The rows as an aligned text table; a hint when there are none."
    found = rows(runs_dir)
    if not found: return f"no runs under {runs_dir}/; train one with `paddy train`"
    cells = [COLUMNS] + [tuple(str(r[c]) for c in COLUMNS) for r in found]
    widths = [max(len(row[i]) for row in cells) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in cells)


def _num(x): return "-" if x is None else f"{x:.4f}"


def unset(value, missing):
    "A RunMeta field's `value` for a table, or `missing` where the run has none (None)."
    return missing if value is None else value


def _duration(seconds):
    if not seconds: return "-"
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s" if m else f"{s}s"
