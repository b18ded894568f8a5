"""paddy.scoring: every metric against scikit-learn's or a hand count, the fitted decoders (multi-label thresholds,
ordinal cut points) against the defaults they replace, and the submission columns each kind writes."""
import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score, fbeta_score, log_loss, mean_absolute_error, roc_auc_score

from paddy import scoring
from paddy.errors import PaddyError

RNG = np.random.default_rng(0)
PROBS = RNG.dirichlet(np.ones(4), 200)
TARGS = np.array([RNG.choice(4, p=p) for p in PROBS])  # classes drawn from the probabilities: a model better than chance


def test_class_metrics_match_scikit_learn():
    assert scoring.score("accuracy", "single", TARGS, PROBS) == pytest.approx((PROBS.argmax(1) == TARGS).mean())
    assert scoring.score("error_rate", "single", TARGS, PROBS) == pytest.approx(1 - (PROBS.argmax(1) == TARGS).mean())
    assert scoring.score("logloss", "single", TARGS, PROBS) == pytest.approx(log_loss(TARGS, PROBS, labels=range(4)))
    per_class = np.mean([roc_auc_score(TARGS == c, PROBS[:, c]) for c in range(4)])
    assert scoring.score("auc", "single", TARGS, PROBS) == pytest.approx(per_class)  # Plant Pathology: the mean column AUC
    assert scoring.score("qwk", "ordinal", TARGS, PROBS) == pytest.approx(cohen_kappa_score(TARGS, PROBS.argmax(1), weights="quadratic"))
    assert scoring.score("f1", "single", TARGS, PROBS) == scoring.score("accuracy", "single", TARGS, PROBS)  # micro F1 of one label


def test_binary_auc_reads_the_positive_class():
    probs = np.stack([1 - PROBS[:, 0], PROBS[:, 0]], 1)
    targs = (TARGS == 0).astype(int)
    assert scoring.score("auc", "single", targs, probs) == pytest.approx(roc_auc_score(targs, probs[:, 1]))


def test_map5_counts_the_rank_of_the_right_answer():
    probs = np.array([[0.5, 0.3, 0.2, 0, 0, 0], [0.1, 0.2, 0.3, 0.4, 0, 0], [0.1, 0.2, 0.3, 0.4, 0, 0]])
    targs = np.array([0, 1, 5])  # rank 1, rank 3 (after 3 and 2), not in the top 5
    assert scoring.score("map5", "single", targs, probs) == pytest.approx((1 + 1 / 3 + 0) / 3)


def test_multi_label_metrics_match_scikit_learn():
    hot = (RNG.random((100, 5)) < 0.4).astype(int)
    probs = np.clip(hot * 0.6 + RNG.random((100, 5)) * 0.5, 0, 1)
    pred = scoring.decode("multi", probs)
    for name, beta in (("f1", 1), ("f2", 2)):
        assert scoring.score(name, "multi", hot, probs) == pytest.approx(fbeta_score(hot, pred, beta=beta, average="samples", zero_division=0))
    assert scoring.score("auc", "multi", hot, probs) == pytest.approx(np.mean([roc_auc_score(hot[:, c], probs[:, c]) for c in range(5)]))


def test_regression_metrics():
    y, p = RNG.normal(50, 20, 80), RNG.normal(50, 20, 80)
    assert scoring.score("rmse", "regression", y, p[:, None]) == pytest.approx(np.sqrt(((y - p) ** 2).mean()))
    assert scoring.score("mae", "regression", y, p[:, None]) == pytest.approx(mean_absolute_error(y, p))


def test_multi_label_decoding_always_names_a_tag():
    probs = np.array([[0.1, 0.2, 0.3], [0.9, 0.6, 0.1]])
    assert scoring.decode("multi", probs).tolist() == [[0, 0, 1], [1, 1, 0]]  # none above 0.5: the most probable one
    assert scoring.decode("multi", probs, dict(thresholds=[0.95, 0.15, 0.5])).tolist() == [[0, 1, 0], [0, 1, 0]]


def test_tuned_thresholds_beat_one_half_on_the_data_they_were_tuned_on():
    hot = (RNG.random((300, 4)) < [0.1, 0.3, 0.6, 0.2]).astype(int)
    probs = np.clip(hot * 0.35 + RNG.random((300, 4)) * 0.5, 0, 1)  # the positives sit around 0.35-0.85: 0.5 misses many
    decoder = scoring.fit_decoder("multi", "f2", hot, probs)
    assert len(decoder["thresholds"]) == 4 and min(decoder["thresholds"]) < 0.5
    assert scoring.score("f2", "multi", hot, probs, decoder) > scoring.score("f2", "multi", hot, probs) + 0.02


