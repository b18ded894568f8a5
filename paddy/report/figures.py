"""The report's figures, drawn with matplotlib from saved numbers (meta.json, validation predictions): no model pass.

The confusion matrices and the most confused pairs are fastai's ClassificationInterpretation's, fed from saved
predictions. Its plot_top_losses is not used: it titles each image with the predicted class's probability (fastai
issue 3591), where a Kaggler looks for the probability the model gave the actual label, which `top_losses` shows.
"""
import io

import numpy as np
from fastai.interpret import ClassificationInterpretation

DPI = 80
THUMB = 128  # longest side of a top-loss thumbnail


class SavedInterpretation(ClassificationInterpretation):
    """fastai's ClassificationInterpretation over saved Preds (paddy.learn.valid): its plot_confusion_matrix and most_confused,
    without the Learner that fastai's runs on every call, and with a bincount matrix (fastai's takes C x C x N memory)."""

    def __init__(self, preds, decoder=None): self.preds, self.decoder, self.vocab = preds, decoder, list(preds.vocab)

    def confusion_matrix(self): return self.preds.confusion(self.decoder)


def png(fig):
    "The figure as PNG bytes; the figure is closed."
    import matplotlib.pyplot as plt
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    plt.close(fig)
    return buf.getvalue()


def history(rows):
    "Training and validation loss (left) and the metrics (right: the competition's, the error rates) per epoch, from meta.json's history."
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator
    fig = Figure(figsize=(9, 3.2))
    losses, errors = fig.subplots(1, 2)
    epochs = [r["epoch"] + 1 for r in rows]
    for ax, keys in ((losses, ("train_loss", "valid_loss")), (errors, [k for k in rows[0] if k not in ("epoch", "train_loss", "valid_loss", "time")])):
        for k in keys: ax.plot(epochs, [r[k] for r in rows], marker="o", label=k)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend()
        ax.grid(alpha=0.3)
    losses.set_title("loss")
    errors.set_title("metrics")
    fig.tight_layout()
    return fig


def confusion(interp, normalize=False):
    "fastai's confusion-matrix plot: counts, or each row divided by the actual class's count."
    import matplotlib.pyplot as plt
    side = min(3 + 0.45 * len(interp.vocab), 14)
    with np.errstate(invalid="ignore", divide="ignore"):  # a class with no validation image: a row of nan
        interp.plot_confusion_matrix(normalize=normalize, title="normalized by actual class" if normalize else "counts",
                                     figsize=(side, side), dpi=DPI)
    fig = plt.gcf()
    fig.tight_layout()  # again: fastai lays out before it labels the axes
    return fig


def top_losses(rows, images, columns=4):
    """A grid of the top losses: each image titled with its file name, actual label, the probability given to the actual
    label, and the predicted label. `rows` are dicts (id, actual, p_actual, predicted); `images` PIL images or None."""
    from matplotlib.figure import Figure
    n_rows = -(-len(rows) // columns)
    fig = Figure(figsize=(2.4 * columns, 2.9 * n_rows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(n_rows, columns)).ravel()
    for ax in axes: ax.axis("off")
    for ax, row, im in zip(axes, rows, images):
        if im is None: ax.text(0.5, 0.5, "image not found", ha="center", va="center", transform=ax.transAxes)
        else: ax.imshow(np.asarray(im))
        ax.set_title(f"{row['id']}\nactual {row['actual']} p={row['p_actual']:.3f}\npredicted {row['predicted']}", fontsize=9)
    return fig


def thumbnail(path):
    "The image at `path` as a small RGB thumbnail, or None when it is missing or does not decode."
    from paddy.data.images import open_rgb
    try: im = open_rgb(path, THUMB)
    except (OSError, SyntaxError, ValueError): return None
    im.thumbnail((THUMB, THUMB))
    return im


def fold_scores(scores, overall, metric):
    "The metric of each fold, with the out-of-fold score as a line."
    from matplotlib.figure import Figure
    fig = Figure(figsize=(1.5 + 0.6 * len(scores), 3))
    ax = fig.subplots()
    ax.bar([str(i) for i in range(len(scores))], scores, color="tab:blue")
    ax.axhline(overall, color="tab:red")
    ax.set_title(f"out of fold (red): {overall:.4f}", fontsize=10)
    ax.set_xlabel("fold")
    ax.set_ylabel(metric)
    fig.tight_layout()
    return fig


def roc(positive, probs):
    "The ROC curve of a binary target: `positive` (bool per image) against the positive class's probability."
    from matplotlib.figure import Figure
    from sklearn.metrics import roc_curve
    fpr, tpr, _ = roc_curve(positive, probs)
    fig = Figure(figsize=(4, 4))
    ax = fig.subplots()
    ax.plot(fpr, tpr, color="tab:blue")
    ax.plot([0, 1], [0, 1], color="0.7", linestyle="--")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def predicted_actual(actual, predicted):
    "A regression's predictions against the actual values (left, with the diagonal), and the residuals' histogram (right)."
    from matplotlib.figure import Figure
    fig = Figure(figsize=(9, 3.6))
    scatter, hist = fig.subplots(1, 2)
    scatter.scatter(actual, predicted, s=8, alpha=0.5)
    lo, hi = float(min(actual.min(), predicted.min())), float(max(actual.max(), predicted.max()))
    scatter.plot([lo, hi], [lo, hi], color="tab:red")
    scatter.set_xlabel("actual")
    scatter.set_ylabel("predicted")
    hist.hist(predicted - actual, bins=30, color="tab:blue")
    hist.set_xlabel("residual (predicted - actual)")
    fig.tight_layout()
    return fig
