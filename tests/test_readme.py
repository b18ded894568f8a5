"""The README's Python examples run as written, on the demo competition (its preset, data and weights): the demo's chain
(one epoch of `make demo`'s recipe, TTA, the submission) reaches working accuracy on the held-back labels."""
import re, subprocess, sys

import pytest
from conftest import REPO


def python_blocks():
    text = (REPO / "README.md").read_text()
    return re.findall(r"```python\n(.*?)```", text[text.index("## Python API"):], re.S)


@pytest.mark.slow
def test_the_python_api_examples_run(tmp_path, demo_assets):
    blocks = python_blocks()
    assert len(blocks) == 2 and "from paddy import api" in blocks[0]
    for name in ("experiments", "data"): (tmp_path / name).symlink_to(REPO / name)  # the paths the demo preset names
    for i, code in enumerate(blocks):
        proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=600,
                              env={"PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
        assert proc.returncode == 0, f"example {i + 1}:\n{proc.stderr[-3000:]}"
    assert (tmp_path / "submissions" / "demo-mobilenetv2.csv").is_file() and (tmp_path / "reports" / "demo-mobilenetv2.html").is_file()
    comp, _ = demo_assets
    scored = subprocess.run([sys.executable, REPO / "scripts" / "score.py", tmp_path / "submissions" / "demo-mobilenetv2.csv",
                             comp.parent / f"{comp.name}-solution.csv"], capture_output=True, text=True, check=True).stdout
    assert float(scored.split()[1]) >= 0.85, scored  # one epoch; `make demo` trains four and reaches ~0.97
    assert "demo-mobilenetv2  mobilenetv2_100" in subprocess.run([sys.executable, "-c", "from paddy import api; print(api.runs_table())"],
                                                                 cwd=tmp_path, capture_output=True, text=True, env={"PYTHONPATH": str(REPO)}).stdout
