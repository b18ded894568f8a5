"""`paddy blend`: ensemble weights chosen from out-of-fold evidence rather than by hand.

The members are cv folders (`paddy cv`) of the same images split into the same folds. Their out-of-fold outputs
(oof.csv) are blended by greedy forward selection with replacement (Caruana et al. 2004: start empty, add the member
that most improves the blend under the competition's metric, the same one again if it helps most, and keep the best
prefix), or, for class probabilities, by the weights that minimize the blend's log-loss. The blend's decoder
(thresholds, cut points) is fitted on the blended out-of-fold outputs. The blend is written to blends/NAME.json beside
the runs folder; `paddy predict --blend NAME` predicts each member's fold runs and weights them as it says.
"""
import dataclasses, json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from paddy import scoring
from paddy.errors import PaddyError
from paddy.files import write_json
from paddy.preds import read_oof

METHODS = ("greedy", "logloss")


@dataclass
class Blend:
    "blends/NAME.json: the members and their weights, the metric and decoder, the scores out of fold, and the evidence."
    name: str
    members: list
    weights: list
    method: str
    rounds: int | None
    metric: str
    task: str
    n: int  # images out of fold
    folds: int
    decoder: dict = field(default_factory=dict)
    scores: dict = field(default_factory=dict)  # members {name: scores}, equal (the mean), blend: each {score, fold_scores}
    evidence: dict = field(default_factory=dict)  # see `evidence`


def blends_dir(runs_dir="runs"):
    "Where blends live: blends/ beside the runs folder."
    return Path(runs_dir).parent / "blends"


def load_member(name, runs_dir="runs"):
    "A cv folder's (CVResult, out-of-fold Preds); a folder that is not a cv folder is refused."
    from paddy.runs import load_cv
    cv = load_cv(Path(runs_dir) / name)
    if cv is None: raise PaddyError(f"{name} is not a cv folder under {runs_dir}/ (no cv.json); blend the NAME-cv folders `paddy cv` writes")
    return cv, read_oof(Path(runs_dir) / name, cv.task, cv.vocab)


def check_members(names, members):
    "Refuse members that predicted other images, targets, classes or folds than the first, under another metric; or a member named twice."
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice: raise PaddyError(f"{', '.join(twice)} named twice; name each cv folder once (greedy selection repeats members itself)")
    (cv0, first) = members[0]
    for name, (cv, m) in zip(names[1:], members[1:]):
        if m.task != first.task or m.vocab != first.vocab or cv.metric != cv0.metric:
            raise PaddyError(f"{name} predicts another task, classes or metric than {names[0]}; blend cv folders of the same competition")
        if m.ids != first.ids or m.ys != first.ys:
            raise PaddyError(f"{name} predicted other images out of fold than {names[0]} ({len(m.ids)} vs {len(first.ids)}); blend cv folders of the same data")
        if not (m.folds == first.folds).all():
            raise PaddyError(f"{name} split the images into other folds than {names[0]}; run `paddy cv` with the same --folds and --seed for both")


def mix(outputs, weights):
    "The weighted mean of the members' outputs (weights need not sum to 1)."
    weights = np.asarray(weights, float)
    return np.tensordot(weights / weights.sum(), np.stack(outputs), axes=1)


def key(preds, metric, outputs):
    "What greedy selection minimizes: the metric (negated where higher is better), then log-loss where the outputs are probabilities."
    s = preds.score(metric, outputs=outputs)
    tie = scoring.logloss(preds.task, preds.targs, outputs) if preds.task in ("single", "ordinal", "multi") else 0.0
    return (-s if scoring.METRICS[metric].higher else s, tie)


def greedy(preds, outputs, metric, rounds=25):
    """Caruana's forward selection with replacement: for `rounds` steps add the member whose addition gives the best
    (metric, then log-loss); return the counts of the best prefix, as weights summing to 1."""
    counts, best, best_key = np.zeros(len(outputs)), None, None
    for _ in range(rounds):
        keys = []
        for i in range(len(outputs)):
            trial = counts.copy()
            trial[i] += 1
            keys.append(key(preds, metric, mix(outputs, trial)))
        i = min(range(len(outputs)), key=keys.__getitem__)  # ties: the earlier member
        counts[i] += 1
        if best_key is None or keys[i] < best_key: best, best_key = counts.copy(), keys[i]
    return best / best.sum()


