"""The Kaggle flow through the real `paddy` CLI in subprocesses against the emulator: data, train, predict, submit,
submissions; and every failure as one `paddy:` line on stderr, exit code 2, with nothing half-written."""
import pytest
from conftest import assert_user_error, no_credentials, paddy, wrong_credentials

from paddy.testing.kaggle_emulator import SLUG, submission_csv

TINY = ["--arch", "resnet18", "--no-pretrained", "--size", "32", "--bs", "2", "--epochs", "1", "--method", "fit_one_cycle"]


@pytest.mark.slow
def test_data_train_predict_submit_and_the_score_is_listed(tiny_kaggle, tmp_path):
    served = tiny_kaggle.competitions[SLUG].folder
    r = paddy("data", "--retries", "0", cwd=tmp_path, env=tiny_kaggle.env)
    assert r.returncode == 0 and f"data ready in data/{SLUG}" in r.stdout, r.stderr
    got = tmp_path / "data" / SLUG
    assert (got / "sample_submission.csv").read_bytes() == (served / "sample_submission.csv").read_bytes()
    assert sorted(p.name for p in (got / "test_images").iterdir()) == sorted(p.name for p in (served / "test_images").iterdir())
    r = paddy("data", "--retries", "0", cwd=tmp_path, env=tiny_kaggle.env)
    assert r.returncode == 0 and "downloading" not in r.stdout and tiny_kaggle.downloads == [SLUG]

    r = paddy("train", *TINY, "--name", "tiny", cwd=tmp_path, env=tiny_kaggle.env)
    assert r.returncode == 0, r.stderr
    r = paddy("predict", "--run", "tiny", "--tta", "0", cwd=tmp_path, env=tiny_kaggle.env)
    csv = tmp_path / "submissions" / "tiny.csv"
    assert r.returncode == 0 and csv.is_file(), r.stderr

    r = paddy("submit", "-m", "tiny run", cwd=tmp_path, env=tiny_kaggle.env)  # the newest CSV under submissions/
    assert r.returncode == 0 and r.stdout.strip().endswith("ref 1"), r.stdout + r.stderr
    (sub,) = tiny_kaggle.submissions
    assert sub["content"] == csv.read_bytes() and sub["status"] == "COMPLETE" and sub["description"] == "tiny run"
    r = paddy("submissions", cwd=tmp_path, env=tiny_kaggle.env)
    (line,) = r.stdout.splitlines()
    assert r.returncode == 0 and "tiny run" in line and "tiny.csv" in line
    assert f"public {float(sub['publicScore'])} " in line and f"private {float(sub['privateScore'])} " in line


@pytest.mark.slow
def test_an_invalid_csv_is_refused_before_any_upload(tiny_kaggle, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("image_id,label\n200001.jpg,blast\n")
    served = tiny_kaggle.competitions[SLUG].folder
    assert "lacks 3 test id(s)" in assert_user_error(paddy("submit", bad, "--data", served, cwd=tmp_path, env=tiny_kaggle.env))
    assert tiny_kaggle.blobs == {} and tiny_kaggle.submissions == []


def unknown_competition(em, env): em.competitions["no-such-competition"] = em.competitions.pop(SLUG)
def upload_500(em, env): em.faults.upload_500 = True
def over_the_daily_limit(em, env): em.daily_limit = 0


CASES = {  # (command, cause): words the message must hold. The download's other failures: tests/test_kaggle.py
    ("data", no_credentials): "KAGGLE_API_TOKEN",
    ("submit", no_credentials): "KAGGLE_API_TOKEN",
    ("submit", wrong_credentials): "(401)",
    ("submit", unknown_competition): "(404)",
    ("submit", upload_500): "nothing was submitted",
    ("submit", over_the_daily_limit): "(429)",
}


@pytest.mark.slow
@pytest.mark.parametrize("command, cause", CASES, ids=[f"{c} {f.__name__}" for c, f in CASES])
def test_a_failure_is_one_line_exit_2_and_nothing_half_written(tiny_kaggle, tmp_path, command, cause):
    served, env = tiny_kaggle.competitions[SLUG].folder, dict(tiny_kaggle.env)
    csv = submission_csv(tmp_path / "sub.csv", tiny_kaggle.competitions[SLUG], 4)
    cause(tiny_kaggle, env)
    args = ["data", "--retries", "0"] if command == "data" else ["submit", str(csv), "--data", str(served)]
    message = assert_user_error(paddy(*args, cwd=tmp_path, env=env))
    assert CASES[command, cause] in message and "not-the-key" not in message
    assert not (tmp_path / "data").exists() or list((tmp_path / "data").iterdir()) == []
    assert tiny_kaggle.submissions == []


@pytest.mark.slow
def test_a_zero_score_is_listed_as_a_score(tiny_kaggle, tmp_path):
    csv = submission_csv(tmp_path / "zero.csv", tiny_kaggle.competitions[SLUG], 0)
    served = tiny_kaggle.competitions[SLUG].folder
    assert paddy("submit", str(csv), "--data", str(served), cwd=tmp_path, env=tiny_kaggle.env).returncode == 0
    r = paddy("submissions", cwd=tmp_path, env=tiny_kaggle.env)
    assert r.returncode == 0 and "public 0.0 " in r.stdout and "private 0.0 " in r.stdout, r.stdout
