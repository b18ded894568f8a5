"""paddy.kaggle against the Kaggle emulator, through subprocesses (the kaggle client reads its settings at import)."""
import json, subprocess, sys
from pathlib import Path

import pytest
from conftest import no_credentials, wrong_credentials

from paddy.data import layout
from paddy.kaggle import api as kaggle
from paddy.errors import PaddyError
from paddy.testing.kaggle_emulator import submission_csv

SLUG = layout.SLUG
RUN = """
import json, sys
from paddy.data import layout
from paddy.kaggle import api as kaggle
from paddy.errors import PaddyError
try: print(json.dumps({}, default=str))
except PaddyError as e:
    print("PaddyError:", json.dumps(str(e)), file=sys.stderr)
    sys.exit(2)
"""


def paddy(emulator, call, cwd, env=None):
    "Run `paddy.kaggle.<call>` in `cwd` in a subprocess; returns (exit code, result or PaddyError message, stdout)."
    r = subprocess.run([sys.executable, "-c", RUN.format(call)], cwd=cwd, env=env or emulator.env,
                       capture_output=True, text=True, timeout=60)
    if r.returncode == 0: return 0, json.loads(r.stdout.splitlines()[-1]), r.stdout
    errors = [line for line in r.stderr.splitlines() if line.startswith("PaddyError: ")]
    assert r.returncode == 2 and len(errors) == 1, r.stderr
    message = json.loads(errors[0].removeprefix("PaddyError: "))
    assert "\n" not in message
    return 2, message, r.stdout


def submit(emulator, tmp_path, right, message="x"):
    submission_csv(tmp_path / "sub.csv", emulator.competitions[SLUG], right)
    return paddy(emulator, f"kaggle.submit('sub.csv', {message!r})", tmp_path)


