"""Writes that fail (disk full) keep the previous file and name the path; run files load without pickle and are
checked against the model and data they claim to fit."""
import dataclasses, errno, json, pickle, re
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from paddy import runs
from paddy.errors import PaddyError
from paddy.files import write_json
from paddy.infer import submission

ENOSPC = OSError(errno.ENOSPC, "No space left on device")


def leftovers(folder):
    return [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


@pytest.fixture
def run(tmp_path):
    "A finished run folder holding a real resnet18 (2 classes) with probabilities, made without training."
    from fastai.vision.learner import create_timm_model
    model, _ = create_timm_model("resnet18", 2, pretrained=False)
    folder = tmp_path / "run"
    runs.start(folder, runs.RunMeta(timm_name="resnet18", vocab=["a", "b"], size=[32, 32], item_size=[64, 64]))
    runs.save_weights(folder, model)
    runs.finish(folder, runs.load_meta(folder), pd.DataFrame({"epoch": [0]}))
    runs.save_probs(folder, ["1.jpg", "2.jpg"], np.full((2, 2), 0.5))
    return folder, model


def disk_full_in_safetensors(monkeypatch):
    "safetensors writes half a file, then fails as it does on a full disk."
    import safetensors.torch
    from safetensors import SafetensorError

    def save_file(tensors, path, metadata=None):
        open(path, "wb").write(b"half")
        raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")
    monkeypatch.setattr(safetensors.torch, "save_file", save_file)


@pytest.mark.parametrize("name", ["weights", "checkpoint"])
def test_disk_full_keeps_previous_weights_and_checkpoint(run, monkeypatch, name):
    import torch
    folder, model = run
    path = folder / {"weights": runs.WEIGHTS, "checkpoint": runs.CHECKPOINT}[name]
    save = {"weights": lambda: runs.save_weights(folder, model), "checkpoint": lambda: runs.save_checkpoint(folder, {"x": torch.ones(3)}, {"epochs_done": 1})}[name]
    save()
    before = path.read_bytes()
    disk_full_in_safetensors(monkeypatch)
    with pytest.raises(PaddyError, match=f"cannot write {path}.*No space left.*unchanged"): save()
    assert path.read_bytes() == before and not leftovers(folder)


def test_disk_full_keeps_previous_meta_json(run, monkeypatch):
    folder, _ = run
    before = (folder / "meta.json").read_text()
    monkeypatch.setattr("pathlib.Path.write_text", lambda *a, **k: (_ for _ in ()).throw(ENOSPC))
    with pytest.raises(PaddyError, match=f"cannot write {folder / 'meta.json'}.*No space left"):
        write_json(folder / "meta.json", {"finished": False})
    monkeypatch.undo()
    assert (folder / "meta.json").read_text() == before and not leftovers(folder)


def test_disk_full_keeps_previous_probabilities(run, monkeypatch):
    folder, _ = run
    before = (folder / runs.PROBS).read_bytes()
    monkeypatch.setattr(np, "save", lambda *a, **k: (_ for _ in ()).throw(ENOSPC))
    with pytest.raises(PaddyError, match=f"cannot write {folder / runs.PROBS}"):
        runs.save_probs(folder, ["1.jpg", "2.jpg"], np.zeros((2, 2)))
    assert (folder / runs.PROBS).read_bytes() == before and not leftovers(folder)


def test_run_files_load_without_pickle(run, monkeypatch):
    import torch
    folder, model = run
    runs.save_checkpoint(folder, {"x": torch.ones(2)}, {"epochs_done": 1})
    def refuse(*a, **k): raise AssertionError("pickle used")
    for mod, name in [(pickle, "load"), (pickle, "loads"), (pickle, "Unpickler"), (torch, "load")]: monkeypatch.setattr(mod, name, refuse)
    loaded = runs.load_model(folder, runs.load_meta(folder))
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), model.state_dict().values()))
    assert runs.load_probs(folder)[0] == ["1.jpg", "2.jpg"]
    assert runs.load_checkpoint(folder)[1] == {"epochs_done": 1}


def test_weights_that_do_not_fit_the_arch(run):
    folder, _ = run
    with pytest.raises(PaddyError, match="does not fit resnet34 with 2 outputs"):
        runs.load_model(folder, replace(runs.load_meta(folder), timm_name="resnet34"))
    with pytest.raises(PaddyError, match="does not fit resnet18 with 3 outputs"):
        runs.load_model(folder, replace(runs.load_meta(folder), vocab=["a", "b", "c"]))