def test_ordinal_decoders_are_both_measured_and_the_better_kept():
    targs = RNG.integers(0, 5, 400)
    probs = np.stack([np.exp(-((np.arange(5) - t - RNG.normal(0.6, 0.8)) ** 2)) for t in targs])  # biased upward: argmax overshoots
    probs /= probs.sum(1, keepdims=True)
    decoder = scoring.fit_decoder("ordinal", "qwk", targs, probs)
    argmax, expected = decoder["scores"]["argmax"], decoder["scores"]["expected"]
    assert argmax == pytest.approx(cohen_kappa_score(targs, probs.argmax(1), weights="quadratic"))
    assert decoder["mode"] == ("expected" if expected > argmax else "argmax")
    assert scoring.score("qwk", "ordinal", targs, probs, decoder) == pytest.approx(max(argmax, expected))


def test_regression_under_kappa_cuts_values_into_classes():
    classes = ["0", "1", "2", "3", "4"]
    targs = RNG.integers(0, 5, 300).astype(float)
    values = targs + 0.45 + RNG.normal(0, 0.3, 300)  # every answer too high: the midpoints misplace many, fitted cuts fewer
    decoder = scoring.fit_decoder("regression", "qwk", targs, values[:, None], classes)
    assert scoring.score("qwk", "regression", targs, values[:, None], decoder, classes) > \
        scoring.score("qwk", "regression", targs, values[:, None], None, classes)
    labels = scoring.columns("label", values[:, None], classes, decoder, ["diagnosis"], "regression")["diagnosis"]
    assert set(labels) <= set(classes)


def test_submission_columns_of_each_kind():
    vocab = ["cat", "dog"]
    probs = np.array([[0.8, 0.2], [0.3, 0.7]])
    assert scoring.columns("label", probs, vocab, {}, ["label"], "single") == {"label": ["cat", "dog"]}
    assert scoring.columns("probability", probs, vocab, {}, ["label"], "single") == {"label": [0.2, 0.7]}  # P(dog): the last class
    assert scoring.columns("probabilities", probs, vocab, {}, ["dog", "cat"], "single") == {"dog": [0.2, 0.7], "cat": [0.8, 0.3]}
    assert scoring.columns("top_k", probs, vocab, {}, ["Id"], "single", top_k=2) == {"Id": ["cat dog", "dog cat"]}
    tags = np.array([[0.9, 0.6], [0.1, 0.2]])
    assert scoring.columns("tags", tags, vocab, {}, ["tags"], "multi") == {"tags": ["cat dog", "dog"]}
    assert scoring.columns("indicators", tags, vocab, {}, ["dog", "cat"], "multi") == {"dog": [1, 1], "cat": [1, 0]}
    assert scoring.columns("value", np.array([[3.5], [7.0]]), [], {}, ["y"], "regression") == {"y": [3.5, 7.0]}


def test_classes_sort_as_numbers_when_they_are_numbers():
    assert scoring.sort_classes(["10", "2", "1", "2"]) == ["1", "2", "10"]
    assert scoring.sort_classes(["b", "a", "10"]) == ["10", "a", "b"]


def test_a_metric_that_does_not_score_the_task_is_refused():
    with pytest.raises(PaddyError, match="rmse does not score a single task"): scoring.score("rmse", "single", TARGS, PROBS)
    with pytest.raises(PaddyError, match="unknown --metric 'kappa'"): scoring.metric("kappa")


def test_an_ensembles_thresholds_are_the_weighted_mean_of_its_runs():
    a, b = dict(thresholds=[0.2, 0.4]), dict(thresholds=[0.6, 0.8])
    assert scoring.combine([a, b], [3, 1]) == dict(thresholds=[0.3, 0.5])
    assert scoring.combine([dict(mode="argmax"), dict(mode="expected", cuts=[0.5])]) == dict(mode="argmax")  # unlike: the first's


@pytest.mark.parametrize("name, ours", [
    ("Quadratic Weighted Kappa", "qwk"), ("Categorization Accuracy", "accuracy"), ("Root Mean Squared Error", "rmse"),
    ("Area Under Receiver Operating Characteristic Curve", "auc"), ("Mean Columnwise Area Under Receiver Operating Characteristic Curve", "auc"),
    ("Multi Class Log Loss", "logloss"), ("F2 Score", "f2"), ("Micro-averaged F1-Score", "f1"), ("MAP@5", "map5"),
    ("Mean Absolute Error", "mae"), ("Dice Coefficient", None), ("", None)])
def test_kaggle_metric_names_map_to_ours(name, ours):
    assert scoring.from_kaggle(name) == ours
