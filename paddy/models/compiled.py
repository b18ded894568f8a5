"""`--compile`: torch.compile for training, the model compiled in place (as `nn.Module.compile` does), so its state dict,
checkpoints and saved weights keep their names and freezing, EMA, SWA, DDP, TTA and predict work on it unchanged.

`auto` leaves it off: on the CPUs `make bench` ran on, a compiled epoch was no faster than an eager one once the
compile time is counted (BENCHMARKS.md, "torch.compile"), and no GPU measurement backs turning it on there yet.
"""
CHOICES = ("auto", "on", "off")
BACKEND = "inductor"  # torch.compile's default; the tests use dynamo's "eager" backend (the same tracing and guards, no code generation)


def wanted(choice):
    "Whether a run compiles its model: `on`; `off` and `auto` do not (see the module's docstring)."
    return choice == "on"


def apply(model):
    """Compile `model` in place, as `nn.Module.compile` does (its calls go through the compiled `_call_impl`), with the
    inputs handed over as plain tensors: dynamo recurses without end on fastai's tensor subclasses (TensorImage). Batch
    sizes are dynamic from the start, so most batch sizes reuse a graph: dynamo compiles once per training state
    (frozen, unfrozen) and for evaluation, and again only for a batch whose size fails a guard. dynamo is reset first:
    it keeps one cache for the code of `nn.Module._call_impl` across every model in the process, and past
    `recompile_limit` (8) entries it runs that code eagerly without a word, so a process's third compiled run (cv's
    folds, a notebook) would not be compiled."""
    import torch
    torch._dynamo.reset()
    call = torch.compile(model._call_impl, backend=BACKEND, dynamic=True)
    model._compiled_call_impl = lambda *args, **kwargs: call(*map(_plain, args), **kwargs)
    return model


def _plain(x):
    """`x` as a plain tensor that owns its memory: a view (TTA's views are slices of one stacked batch) would make dynamo
    guard on its base's shape and compile again for the first batch that is not one."""
    import torch
    if not isinstance(x, torch.Tensor): return x
    view = x._is_view()  # asked before as_subclass, whose result is always a view
    x = x.as_subclass(torch.Tensor) if type(x) is not torch.Tensor else x
    return x.clone() if view else x


def graphs():
    "The graphs dynamo has compiled in this process so far: each compile and recompile adds one."
    from torch._dynamo.utils import counters
    return counters["stats"]["unique_graphs"]