def logloss_weights(targs, outputs):
    "The non-negative weights summing to 1 that minimize the blend's log-loss (convex in the weights; SciPy's SLSQP)."
    from scipy.optimize import minimize
    own = np.stack([np.clip(p[np.arange(len(targs)), targs], scoring.EPS, 1) for p in outputs], 1)  # each member's p(actual class)

    def loss(w):
        mixed = np.clip(own @ w, scoring.EPS, None)
        return -np.log(mixed).mean(), -(own / mixed[:, None]).mean(0)

    n = len(outputs)
    res = minimize(loss, np.full(n, 1 / n), jac=True, method="SLSQP", bounds=[(0, 1)] * n,
                   constraints=[dict(type="eq", fun=lambda w: w.sum() - 1, jac=lambda w: np.ones(n))])
    w = np.clip(res.x, 0, None)
    w[w < 1e-4] = 0  # SLSQP stops near the bounds: a member it all but dropped is dropped
    return w / w.sum()


def scores(preds, metric, outputs, decoder=None):
    "The metric out of fold and per fold (in fold order) of `outputs`, decoded with `decoder` (default: fitted on them)."
    decoder = scoring.fit_decoder(preds.task, metric, preds.targs, outputs, preds.vocab) if decoder is None else decoder
    return dict(score=preds.score(metric, decoder, outputs), fold_scores=preds.fold_scores(metric, decoder, outputs))


def blend(names, name=None, method="greedy", rounds=25, runs_dir="runs"):
    "Choose the weights of cv folders `names`, write blends/NAME.json, and return its Blend."
    if method not in METHODS: raise PaddyError(f"bad --method {method!r}: choose one of {', '.join(METHODS)}")
    if not isinstance(rounds, int) or rounds < 1: raise PaddyError(f"bad --rounds {rounds!r}: give a whole number of greedy steps >= 1, e.g. 25")
    if not names: raise PaddyError("name the cv folders to blend, e.g. `paddy blend resnet26d-cv,convnext-cv`")
    name = name or "+".join(names)
    if "/" in name or name.startswith("."): raise PaddyError(f"bad blend name {name!r}: give a plain name such as --name best")
    members = [load_member(n, runs_dir) for n in names]
    check_members(names, members)
    cv, preds = members[0]
    if method == "logloss" and preds.task not in ("single", "ordinal"):
        raise PaddyError(f"--method logloss weighs class probabilities; this is a {preds.task} task: use --method greedy")
    outputs = [m.outputs for _, m in members]
    weights = greedy(preds, outputs, cv.metric, rounds) if method == "greedy" else logloss_weights(preds.targs, outputs)
    blended = mix(outputs, weights)
    decoder = scoring.fit_decoder(preds.task, cv.metric, preds.targs, blended, preds.vocab)
    result = Blend(name, list(names), [round(float(w), 6) for w in weights], method, rounds if method == "greedy" else None, cv.metric,
                   preds.task, len(preds.ids), int(len(np.unique(preds.folds))), decoder,
                   dict(members={n: scores(m, cv.metric, m.outputs) for n, (_, m) in zip(names, members)},
                        equal=scores(preds, cv.metric, mix(outputs, np.ones(len(outputs)))), blend=scores(preds, cv.metric, blended, decoder)))
    result.evidence = evidence(result)
    write_json(blends_dir(runs_dir) / f"{name}.json", dataclasses.asdict(result))
    return result


