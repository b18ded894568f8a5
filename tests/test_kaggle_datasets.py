"""Pushing a dataset as Kaggle processes it: a new version takes a moment (a new dataset answers 404 meanwhile, a further
version 403, and the status is the previous version's), so paddy waits until the version it pushed is current and
ready, within a bound; and every Kaggle error names the competition, dataset or kernel involved."""
import json, subprocess, sys, time

import pytest
from requests import HTTPError, Response

from paddy.kaggle.api import _http_message

CALL = """
import json, sys
from pathlib import Path
from paddy.kaggle import api
from paddy.errors import PaddyError
wait = (lambda: iter([0.05] * {polls})) if {polls} else api.pauses
try: print(api.push_dataset(Path({folder!r}), "notes", wait=wait))
except PaddyError as e:
    print(str(e), file=sys.stderr)
    sys.exit(2)
"""


def push(em, folder, polls=0):
    "push_dataset(folder) through the real client in a subprocess (`polls`: that many 0.05 s waits; 0: paddy's own)."
    (folder / "dataset-metadata.json").write_text(json.dumps(dict(title="paddy-offline", id=f"{em.user}/paddy-offline",
                                                                  licenses=[dict(name="CC0-1.0")])))
    (folder / "paddy.whl").write_bytes(b"wheel")
    return subprocess.run([sys.executable, "-c", CALL.format(folder=str(folder), polls=polls)], env=em.env, capture_output=True,
                          text=True, timeout=120)


def answers(em, method):
    "The emulator's answers to `method`, in order: (status, answer)."
    return [(code, answer) for m, code, answer in em.calls if m == method]


@pytest.mark.slow
def test_a_new_dataset_is_waited_for_through_its_404(kaggle_emulator, tmp_path):
    kaggle_emulator.processing = 1.5
    r = push(kaggle_emulator, tmp_path)
    assert r.returncode == 0 and r.stdout.strip() == f"{kaggle_emulator.user}/paddy-offline", r.stderr
    status = answers(kaggle_emulator, "GetDatasetStatus")
    assert status[0][0] == 404 and 404 in [c for c, _ in status[1:]]  # before the push, and for a moment after it
    assert answers(kaggle_emulator, "GetDataset")[-1] == (200, {"ref": f"{kaggle_emulator.user}/paddy-offline", "currentVersionNumber": 1,
                                                                "title": "paddy-offline"})


def test_a_new_version_is_pushed_once_the_previous_is_processed_and_waited_for(kaggle_emulator, tmp_path):
    ref = f"{kaggle_emulator.user}/paddy-offline"
    for version, ready_in in ((1, -1), (2, 1.5)):  # version 2 still processing when paddy pushes (another push, a moment ago)
        kaggle_emulator.datasets.append(dict(ref=ref, version=version, files={}, title="paddy-offline", notes=None, private=True,
                                             request={}, ready_at=time.monotonic() + ready_in))
    r = push(kaggle_emulator, tmp_path)
    assert r.returncode == 0, r.stderr
    refused = answers(kaggle_emulator, "CreateDatasetVersion")
    assert refused[0][0] == 403 and refused[-1][0] == 200 and kaggle_emulator.datasets[-1]["version"] == 3
    current = [a["currentVersionNumber"] for c, a in answers(kaggle_emulator, "GetDataset") if c == 200]
    assert current[0] == 1 and current[-1] == 3  # the status said ready for version 1 while 2 and 3 processed: not enough


def test_a_version_that_stays_processing_ends_in_one_line(kaggle_emulator, tmp_path):
    kaggle_emulator.processing = 600
    r = push(kaggle_emulator, tmp_path, polls=3)
    (line,) = r.stderr.splitlines()
    assert r.returncode == 2 and f"version 1 of the dataset {kaggle_emulator.user}/paddy-offline" in line and "run `paddy kernel` again" in line


def http_error(code, text="refused"):
    response = Response()
    response.status_code, response._content = code, text.encode()
    return HTTPError(f"{code} Client Error: {text}", response=response)


class SignedIn:
    "A kaggle client signed in with kaggle.json, as _http_message reads it."
    CONFIG_NAME_AUTH_METHOD = "auth_method"
    config_values = dict(username="me", auth_method="LEGACY_API_KEY")


@pytest.mark.parametrize("kind, name, code, says", [
    ("dataset", "me/paddy-offline", 404, "Kaggle has no dataset 'me/paddy-offline' (404)"),
    ("dataset", "me/paddy-offline", 403, "check that the dataset me/paddy-offline is yours"),
    ("kernel", "me/paddy-train", 404, "Kaggle has no kernel 'me/paddy-train' (404)"),
    ("competition", "aptos2019-blindness-detection", 403, "competitions/aptos2019-blindness-detection/rules"),
    ("competition", "aptos2019-blindness-detection", 404, "Kaggle has no competition 'aptos2019-blindness-detection' (404)"),
])
def test_an_error_names_what_it_is_about(monkeypatch, kind, name, code, says):
    monkeypatch.delenv("KAGGLE_API_TOKEN", raising=False)
    message = _http_message(http_error(code), SignedIn(), kind, name, f"doing something to {name}")
    assert says in message and "paddy-disease-classification" not in message