def files(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_importing_paddy_kaggle_needs_no_credentials(kaggle_emulator, tmp_path):
    no_credentials(kaggle_emulator)
    loaded = "[m for m in sys.modules if m.split('.')[0] in ('kaggle', 'kagglesdk')]"
    assert paddy(kaggle_emulator, loaded, tmp_path)[:2] == (0, [])


def test_download_is_complete_and_a_second_run_is_a_no_op(tiny_kaggle, tmp_path):
    code, path, _ = paddy(tiny_kaggle, "kaggle.download(retries=0)", tmp_path)
    assert code == 0 and Path(path) == Path("data") / SLUG
    got = files(tmp_path / path)
    assert got.pop(kaggle.STAMP) and got.pop(layout.KAGGLE_INFO_FILE) and got == files(tiny_kaggle.competitions[SLUG].folder)
    assert [p.name for p in (tmp_path / "data").iterdir()] == [SLUG]  # no temporary leftovers
    assert paddy(tiny_kaggle, "kaggle.download(retries=0)", tmp_path)[:2] == (0, path)
    assert tiny_kaggle.downloads == [SLUG]


def test_an_unstamped_folder_is_fetched_again(tiny_kaggle, tmp_path):
    target = tmp_path / "data" / SLUG
    (target / "train_images").mkdir(parents=True)  # what an interrupted extraction leaves
    code, _, out = paddy(tiny_kaggle, "kaggle.download(retries=0)", tmp_path)
    assert code == 0 and "downloading again" in out and (target / kaggle.STAMP).is_file()
    assert files(target).keys() - {kaggle.STAMP, layout.KAGGLE_INFO_FILE} == files(tiny_kaggle.competitions[SLUG].folder).keys()
    assert [p.name for p in (tmp_path / "data").iterdir()] == [SLUG]


def rules_not_accepted(em, env): em.competitions[SLUG].rules_accepted = False
def fault(name): return lambda em, env: setattr(em.faults, name, True)


FAILURES = {  # case: (how to cause it, words the message must hold)
    "no credentials": (no_credentials, ["KAGGLE_API_TOKEN", "access_token", "chmod 600", "kaggle.json", "KAGGLE_USERNAME", "KAGGLE_KEY"]),
    "wrong credentials": (wrong_credentials, ["(401)", "https://www.kaggle.com/settings"]),
    "unknown competition": (lambda em, env: em.competitions.pop(SLUG), ["(404)", SLUG]),
    "rules not accepted": (rules_not_accepted, ["(403)", f"https://www.kaggle.com/competitions/{SLUG}/rules"]),
    "truncated download": (fault("truncate_download"), ["connection", "run again"]),
    "dropped download": (fault("drop_download"), ["connection", "run again"]),
    "corrupt zip": (fault("corrupt_download"), ["CRC", "run again"]),
    "zip slip": (fault("zip_slip"), ["../escaped.txt", "outside"]),
}


@pytest.mark.parametrize("case", FAILURES)
def test_a_failed_download_leaves_no_data_folder(tiny_kaggle, tmp_path, case):
    env = dict(tiny_kaggle.env)
    cause, words = FAILURES[case]
    cause(tiny_kaggle, env)
    code, message, out = paddy(tiny_kaggle, "kaggle.download(retries=0)", tmp_path, env)
    assert code == 2 and all(w in message for w in words), message
    assert "Authentication required" not in out  # kaggle's help text is not shown
    assert "not-the-key" not in message
    assert not (tmp_path / "data").exists() or list((tmp_path / "data").iterdir()) == []
    assert not list(tmp_path.rglob("escaped.txt"))


def test_submit_returns_the_ref_and_the_score_is_listed(tiny_kaggle, tmp_path):
    assert submit(tiny_kaggle, tmp_path, 3, "three right")[:2] == (0, "1")
    code, subs, _ = paddy(tiny_kaggle, "kaggle.submissions()", tmp_path)
    assert code == 0 and len(subs) == 1
    assert subs[0].pop("date").startswith("20")
    assert subs[0] == {"ref": 1, "description": "three right", "status": "COMPLETE", "publicScore": 1.0,
                       "privateScore": 0.5, "fileName": "sub.csv"}


def test_kernel_credentials_come_from_kaggle_secrets(tiny_kaggle, tmp_path):
    no_credentials(tiny_kaggle)
    secrets = {"kaggle_username": tiny_kaggle.user, "kaggle_key": tiny_kaggle.key}
    fake = tmp_path / "kaggle_secrets.py"  # the module a Kaggle kernel provides
    fake.write_text(f"class UserSecretsClient:\n    def get_secret(self, name): return {secrets!r}[name]\n")
    env = {**tiny_kaggle.env, "KAGGLE_KERNEL_RUN_TYPE": "Interactive"}
    assert paddy(tiny_kaggle, "kaggle.submissions()", tmp_path, env)[:2] == (0, [])
    fake.write_text("class UserSecretsClient:\n    def get_secret(self, name): raise KeyError(name)\n")
    code, message, _ = paddy(tiny_kaggle, "kaggle.submissions()", tmp_path, env)
    assert code == 2 and "Kaggle secrets" in message


def test_in_a_kernel_the_data_is_the_input_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("KAGGLE_KERNEL_RUN_TYPE", "Batch")
    monkeypatch.setenv("PADDY_KAGGLE_ROOT", str(tmp_path))
    with pytest.raises(PaddyError, match="inputs"): layout.data_root()
    (tmp_path / "input" / SLUG).mkdir(parents=True)
    assert layout.in_kernel() and kaggle.download() == layout.data_root() == tmp_path / "input" / SLUG


def mounted(folder, name="sample_submission.csv"):
    "A competition's files, stored elsewhere, as Kaggle keeps them; returns the folder."
    folder.mkdir(parents=True)
    (folder / name).write_text("image_id,label\n")
    return folder


@pytest.mark.parametrize("where", ["competitions/paddy-disease-classification", "paddy-disease-classification-v2", "deep/er/folder"])
def test_a_kernel_finds_the_competition_wherever_it_is_mounted(monkeypatch, tmp_path, where):
    "input/competitions/<slug> (kernels since 2026), or a folder Kaggle named otherwise, mounted as a link."
    monkeypatch.setenv("KAGGLE_KERNEL_RUN_TYPE", "Batch")
    monkeypatch.setenv("PADDY_KAGGLE_ROOT", str(tmp_path / "kaggle"))
    link = tmp_path / "kaggle" / "input" / where
    link.parent.mkdir(parents=True)
    link.symlink_to(mounted(tmp_path / "storage" / "comp"), target_is_directory=True)
    mounted(tmp_path / "storage" / "data", "train.csv")  # not a competition: no sample submission
    assert layout.data_root() == link


def test_several_candidate_mounts_are_named(monkeypatch, tmp_path):
    monkeypatch.setenv("KAGGLE_KERNEL_RUN_TYPE", "Batch")
    monkeypatch.setenv("PADDY_KAGGLE_ROOT", str(tmp_path))
    for name in ("one", "two"): mounted(tmp_path / "input" / "datasets" / "me" / name)
    with pytest.raises(PaddyError, match="several hold a sample submission: .*me/one, .*me/two; pick the competition's with --data"):
        layout.data_root()


def test_paddy_data_records_the_competitions_metric(tiny_kaggle, tmp_path):
    from paddy.data.competition import describe
    tiny_kaggle.competitions[SLUG].metric = "Categorization Accuracy"
    code, path, _ = paddy(tiny_kaggle, "kaggle.download(retries=0)", tmp_path)
    assert code == 0 and layout.kaggle_facts(tmp_path / path) == dict(slug=SLUG, evaluation_metric="Categorization Accuracy")
    comp = describe(tmp_path / path)
    assert comp.metric == "accuracy" and comp.notes["metric"] == "Kaggle's evaluation metric: Categorization Accuracy"


def test_data_root_outside_a_kernel(monkeypatch, tmp_path):
    monkeypatch.delenv("KAGGLE_KERNEL_RUN_TYPE", raising=False)
    monkeypatch.chdir(tmp_path)
    assert not layout.in_kernel()
    with pytest.raises(PaddyError, match="make data"): layout.data_root()
    with pytest.raises(PaddyError, match="--data"): layout.data_root(data=tmp_path / "elsewhere")
    (tmp_path / "data" / SLUG).mkdir(parents=True)
    assert layout.data_root() == Path("data") / SLUG
    assert layout.data_root(data=tmp_path) == tmp_path


def test_a_broken_transfer_is_retried_as_asked(tiny_kaggle, tmp_path):
    tiny_kaggle.faults.drop_download = True
    code, message, _ = paddy(tiny_kaggle, "kaggle.download(retries=1)", tmp_path)
    assert code == 2 and "connection" in message and "run again" in message
    assert tiny_kaggle.downloads == [SLUG, SLUG]  # the first try and one retry, each fetching the zip
