"""Kaggle's API tokens beside the legacy key: KAGGLE_API_TOKEN and ~/.kaggle/access_token sign in through the real client
against the emulator; a token file others can read is warned about; messages name the credentials used, never their value."""
import pytest
from conftest import no_credentials, paddy

from paddy.kaggle.api import key_file_warning

TOKEN = "KGAT_0123456789abcdef0123456789ab"  # the emulator's token for its user


@pytest.fixture
def with_token(tiny_kaggle):
    "The emulator accepting TOKEN for its user, and a home with no kaggle.json."
    tiny_kaggle.token = TOKEN
    no_credentials(tiny_kaggle)
    return tiny_kaggle


def run(em, tmp_path, **env):
    "`paddy submissions` as the user, with `env` added to the emulator's environment; the token never in its output."
    r = paddy("submissions", cwd=tmp_path, env={**em.env, **env})
    assert TOKEN not in r.stdout + r.stderr and "wrong-token-value" not in r.stdout + r.stderr and em.key not in r.stdout + r.stderr
    return r


@pytest.mark.slow
def test_a_token_in_the_environment_signs_in(with_token, tmp_path):
    r = run(with_token, tmp_path, KAGGLE_API_TOKEN=TOKEN)
    assert r.returncode == 0 and r.stdout.strip() == "no submissions yet", r.stderr
    assert ("IntrospectToken", 200, {"active": True, "username": with_token.user}) in with_token.calls


@pytest.mark.slow
@pytest.mark.parametrize("mode, warned", [(0o600, False), (0o644, True)])
def test_a_token_file_signs_in_and_a_loose_one_is_warned(with_token, tmp_path, mode, warned):
    token = with_token.home / ".kaggle" / "access_token"
    token.write_text(TOKEN)
    token.chmod(mode)
    r = run(with_token, tmp_path)
    assert r.returncode == 0, r.stderr
    assert (f"chmod 600 {token}" in r.stderr) == warned and ("readable by other users" in r.stderr) == warned


@pytest.mark.slow
def test_a_rejected_token_is_named_even_beside_a_good_key(tiny_kaggle, tmp_path):
    "kagglesdk sends a token it finds with every call, even once it signed in with kaggle.json: each call would be a 401."
    tiny_kaggle.token = TOKEN
    r = run(tiny_kaggle, tmp_path, KAGGLE_API_TOKEN="wrong-token-value")
    (line,) = r.stderr.splitlines()
    assert r.returncode == 2 and "did not accept the API token in KAGGLE_API_TOKEN" in line and "unset KAGGLE_API_TOKEN" in line
    (tiny_kaggle.home / ".kaggle" / "access_token").write_text("wrong-token-value")
    (tiny_kaggle.home / ".kaggle" / "access_token").chmod(0o600)
    (line,) = run(tiny_kaggle, tmp_path).stderr.splitlines()
    assert f"the API token in {tiny_kaggle.home / '.kaggle' / 'access_token'}" in line and "delete" in line


@pytest.mark.slow
def test_no_credentials_names_the_token_ways(with_token, tmp_path):
    r = run(with_token, tmp_path)
    (line,) = r.stderr.splitlines()
    assert r.returncode == 2 and "KAGGLE_API_TOKEN" in line and "access_token" in line and "kaggle.json" in line


@pytest.mark.slow
def test_a_rejected_key_is_named_by_where_it_came_from(tiny_kaggle, tmp_path):
    r = run(tiny_kaggle, tmp_path, KAGGLE_USERNAME=tiny_kaggle.user, KAGGLE_KEY="f00d" * 8)
    (line,) = r.stderr.splitlines()
    assert r.returncode == 2 and "(401)" in line and "the key in KAGGLE_USERNAME and KAGGLE_KEY" in line and "f00d" not in line


def test_the_token_file_is_checked_like_kaggle_json(tmp_path):
    path = tmp_path / "access_token"
    path.write_text(TOKEN)
    path.chmod(0o640)
    assert f"chmod 600 {path}" in key_file_warning(path) and TOKEN not in key_file_warning(path)
