"""Helpers of the test_past_* modules. On a shared 2-core machine two torch threads contend, and tiny models train
several times slower than with one: these tests train with one thread, in process and in subprocesses."""
import os

import pytest

ONE_THREAD = dict(os.environ, OMP_NUM_THREADS="1")


@pytest.fixture
def one_thread():
    "One torch thread in this process while the test runs."
    import torch
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def cli(*args, cwd, monkeypatch):
    "Run `paddy ARGS` in this process (no interpreter start-up) in `cwd`; returns the exit code."
    from paddy.cli import main
    monkeypatch.chdir(cwd)
    return main([str(a) for a in args])
