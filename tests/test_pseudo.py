"""Pseudo-labels: confident test predictions join the training part of every fold, never validation; sources (blend,
run, CSV) and their refusals; and the whole round on a tiny competition: cv, blend, predict --blend, cv --pseudo, and
`paddy runs` with CV before and after."""
import json

import numpy as np
import pandas as pd
import pytest
from conftest import cli, make_competition, tiny_config
from fake_runs import PSEUDO_IDS as TEST_IDS, source_run

from paddy import cv, runs
from paddy.config import make_config
from paddy.data import block
from paddy.data.competition import describe, train_items
from paddy.errors import PaddyError
from paddy.learn import pseudo
from paddy.models import zoo
from paddy.report import listing

def test_pseudo_labels_join_the_training_part_of_every_fold_never_validation(tmp_path):
    root, _ = make_competition(tmp_path / "comp", per_label=6)
    source_run(tmp_path / "runs")
    comp = describe(root)
    items = train_items(comp)
    for i in range(3):
        cfg = tiny_config(root, tmp_path, folds=3, fold=i, pseudo="src")
        valid = block.valid_split(cfg, "single", items)
        plain = block.dataloaders(tiny_config(root, tmp_path, folds=3, fold=i), zoo.spec("resnet18"), "single", items, valid)
        dls = block.dataloaders(cfg, zoo.spec("resnet18"), "single", items, valid, train_only=pseudo.rows(cfg, comp, items))
        train_idx, valid_idx = dls.train_ds.splits
        frame = pd.concat([dls.train_ds.items, dls.valid_ds.items]).sort_index()
        pseudo_idx = [j for j, img in enumerate(frame.id) if img in TEST_IDS]
        assert [frame.id.iloc[j] for j in pseudo_idx] == ["200001.jpg", "200003.jpg", "200005.jpg"]
        assert set(pseudo_idx) <= set(train_idx) and not set(pseudo_idx) & set(valid_idx)  # from the split indices
        assert min(pseudo_idx) >= len(items) and list(valid_idx) == list(plain.train_ds.splits[1])  # validation unchanged
        assert list(frame.y.iloc[pseudo_idx]) == ["blast", "normal", "normal"]
        assert pseudo.meta(cfg, dls)["pseudo"] | dict(images=None) == dict(source="src", kind="runs", threshold=0.9, n=3, images=None)
    assert cfg.run_name == "resnet18-32x32-pl-f2" and cv.base_name(cfg) == "resnet18-32x32-pl"  # beside, not over, the run without


def test_sources_and_refusals(tmp_path):
    root, _ = make_competition(tmp_path / "comp", per_label=6)
    source_run(tmp_path / "runs")
    sub = tmp_path / "sub.csv"
    pd.DataFrame(dict(image_id=TEST_IDS, label=["normal"] * 6)).to_csv(sub, index=False)
    comp = describe(root)
    items = train_items(comp)
    rows = pseudo.rows(tiny_config(root, tmp_path, pseudo=str(sub), pseudo_threshold=0), comp, items)
    assert list(rows.id) == TEST_IDS and set(rows.y) == {"normal"}  # a CSV at threshold 0: every label it holds
    assert len(pseudo.rows(tiny_config(root, tmp_path, pseudo="src", pseudo_threshold=0.7), comp, items)) == 4
    for kw, message in [(dict(pseudo=str(sub)), "labels without probabilities"), (dict(pseudo="nothing"), "--pseudo nothing: no submission CSV"),
                        (dict(pseudo="src", aux_targets="variety"), "drop --aux-targets"), (dict(pseudo="src", pseudo_threshold=1.5), "bad --pseudo-threshold")]:
        with pytest.raises(PaddyError, match=message): tiny_config(root, tmp_path, **kw)
    source_run(tmp_path / "other", np.array([[0.95, 0.05, 0]] * 6), ("blast", "normal", "tungro"))
    with pytest.raises(PaddyError, match="other labels than the training data"):
        pseudo.rows(tiny_config(root, tmp_path, pseudo=str(tmp_path / "other" / "src")), comp, items)
    with pytest.raises(PaddyError, match="this is a regression task: drop it"):
        from paddy.learn import options
        options.check_task(tiny_config(root, tmp_path, pseudo="src"), "regression")


@pytest.mark.slow
def test_a_pseudo_label_round_end_to_end(tmp_path, monkeypatch, capsys, one_thread):
    root, truth = make_competition(tmp_path / "comp", per_label=6)
    monkeypatch.chdir(tmp_path)
    before = cv.cross_validate(tiny_config(root, tmp_path, epochs=1, folds=2, fold=0, name="k"), tta=0)
    assert cli("blend", "k-cv", "--name", "b", cwd=tmp_path, monkeypatch=monkeypatch) == 0
    assert cli("predict", "--blend", "b", "--data", root, "--tta", "0", cwd=tmp_path, monkeypatch=monkeypatch) == 0
    out = capsys.readouterr().out
    assert "blend (greedy)" in out and "wrote submissions/b.csv; out-of-fold accuracy of this ensemble" in out
    assert sorted(pd.read_csv(tmp_path / "submissions" / "b.csv", dtype=str).image_id) == sorted(truth.image_id)
    confident = np.mean([runs.load_probs(tmp_path / "runs" / f"k-f{i}")[1] for i in range(2)], 0).max(1)
    threshold = float(np.sort(confident)[2])  # about half the test images pass

    after = cv.cross_validate(tiny_config(root, tmp_path, epochs=1, folds=2, fold=0, pseudo="b", pseudo_threshold=threshold), tta=0)
    assert after.name == "resnet18-32x32-pl-cv"
    for i in range(2):
        meta, plain = runs.load_meta(tmp_path / "runs" / f"resnet18-32x32-pl-f{i}"), runs.load_meta(tmp_path / "runs" / f"k-f{i}")
        assert meta.pseudo["n"] == int((confident >= threshold).sum()) == len(meta.pseudo["images"]) >= 1
        assert meta.n_train == plain.n_train + meta.pseudo["n"] and meta.n_valid == plain.n_valid
        assert json.loads((tmp_path / "runs" / f"k-f{i}" / "valid.json").read_text())["ids"] == \
            json.loads((tmp_path / "runs" / f"resnet18-32x32-pl-f{i}" / "valid.json").read_text())["ids"]  # CV on the same images
    table = listing.table(tmp_path / "runs").splitlines()
    line = lambda name: next(ln for ln in table if ln.startswith(name + " "))
    for folder in (before, after): assert f"{runs.load_cv(folder).score:.4f}" in line(folder.name)
    assert f"pseudo b >={threshold:g}: {meta.pseudo['n']} test images" in line("resnet18-32x32-pl-cv")
    assert line("blend b").endswith("1.00 k-cv")
