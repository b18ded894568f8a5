"""The Kaggle key never reaches the output, errors included; a kaggle.json others can read gets a chmod hint."""
import subprocess, sys

import pytest
from kaggle_emulator import kaggle_emulator, submission_csv, tiny_kaggle  # noqa: F401 (fixtures)

from paddy.kaggle.api import key_file_warning


def cli(env, *args, cwd):
    return subprocess.run([sys.executable, "-m", "paddy.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_the_key_is_never_printed(tiny_kaggle, tmp_path):
    em = tiny_kaggle
    submission_csv(tmp_path / "sub.csv", em.competitions["paddy-disease-classification"], 3)
    wrong = "f00dfeedf00dfeedf00dfeed-wrong-key"
    outs = [cli(em.env, "submissions", cwd=tmp_path),
            cli(dict(em.env, KAGGLE_USERNAME=em.user, KAGGLE_KEY=wrong), "submissions", cwd=tmp_path)]
    em.faults.upload_500 = True
    outs.append(cli(em.env, "submit", "sub.csv", "--data", str(tmp_path / "served" / "paddy-disease-classification"), cwd=tmp_path))
    assert [o.returncode for o in outs] == [0, 2, 2], [o.stderr for o in outs]
    assert "(401)" in outs[1].stderr
    for o in outs:
        assert em.key not in o.stdout + o.stderr and wrong not in o.stdout + o.stderr


@pytest.mark.parametrize("mode, warned", [(0o644, True), (0o640, True), (0o600, False), (0o400, False)])
def test_kaggle_json_readable_by_others_is_warned(tmp_path, mode, warned):
    path = tmp_path / "kaggle.json"
    path.write_text("{}")
    path.chmod(mode)
    message = key_file_warning(path)
    assert bool(message) == warned
    if warned: assert f"chmod 600 {path}" in message and f"{mode:o}" in message


def test_no_kaggle_json_no_warning(tmp_path):
    assert key_file_warning(tmp_path / "kaggle.json") is None
