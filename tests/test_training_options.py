"""Training options: label smoothing, MixUp, CutMix, an EMA of the weights, and --init-from (progressive resizing)."""
import pytest
import torch
from conftest import make_competition, tiny_config
from fastai.callback.core import Callback
from fastai.callback.mixup import CutMix, MixUp
from fastai.vision.all import CrossEntropyLossFlat, LabelSmoothingCrossEntropyFlat

from paddy import runs
from paddy.errors import PaddyError
from paddy.learn import train
from paddy.learn.ema import EMA


@pytest.fixture(scope="module")
def comp(tmp_path_factory):
    return make_competition(tmp_path_factory.mktemp("opt") / "comp", per_label=8)[0]


pytestmark = pytest.mark.usefixtures("one_thread")


def setup(comp, tmp_path, **settings):
    "(cfg, learner) of a tiny run with `settings`."
    cfg = tiny_config(comp, tmp_path, **settings)
    p = train.prepare(cfg)
    return cfg, train.learner(p.dls, p.spec, cfg, path=tmp_path)


def test_label_smoothing_sets_the_loss(comp, tmp_path):
    assert type(setup(comp, tmp_path)[1].loss_func) is CrossEntropyLossFlat
    learn = setup(comp, tmp_path, label_smoothing=0.1)[1]
    assert isinstance(learn.loss_func, LabelSmoothingCrossEntropyFlat) and learn.loss_func.func.eps == 0.1


class Probe(Callback):
    "Records the input batch before (order below the mixers') or after them, during training."
    def __init__(self, order, seen): self.order, self.seen = order, seen
    def before_batch(self):
        if self.training: self.seen.append(self.xb[0].clone())


@pytest.mark.parametrize("option, cb_type", [("mixup", MixUp), ("cutmix", CutMix)])
def test_mixup_and_cutmix_mix_the_training_batches(comp, tmp_path, option, cb_type):
    learn = setup(comp, tmp_path, **{option: 1.0})[1]
    mixer = next(cb for cb in learn.cbs if isinstance(cb, cb_type))
    before, after = [], []
    learn.fit(1, 1e-3, cbs=[Probe(mixer.order - 1, before), Probe(mixer.order + 1, after)])
    assert len(before) == len(after) > 0
    assert any(not torch.equal(b, a) for b, a in zip(before, after))  # the images were blended
    assert learn.loss_func is mixer.old_lf  # the mixed loss is put back after training


def test_ema_validates_and_saves_the_average(comp, tmp_path):
    cfg, learn = setup(comp, tmp_path, ema=0.9)
    ema = next(cb for cb in learn.cbs if isinstance(cb, EMA))
    learn.fit(2, 1e-2)
    assert ema.steps == 2 * len(learn.dls.train)
    average = ema.average.module.state_dict()
    model = learn.model.state_dict()
    assert all(torch.equal(model[k], average[k]) for k in average)  # after the fit the model holds the average...
    assert any(not torch.equal(ema.raw[k], average[k]) for k in average if average[k].is_floating_point())  # ...which is not the raw weights
    learn.fit(1, 1e-2)  # a second fit goes on from the raw weights
    assert ema.steps == 3 * len(learn.dls.train)


def test_init_from_starts_from_another_run_at_a_larger_size(comp, tmp_path):
    folder = train.train(tiny_config(comp, tmp_path, name="small"))
    cfg, learn = setup(comp, tmp_path, size=48, init_from="small")
    assert cfg.init_from == str(folder) and cfg.pretrained is False
    saved = runs.load_tensors(folder / runs.WEIGHTS)[0]
    assert all(torch.equal(v, saved[k]) for k, v in learn.model.state_dict().items())
    with pytest.raises(PaddyError, match="same arch"): setup(comp, tmp_path, arch="resnet34", init_from="small")
