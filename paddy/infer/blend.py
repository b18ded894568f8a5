"""`paddy blend`: ensemble weights chosen from out-of-fold evidence rather than by hand.

The members are cv folders (`paddy cv`) of the same images split into the same folds. Their out-of-fold probabilities
(oof.csv) are blended by greedy forward selection with replacement (Caruana et al. 2004: start empty, add the member
that most improves the blend, the same one again if it helps most, and keep the best prefix), or by the weights that
minimize the blend's log-loss. The blend is written to blends/NAME.json beside the runs folder; `paddy predict --blend
NAME` predicts each member's fold runs and weights them as it says.
"""
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from paddy.errors import PaddyError
from paddy.files import write_json

METHODS = ("greedy", "logloss")
EPS = 1e-15  # probabilities are clipped to [EPS, 1] before the log, as scikit-learn's log_loss does


@dataclass
class Member:
    "One cv folder's out-of-fold predictions, rows sorted by image id."
    name: str
    ids: list
    labels: np.ndarray
    folds: np.ndarray
    vocab: list
    probs: np.ndarray


def blends_dir(runs_dir="runs"):
    "Where blends live: blends/ beside the runs folder."
    return Path(runs_dir).parent / "blends"


def load_member(name, runs_dir="runs"):
    "A cv folder's oof.csv as a Member; a folder that is not a cv folder is refused."
    import pandas as pd
    from paddy.runs import OOF_CSV, load_cv
    folder = Path(runs_dir) / name
    if load_cv(folder) is None or not (folder / OOF_CSV).is_file():
        raise PaddyError(f"{name} is not a cv folder under {runs_dir}/ (no cv.json and oof.csv); blend the NAME-cv folders `paddy cv` writes")
    oof = pd.read_csv(folder / OOF_CSV, dtype={"image_id": str, "label": str}).sort_values("image_id", kind="stable")
    cols = [c for c in oof.columns if c.startswith("p_")]
    return Member(name, list(oof.image_id), oof.label.to_numpy(), oof.fold.to_numpy(), [c[2:] for c in cols], oof[cols].to_numpy(float))


def check_members(members):
    "Refuse members that predicted other images, other labels or other folds than the first; or a member named twice."
    first = members[0]
    names = [m.name for m in members]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice: raise PaddyError(f"{', '.join(twice)} named twice; name each cv folder once (greedy selection repeats members itself)")
    for m in members[1:]:
        if m.ids != first.ids or not (m.labels == first.labels).all():
            raise PaddyError(f"{m.name} predicted other images out of fold than {first.name} ({len(m.ids)} vs {len(first.ids)}); "
                             "blend cv folders of the same data")
        if m.vocab != first.vocab: raise PaddyError(f"{m.name} predicts other labels than {first.name}; blend cv folders of the same competition")
        if not (m.folds == first.folds).all():
            raise PaddyError(f"{m.name} split the images into other folds than {first.name}; run `paddy cv` with the same --folds and --seed for both")


def targets(member):
    "The actual labels as indices into the member's vocab."
    index = {v: i for i, v in enumerate(member.vocab)}
    return np.array([index[v] for v in member.labels])


def log_loss(probs, targs):
    "Mean negative log-probability of the actual class."
    return float(-np.log(np.clip(probs[np.arange(len(targs)), targs], EPS, 1)).mean())


def scores(probs, targs, folds):
    "Out-of-fold accuracy, log-loss and accuracy per fold (in fold order) of `probs`."
    right = probs.argmax(1) == targs
    return dict(accuracy=float(right.mean()), logloss=log_loss(probs, targs),
                fold_accuracy=[float(right[folds == f].mean()) for f in np.unique(folds)])


def mix(probs, weights):
    "The weighted mean of the members' probabilities (weights need not sum to 1)."
    weights = np.asarray(weights, float)
    return np.tensordot(weights / weights.sum(), np.stack(probs), axes=1)


def greedy(probs, targs, rounds=25):
    """Caruana's forward selection with replacement: for `rounds` steps add the member whose addition gives the best
    (accuracy, then log-loss); return the counts of the best prefix, as weights summing to 1."""
    counts, best, best_key = np.zeros(len(probs)), None, None
    for _ in range(rounds):
        keys = []
        for i in range(len(probs)):
            trial = counts.copy()
            trial[i] += 1
            p = mix(probs, trial)
            keys.append((-(p.argmax(1) == targs).mean(), log_loss(p, targs)))
        i = min(range(len(probs)), key=keys.__getitem__)  # ties: the earlier member
        counts[i] += 1
        if best_key is None or keys[i] < best_key: best, best_key = counts.copy(), keys[i]
    return best / best.sum()


def logloss_weights(probs, targs):
    "The non-negative weights summing to 1 that minimize the blend's log-loss (convex in the weights; SciPy's SLSQP)."
    from scipy.optimize import minimize
    own = np.stack([np.clip(p[np.arange(len(targs)), targs], EPS, 1) for p in probs], 1)  # each member's p(actual class)

    def loss(w):
        mixed = np.clip(own @ w, EPS, None)
        return -np.log(mixed).mean(), -(own / mixed[:, None]).mean(0)

    n = len(probs)
    res = minimize(loss, np.full(n, 1 / n), jac=True, method="SLSQP", bounds=[(0, 1)] * n,
                   constraints=[dict(type="eq", fun=lambda w: w.sum() - 1, jac=lambda w: np.ones(n))])
    w = np.clip(res.x, 0, None)
    w[w < 1e-4] = 0  # SLSQP stops near the bounds: a member it all but dropped is dropped
    return w / w.sum()


