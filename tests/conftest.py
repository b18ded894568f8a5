"""Shared fixtures: tiny generated competitions and a way to run the `paddy` CLI as a user would."""
import os, subprocess, sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
DEMO_WEIGHTS = REPO / "data" / "weights" / "mobilenetv2_100.safetensors"
TINY = ["--arch", "resnet18", "--no-pretrained", "--size", "32", "--bs", "4", "--epochs", "1", "--workers", "0"]


def make_competition(root, labels=("blast", "normal"), per_label=8, n_test=6, size=(40, 48), mode="RGB", ext=".jpg", seed=0):
    """A competition folder in Paddy Doctor's layout; each label has its own colour so a model can learn it.
    `size` is (width, height) as PIL counts it. Returns (root, solution frame)."""
    rng = np.random.default_rng(seed)
    root = Path(root)
    palette = rng.integers(0, 256, size=(len(labels), 3))

    def image(k):
        px = np.clip(palette[k] + rng.normal(0, 20, size=(size[1], size[0], 3)), 0, 255).astype(np.uint8)
        im = Image.fromarray(px)
        return im.convert(mode) if mode != "RGB" else im

    rows = []
    for k, label in enumerate(labels):
        (root / "train_images" / label).mkdir(parents=True, exist_ok=True)
        for j in range(per_label):
            image_id = f"{k:02d}{j:04d}{ext}"
            image(k).save(root / "train_images" / label / image_id)
            rows.append((image_id, label, "ADT45", 50))
    pd.DataFrame(rows, columns=["image_id", "label", "variety", "age"]).to_csv(root / "train.csv", index=False)
    (root / "test_images").mkdir(parents=True, exist_ok=True)
    truth = []
    for j in range(n_test):
        image_id, k = f"{200001 + j}{ext}", j % len(labels)
        image(k).save(root / "test_images" / image_id)
        truth.append((image_id, labels[k]))
    solution = pd.DataFrame(truth, columns=["image_id", "label"])
    solution.assign(label=labels[0]).to_csv(root / "sample_submission.csv", index=False)
    return root, solution


@pytest.fixture
def competition(tmp_path):
    "A tiny two-label RGB JPEG competition in tmp_path/comp."
    return make_competition(tmp_path / "comp")[0]


def paddy(*args, cwd, env=None, check=False, threads=1):
    "Run `python -m paddy.cli ARGS` in `cwd` as a user would (tiny models run fastest on one thread); returns the CompletedProcess."
    env = dict(os.environ if env is None else env, PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1", OMP_NUM_THREADS=str(threads))
    proc = subprocess.run([sys.executable, "-m", "paddy.cli", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=900)
    if check and proc.returncode: raise AssertionError(f"paddy {' '.join(map(str, args))} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def assert_user_error(proc, *fragments):
    "Exit code 2, one line on stderr starting `paddy:`, no traceback, and the line names `fragments`."
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip() and not ln[0].isspace() and "Warning:" not in ln]
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert len(lines) == 1 and lines[0].startswith("paddy: "), proc.stderr
    for f in fragments: assert f in lines[0], (f, lines[0])
    return lines[0]


@pytest.fixture(scope="session")
def demo_assets():
    "The demo competition and weights, built once per session by scripts/make_demo.py (real MNIST digits)."
    sys.path.insert(0, str(REPO / "scripts"))
    import make_demo
    out = REPO / "data" / "demo-digits"
    if not (out / "train.csv").is_file(): make_demo.build_competition(out)
    if not DEMO_WEIGHTS.is_file(): make_demo.convert_weights(DEMO_WEIGHTS)
    return out, DEMO_WEIGHTS
