"""`paddy report`: one self-contained HTML page per run, cv folder and comparison of runs, and reports/index.html.

A page embeds its figures (base64 PNG), so it opens from disk or from a Kaggle kernel's output; the same figures
are written as PNGs in reports/<page>/. Pages are built from the run folder alone (meta.json, the saved validation
predictions, lr_find.png; a cv folder's oof.csv and cv.json): no model pass. What a page shows follows the task: a
confusion matrix, per-class scores and top losses for classes (a ROC curve for two), per-tag thresholds, precision and
recall for tags, predicted against actual and the residuals for a regression. The top losses' thumbnails are read
from the competition's images when they are here.
"""
import base64, html
from dataclasses import replace
from pathlib import Path

import numpy as np

from paddy import preds as saved, runs, scoring
from paddy.errors import PaddyError
from paddy.files import atomic_path, write_text
from paddy.learn import valid
from paddy.report import figures
from paddy.report.listing import COLUMNS, rows as run_rows, unset

TOP_LOSSES, MOST_CONFUSED = 16, 20
SETTINGS = ("arch", "timm_name", "size", "item_size", "resize", "min_scale", "flip", "precision", "lr", "n_train", "n_valid",
            "world_size", "train_seconds", "valid_error", "valid_score", "finished")  # RunMeta fields (those set); then these of its config:
CONFIG_SETTINGS = ("method", "epochs", "bs", "accum", "seed", "valid_pct", "folds", "fold", "pretrained", "weights", "data")
CSS = ("body{font:15px/1.45 system-ui,sans-serif;max-width:1100px;margin:1.5em auto;padding:0 1em;color:#222}"
       "table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}"
       "th{background:#f2f2f2}td:first-child,th:first-child{text-align:left}img{max-width:100%;display:block;margin:.5em 0}"
       "nav a{margin-right:1em}.note{color:#a22;font-weight:600}h2{border-bottom:1px solid #ddd;margin-top:1.6em}")


class Raw(str):
    "HTML that a table cell takes as it is (a link), where other values are escaped."


class Page:
    "An HTML page being built in `out`/<name>.html; its figures go into `out`/<name>/ and into the page."

    def __init__(self, out, name, title):
        self.out, self.name, self.title, self.sections = Path(out), name, title, []

    def section(self, key, title, *parts):
        "Add a section (anchor `key`) of HTML `parts`."
        self.sections.append((key, title, "\n".join(parts)))

    def figure(self, key, fig, alt):
        "Write `fig` as <name>/<key>.png and return an <img> that embeds it."
        return self.image(key, figures.png(fig), alt)

    def image(self, key, data, alt):
        "Write PNG bytes `data` as <name>/<key>.png and return an <img> that embeds them."
        with atomic_path(self.out / self.name / f"{key}.png") as tmp: tmp.write_bytes(data)
        return f'<img src="data:image/png;base64,{base64.b64encode(data).decode()}" alt="{esc(alt)}">'

    def write(self):
        "Write the page; returns its path."
        nav = "".join(f'<a href="#{k}">{esc(t)}</a>' for k, t, _ in self.sections)
        body = "\n".join(f'<h2 id="{k}">{esc(t)}</h2>\n{b}' for k, t, b in self.sections)
        path = self.out / f"{self.name}.html"
        write_text(path, f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{esc(self.title)}</title>'
                         f'<style>{CSS}</style></head>\n<body><p><a href="index.html">all runs</a></p><h1>{esc(self.title)}</h1>'
                         f'<nav>{nav}</nav>\n{body}\n</body></html>\n')
        return path


def esc(x): return html.escape(str(x))


def link(name):
    "A link to the page of run `name`, beside this one."
    return Raw(f'<a href="{esc(name)}.html">{esc(name)}</a>')


def table(header, rows):
    "An HTML table; cells are escaped (but Raw ones), floats shown with 4 decimals."
    cell = lambda v: v if isinstance(v, Raw) else f"{v:.4f}" if isinstance(v, (float, np.floating)) else esc(v)
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def setting(value):
    "A setting as text: numbers to 6 significant digits (0.025, not 0.02500000037252903)."
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def per_class(cm, vocab):
    "(label, precision, recall, F1, support) per class of a confusion matrix (rows actual); 0 where undefined."
    tp, predicted, actual = np.diag(cm).astype(float), cm.sum(0), cm.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        p, r = np.nan_to_num(tp / predicted), np.nan_to_num(tp / actual)
        f1 = np.nan_to_num(2 * p * r / (p + r))
    return [(v, float(p[i]), float(r[i]), float(f1[i]), int(actual[i])) for i, v in enumerate(vocab)]


