"""Real photos laid out as six Kaggle competitions, each solved twice with one model and schedule: by a hand-written
fastai notebook and by paddy with no code (the command line only); both scored on held-out images as Kaggle scores.

Photos: the ELPV dataset's 2,624 electroluminescence images of solar cells (300x300 grayscale PNGs, each with a
defect probability of 0, 1/3, 2/3 or 1 and a cell type, mono or poly; `pip install elpv-dataset`, images under
CC BY-NC-SA 4.0). A seeded fifth is held out as the test set. The shapes, and what each makes of a cell:

| shape | files | target | metric |
|---|---|---|---|
| cassava | flat train_images/*.jpg, train.csv image_id,label | the defect grade 0-3 | accuracy |
| aptos | train_images/{id}.png (ids without extension), train.csv id_code,diagnosis, test.csv | the grade 0-3 | qwk |
| pawpularity | train/{Id}.jpg, train.csv Id + 12 metadata columns + Pawpularity | 100 x the defect probability | rmse |
| plant_pathology | images/Train_N.jpg and Test_N.jpg, one-hot train.csv | type x (defective or not): 4 classes | auc |
| histopathologic | train/{id}.tif, train_labels.csv id,label | defective (probability >= 0.5) | auc |
| planet | train-jpg/*.jpg, train_v2.csv image_name,tags | type, functional or defective, doubtful when 1/3 or 2/3 | f2 |

The notebook is what a fastai user writes by hand: a DataBlock over the CSV (presizing: Resize to twice the size per
item, aug_transforms to the size per batch), `vision_learner`, `fine_tune(epochs, lr)`, `learn.tta` on the test
images, and the submission built from its outputs (argmax, P(class), the regression value, tags at 0.5). paddy gets
`train --data DIR --metric M --arch ARCH --weights W --size S --epochs E --lr LR` and `predict` with no flag. Both use
ImageNet MobileNetV2 (torchvision's weights in timm's layout, from the demo), 32 images a batch.

    .venv/bin/pip install elpv-dataset
    .venv/bin/python scripts/competition_bar.py --out build/bar [--only cassava,aptos] [--epochs 3] [--seed 1 --tag -s1]

Writes OUT/bar.json and prints a table: each shape's metric for the notebook, paddy and the best constant answer.
"""
import argparse, json, os, subprocess, sys, time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from paddy.testing.competitions import PAW_META, best_constant, hex_id, kaggle_score, write  # noqa: E402

WEIGHTS = REPO / "data" / "weights" / "mobilenetv2_100.safetensors"
METRICS = dict(cassava="accuracy", aptos="qwk", pawpularity="rmse", plant_pathology="auc", histopathologic="auc", planet="f2")
PP_CLASSES = ["mono_defective", "mono_functional", "poly_defective", "poly_functional"]


def cells(seed=0, test_share=0.2):
    "ELPV's cells as (train, test) frames: path, probability, type."
    import elpv_dataset
    folder = Path(elpv_dataset.__file__).parent / "data"
    df = pd.read_csv(folder / "labels.csv", sep=r"\s+", header=None, names=["path", "probability", "type"])
    df["path"] = [str(folder / p) for p in df.path]
    order = np.random.default_rng(seed).permutation(len(df))
    n_test = int(round(len(df) * test_share))
    return df.iloc[order[n_test:]].reset_index(drop=True), df.iloc[order[:n_test]].reset_index(drop=True)


def grade(p): return np.rint(np.asarray(p) * 3).astype(int)


def defective(p): return (np.asarray(p) >= 0.5).astype(int)


def tags(row):
    return " ".join([row.type, "defective" if row.probability >= 0.5 else "functional"] + (["doubtful"] if 0 < row.probability < 1 else []))


def copy(src, dst):
    "The photo `src` written as `dst` (format by extension: JPEG, PNG or TIFF)."
    from PIL import Image
    dst.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(src) as im: (im.convert("RGB") if dst.suffix == ".jpg" else im).save(dst)