def test_damaged_weights_file(run):
    folder, _ = run
    (folder / runs.WEIGHTS).write_bytes(b"\x00" * 64)
    with pytest.raises(PaddyError, match="damaged or not a safetensors file"): runs.load_model(folder, runs.load_meta(folder))


def test_probabilities_and_ids_that_disagree(run):
    folder, _ = run
    (folder / runs.PROB_IDS).write_text(json.dumps(["1.jpg"]))
    with pytest.raises(PaddyError, match="disagree"): runs.load_probs(folder)


def test_resume_on_other_data_is_refused(run):
    import torch
    from paddy.learn.checkpoint import resumable
    folder, _ = run
    meta = replace(runs.load_meta(folder), finished=False, n_train=8, n_valid=2)
    runs.write_meta(folder, meta)
    runs.save_checkpoint(folder, {"x": torch.ones(1)}, {"epochs_done": 1})
    with pytest.raises(PaddyError, match="started with vocab.*the data now gives"):
        resumable(folder, replace(meta, vocab=["a", "c"]))


def every_field():
    "A RunMeta with every field set (none at its default), as a finished, predicted multi-target --pseudo --swa --lr auto run has it."
    return runs.RunMeta(
        name="r", arch="resnet18", timm_name="resnet18.a1_in1k", size=[32, 24], item_size=[64, 48], resize="pad", min_scale=0.5,
        flip=False, mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225], precision="bf16", channels_last=False,
        config=dict(arch="resnet18", size=[32, 24], lr="auto", aux_targets=["variety"]), versions=dict(paddy="0.1", python="3.11.9"),
        competition=dict(task="single", metric="accuracy", kind="label"), target_range=[0.0, 1.0],
        vocab=["a", "b"], n_train=10, n_valid=2, skipped_images={"9.jpg": "truncated"}, targets=["label", "variety"],
        vocabs=dict(label=["a", "b"], variety=["x", "y", "z"]), n_out=5, world_size=2,
        pseudo=dict(source="b", kind="blend", threshold=0.9, n=1, images={"7.jpg": "a"}), lr_find=dict(valley=1e-3, slide=3e-3),
        lr=1e-3, train_seconds=12.5, compile_graphs=4, history=[dict(epoch=0, train_loss=0.9, valid_loss=0.8, error_rate=0.5, time="00:01")],
        valid_error=0.5, swa=dict(epochs=2, first_epoch=1, final=dict(valid_loss=0.8, valid_error=0.5),
                                  averaged=dict(valid_loss=0.7, valid_error=0.5), kept="averaged"),
        decoder=dict(mode="argmax"), valid_score=0.5, valid_score_tta=0.25, valid_tta=4, finished=True, test_unreadable={"8.jpg": "empty file"}, tta=2)


def test_run_meta_round_trips_through_meta_json(tmp_path):
    meta, default = every_field(), runs.RunMeta()
    assert [f.name for f in dataclasses.fields(meta) if getattr(meta, f.name) == getattr(default, f.name)] == []
    runs.write_meta(tmp_path, meta)
    assert runs.load_meta(tmp_path) == meta
    assert json.loads((tmp_path / runs.META).read_text()) == dataclasses.asdict(meta)  # one key per field, the values as they are
    runs.write_meta(tmp_path / "again", runs.load_meta(tmp_path))
    assert (tmp_path / "again" / runs.META).read_text() == (tmp_path / runs.META).read_text()
    # a meta.json written before RunMeta held only the keys a run reached: it loads, the rest at their defaults
    old = dict(name="r", vocab=["a", "b"], config=dict(epochs=2), history=[], finished=False)
    write_json(tmp_path / "old" / runs.META, old)
    assert runs.load_meta(tmp_path / "old") == runs.RunMeta(**old)


def test_meta_json_with_an_unknown_key_is_refused(tmp_path):
    folder = tmp_path / "r"
    write_json(folder / runs.META, dataclasses.asdict(runs.RunMeta(name="r", finished=True)) | dict(mixer="cutmix", ema_decay=0.9))
    with pytest.raises(PaddyError) as e: runs.load_meta(folder)
    message = str(e.value)
    assert "\n" not in message and message.startswith(f"{folder / runs.META} has key(s) this paddy does not know (ema_decay, mixer)")
    assert "written by another paddy version" in message
    with pytest.raises(PaddyError, match="ema_decay, mixer"): runs.find(None, tmp_path)  # nor is it taken for the newest run
    for text, what in (('{"name": "r",', "not JSON"), ('["r"]', "not a JSON object")):
        (folder / runs.META).write_text(text)
        with pytest.raises(PaddyError, match=re.escape(f"{folder / runs.META} is damaged ({what}")): runs.load_meta(folder)
