"""`paddy kernel` from a pip-installed paddy (no source tree): paddy's wheel is repacked from the installed distribution,
with a RECORD pip accepts, and holds what the kernel needs."""
import base64, csv, hashlib, io, json, os, shutil, subprocess, sys, zipfile

import pytest
from conftest import REPO

from paddy import __version__

WHEEL = f"paddy-{__version__}-py3-none-any.whl"
INFO = f"paddy-{__version__}.dist-info"
BUILD = ("import json, sys, paddy\nfrom paddy.errors import PaddyError\nfrom paddy.kaggle import kernel\n"
         "try: print(json.dumps([paddy.__file__, str(kernel.build_wheel(sys.argv[1]))]))\n"
         "except PaddyError as e: sys.exit(f'PaddyError: {e}')\n")


def pip(*args):
    "Run this venv's pip offline, without dependencies."
    r = subprocess.run([sys.executable, "-m", "pip", *args, "-q", "--no-deps", "--no-index", "--disable-pip-version-check"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


def build_wheel_outside(site, out, cwd):
    "Run the kernel's wheel builder with only `site` (and this venv) on the path, in `cwd`; returns the CompletedProcess."
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | dict(PYTHONPATH=str(site))
    return subprocess.run([sys.executable, "-c", BUILD, str(out)], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    "paddy's wheel built by pip from a copy of the source, and pip-installed into a folder: (wheel, site)."
    tmp = tmp_path_factory.mktemp("installed")
    for name in ("pyproject.toml", "README.md"): shutil.copy2(REPO / name, tmp / name)
    shutil.copytree(REPO / "paddy", tmp / "paddy", ignore=shutil.ignore_patterns("__pycache__"))
    pip("wheel", "--no-build-isolation", "-w", str(tmp / "dist"), str(tmp))
    pip("install", "--target", str(tmp / "site"), str(tmp / "dist" / WHEEL))
    return tmp / "dist" / WHEEL, tmp / "site"


def members(wheel):
    with zipfile.ZipFile(wheel) as z: return {name: z.read(name) for name in z.namelist()}


def check_record(files):
    "RECORD lists every other member of the wheel with its sha256 (urlsafe base64, no padding) and size, and itself bare."
    rows = list(csv.reader(io.StringIO(files[f"{INFO}/RECORD"].decode())))
    assert sorted(r[0] for r in rows) == sorted(files) and [f"{INFO}/RECORD", "", ""] in rows
    for name, digest, size in rows:
        if name == f"{INFO}/RECORD": continue
        data = files[name]
        assert digest == "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode(), name
        assert int(size) == len(data), name


def test_an_installed_paddy_repacks_its_wheel(installed, tmp_path):
    built, site = installed
    (tmp_path / "elsewhere").mkdir()
    r = build_wheel_outside(site, tmp_path / "out", tmp_path / "elsewhere")
    assert r.returncode == 0, r.stderr[-3000:]
    module, wheel = json.loads(r.stdout.splitlines()[-1])
    assert module == str(site / "paddy" / "__init__.py") and wheel == str(tmp_path / "out" / WHEEL)

    files, original = members(wheel), members(built)
    assert {"paddy/kernel_script.py", "paddy/cli.py", f"{INFO}/METADATA", f"{INFO}/WHEEL", f"{INFO}/entry_points.txt"} <= set(files)
    check_record(files)
    assert {n: d for n, d in files.items() if n.startswith("paddy/")} == {n: d for n, d in original.items() if n.startswith("paddy/")}
    assert all(files[f"{INFO}/{n}"] == original[f"{INFO}/{n}"] for n in ("METADATA", "WHEEL", "entry_points.txt"))

    pip("install", "--target", str(tmp_path / "again"), wheel)
    assert (tmp_path / "again" / "paddy" / "kernel_script.py").read_bytes() == files["paddy/kernel_script.py"]
    assert (tmp_path / "again" / "paddy" / "cli.py").is_file() and (tmp_path / "again" / INFO / "RECORD").is_file()


def test_a_paddy_without_its_install_record_is_refused(installed, tmp_path):
    shutil.copytree(installed[1] / "paddy", tmp_path / "bare" / "paddy")  # copied by hand: no dist-info beside it
    r = build_wheel_outside(tmp_path / "bare", tmp_path / "out", tmp_path)
    assert r.returncode == 1 and r.stderr.startswith("PaddyError: ") and "reinstall paddy with pip" in r.stderr, r.stderr
    assert not (tmp_path / "out").exists()