def layout(shape, root, train, test):
    "Lay out the cells as `shape` in `root`; returns the solution frame (the sample's columns, the true answers)."
    if shape == "cassava":
        ids, tid = [f"{1000015157 + 7 * i}.jpg" for i in range(len(train))], [f"{2216849948 + 7 * i}.jpg" for i in range(len(test))]
        for i, p in zip(ids, train.path): copy(p, root / "train_images" / i)
        for i, p in zip(tid, test.path): copy(p, root / "test_images" / i)
        write(root, {"train.csv": pd.DataFrame(dict(image_id=ids, label=grade(train.probability))),
                     "sample_submission.csv": pd.DataFrame(dict(image_id=tid, label=0))})
        return pd.DataFrame(dict(image_id=tid, label=grade(test.probability)))
    if shape == "aptos":
        ids, tid = [hex_id(i) for i in range(len(train))], [hex_id(-1 - i) for i in range(len(test))]
        for i, p in zip(ids, train.path): copy(p, root / "train_images" / f"{i}.png")
        for i, p in zip(tid, test.path): copy(p, root / "test_images" / f"{i}.png")
        write(root, {"train.csv": pd.DataFrame(dict(id_code=ids, diagnosis=grade(train.probability))), "test.csv": pd.DataFrame(dict(id_code=tid)),
                     "sample_submission.csv": pd.DataFrame(dict(id_code=tid, diagnosis=0))})
        return pd.DataFrame(dict(id_code=tid, diagnosis=grade(test.probability)))
    if shape == "pawpularity":
        ids, tid = [hex_id(i, 32) for i in range(len(train))], [hex_id(-1 - i, 32) for i in range(len(test))]
        for i, p in zip(ids, train.path): copy(p, root / "train" / f"{i}.jpg")
        for i, p in zip(tid, test.path): copy(p, root / "test" / f"{i}.jpg")
        rng = np.random.default_rng(0)
        meta = lambda n: pd.DataFrame(rng.integers(0, 2, (n, len(PAW_META))), columns=PAW_META)
        value = lambda df: np.rint(df.probability.to_numpy() * 100).astype(int)
        write(root, {"train.csv": pd.concat([pd.DataFrame(dict(Id=ids)), meta(len(train)), pd.DataFrame(dict(Pawpularity=value(train)))], axis=1),
                     "test.csv": pd.concat([pd.DataFrame(dict(Id=tid)), meta(len(test))], axis=1),
                     "sample_submission.csv": pd.DataFrame(dict(Id=tid, Pawpularity=50.0))})
        return pd.DataFrame(dict(Id=tid, Pawpularity=value(test)))
    if shape == "plant_pathology":
        ids, tid = [f"Train_{i}" for i in range(len(train))], [f"Test_{i}" for i in range(len(test))]
        for i, p in zip(ids, train.path): copy(p, root / "images" / f"{i}.jpg")
        for i, p in zip(tid, test.path): copy(p, root / "images" / f"{i}.jpg")
        hot = lambda df: pd.DataFrame(np.eye(4, dtype=int)[[PP_CLASSES.index(f"{t}_{'defective' if p >= 0.5 else 'functional'}")
                                                           for t, p in zip(df.type, df.probability)]], columns=PP_CLASSES)
        write(root, {"train.csv": pd.concat([pd.DataFrame(dict(image_id=ids)), hot(train)], axis=1), "test.csv": pd.DataFrame(dict(image_id=tid)),
                     "sample_submission.csv": pd.DataFrame(dict(image_id=tid, **{c: 0.25 for c in PP_CLASSES}))})
        return pd.concat([pd.DataFrame(dict(image_id=tid)), hot(test)], axis=1)
    if shape == "histopathologic":
        ids, tid = [hex_id(i, 40) for i in range(len(train))], [hex_id(-1 - i, 40) for i in range(len(test))]
        for i, p in zip(ids, train.path): copy(p, root / "train" / f"{i}.tif")
        for i, p in zip(tid, test.path): copy(p, root / "test" / f"{i}.tif")
        write(root, {"train_labels.csv": pd.DataFrame(dict(id=ids, label=defective(train.probability))),
                     "sample_submission.csv": pd.DataFrame(dict(id=tid, label=0))})
        return pd.DataFrame(dict(id=tid, label=defective(test.probability)))
    ids, tid = [f"train_{i}" for i in range(len(train))], [f"test_{i}" for i in range(len(test))]
    for i, p in zip(ids, train.path): copy(p, root / "train-jpg" / f"{i}.jpg")
    for i, p in zip(tid, test.path): copy(p, root / "test-jpg" / f"{i}.jpg")
    write(root, {"train_v2.csv": pd.DataFrame(dict(image_name=ids, tags=[tags(r) for r in train.itertuples()])),
                 "sample_submission_v2.csv": pd.DataFrame(dict(image_name=tid, tags="poly functional"))})
    return pd.DataFrame(dict(image_name=tid, tags=[tags(r) for r in test.itertuples()]))