def evidence(result):
    """How the blend compares with its best member (by the metric out of fold): the gain (positive: better), the
    fold-to-fold spread (the standard deviation of the best member's fold scores) and the folds on which the blend is better."""
    members, metric = result.scores["members"], result.metric
    sign = 1 if scoring.METRICS[metric].higher else -1
    best = max(members, key=lambda n: sign * members[n]["score"])
    folds_best, folds_blend = members[best]["fold_scores"], result.scores["blend"]["fold_scores"]
    gain = sign * (result.scores["blend"]["score"] - members[best]["score"])
    spread = float(np.std(folds_best, ddof=1)) if len(folds_best) > 1 else 0.0
    return dict(best_member=best, gain=gain, spread=spread, within_spread=bool(gain <= spread),
                folds_better=int(sum(sign * (b - a) > 0 for a, b in zip(folds_best, folds_blend))))


def summary(result):
    "The lines `paddy blend` prints: every member's, the equal mean's and the blend's scores, then the evidence."
    rows = [(n, f"{w:.3f}", result.scores["members"][n]) for n, w in zip(result.members, result.weights)]
    rows += [("equal mean", "", result.scores["equal"]), (f"blend ({result.method})", "", result.scores["blend"])]
    width = max(len(r[0]) for r in rows)
    metric = result.metric
    lines = [f"{'out of fold':<{width}}  weight  {metric:>8}  {metric} per fold"]
    lines += [f"{n:<{width}}  {w:>6}  {s['score']:8.4f}  {' '.join(f'{a:.4f}' for a in s['fold_scores'])}" for n, w, s in rows]
    ev, k = result.evidence, result.folds
    if ev["gain"] <= 0: verdict = f"the blend is no better than its best member {ev['best_member']} out of fold ({metric})"
    elif ev["within_spread"]:
        verdict = (f"the blend's gain over its best member {ev['best_member']}, {ev['gain']:+.4f} {metric}, is within the fold-to-fold spread "
                   f"(std {ev['spread']:.4f} over {k} folds; better on {ev['folds_better']} of {k}): no clear evidence that it is better")
    else:
        verdict = (f"the blend's gain over its best member {ev['best_member']}, {ev['gain']:+.4f} {metric}, exceeds the fold-to-fold spread "
                   f"(std {ev['spread']:.4f} over {k} folds; better on {ev['folds_better']} of {k})")
    return lines + [verdict]


def load(name, runs_dir="runs"):
    "A blend by name (blends/NAME.json beside the runs folder) or by path."
    path = Path(name) if str(name).endswith(".json") else blends_dir(runs_dir) / f"{name}.json"
    if not path.is_file():
        known = sorted(p.stem for p in blends_dir(runs_dir).glob("*.json"))
        raise PaddyError(f"no blend {name!r} ({path} not found); known blends: {', '.join(known) or 'none'}; make one with `paddy blend`")
    try: return Blend(**json.loads(path.read_text()))
    except (json.JSONDecodeError, TypeError) as e:
        raise PaddyError(f"{path} is damaged or was written by another paddy ({type(e).__name__}); run `paddy blend` again") from None


def members(name, runs_dir="runs"):
    "The cv folders of blend `name` that have weight, and their weights: (names, weights)."
    saved = load(name, runs_dir)
    kept = [(n, w) for n, w in zip(saved.members, saved.weights) if w > 0]
    return [n for n, _ in kept], [w for _, w in kept]


def rows(runs_dir="runs"):
    "One row per blend for `paddy runs`: its metric out of fold, and the members it came from with their weights."
    out = []
    for path in sorted(blends_dir(runs_dir).glob("*.json")):
        b = load(path, runs_dir)
        out.append(dict(run=f"blend {b.name}", arch="-", size="-", epochs="-", metric=b.metric, valid="-", cv=f"{b.scores['blend']['score']:.4f}",
                        tta="-", time="-", source=" + ".join(f"{w:.2f} {n}" for n, w in zip(b.members, b.weights) if w > 0)))
    return out


def as_runs(name, runs_given, out=None, runs_dir="runs"):
    "`paddy predict --blend NAME`'s runs, weights, output CSV (submissions/NAME.csv) and decoder: the blend's."
    if runs_given: raise PaddyError("--blend names its cv folders and their weights: drop --run and --run-weights")
    from paddy.infer.predict import submission_path
    names, weights = members(name, runs_dir)
    saved = load(name, runs_dir)
    return names, weights, out or submission_path([saved.name]), saved.decoder
