"""`make zoo-check`: one training batch of every model in `paddy models` at its own input size, then every preset
(experiments/*.toml) from the command line with its own settings but one batch an epoch. No pretrained weights (the
check is that each model builds, runs forward and backward through paddy's head, and saves), no network.

    python scripts/zoo_check.py [--only PATTERN]      # exit 1 if anything failed; a table of the results
"""
import argparse, fnmatch, os, subprocess, sys, tempfile, time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from paddy.testing.competitions import synthetic  # noqa: E402
LABELS = ("blast", "normal")


def tiny_competition(root, per_label=3):
    "Paddy's layout with `per_label` 48x40 images a label (4 train, 2 valid at valid_pct 0.2) and 2 test images."
    return synthetic(root, LABELS, per_label, n_test=2, size=(48, 40))[0]


def paddy_train(*args, cwd):
    "`paddy train ARGS` as a user runs it; returns (ok, last line of its error output)."
    env = dict(os.environ, PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1")
    r = subprocess.run([sys.executable, "-m", "paddy.cli", "train", *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True)
    return r.returncode == 0, (r.stderr.strip().splitlines() or [""])[-1][:160]


def checks():
    "(what, args) of each check: every table model at its size, then every preset at bs = 2 micro-batches of 2."
    from paddy.config import make_config
    from paddy.models import zoo
    for name in zoo.MODELS:
        h, w = zoo.spec(name).fixed_size or (64, 64)
        yield name, ["--arch", name, "--size", f"{h},{w}", "--item-size", f"{h},{w}", "--bs", 4, "--epochs", 1, "--method", "fit_one_cycle"]
    for preset in sorted((REPO / "experiments").glob("*.toml")):
        if preset.stem == "demo": continue  # its own data and weights: `make demo` runs it
        accum = make_config(preset).accum
        yield f"preset {preset.stem}", ["--config", preset, "--bs", 2 * accum, "--epochs", 1]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="*", help="run only the checks whose name matches this glob, e.g. '*swin*' or 'preset*'")
    args = ap.parse_args(argv)
    failed = 0
    with tempfile.TemporaryDirectory(prefix="paddy-zoo-check.") as tmp:
        root = tiny_competition(Path(tmp) / "comp")
        for what, flags in checks():
            if not fnmatch.fnmatch(what, args.only): continue
            start = time.time()
            ok, err = paddy_train("--data", root, "--no-pretrained", "--workers", 0, "--no-cache", "--precision", "fp32",
                                  *flags, "--name", what.replace(" ", "-"), "--runs-dir", Path(tmp) / "runs", cwd=tmp)
            failed += not ok
            print(f"{'ok  ' if ok else 'FAIL'} {what:<40} {time.time() - start:6.1f}s {'' if ok else err}", flush=True)
    print("zoo-check: " + (f"{failed} failed" if failed else "every model and preset trained a batch"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