def top_losses(preds, decoder=None, k=TOP_LOSSES):
    "The `k` images with the largest cross-entropy, as dicts: id, actual, p_actual, predicted, p_predicted, loss."
    targs, pred = preds.targs, scoring.decode(preds.task, preds.outputs, decoder)
    p_actual = preds.outputs[np.arange(len(targs)), targs]
    loss = -np.log(np.clip(p_actual, 1e-12, None))
    return [dict(id=preds.ids[i], actual=preds.ys[i], p_actual=float(p_actual[i]), predicted=preds.vocab[pred[i]],
                 p_predicted=float(preds.outputs[i, pred[i]]), loss=float(loss[i])) for i in np.argsort(-loss, kind="stable")[:k]]


def classification(page, preds, decoder, index, what):
    "The sections on class predictions: confusion matrices, per-class scores, most confused pairs, top losses; ROC for two classes."
    interp = figures.SavedInterpretation(preds, decoder)
    cm, vocab = preds.confusion(decoder), preds.vocab
    counts = table(["actual \\ predicted", *vocab], [(v, *cm[i]) for i, v in enumerate(vocab)])
    page.section("confusion", "Confusion matrix", f"<p>{esc(what)}, {len(preds.ids)} images.</p>",
                 page.figure("confusion", figures.confusion(interp), "confusion matrix, counts"),
                 page.figure("confusion_normalized", figures.confusion(interp, normalize=True), "confusion matrix normalized by actual class"),
                 f"<details><summary>counts as a table</summary>{counts}</details>")
    page.section("per-class", "Precision, recall and F1 per class",
                 table(["class", "precision", "recall", "F1", "support"], per_class(cm, vocab)))
    if len(vocab) == 2:
        pos = scoring.positive(vocab)
        page.section("roc", f"ROC curve of {vocab[pos]}", page.figure("roc", figures.roc(preds.targs == pos, preds.outputs[:, pos]), "ROC curve"),
                     f"<p>AUC {scoring.auc('single', preds.targs, preds.outputs):.4f}.</p>")
    pairs = interp.most_confused()[:MOST_CONFUSED]
    page.section("most-confused", "Most confused", table(["actual", "predicted", "images"], pairs) if pairs else "<p>No image was confused.</p>")
    top = top_losses(preds, decoder)
    images = [figures.thumbnail(index.find(r["id"])) if index else None for r in top]
    grid = page.figure("top_losses", figures.top_losses(top, images), "top losses") if any(im is not None for im in images) else \
        "<p>The images are not here (no competition data found), so the grid is left out.</p>"
    page.section("top-losses", "Top losses", "<p>Each image: its id, actual label, the probability the model gave the actual "
                 "label (p), and the predicted label.</p>", grid,
                 table(["image", "actual", "p(actual)", "predicted", "p(predicted)", "loss"],
                       [(r["id"], r["actual"], f"{r['p_actual']:.3f}", r["predicted"], f"{r['p_predicted']:.3f}", f"{r['loss']:.3f}") for r in top]))


def per_tag(preds, decoder):
    "(tag, threshold, precision, recall, F1, support) per tag of multi-label predictions decoded with `decoder`."
    hot, pred = preds.targs, scoring.decode("multi", preds.outputs, decoder)
    cuts = (decoder or {}).get("thresholds", [0.5] * len(preds.vocab))
    out = []
    for j, tag in enumerate(preds.vocab):
        tp = float((hot[:, j] * pred[:, j]).sum())
        p, r = (tp / pred[:, j].sum() if pred[:, j].sum() else 0.0), (tp / hot[:, j].sum() if hot[:, j].sum() else 0.0)
        out.append((tag, f"{cuts[j]:.2f}", p, r, 2 * p * r / (p + r) if p + r else 0.0, int(hot[:, j].sum())))
    return out


def tags(page, preds, decoder, what):
    "The sections on multi-label predictions: per-tag threshold, precision, recall and F1."
    page.section("per-tag", "Precision, recall and threshold per tag", f"<p>{esc(what)}, {len(preds.ids)} images; a tag is predicted at "
                 "or above its threshold (tuned on these predictions), the most probable one when none is.</p>",
                 table(["tag", "threshold", "precision", "recall", "F1", "support"], per_tag(preds, decoder)))


def regression(page, preds, what):
    "The sections on a regression: predicted against actual, and the residuals."
    actual, predicted = np.asarray(preds.ys, float), preds.outputs.reshape(len(preds.ys), -1)[:, 0]
    page.section("regression", "Predicted against actual", f"<p>{esc(what)}, {len(preds.ids)} images.</p>",
                 page.figure("predicted_actual", figures.predicted_actual(actual, predicted), "predicted against actual, and residuals"),
                 table(["measure", "value"], [("RMSE", scoring.score("rmse", "regression", actual, predicted)),
                                              ("MAE", scoring.score("mae", "regression", actual, predicted)),
                                              ("RMSE of the mean (constant answer)", float(np.sqrt(((actual - actual.mean()) ** 2).mean())))]))


