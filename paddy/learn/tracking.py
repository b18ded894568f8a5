"""Experiment trackers, optional: `--tracker tensorboard|wandb` adds fastai's TensorBoardCallback or WandbCallback.

Neither package is a dependency of paddy: `pip install 'paddy[tensorboard]'` or `'paddy[wandb]'` brings one. TensorBoard
logs go to the run folder (runs/NAME/tensorboard); wandb runs offline (files in runs/NAME/wandb, `wandb sync` uploads
them) unless you have logged in (`wandb login`, or WANDB_API_KEY) or set WANDB_MODE yourself.
"""
import importlib.util, netrc, os

from paddy.errors import PaddyError

TRACKERS = {"tensorboard": "tensorboard", "wandb": "wandb"}  # --tracker: the package it needs


def check(cfg):
    "`tracker` is None or a known tracker whose package is installed."
    if cfg.tracker is None: return
    if cfg.tracker not in TRACKERS: raise PaddyError(f"bad --tracker {cfg.tracker!r}: choose one of {', '.join(TRACKERS)}")
    package = TRACKERS[cfg.tracker]
    if importlib.util.find_spec(package) is None:
        raise PaddyError(f"--tracker {cfg.tracker} needs the {package} package: pip install 'paddy[{cfg.tracker}]', or drop --tracker")


def callbacks(cfg, folder):
    "The tracker's fastai callback for a run writing into `folder`; none without --tracker, and none on ranks other than 0."
    from paddy.learn.distributed import rank
    if cfg.tracker is None or rank(): return []
    if cfg.tracker == "tensorboard":
        from fastai.callback.tensorboard import TensorBoardCallback
        return [TensorBoardCallback(log_dir=str(folder / "tensorboard"), trace_model=False, log_preds=False)]
    import wandb
    if not logged_in(): os.environ.setdefault("WANDB_MODE", "offline")
    wandb.init(project="paddy", name=cfg.run_name, dir=str(folder), config=cfg.to_dict())
    return [wandb_callback()]


def wandb_callback():
    """fastai's WandbCallback (metrics per step and epoch; no gradients, predictions or model files), logging paddy's
    Config, given to wandb.init, in place of fastai's gathered Learner arguments: fastai formats those with fastcore's
    init_args, which fails on plain values such as ints (fastai issue 4173) before the first step."""
    from fastai.callback.wandb import WandbCallback

    class Wandb(WandbCallback):
        def before_fit(self):
            self.learn.gather_args = dict  # nothing beyond the Config
            try: super().before_fit()
            finally: del self.learn.gather_args

    return Wandb(log=None, log_preds=False, log_model=False)


def logged_in():
    "Whether wandb has an API key here: WANDB_API_KEY, or an api.wandb.ai entry in ~/.netrc (what `wandb login` writes)."
    if os.environ.get("WANDB_API_KEY"): return True
    try: return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (OSError, netrc.NetrcParseError): return False
