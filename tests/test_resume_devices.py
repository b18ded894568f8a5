"""A checkpoint resumed on other hardware than it was saved on: optimizer state and EMA follow the parameters' device,
and fp16's loss scale carries on. (A checkpoint of one process resumed in two: tests/test_resume.py.)"""
import pytest
import torch
from fastai.vision.all import Adam, CrossEntropyLossFlat, DataLoaders, Learner, TfmdDL
from fastai.callback.core import Callback

from paddy.learn import checkpoint
from paddy.learn.ema import EMA


def tiny_learner(cbs=()):
    xs, ys = torch.randn(16, 8), torch.randint(0, 2, (16,))
    dl = TfmdDL(list(zip(xs, ys)), bs=8, shuffle=True)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    return Learner(DataLoaders(dl, dl), model, loss_func=CrossEntropyLossFlat(), opt_func=Adam, cbs=list(cbs))


def trained_state(cbs=()):
    learn = tiny_learner(cbs)
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
    return learn, checkpoint.training_state(learn)


def test_optimizer_state_goes_where_the_parameters_are():
    _, (tensors, state) = trained_state()
    assert all(v.device.type == "cpu" for k, v in tensors.items() if k.startswith("opt."))
    learn = tiny_learner()
    learn.model.to("meta")  # stands for a GPU: the parameters live elsewhere than the checkpoint's tensors
    learn.create_opt()
    checkpoint.restore_opt(learn, tensors, state)
    moved = [v for st in learn.opt.state.values() for v in st.values() if torch.is_tensor(v)]
    assert moved and all(v.device.type == "meta" for v in moved)


def test_ema_average_follows_the_model_to_its_device():
    learn, (tensors, state) = trained_state([EMA(0.9)])
    resumed = tiny_learner([EMA(0.9)])
    checkpoint.restore_state(resumed, tensors, state)  # the average is rebuilt beside the CPU model
    ema = next(cb for cb in resumed.cbs if isinstance(cb, EMA))
    resumed.model.to("meta")  # then fit moves the model to the GPU
    ema.before_fit()
    assert {p.device.type for p in ema.average.module.parameters()} == {"meta"}


class CPUScaler(Callback):
    "What fastai's MixedPrecision does in before_fit on a GPU: a new GradScaler at the default scale (here a CPU one)."
    order = 10

    def before_fit(self): self.learn.scaler = torch.amp.GradScaler("cpu")


def test_the_loss_scale_is_saved_and_restored():
    learn = tiny_learner([CPUScaler()])
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
    learn.scaler.scale(torch.ones(1))
    learn.scaler.update(new_scale=512.0)  # as if overflows had lowered it during training
    tensors, state = checkpoint.training_state(learn)
    assert state["grad_scaler"]["scale"] == 512.0
    resumed = tiny_learner([CPUScaler()])
    scales = []
    record = type("Record", (Callback,), dict(order=60, before_fit=lambda self: scales.append(self.learn.scaler.get_scale())))
    with resumed.no_bar(), resumed.no_logging(): resumed.fit(1, 1e-3, cbs=[checkpoint.ResumedFit(state), record()])
    assert scales == [512.0]  # the resumed fit started from the saved scale, not from 2**16