def validation(page, preds, decoder, index, what):
    "The sections the task's predictions call for."
    if preds.task == "multi": tags(page, preds, decoder, what)
    elif preds.task == "regression": regression(page, preds, what)
    else: classification(page, preds, decoder, index, what)


def image_index(cfg, data=None):
    "An index of the images of a run's competition (`data` instead when given), or None when it is not here."
    from paddy.data.layout import ImageIndex, data_root as root
    try: return ImageIndex(root(cfg.get("slug"), data or cfg.get("data")))
    except PaddyError: return None


def run_page(folder, out, data=None):
    "The page of one run: settings, training, lr_find, the metric plain and with TTA, and the validation sections."
    meta, preds = runs.load_meta(folder), saved.load_valid(folder)
    page = Page(out, folder.name, f"run {folder.name}")
    cfg = meta.config
    main = [(k, getattr(meta, k)) for k in SETTINGS if getattr(meta, k) is not None] + [(k, cfg[k]) for k in CONFIG_SETTINGS if cfg.get(k) is not None]
    comp = meta.competition or {}
    main += [(k, comp[k]) for k in ("task", "metric", "kind") if k in comp]
    page.section("settings", "Settings", table(["setting", "value"], [(k, setting(v)) for k, v in main]),
                 "<details><summary>full config and versions</summary>"
                 f"{table(['key', 'value'], [(k, setting(v)) for k, v in [*cfg.items(), *meta.versions.items()]])}</details>")
    hist = meta.history
    page.section("training", "Training: loss and metrics per epoch",
                 *([page.figure("history", figures.history(hist), "loss and metrics per epoch"), table(list(hist[0]), [{**r, "epoch": r["epoch"] + 1}.values() for r in hist])]
                   if hist else ["<p>The run has not finished: no history yet.</p>"]))
    if (folder / "lr_find.png").is_file():
        sugg = meta.lr_find or {}
        page.section("lr-find", "Learning rate finder", page.image("lr_find", (folder / "lr_find.png").read_bytes(), "lr_find curve"),
                     table(["suggestion", "learning rate"], [(k, f"{v:.2e}") for k, v in sugg.items()]) + f"<p>Trained with lr {meta.lr}.</p>")
    if preds is None:
        page.section("validation", "Validation", "<p>No validation predictions in this run folder (unfinished, or trained before "
                     "paddy saved them): train it again to see them.</p>")
        return page.write()
    note, metric = valid.tta_note(meta), comp["metric"]
    page.section("score", f"Validation {metric}: plain and with TTA",
                 table(["prediction", metric], [("plain", meta.valid_score), (f"TTA, {preds.tta} views", meta.valid_score_tta)]),
                 f'<p class="note">{esc(note)}</p>' if note else "")
    validation(page, preds, meta.decoder, image_index(cfg, data), "Plain predictions on the validation set, made as `paddy predict` makes them")
    return page.write()


def cv_preds(folder, cv):
    "A cv folder's out-of-fold predictions (oof.csv) as Preds."
    return saved.read_oof(folder, cv.task, cv.vocab)


def cv_page(folder, out, runs_dir, data=None):
    "The page of a cv folder: the metric per fold, and the validation sections on its out-of-fold predictions."
    cv = runs.load_cv(folder)
    preds = cv_preds(folder, cv)
    page = Page(out, folder.name, f"cross-validation {folder.name}")
    rows = [(i, link(r), s) for i, (r, s) in enumerate(zip(cv.runs, cv.fold_scores))]
    page.section("folds", f"{cv.metric} per fold", page.figure("fold_scores", figures.fold_scores(cv.fold_scores, cv.score, cv.metric), f"{cv.metric} per fold"),
                 table(["fold", "run", cv.metric], [*rows, ("out of fold", f"{cv.n} images, TTA {cv.tta}", cv.score)]))
    first = Path(runs_dir) / cv.runs[0]
    cfg = runs.load_meta(first).config if (first / runs.META).is_file() else {}
    validation(page, preds, cv.decoder, image_index(cfg, data), f"Out-of-fold predictions (TTA {cv.tta})")
    return page.write()


def summary(folder):
    "(row for the comparison table, Preds or None, metric) of a run or cv folder."
    cv = runs.load_cv(folder)
    if cv: return [link(folder.name), "cv", cv.n, cv.metric, cv.score, "-", "-"], cv_preds(folder, cv), cv.metric
    meta = runs.load_meta(folder)
    metric = (meta.competition or {}).get("metric", "?")
    return [link(folder.name), unset(meta.arch, "?"), unset(meta.n_valid, "?"), metric, unset(meta.valid_score, "-"),
            unset(meta.valid_score_tta, "-"), meta.config.get("epochs", "?")], saved.load_valid(folder), metric


