"""Weight averaging along a run: `--swa K` averages the weights after each of the last K epochs (timm's
avg_checkpoints, summed in memory as the epochs end rather than read back from files), recomputes the batch-norm
statistics of the average on the training data (torch's update_bn), validates it, and keeps whichever of the final and
the averaged weights validates better (by the competition's metric; on a tie, lower loss). meta.json records both. The running sum is
part of each epoch's checkpoint, so a resumed run averages the same epochs."""
import functools

from paddy.errors import PaddyError
from paddy.scoring import better


def check(cfg):
    "`swa` is 0 (off) or K from 2 to the epochs of the run's last fit; it does not combine with --ema."
    try: ok = int(cfg.swa) == cfg.swa and (cfg.swa == 0 or 2 <= cfg.swa <= int(cfg.epochs))
    except (TypeError, ValueError): ok = False
    if not ok: raise PaddyError(f"bad --swa {cfg.swa!r}: give the number of last epochs to average, from 2 to --epochs ({cfg.epochs}); 0: off")
    cfg.swa = int(cfg.swa)
    if cfg.swa and cfg.ema: raise PaddyError("--swa and --ema both average the weights: give one of them")


@functools.cache
def average_class():
    """The callback class of `--swa`: a running sum of the weights after each of a run's last epochs. Made on first use:
    paddy.config imports this module to check settings, and must not import fastai and torch for that."""
    import torch
    from fastai.callback.core import Callback
    from paddy.learn.distributed import unwrap

    class Average(Callback):
        "Adds the weights to a running sum after each of the run's epochs from `first` (1-based) on."
        order = 51.5  # after History (51) counts the epoch, before Checkpoint (52) saves the sum with it

        def __init__(self, first, history):
            self.first, self.history, self.seen, self.sum, self.n = first, history, len(history.rows), None, 0

        def after_epoch(self):
            done = len(self.history.rows)
            if done == self.seen: return  # an epoch a resumed fit skipped, or learn.validate()
            self.seen = done
            if done < self.first: return
            state = unwrap(self.learn.model).state_dict()
            if self.sum is None: self.sum = {k: torch.zeros(v.shape) for k, v in state.items() if v.is_floating_point()}
            for k, total in self.sum.items(): total += state[k].detach().float().cpu()
            self.n += 1

        def averaged(self):
            "The average as a state dict of the model's dtypes; integer buffers (batch counts) keep their final values."
            state = unwrap(self.learn.model).state_dict()
            return {k: (self.sum[k] / self.n).to(v.dtype) if k in self.sum else v for k, v in state.items()}

    return Average


def callbacks(cfg, history):
    "The averaging callback `cfg.swa` asks for, counting the run's epochs with `history`."
    if not cfg.swa: return []
    total = cfg.epochs + (cfg.method == "fine_tune")
    return [average_class()(total - cfg.swa + 1, history)]


def _find(learn):
    "The run's averaging callback, or None."
    return next((cb for cb in learn.cbs if isinstance(cb, average_class())), None)


def state(learn):
    "(tensors, info) a checkpoint keeps of the running sum; empty without --swa."
    cb = _find(learn)
    if cb is None or cb.sum is None: return {}, {}
    return {f"swa.{k}": v for k, v in cb.sum.items()}, dict(swa_epochs=cb.n)


def restore(learn, tensors, info):
    "Put back the running sum a checkpoint kept."
    cb = _find(learn)
    if cb is None or "swa_epochs" not in info: return
    cb.sum, cb.n = {k[len("swa."):]: v.float() for k, v in tensors.items() if k.startswith("swa.")}, info["swa_epochs"]


def score(learn, metric):
    "Validation loss, the competition's metric and (a class target's) error rate of the model as it is now."
    values = learn.validate()
    names = [m.name for m in learn.metrics]
    out = dict(valid_loss=float(values[0]), **{n: float(v) for n, v in zip(names, values[1:]) if n in (metric, "error_rate")})
    return out | {metric: out.get(metric, out.get("error_rate"))}  # metric error_rate: fastai's own column


def finish(learn, metric):
    """With --swa: validate the final weights and the average (batch norm recomputed), leave the one better by the
    competition's metric (on a tie, by loss) in the model, and return the RunMeta fields (both scores, which was kept,
    and its valid_error); else {}."""
    import torch
    from paddy.learn.distributed import unwrap
    cb = _find(learn)
    if cb is None or not cb.n: return {}
    model = unwrap(learn.model)
    final_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    final = score(learn, metric)
    model.load_state_dict(cb.averaged())
    with torch.compiler.set_stance("force_eager"):  # --compile: update_bn's momentum=None would recompile every block
        torch.optim.swa_utils.update_bn(learn.dls.train, model)
    averaged = score(learn, metric)
    tie = averaged[metric] == final[metric]
    keep = averaged["valid_loss"] < final["valid_loss"] if tie else better(metric, averaged[metric], final[metric])
    if not keep: model.load_state_dict(final_state)
    kept = averaged if keep else final
    return dict(swa=dict(epochs=cb.n, first_epoch=cb.first, metric=metric, final=final, averaged=averaged, kept="averaged" if keep else "final"),
                valid_error=kept.get("error_rate"))


def note(metas):
    "The `paddy runs` note of weight-averaged runs (one run, or a cv folder's folds): in how many the average was kept; or ''."
    swas = [m.swa for m in metas if m.swa]
    return f"swa {swas[0]['epochs']}: averaged kept {sum(s['kept'] == 'averaged' for s in swas)}/{len(swas)}" if swas else ""
