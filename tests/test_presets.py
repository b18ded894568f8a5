"""Experiment presets (experiments/*.toml), the Make variables that reach them, and the `paddy runs` table."""
import json, subprocess

import pytest
from conftest import REPO, paddy

from paddy import runs
from paddy.config import make_config
from paddy.errors import PaddyError
from paddy.models import zoo
from paddy.report import listing

PRESETS = sorted((REPO / "experiments").glob("*.toml"))
RECIPE = {"part1-resnet26d": ("resnet26d", (128, 128), 3, 1), "part2-convnext-small": ("convnext_small_in22k", (256, 192), 12, 1),
          "part3-convnext-large": ("convnext_large_in22k", (320, 224), 12, 2), "part3-vit-large": ("vit_large_patch16_224", (224, 224), 12, 2),
          "part3-swinv2-large": ("swinv2_large_window12_192_22k", (192, 192), 12, 2),
          "part3-swin-large": ("swin_large_patch4_window7_224", (224, 224), 12, 2), "part4-multi-target": ("convnext_small_in22k", (171, 128), 5, 1)}
DEMO = REPO / "experiments" / "demo.toml"  # `make demo`'s recipe, with its own data and weights


def test_every_recipe_run_has_a_preset():
    assert sorted(p.stem for p in PRESETS if p != DEMO) == sorted(RECIPE)