def notebook(shape, root, epochs, lr, size, seed=42):
    "The hand-written fastai notebook for `shape`: train on its files, TTA on its test images; returns the submission frame."
    from fastai.vision.all import (CategoryBlock, ColReader, DataBlock, ImageBlock, MultiCategoryBlock, RandomSplitter, RegressionBlock,
                                   Resize, accuracy, aug_transforms, rmse, vision_learner, CohenKappa, RocAucBinary, F1ScoreMulti, RocAuc,
                                   set_seed)
    set_seed(seed)
    kw = dict(item_tfms=Resize(size * 2), batch_tfms=aug_transforms(size=size, min_scale=0.75), splitter=RandomSplitter(0.2, seed=seed))
    if shape in ("cassava", "aptos", "histopathologic", "plant_pathology"):
        csv, folder, ext, id_col, y_col = dict(cassava=("train.csv", "train_images", "", "image_id", "label"),
                                               aptos=("train.csv", "train_images", ".png", "id_code", "diagnosis"),
                                               histopathologic=("train_labels.csv", "train", ".tif", "id", "label"),
                                               plant_pathology=("train.csv", "images", ".jpg", "image_id", "label"))[shape]
        df = pd.read_csv(root / csv)
        if shape == "plant_pathology": df["label"] = df[PP_CLASSES].idxmax(axis=1)
        df["path"] = [str(root / folder / f"{i}{ext}") for i in df[id_col]]
        metric = dict(cassava=accuracy, aptos=CohenKappa(weights="quadratic"), histopathologic=RocAucBinary(), plant_pathology=RocAuc())[shape]
        dls = DataBlock(blocks=(ImageBlock, CategoryBlock), get_x=ColReader("path"), get_y=ColReader(y_col), **kw).dataloaders(df, bs=32)
    elif shape == "pawpularity":
        df = pd.read_csv(root / "train.csv")
        df["path"] = [str(root / "train" / f"{i}.jpg") for i in df.Id]
        dls = DataBlock(blocks=(ImageBlock, RegressionBlock), get_x=ColReader("path"), get_y=ColReader("Pawpularity"), **kw).dataloaders(df, bs=32)
        metric, folder, ext, id_col = rmse, "test", ".jpg", "Id"
    else:
        df = pd.read_csv(root / "train_v2.csv")
        df["path"] = [str(root / "train-jpg" / f"{i}.jpg") for i in df.image_name]
        dls = DataBlock(blocks=(ImageBlock, MultiCategoryBlock), get_x=ColReader("path"), get_y=ColReader("tags", label_delim=" "), **kw).dataloaders(df, bs=32)
        metric = F1ScoreMulti(average="samples")
    learn = vision_learner(dls, "mobilenetv2_100", metrics=metric, pretrained_cfg_overlay=dict(file=str(WEIGHTS)))
    learn.fine_tune(epochs, lr)
    sample = pd.read_csv(next(root.glob("sample_submission*.csv")))
    test_dir = dict(cassava="test_images", aptos="test_images", pawpularity="test", plant_pathology="images", histopathologic="test",
                    planet="test-jpg")[shape]
    ext = dict(cassava="", aptos=".png", pawpularity=".jpg", plant_pathology=".jpg", histopathologic=".tif", planet=".jpg")[shape]
    id_col = sample.columns[0]
    preds, _ = learn.tta(dl=dls.test_dl([str(root / test_dir / f"{i}{ext}") for i in sample[id_col]]))
    preds, vocab = preds.numpy(), list(map(str, dls.vocab)) if shape != "pawpularity" else None
    if shape in ("cassava", "aptos"): return sample.assign(**{sample.columns[1]: [vocab[i] for i in preds.argmax(1)]})
    if shape == "pawpularity": return sample.assign(Pawpularity=preds[:, 0])
    if shape == "histopathologic": return sample.assign(label=preds[:, vocab.index("1")])
    if shape == "plant_pathology": return sample.assign(**{c: preds[:, vocab.index(c)] for c in PP_CLASSES})
    return sample.assign(tags=[" ".join(v for v, p in zip(vocab, row) if p >= 0.5) for row in preds])


