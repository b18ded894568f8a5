"""Shared fixtures and helpers: tiny generated competitions and Configs, the `paddy` CLI run as a user would (a
subprocess) or in this process, the one-line refusal a user sees, one torch thread, and the Kaggle emulator serving a
tiny competition to a test user.

On a shared 2-core machine two torch threads contend, and tiny models train several times slower than with one: tests
that train use one thread, in process (the `one_thread` fixture) and in subprocesses (`paddy`, ONE_THREAD)."""
import json, os, subprocess, sys
from pathlib import Path

import pytest

from paddy.testing.competitions import synthetic
from paddy.testing.kaggle_emulator import SLUG, KaggleEmulator

REPO = Path(__file__).resolve().parents[1]
DEMO_WEIGHTS = REPO / "data" / "weights" / "mobilenetv2_100.safetensors"
TINY = ["--arch", "resnet18", "--no-pretrained", "--size", "32", "--bs", "4", "--epochs", "1", "--workers", "0"]
ONE_THREAD = dict(os.environ, OMP_NUM_THREADS="1")
DEMO_FLAGS = ["--arch", "mobilenetv2_100", "--weights", DEMO_WEIGHTS, "--size", "32", "--item-size", "32", "--no-flip", "--method",
              "fit_one_cycle", "--epochs", "3", "--lr", "0.003", "--bs", "32", "--workers", "0"]  # the demo's recipe, 3 epochs, no workers


make_competition = synthetic  # a tiny competition in Paddy Doctor's layout: (root, solution)


@pytest.fixture
def competition(tmp_path):
    "A tiny two-label RGB JPEG competition in tmp_path/comp."
    return make_competition(tmp_path / "comp")[0]


def tiny_config(root, tmp_path, **settings):
    """The Config of a tiny run on the competition `root` (resnet18 from scratch at 32 px, bs 4, one epoch of
    fit_one_cycle in fp32, no workers), its runs and cache under tmp_path; `settings` win."""
    from paddy.config import make_config
    base = dict(data=str(root), arch="resnet18", pretrained=False, size=32, bs=4, epochs=1, workers=0, precision="fp32",
                method="fit_one_cycle", runs_dir=str(tmp_path / "runs"), cache_dir=str(tmp_path / "cache"))
    return make_config(**base | settings)


def paddy_env(env=None, threads=1):
    "`env` (default os.environ) with this paddy on PYTHONPATH, the Hugging Face hub offline and `threads` torch threads."
    return dict(os.environ if env is None else env, PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1", OMP_NUM_THREADS=str(threads))


def paddy(*args, cwd, env=None, check=False, threads=1):
    "Run `python -m paddy.cli ARGS` in `cwd` as a user would (tiny models run fastest on one thread); returns the CompletedProcess."
    proc = subprocess.run([sys.executable, "-m", "paddy.cli", *map(str, args)], cwd=cwd, env=paddy_env(env, threads),
                          capture_output=True, text=True, timeout=900)
    if check and proc.returncode: raise AssertionError(f"paddy {' '.join(map(str, args))} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def start_paddy(*args, cwd, env=None, threads=1):
    "Start `python -m paddy.cli ARGS` in `cwd` as `paddy` runs it, without waiting; returns the Popen (stdout, stderr: text pipes)."
    return subprocess.Popen([sys.executable, "-m", "paddy.cli", *map(str, args)], cwd=cwd, env=paddy_env(env, threads),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def cli(*args, cwd, monkeypatch):
    "Run `paddy ARGS` in this process (no interpreter start-up) in `cwd`; returns the exit code."
    from paddy.cli import main
    monkeypatch.chdir(cwd)
    return main([str(a) for a in args])


def assert_user_error(proc, *fragments):
    "Exit code 2, one line on stderr starting `paddy:`, no traceback, and the line names `fragments`."
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip() and not ln[0].isspace() and "Warning:" not in ln]
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert len(lines) == 1 and lines[0].startswith("paddy: "), proc.stderr
    for f in fragments: assert f in lines[0], (f, lines[0])
    return lines[0]


@pytest.fixture(scope="session")
def demo_assets():
    "The demo competition and weights, built once per session by scripts/make_demo.py (real MNIST digits)."
    sys.path.insert(0, str(REPO / "scripts"))
    import make_demo
    out = REPO / "data" / "demo-digits"
    if not (out / "train.csv").is_file(): make_demo.build_competition(out)
    if not DEMO_WEIGHTS.is_file(): make_demo.convert_weights(DEMO_WEIGHTS)
    return out, DEMO_WEIGHTS


@pytest.fixture
def one_thread():
    "One torch thread in this process while the test runs."
    import torch
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def served_competition(root, **kw):
    """A competition for the emulator: make_competition(**kw) in root/SLUG, and its hidden solution in root/solution.csv
    (the first half of the test images Public, the rest Private). Returns (folder, solution CSV)."""
    folder, solution = make_competition(Path(root) / SLUG, **kw)
    solution["Usage"] = ["Public" if i < len(solution) // 2 else "Private" for i in range(len(solution))]
    solution.to_csv(Path(root) / "solution.csv", index=False)
    return folder, Path(root) / "solution.csv"


@pytest.fixture
def kaggle_emulator(tmp_path_factory):
    """A running KaggleEmulator with a test user; `.env` runs the real client against it in a subprocess.

    `.home` holds `.kaggle/kaggle.json` (mode 600) for `.user`/`.key`. `.env` is os.environ with HOME=`.home`,
    TMPDIR inside it, KAGGLE_API_ENVIRONMENT=LOCALHOST, HTTP_PROXY/http_proxy to the emulator and the repository on
    PYTHONPATH; without NO_PROXY/no_proxy, HTTPS_PROXY/ALL_PROXY or any other KAGGLE_* variable.
    """
    home = tmp_path_factory.mktemp("kaggle-home")
    emulator = KaggleEmulator().start()
    (home / ".kaggle").mkdir()
    creds = home / ".kaggle" / "kaggle.json"
    creds.write_text(json.dumps({"username": emulator.user, "key": emulator.key}))
    creds.chmod(0o600)
    (home / "tmp").mkdir()
    emulator.home = home
    emulator.env = {**emulator.environ(home), "TMPDIR": str(home / "tmp")}
    yield emulator
    emulator.stop()


@pytest.fixture
def tiny_kaggle(kaggle_emulator, tmp_path):
    """`kaggle_emulator` serving as paddy-disease-classification a served_competition with 2 training images per label
    and 4 test images (written to tmp_path/served)."""
    kaggle_emulator.add_competition(SLUG, *served_competition(tmp_path / "served", per_label=2, n_test=4, size=(12, 16)))
    return kaggle_emulator


def no_credentials(em, env=None):
    "Take away the test user's kaggle.json (`env`, unused, lets the tables of causes call every cause alike)."
    (em.home / ".kaggle" / "kaggle.json").unlink()


def wrong_credentials(em, env):
    "Name the test user in `env` with a key that is not theirs."
    env.update(KAGGLE_USERNAME=em.user, KAGGLE_KEY="not-the-key")