def test_the_demo_recipe_is_one_preset():
    from paddy.config import load_toml
    assert load_toml(DEMO) == dict(name="demo-mobilenetv2", data="data/demo-digits", weights="data/weights/mobilenetv2_100.safetensors",
                                   arch="mobilenetv2_100", size=32, item_size=32, flip=False, method="fit_one_cycle", epochs=4, lr=0.003, bs=32)
    out = subprocess.run(["make", "-n", "-o", ".venv/.paddy-installed", "demo"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert "paddy train --exp demo\n" in out and "--run demo-mobilenetv2 --data data/demo-digits" in out


@pytest.mark.parametrize("path", [p for p in PRESETS if p != DEMO], ids=lambda p: p.stem)
def test_preset_passes_the_checks(path):
    cfg = make_config(path)
    spec = zoo.spec(cfg.arch)
    spec.check_size(cfg.size)  # ViT and Swin take one input size
    arch, size, epochs, accum = RECIPE[path.stem]
    assert (cfg.arch, cfg.size, cfg.epochs, cfg.accum, cfg.run_name) == (arch, size, epochs, accum, path.stem)
    assert cfg.bs // cfg.accum * cfg.accum == cfg.bs == 64


def test_part2_and_part4_settings():
    p2, p4 = make_config(REPO / "experiments/part2-convnext-small.toml"), make_config(REPO / "experiments/part4-multi-target.toml")
    assert (p2.resize, p2.item_size, p2.lr, p2.method) == ("pad", (480, 360), 0.01, "fine_tune")
    assert p4.aux_targets == ("variety",)


def test_flags_win_over_a_preset_and_make_passes_exp():
    cfg = make_config(REPO / "experiments/part2-convnext-small.toml", epochs=3, size="128")
    assert (cfg.epochs, cfg.size, cfg.resize) == (3, (128, 128), "pad")
    out = subprocess.run(["make", "-n", "-o", ".venv/.paddy-installed", "train", "EXP=part2-convnext-small", "EPOCHS=3", "MIXUP=0.4"],
                         cwd=REPO, capture_output=True, text=True, check=True).stdout
    line = next(ln for ln in out.splitlines() if " train " in ln)
    assert "--exp part2-convnext-small" in line and "--epochs 3" in line and "--mixup 0.4" in line


def test_make_passes_every_run_setting():
    from paddy.config import KEYS
    out = subprocess.run(["make", "-n", "-o", ".venv/.paddy-installed", "train", "GPUS=2", "FLIP=0", "CHANNELS_LAST=1", "RUN=r",
                          "PSEUDO_THRESHOLD=0.5", *[f"{k.upper()}=v" for k in KEYS if k not in ("flip", "channels_last", "name", "pseudo_threshold")]],
                         cwd=REPO, capture_output=True, text=True, check=True).stdout
    line = next(ln for ln in out.splitlines() if " train " in ln)
    assert "--gpus 2" in line and "--no-flip" in line and "--channels-last" in line and "--name r" in line and "--pseudo-threshold 0.5" in line
    assert all(f" --{k.replace('_', '-')} " in line or f" --no-{k} " in line for k in KEYS), line


def test_make_predict_passes_every_prediction_setting():
    import shlex
    from dataclasses import asdict, fields
    from paddy.cli import parser
    from paddy.config import PREDICT_KEYS, PredictSettings, make_variables, predict_settings
    given = dict(run="a,b", run_weights="0.3,0.7", blend="bl", data="comp", slug="some-slug", tta="2", bs="16", workers="3",
                 out="sub.csv", runs_dir="elsewhere", use_checkpoint="1", precision="bf16")
    assert set(given) == {f.name for f in fields(PredictSettings)}  # a new setting needs a value here
    vars_ = dict(zip(given, (v.split(":")[0] for v in make_variables(PredictSettings))))
    out = subprocess.run(["make", "-n", "-o", ".venv/.paddy-installed", "predict", *[f"{vars_[k]}={v}" for k, v in given.items()]],
                         cwd=REPO, capture_output=True, text=True, check=True).stdout
    line = next(ln for ln in out.splitlines() if " predict " in ln)
    args = parser().parse_args(shlex.split(line)[1:])  # what the CLI receives
    settings = asdict(predict_settings(**{k: getattr(args, k) for k in PREDICT_KEYS}))  # as cmd_predict hands them to api.predict
    assert settings == dict(run=("a", "b"), run_weights=("0.3", "0.7"), blend="bl", data="comp", slug="some-slug", tta=2, bs=16, workers=3,
                            out="sub.csv", runs_dir="elsewhere", use_checkpoint=True, precision="bf16")  # weights: numbers once runs.expand reads them


def test_make_cv_passes_folds():
    out = subprocess.run(["make", "-n", "-o", ".venv/.paddy-installed", "cv", "FOLDS=5", "RUN=x"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert "paddy cv" in out and "--folds 5" in out and "--name x" in out


@pytest.mark.parametrize("settings, fragment", [
    (dict(mixup=0.4, cutmix=1.0), "alternatives"), (dict(label_smoothing=1.5), "--label-smoothing"), (dict(ema=1.0), "--ema"),
    (dict(folds=5), "--folds K and --fold I"), (dict(folds=3, fold=3), "--fold 3"), (dict(aux_targets="variety,variety"), "distinct"),
    (dict(aux_targets="variety", mixup=0.4), "one target"), (dict(init_from="nope"), "nope"), (dict(metric="kappa"), "--metric 'kappa'"),
    (dict(task="tags"), "--task 'tags'"), (dict(top_k=0), "--top-k 0")])
def test_option_values_are_checked(tmp_path, settings, fragment):
    with pytest.raises(PaddyError, match=fragment.replace("-", r"\-")): make_config(runs_dir=str(tmp_path), **settings)


def _run(folder, **meta):
    folder.mkdir(parents=True)
    (folder / "meta.json").write_text(json.dumps(meta))


def test_runs_table(tmp_path):
    base = dict(arch="resnet18", size=[32, 24], config=dict(epochs=2), finished=True)
    base = base | dict(competition=dict(metric="qwk"))
    _run(tmp_path / "a", **base, valid_score=0.75, valid_score_tta=0.875, train_seconds=75, tta=4)  # predicted with TTA: its TTA score
    _run(tmp_path / "b", **base | dict(finished=False))
    _run(tmp_path / "k-f0", **base, valid_score=0.5, train_seconds=10)
    _run(tmp_path / "k-f1", **base, valid_score=0.25, train_seconds=20)
    runs.write_cv(tmp_path / "k-cv", runs.CVResult(["k-f0", "k-f1"], "ordinal", ["0", "1"], "qwk", 0.375, [0.5, 0.25], 8, 2))
    lines = listing.table(tmp_path).splitlines()
    assert lines[0].split() == ["run", "arch", "size", "epochs", "metric", "valid", "cv", "tta", "time", "source"]
    rows = {ln.split()[0]: ln.split() for ln in lines[1:]}
    assert rows["a"] == ["a", "resnet18", "32x24", "2", "qwk", "0.8750", "-", "4", "1m15s", "-"]
    assert rows["b"][5] == "unfinished"
    assert rows["k-f1"][5:7] == ["0.2500", "0.3750"]
    assert rows["k-cv"] == ["k-cv", "resnet18", "32x24", "2", "qwk", "-", "0.3750", "2", "30s", "-"]


@pytest.mark.slow
def test_paddy_runs_cli(tmp_path):
    proc = paddy("runs", "--runs-dir", tmp_path / "none", cwd=tmp_path, check=True)
    assert "no runs under" in proc.stdout


def test_make_submission_file_target_predicts_only_when_the_weights_are_newer(tmp_path):
    import os, shutil
    for name in ("Makefile", "pyproject.toml", "constraints.txt"): shutil.copy(REPO / name, tmp_path)
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / ".paddy-installed").touch()
    (tmp_path / "runs" / "r").mkdir(parents=True)
    (tmp_path / "submissions").mkdir()
    weights, csv = tmp_path / "runs" / "r" / "model.safetensors", tmp_path / "submissions" / "r.csv"
    make = lambda: " ".join(subprocess.run(["make", "-n", "submissions/r.csv", "TTA=2"], cwd=tmp_path, capture_output=True, text=True, check=True).stdout.split())
    for path, age in ((tmp_path / "pyproject.toml", 300), (tmp_path / "constraints.txt", 300), (tmp_path / ".venv" / ".paddy-installed", 200),
                      (weights, 100), (csv, 0)):
        path.touch()
        os.utime(path, (path.stat().st_mtime - age,) * 2)
    assert "'submissions/r.csv' is up to date" in make()  # the CSV is newer than the weights
    os.utime(weights)  # the run was trained again
    assert "paddy predict --run r --out submissions/r.csv --tta 2" in make()
