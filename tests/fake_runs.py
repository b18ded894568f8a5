"""Helpers of the report tests: run and cv folders written by hand (known predictions, no training), and the tables
of a page read back with the standard library's HTML parser."""
from html.parser import HTMLParser

import numpy as np

from paddy import preds as saved, runs
from paddy.learn import valid

VOCAB = ["a", "b", "c"]
COMPETITION = dict(root=".", sample="sample_submission.csv", id_col="image_id", columns=["label"], train_csv="train.csv",
                   train_id_col="image_id", target=["label"], task="single", metric="accuracy", kind="label")


def fake_run(runs_dir, name, comp, ids, labels, probs, probs_tta=None, epochs=2, **meta):
    """A finished run folder `runs_dir/name` whose saved validation predictions are `probs` (TTA: `probs_tta`, default
    the same), trained on the competition `comp` (a single-label task scored by accuracy). Returns the folder."""
    folder = runs_dir / name
    folder.mkdir(parents=True)
    probs = np.asarray(probs, dtype=np.float32)
    preds = saved.Preds("single", VOCAB, list(ids), list(labels), probs, probs if probs_tta is None else np.asarray(probs_tta, np.float32), 4)
    history = [dict(epoch=e, train_loss=1.0 / (e + 1), valid_loss=1.2 / (e + 1), error_rate=0.5 / (e + 1), time="00:01") for e in range(epochs)]
    info = runs.RunMeta(name=name, arch="resnet18", size=[32, 32], vocab=VOCAB, n_valid=len(ids), finished=True, history=history,
                        valid_error=1 - preds.score("accuracy"), train_seconds=12.0, config=dict(data=str(comp), slug="x", epochs=epochs),
                        competition=COMPETITION | dict(root=str(comp)))
    runs.write_meta(folder, runs.RunMeta(**vars(info) | valid.save(folder, info, preds) | meta))
    return folder


PSEUDO_IDS = [f"{200001 + i}.jpg" for i in range(6)]  # the test images of conftest's tiny competition
PSEUDO_PROBS = np.array([[0.95, 0.05], [0.4, 0.6], [0.01, 0.99], [0.5, 0.5], [0.09, 0.91], [0.8, 0.2]])  # >= 0.9: rows 0, 2, 4


def source_run(runs_dir, probs=PSEUDO_PROBS, vocab=("blast", "normal")):
    "A finished run folder with saved test probabilities and nothing else: what --pseudo reads."
    (runs_dir / "src").mkdir(parents=True)
    runs.write_meta(runs_dir / "src", runs.RunMeta(vocab=list(vocab), finished=True, competition=dict(task="single")))
    runs.save_probs(runs_dir / "src", PSEUDO_IDS, probs)


def fake_cv(runs_dir, name, ids, labels, probs, fold, fold_runs, vocab=VOCAB, reverse=False):
    """A single-label cv folder as `paddy cv` writes it: oof.csv (one row per image, its fold; in reverse order with
    `reverse`: a reader must not rely on the order) and cv.json scored by accuracy. Returns the folder."""
    folder = runs_dir / name
    step = -1 if reverse else 1
    oof = saved.Preds("single", list(vocab), list(ids)[::step], list(labels)[::step], np.asarray(probs, dtype=np.float64)[::step],
                      folds=np.asarray(fold)[::step])
    saved.write_oof(folder, oof)
    runs.write_cv(folder, runs.CVResult(list(fold_runs), "single", list(vocab), "accuracy", oof.score("accuracy"),
                                        oof.fold_scores("accuracy"), len(ids), 0, {}))
    return folder


class Tables(HTMLParser):
    "Every <table> of a page as a list of rows of cell texts; the ids of its <h2> sections; its <img> alts."

    def __init__(self, text):
        super().__init__()
        self.tables, self.sections, self.images, self.cell = [], [], [], None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table": self.tables.append([])
        elif tag == "tr": self.tables[-1].append([])
        elif tag in ("td", "th"): self.cell = ""
        elif tag == "h2": self.sections.append(attrs["id"])
        elif tag == "img": self.images.append(attrs["alt"])

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.tables[-1][-1].append(self.cell)
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None: self.cell += data

    def table(self, first_header):
        "The rows (header first) of the table whose first header cell is `first_header`."
        return next(t for t in self.tables if t[0][0] == first_header)