def blend(names, name=None, method="greedy", rounds=25, runs_dir="runs"):
    "Choose the weights of cv folders `names`, write blends/NAME.json, and return its content."
    if method not in METHODS: raise PaddyError(f"bad --method {method!r}: choose one of {', '.join(METHODS)}")
    if not isinstance(rounds, int) or rounds < 1: raise PaddyError(f"bad --rounds {rounds!r}: give a whole number of greedy steps >= 1, e.g. 25")
    if not names: raise PaddyError("name the cv folders to blend, e.g. `paddy blend resnet26d-cv,convnext-cv`")
    name = name or "+".join(names)
    if "/" in name or name.startswith("."): raise PaddyError(f"bad blend name {name!r}: give a plain name such as --name best")
    members = [load_member(n, runs_dir) for n in names]
    check_members(members)
    targs, folds, probs = targets(members[0]), members[0].folds, [m.probs for m in members]
    weights = greedy(probs, targs, rounds) if method == "greedy" else logloss_weights(probs, targs)
    result = dict(name=name, members=list(names), weights=[round(float(w), 6) for w in weights], method=method,
                  rounds=rounds if method == "greedy" else None, n=len(targs), folds=int(len(np.unique(folds))),
                  scores=dict(members={m.name: scores(m.probs, targs, folds) for m in members},
                              equal=scores(mix(probs, np.ones(len(probs))), targs, folds), blend=scores(mix(probs, weights), targs, folds)))
    result["evidence"] = evidence(result)
    write_json(blends_dir(runs_dir) / f"{name}.json", result)
    return result


def evidence(result):
    """How the blend compares with its best member (by out-of-fold accuracy, then log-loss): the gain, the fold-to-fold
    spread (the standard deviation of the best member's fold accuracies) and the folds on which the blend is better."""
    members = result["scores"]["members"]
    best = min(members, key=lambda n: (-members[n]["accuracy"], members[n]["logloss"]))
    folds_best, folds_blend = members[best]["fold_accuracy"], result["scores"]["blend"]["fold_accuracy"]
    gain = result["scores"]["blend"]["accuracy"] - members[best]["accuracy"]
    spread = float(np.std(folds_best, ddof=1)) if len(folds_best) > 1 else 0.0
    return dict(best_member=best, gain=gain, spread=spread, within_spread=bool(gain <= spread),
                folds_better=int(sum(b > a for a, b in zip(folds_best, folds_blend))))


def summary(result):
    "The lines `paddy blend` prints: every member's, the equal mean's and the blend's scores, then the evidence."
    rows = [(n, f"{w:.3f}", result["scores"]["members"][n]) for n, w in zip(result["members"], result["weights"])]
    rows += [("equal mean", "", result["scores"]["equal"]), (f"blend ({result['method']})", "", result["scores"]["blend"])]
    width = max(len(r[0]) for r in rows)
    lines = [f"{'out of fold':<{width}}  weight  accuracy  log-loss  accuracy per fold"]
    lines += [f"{n:<{width}}  {w:>6}  {s['accuracy']:8.4f}  {s['logloss']:8.4f}  {' '.join(f'{a:.4f}' for a in s['fold_accuracy'])}"
              for n, w, s in rows]
    ev, k = result["evidence"], result["folds"]
    if ev["gain"] <= 0: verdict = f"the blend is no more accurate than its best member {ev['best_member']} out of fold"
    elif ev["within_spread"]:
        verdict = (f"the blend's gain over its best member {ev['best_member']}, {ev['gain']:+.4f}, is within the fold-to-fold spread "
                   f"(std {ev['spread']:.4f} over {k} folds; better on {ev['folds_better']} of {k}): no clear evidence that it is better")
    else:
        verdict = (f"the blend's gain over its best member {ev['best_member']}, {ev['gain']:+.4f}, exceeds the fold-to-fold spread "
                   f"(std {ev['spread']:.4f} over {k} folds; better on {ev['folds_better']} of {k})")
    return lines + [verdict]


def load(name, runs_dir="runs"):
    "A blend's JSON by name (blends/NAME.json beside the runs folder) or by path."
    path = Path(name) if str(name).endswith(".json") else blends_dir(runs_dir) / f"{name}.json"
    if not path.is_file():
        known = sorted(p.stem for p in blends_dir(runs_dir).glob("*.json"))
        raise PaddyError(f"no blend {name!r} ({path} not found); known blends: {', '.join(known) or 'none'}; make one with `paddy blend`")
    return json.loads(path.read_text())


def members(name, runs_dir="runs"):
    "The cv folders of blend `name` that have weight, and their weights: (names, weights)."
    saved = load(name, runs_dir)
    kept = [(n, w) for n, w in zip(saved["members"], saved["weights"]) if w > 0]
    return [n for n, _ in kept], [w for _, w in kept]


def rows(runs_dir="runs"):
    "One row per blend for `paddy runs`: its out-of-fold error, and the members it came from with their weights."
    out = []
    for path in sorted(blends_dir(runs_dir).glob("*.json")):
        b = json.loads(path.read_text())
        out.append(dict(run=f"blend {b['name']}", arch="-", size="-", epochs="-", valid_err="-",
                        cv_err=f"{1 - b['scores']['blend']['accuracy']:.4f}", tta="-", time="-",
                        source=" + ".join(f"{w:.2f} {n}" for n, w in zip(b["members"], b["weights"]) if w > 0)))
    return out


def as_runs(name, runs_given, out=None, runs_dir="runs"):
    "`paddy predict --blend NAME`'s --run, --run-weights and --out: the blend's weighted cv folders, submissions/NAME.csv."
    if runs_given: raise PaddyError("--blend names its cv folders and their weights: drop --run and --run-weights")
    names, weights = members(name, runs_dir)
    return names, weights, out or Path("submissions") / f"{load(name, runs_dir)['name']}.csv"
