"""`paddy report`: one self-contained HTML page per run, cv folder and comparison of runs, and reports/index.html.

A page embeds its figures (base64 PNG), so it opens from disk or from a Kaggle kernel's output; the same figures
are written as PNGs in reports/<page>/. Pages are built from the run folder alone (meta.json, the saved validation
predictions, lr_find.png; a cv folder's oof.csv and cv.json): no model pass. The top losses' thumbnails are read from
the competition's train_images when it is there.
"""
import base64, html
from pathlib import Path

import numpy as np

from paddy import runs
from paddy.errors import PaddyError
from paddy.files import atomic_path, write_text
from paddy.learn import valid
from paddy.report import figures
from paddy.report.listing import COLUMNS, rows as run_rows, unset
from paddy.learn.valid import Preds

TOP_LOSSES, MOST_CONFUSED = 16, 20
SETTINGS = ("arch", "timm_name", "size", "item_size", "resize", "min_scale", "flip", "precision", "lr", "n_train", "n_valid",
            "world_size", "train_seconds", "valid_error", "finished")  # RunMeta fields (those set); then these of its config:
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


def top_losses(preds, k=TOP_LOSSES):
    "The `k` images with the largest cross-entropy, as dicts: id, actual, p_actual, predicted, p_predicted, loss."
    targs, pred = preds.targs, preds.probs.argmax(1)
    p_actual = preds.probs[np.arange(len(targs)), targs]
    loss = -np.log(np.clip(p_actual, 1e-12, None))
    return [dict(id=preds.ids[i], actual=preds.labels[i], p_actual=float(p_actual[i]), predicted=preds.vocab[pred[i]],
                 p_predicted=float(preds.probs[i, pred[i]]), loss=float(loss[i])) for i in np.argsort(-loss, kind="stable")[:k]]


def classification(page, preds, root, what):
    "The sections on predictions `preds`: confusion matrices, per-class scores, most confused pairs, top losses."
    interp = figures.SavedInterpretation(preds)
    cm, vocab = preds.confusion(), preds.vocab
    counts = table(["actual \\ predicted", *vocab], [(v, *cm[i]) for i, v in enumerate(vocab)])
    page.section("confusion", "Confusion matrix", f"<p>{esc(what)}, {len(preds.ids)} images.</p>",
                 page.figure("confusion", figures.confusion(interp), "confusion matrix, counts"),
                 page.figure("confusion_normalized", figures.confusion(interp, normalize=True), "confusion matrix normalized by actual class"),
                 f"<details><summary>counts as a table</summary>{counts}</details>")
    page.section("per-class", "Precision, recall and F1 per class",
                 table(["class", "precision", "recall", "F1", "support"], per_class(cm, vocab)))
    pairs = interp.most_confused()[:MOST_CONFUSED]
    page.section("most-confused", "Most confused", table(["actual", "predicted", "images"], pairs) if pairs else "<p>No image was confused.</p>")
    top = top_losses(preds)
    paths = [root / "train_images" / r["actual"] / r["id"] if root else None for r in top]
    images = [figures.thumbnail(p) if p else None for p in paths]
    grid = page.figure("top_losses", figures.top_losses(top, images), "top losses") if any(im is not None for im in images) else \
        "<p>The images are not here (no competition data found), so the grid is left out.</p>"
    page.section("top-losses", "Top losses", "<p>Each image: file name, actual label, the probability the model gave the actual "
                 "label (p), and the predicted label.</p>", grid,
                 table(["image", "actual", "p(actual)", "predicted", "p(predicted)", "loss"],
                       [(r["id"], r["actual"], f"{r['p_actual']:.3f}", r["predicted"], f"{r['p_predicted']:.3f}", f"{r['loss']:.3f}") for r in top]))


def data_root(cfg, data=None):
    "The competition folder of a run's config (`data` instead when given), or None when it is not here."
    from paddy.data.layout import data_root as root
    try: return root(cfg.get("slug"), data or cfg.get("data"))
    except PaddyError: return None


def run_page(folder, out, data=None):
    "The page of one run: settings, training, lr_find, plain vs TTA accuracy, and the validation sections."
    meta, preds = runs.load_meta(folder), valid.load(folder)
    page = Page(out, folder.name, f"run {folder.name}")
    cfg = meta.config
    main = [(k, getattr(meta, k)) for k in SETTINGS if getattr(meta, k) is not None] + [(k, cfg[k]) for k in CONFIG_SETTINGS if cfg.get(k) is not None]
    page.section("settings", "Settings", table(["setting", "value"], [(k, setting(v)) for k, v in main]),
                 "<details><summary>full config and versions</summary>"
                 f"{table(['key', 'value'], [(k, setting(v)) for k, v in [*cfg.items(), *meta.versions.items()]])}</details>")
    hist = meta.history
    page.section("training", "Training: loss and error per epoch",
                 *([page.figure("history", figures.history(hist), "loss and error per epoch"), table(list(hist[0]), [{**r, "epoch": r["epoch"] + 1}.values() for r in hist])]
                   if hist else ["<p>The run has not finished: no history yet.</p>"]))
    if (folder / "lr_find.png").is_file():
        sugg = meta.lr_find or {}
        page.section("lr-find", "Learning rate finder", page.image("lr_find", (folder / "lr_find.png").read_bytes(), "lr_find curve"),
                     table(["suggestion", "learning rate"], [(k, f"{v:.2e}") for k, v in sugg.items()]) + f"<p>Trained with lr {meta.lr}.</p>")
    if preds is None:
        page.section("validation", "Validation", "<p>No validation predictions in this run folder (unfinished, or trained before "
                     "paddy saved them): train it again to see them.</p>")
        return page.write()
    note = valid.tta_note(meta)
    page.section("accuracy", "Validation accuracy: plain and with TTA",
                 table(["prediction", "accuracy", "error"], [("plain", preds.accuracy(), 1 - preds.accuracy()),
                       (f"TTA, {preds.tta} views", preds.accuracy(preds.probs_tta), 1 - preds.accuracy(preds.probs_tta))]),
                 f'<p class="note">{esc(note)}</p>' if note else "")
    classification(page, preds, data_root(cfg, data), "Plain predictions on the validation set, made as `paddy predict` makes them")
    return page.write()


