"""Checkpoints of a training run: after each finished epoch, everything a resumed run needs to continue as if never
stopped: weights, optimizer state and hypers, every RNG's state (torch, numpy, python, each DataLoader's), the smoothed
train loss, fp16's loss scale, the EMA of the weights (--ema), the epoch count and history. Stored by runs.save_checkpoint: safetensors for tensors, JSON for the rest."""
import random

import numpy as np
import torch
from fastai.callback.core import Callback

from paddy import runs
from paddy.errors import PaddyError
from paddy.learn import distributed, swa


class Checkpoint(Callback):
    "After each epoch History records, saves the training state into the run folder (see `training_state`)."
    order = 52  # after History (51) has the epoch's row

    def __init__(self, folder, history, info):
        self.folder, self.history, self.info, self.saved = folder, history, info, len(history.rows)

    def after_epoch(self):
        if len(self.history.rows) == self.saved: return
        self.saved = len(self.history.rows)
        tensors, state = training_state(self.learn)
        runs.save_checkpoint(self.folder, tensors, self.info | state | dict(epochs_done=self.saved, history=self.history.rows))


class ResumedFit(Callback):
    """At the start of a fit resumed mid-way: Recorder's smoothed train loss and fp16's GradScaler as they were saved
    (fastai resets both in before_fit), so the fit goes on as if never stopped."""
    order = 51  # after Recorder (50) and MixedPrecision (10) set them up

    def __init__(self, state): self.state = state

    def before_fit(self):
        sl = self.learn.recorder.smooth_loss
        sl.count, sl.val = self.state["smooth_loss"][0], torch.tensor(self.state["smooth_loss"][1])
        if "grad_scaler" in self.state and getattr(self.learn, "scaler", None) is not None:
            self.learn.scaler.load_state_dict(self.state["grad_scaler"])


def training_state(learn):
    "(tensors, JSON-able dict) of what a resumed run needs: weights, optimizer state and hypers, every RNG's state."
    tensors = {f"model.{k}": v for k, v in distributed.unwrap(learn.model).state_dict().items()}  # no DDP "module." prefix
    opt = learn.opt.state_dict()
    scalars = {}
    for i, st in enumerate(opt["state"]):
        for k, v in st.items():
            if torch.is_tensor(v): tensors[f"opt.{i}.{k}"] = v
            else: scalars[f"{i}.{k}"] = v
    np_state = np.random.get_state()
    tensors["rng.torch"], tensors["rng.numpy"] = torch.get_rng_state(), torch.from_numpy(np_state[1].astype(np.int64))
    if torch.cuda.is_available(): tensors["rng.cuda"] = torch.cuda.get_rng_state()  # this process's GPU: a resume on other GPUs takes it
    state = dict(opt_scalars=scalars, opt_hypers=[{k: float(v) for k, v in h.items()} for h in opt["hypers"]],
                 n_params=len(opt["state"]), rng_python=list(random.getstate()), rng_numpy=[np_state[2], np_state[3], np_state[4]],
                 rng_dls=[list(learn.dls.train.rng.getstate()), list(learn.dls.valid.rng.getstate())],
                 smooth_loss=[learn.recorder.smooth_loss.count, float(learn.recorder.smooth_loss.val)])
    if (scaler := getattr(learn, "scaler", None)) is not None and scaler.is_enabled(): state["grad_scaler"] = scaler.state_dict()
    if ema := _ema(learn):
        average, state["ema_steps"] = ema.state()
        tensors |= {f"ema.{k}": v for k, v in average.items()}
    averaged, info = swa.state(learn)  # --swa: the running sum of the last epochs' weights
    return tensors | averaged, state | info


def restore_state(learn, tensors, state):
    "Put back what `training_state` saved, except the optimizer (`restore_opt`: it must follow freeze/unfreeze)."
    learn.model.load_state_dict({k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")})
    torch.set_rng_state(tensors["rng.torch"])
    if torch.cuda.is_available() and "rng.cuda" in tensors: torch.cuda.set_rng_state(tensors["rng.cuda"])
    np.random.set_state(("MT19937", tensors["rng.numpy"].numpy().astype(np.uint32), *state["rng_numpy"]))
    random.setstate(_tuples(state["rng_python"]))
    for dl, st in zip((learn.dls.train, learn.dls.valid), state["rng_dls"]): dl.rng.setstate(_tuples(st))
    if (ema := _ema(learn)) and "ema_steps" in state:
        ema.restore({k[len("ema."):]: v for k, v in tensors.items() if k.startswith("ema.")}, state["ema_steps"])
    swa.restore(learn, tensors, state)


def _ema(learn):
    "The run's EMA callback, or None."
    from paddy.learn.ema import EMA
    return next((cb for cb in learn.cbs if isinstance(cb, EMA)), None)


def restore_opt(learn, tensors, state):
    "Load the saved optimizer state and hypers into `learn.opt`."
    per_param = [{} for _ in range(state["n_params"])]
    params = list(learn.opt.all_params().itemgot(0))
    for k, v in tensors.items():
        if k.startswith("opt."):
            _, i, name = k.split(".", 2)
            per_param[int(i)][name] = v.to(params[int(i)].device)  # checkpoints hold CPU tensors; a GPU run's state lives on its GPU
    for k, v in state["opt_scalars"].items():
        i, name = k.split(".", 1)
        per_param[int(i)][name] = v
    learn.opt.load_state_dict(dict(state=per_param, hypers=state["opt_hypers"]))


def _tuples(x):
    "JSON lists back into the nested tuples random.setstate wants."
    return tuple(_tuples(v) for v in x) if isinstance(x, list) else x


def resumable(folder, meta):
    "The checkpoint of the unfinished run in `folder`, checked against the data it will continue on (RunMeta `meta`)."
    old = runs.load_meta(folder)
    if old.finished: raise PaddyError(f"run {folder.name} already finished; nothing to resume")
    saved = runs.load_checkpoint(folder)
    if saved is None: raise PaddyError(f"run {folder.name} has no checkpoint (it stopped before finishing an epoch); train it again")
    for key in ("vocab", "n_train", "n_valid", "timm_name"):
        if getattr(old, key) != getattr(meta, key):
            raise PaddyError(f"run {folder.name} started with {key} {getattr(old, key)}, the data now gives {getattr(meta, key)}; "
                             "resume on the same data, or train a new run")
    return saved
