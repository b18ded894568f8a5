"""The Kaggle key never reaches the output, errors included; a kaggle.json others can read gets a chmod hint."""
import pytest
from conftest import paddy

from paddy.kaggle.api import key_file_warning
from paddy.testing.kaggle_emulator import submission_csv


@pytest.mark.slow
def test_the_key_is_never_printed(tiny_kaggle, tmp_path):
    em = tiny_kaggle
    submission_csv(tmp_path / "sub.csv", em.competitions["paddy-disease-classification"], 3)
    wrong = "f00dfeedf00dfeedf00dfeed-wrong-key"
    outs = [paddy("submissions", cwd=tmp_path, env=em.env),
            paddy("submissions", cwd=tmp_path, env=dict(em.env, KAGGLE_USERNAME=em.user, KAGGLE_KEY=wrong))]
    em.faults.upload_500 = True
    outs.append(paddy("submit", "sub.csv", "--data", tmp_path / "served" / "paddy-disease-classification", cwd=tmp_path, env=em.env))
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