def oof_preds(folder):
    "A cv folder's out-of-fold predictions (oof.csv) as valid.Preds."
    import pandas as pd
    oof = pd.read_csv(folder / runs.OOF_CSV, dtype={"image_id": str, "label": str})
    cols = [c for c in oof.columns if c.startswith("p_")]
    return Preds(list(oof.image_id), list(oof.label), [c[2:] for c in cols], oof[cols].to_numpy())


def cv_page(folder, out, runs_dir, data=None):
    "The page of a cv folder: per-fold error, and the validation sections on its out-of-fold predictions."
    cv, preds = runs.load_cv(folder), oof_preds(folder)
    page = Page(out, folder.name, f"cross-validation {folder.name}")
    fold_err = [1 - a for a in cv["fold_accuracy"]]
    rows = [(i, link(r), a, e) for i, (r, a, e) in enumerate(zip(cv["runs"], cv["fold_accuracy"], fold_err))]
    page.section("folds", "Per-fold error", page.figure("fold_errors", figures.fold_errors(fold_err, cv["error"]), "error per fold"),
                 table(["fold", "run", "accuracy", "error"], [*rows, ("out of fold", f"{cv['n']} images, TTA {cv.get('tta', 0)}", cv["accuracy"], cv["error"])]))
    first = Path(runs_dir) / cv["runs"][0]
    cfg = runs.load_meta(first).config if (first / runs.META).is_file() else {}
    classification(page, preds, data_root(cfg, data), f"Out-of-fold predictions (TTA {cv.get('tta', 0)})")
    return page.write()


def summary(folder):
    "(row for the comparison table, Preds or None) of a run or cv folder."
    cv = runs.load_cv(folder)
    if cv: return [link(folder.name), "cv", cv["n"], cv["accuracy"], "-", "-"], oof_preds(folder)
    meta = runs.load_meta(folder)
    return [link(folder.name), unset(meta.arch, "?"), unset(meta.n_valid, "?"), unset(meta.valid_accuracy, "-"),
            unset(meta.valid_accuracy_tta, "-"), meta.config.get("epochs", "?")], valid.load(folder)


def compare_page(folders, out):
    "A comparison of runs (or cv folders): a table, and their ensemble's accuracy on the images every one validated."
    name = "+".join(f.name for f in folders)
    page = Page(out, name, f"comparison {', '.join(f.name for f in folders)}")
    found = [summary(f) for f in folders]
    page.section("runs", "Runs", table(["run", "arch", "valid images", "accuracy", "TTA accuracy", "epochs"], [r for r, _ in found]))
    page.section("ensemble", "Ensemble on their common validation images", ensemble_table([p for _, p in found], [f.name for f in folders]))
    return page.write()


def ensemble_table(preds, names):
    """Each run's accuracy and their mean's on the validation images they all predicted, plain and with TTA (a cv
    folder gives its out-of-fold predictions to both); a sentence when there are none."""
    if any(p is None for p in preds): return "<p>Some of these runs have no saved validation predictions.</p>"
    if any(p.vocab != preds[0].vocab for p in preds): return "<p>These runs predict different labels: no ensemble.</p>"
    common = set.intersection(*(set(p.ids) for p in preds))
    if not common: return "<p>Their validation sets share no image: no ensemble to measure.</p>"
    ids = [i for i in preds[0].ids if i in common]
    aligned = []
    for p in preds:
        at = {i: k for k, i in enumerate(p.ids)}
        idx = [at[i] for i in ids]
        tta = p.probs if p.probs_tta is None else p.probs_tta
        aligned.append(Preds(ids, [p.labels[k] for k in idx], p.vocab, p.probs[idx], tta[idx]))
    mean = Preds(ids, aligned[0].labels, preds[0].vocab, np.mean([a.probs for a in aligned], 0), np.mean([a.probs_tta for a in aligned], 0))
    rows = [(n, a.accuracy(), a.accuracy(a.probs_tta)) for n, a in zip([*names, "ensemble (mean)"], [*aligned, mean])]
    return (f"<p>{len(ids)} images validated by every run; the ensemble is the mean of their probabilities.</p>"
            + table(["run", "accuracy", "TTA accuracy"], rows))


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
    return [Path(runs_dir) / r for r in (cv["runs"] if cv else []) if (Path(runs_dir) / r / runs.META).is_file()]