def paddy(shape, root, work, epochs, lr, size, seed=42, flags=()):
    "paddy with no code: `paddy train` with the metric and the recipe's flags, then `paddy predict`; returns the submission frame."
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    train = [sys.executable, "-m", "paddy.cli", "train", "--data", str(root), "--metric", METRICS[shape], "--arch", "mobilenetv2_100",
             "--weights", str(WEIGHTS), "--size", str(size), "--epochs", str(epochs), "--lr", str(lr), "--seed", str(seed), "--name", shape, *flags]
    for args in (train, [sys.executable, "-m", "paddy.cli", "predict", "--run", shape]):
        subprocess.run(args, cwd=work, env=env, check=True)
    return pd.read_csv(work / "submissions" / f"{shape}.csv", dtype=str)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="build/bar", help="folder of the laid-out data, runs and bar.json")
    ap.add_argument("--only", help="shapes to run, comma-separated (default all)")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--seed", type=int, default=42, help="the split's and the training's seed, on both sides")
    ap.add_argument("--paddy-flags", default="", help="more flags for `paddy train`, e.g. '--precision fp32'")
    ap.add_argument("--tag", default="", help="a suffix of the results' keys in bar.json (another seed or setting)")
    args = ap.parse_args(argv)
    out = Path(args.out).resolve()
    train, test = cells()
    results = json.loads((out / "bar.json").read_text()) if (out / "bar.json").is_file() else {}
    for shape in (args.only.split(",") if args.only else METRICS):
        root = out / "data" / shape
        solution = layout(shape, root, train, test) if not root.is_dir() else pd.read_csv(out / "data" / f"{shape}-solution.csv")
        solution.to_csv(out / "data" / f"{shape}-solution.csv", index=False)
        start = time.perf_counter()
        nb = notebook(shape, root, args.epochs, args.lr, args.size, args.seed)
        nb_s = time.perf_counter() - start
        start = time.perf_counter()
        pd_sub = paddy(shape, root, out, args.epochs, args.lr, args.size, args.seed, args.paddy_flags.split())
        pd_s = time.perf_counter() - start
        metric, key = METRICS[shape], shape + args.tag
        results[key] = dict(metric=metric, notebook=kaggle_score(metric, nb, solution), paddy=kaggle_score(metric, pd_sub, solution),
                            constant=best_constant(metric, solution), notebook_s=round(nb_s), paddy_s=round(pd_s), n_train=len(train),
                            n_test=len(test), seed=args.seed, paddy_flags=args.paddy_flags)
        print(f"BAR {key}: {json.dumps(results[key])}", flush=True)
        (out / "bar.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"{'shape':<16} {'metric':<8} {'notebook':>9} {'paddy':>9} {'constant':>9}")
    for shape, r in results.items():
        print(f"{shape:<16} {r['metric']:<8} {r['notebook']:9.4f} {r['paddy']:9.4f} {r['constant']:9.4f}")


if __name__ == "__main__":
    main()
