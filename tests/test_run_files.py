"""Writes that fail (disk full) keep the previous file and name the path; run files load without pickle and are
checked against the model and data they claim to fit."""
import errno, json, pickle

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
    runs.start(folder, dict(timm_name="resnet18", vocab=["a", "b"], size=[32, 32], item_size=[64, 64]))
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


def test_disk_full_keeps_previous_submission(tmp_path, monkeypatch):
    out = tmp_path / "sub.csv"
    df = pd.DataFrame({"image_id": ["1.jpg"], "label": ["a"]})
    submission.write(df, out)
    before = out.read_text()
    monkeypatch.setattr(pd.DataFrame, "to_csv", lambda *a, **k: (_ for _ in ()).throw(ENOSPC))
    with pytest.raises(PaddyError, match=f"cannot write {out}"): submission.write(df.assign(label="b"), out)
    assert out.read_text() == before and not leftovers(tmp_path)


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
    with pytest.raises(PaddyError, match="does not fit resnet34 with 2 classes"):
        runs.load_model(folder, runs.load_meta(folder) | dict(timm_name="resnet34"))
    with pytest.raises(PaddyError, match="does not fit resnet18 with 3 classes"):
        runs.load_model(folder, runs.load_meta(folder) | dict(vocab=["a", "b", "c"]))


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
    meta = runs.load_meta(folder) | dict(finished=False, n_train=8, n_valid=2)
    write_json(folder / runs.META, meta)
    runs.save_checkpoint(folder, {"x": torch.ones(1)}, {"epochs_done": 1})
    with pytest.raises(PaddyError, match="started with vocab.*the data now gives"):
        resumable(folder, meta | dict(vocab=["a", "c"]))