def compare_page(folders, out):
    "A comparison of runs (or cv folders): a table, and their ensemble's metric on the images every one validated."
    name = "+".join(f.name for f in folders)
    page = Page(out, name, f"comparison {', '.join(f.name for f in folders)}")
    found = [summary(f) for f in folders]
    page.section("runs", "Runs", table(["run", "arch", "valid images", "metric", "score", "TTA score", "epochs"], [r for r, _, _ in found]))
    page.section("ensemble", "Ensemble on their common validation images", ensemble_table([p for _, p, _ in found], [f.name for f in folders], found[0][2]))
    return page.write()


def ensemble_table(preds, names, metric):
    """Each run's metric and their mean's on the validation images they all predicted, plain and with TTA (a cv
    folder gives its out-of-fold predictions to both), each decoded with a decoder fitted on them; a sentence when there are none."""
    if any(p is None for p in preds): return "<p>Some of these runs have no saved validation predictions.</p>"
    if any(p.vocab != preds[0].vocab or p.task != preds[0].task for p in preds): return "<p>These runs predict different targets: no ensemble.</p>"
    common = set.intersection(*(set(p.ids) for p in preds))
    if not common: return "<p>Their validation sets share no image: no ensemble to measure.</p>"
    ids = [i for i in preds[0].ids if i in common]
    aligned = []
    for p in preds:
        at = {i: k for k, i in enumerate(p.ids)}
        idx = [at[i] for i in ids]
        tta = p.outputs if p.outputs_tta is None else p.outputs_tta
        aligned.append(replace(p, ids=ids, ys=[p.ys[k] for k in idx], outputs=p.outputs[idx], outputs_tta=tta[idx], folds=None))
    mean = replace(aligned[0], outputs=np.mean([a.outputs for a in aligned], 0), outputs_tta=np.mean([a.outputs_tta for a in aligned], 0))

    def fitted(p, outputs): return p.score(metric, scoring.fit_decoder(p.task, metric, p.targs, outputs, p.vocab), outputs)

    rows = [(n, fitted(a, a.outputs), fitted(a, a.outputs_tta)) for n, a in zip([*names, "ensemble (mean)"], [*aligned, mean])]
    return (f"<p>{len(ids)} images validated by every run; the ensemble is the mean of their outputs.</p>"
            + table(["run", metric, f"TTA {metric}"], rows))


def index_page(runs_dir, out):
    "reports/index.html: every run as `paddy runs` lists it, linked to its page where there is one; the comparison pages."
    page = Page(out, "index", "paddy runs")
    rows = [[link(r["run"]) if (page.out / f"{r['run']}.html").is_file() else r["run"], *(r[c] for c in COLUMNS[1:])] for r in run_rows(runs_dir)]
    page.section("runs", f"Runs under {runs_dir}/", table(COLUMNS, rows))
    compared = [p.stem for p in sorted(page.out.glob("*+*.html"))]
    if compared: page.section("comparisons", "Comparisons", table(["runs compared"], [[link(c)] for c in compared]))
    return page.write()


def everything(runs_dir):
    "Every run folder and cv folder under `runs_dir`, by name."
    return sorted(p for p in Path(runs_dir).iterdir() if (p / runs.META).is_file() or runs.load_cv(p)) if Path(runs_dir).is_dir() else []


def write(names=None, runs_dir="runs", out="reports", data=None):
    """Pages of the runs or cv folders `names` (None: every one under `runs_dir`; a cv folder brings its folds'), a
    comparison page when several are named, and the index. `data`: where the thumbnails' competition is. Returns the
    paths written: the named pages first, then the folds', the comparison, and the index."""
    folders = [runs.find(n, runs_dir) for n in names] if names else everything(runs_dir)
    for f in folders:
        if not ((f / runs.META).is_file() or runs.load_cv(f)): raise PaddyError(f"{f} is neither a run nor a cv folder; give a run name from `paddy runs`")
    pages = list(dict.fromkeys([*folders, *(g for f in folders for g in cv_folds(f, runs_dir))]))
    written = [cv_page(f, out, runs_dir, data) if runs.load_cv(f) else run_page(f, out, data) for f in pages]
    if names and len(folders) > 1: written.append(compare_page(folders, out))
    return written + [index_page(runs_dir, out)]


def cv_folds(folder, runs_dir):
    "The fold run folders of a cv folder that are there (none for a run)."
    cv = runs.load_cv(folder)
    return [Path(runs_dir) / r for r in (cv.runs if cv else []) if (Path(runs_dir) / r / runs.META).is_file()]
