"""The emulator, driven by the unmodified kaggle CLI in subprocesses (and by plain HTTP for the faults); and started
as a user starts it, `python -m paddy.testing.kaggle_emulator`, with the export lines it prints."""
import http.client, io, json, os, signal, socket, subprocess, sys, zipfile
from pathlib import Path

import pytest
from conftest import REPO, no_credentials, served_competition, wrong_credentials

from paddy.testing.kaggle_emulator import SLUG, score, submission_csv

KAGGLE = str(Path(sys.executable).with_name("kaggle"))


def kaggle(emulator, *args, cwd, env=None):
    "Run the kaggle CLI against `emulator` in `cwd`."
    return subprocess.run([KAGGLE, *args], env=env or emulator.env, cwd=cwd, capture_output=True, text=True, timeout=60)


def submit(emulator, tmp_path, right, message="x", slug=SLUG, env=None):
    "Submit a CSV with `right` labels right (for the tiny competition) through the kaggle CLI."
    csv = submission_csv(tmp_path / "submission.csv", emulator.competitions[SLUG], right)
    return kaggle(emulator, "competitions", "submit", "-c", slug, "-f", str(csv), "-m", message, cwd=tmp_path, env=env)


def test_download_serves_the_folder_as_one_zip(tiny_kaggle, tmp_path):
    r = kaggle(tiny_kaggle, "competitions", "download", "-c", SLUG, "-p", "dl", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    folder = tiny_kaggle.competitions[SLUG].folder
    with zipfile.ZipFile(tmp_path / "dl" / f"{SLUG}.zip") as z:
        assert z.testzip() is None
        served = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
        assert sorted(z.namelist()) == served
        assert z.read("train.csv") == (folder / "train.csv").read_bytes()
    assert tiny_kaggle.downloads == [SLUG]


def test_list_competitions_and_files(tiny_kaggle, tmp_path):
    r = kaggle(tiny_kaggle, "competitions", "list", cwd=tmp_path)
    assert r.returncode == 0 and f"competitions/{SLUG}" in r.stdout
    r = kaggle(tiny_kaggle, "competitions", "files", "-c", SLUG, cwd=tmp_path)
    assert r.returncode == 0 and "test_images/200001.jpg" in r.stdout and "sample_submission.csv" in r.stdout


def test_submit_is_scored_and_listed(tiny_kaggle, tmp_path):
    r = submit(tiny_kaggle, tmp_path, 3, "three right")
    assert r.returncode == 0, r.stderr
    assert "Submission ref: 1" in r.stdout and "4 submissions remaining today" in r.stdout
    (sub,) = tiny_kaggle.submissions
    assert (sub["status"], sub["publicScore"], sub["privateScore"]) == ("COMPLETE", "1.00000", "0.50000")
    r = kaggle(tiny_kaggle, "competitions", "submissions", "-c", SLUG, "-v", cwd=tmp_path)
    assert r.returncode == 0
    assert "submission.csv" in r.stdout and "three right" in r.stdout and "1.00000,0.50000" in r.stdout


def test_malformed_submissions_get_status_error():
    solution = {"1.jpg": ("blast", "Public"), "2.jpg": ("normal", "Private")}
    assert score(b"image_id,label\n1.jpg,blast\n2.jpg,blast\n", solution) == ("COMPLETE", "1.00000", "0.00000", None)
    header = b"image_id,label\n"
    for bad in [b"id,label\n1.jpg,blast\n2.jpg,blast\n", header + b"1.jpg,blast\n", header + b"1.jpg\n2.jpg,x\n",
                header + b"1.jpg,blast\n1.jpg,blast\n2.jpg,normal\n", b"\xff\xfe"]:
        assert score(bad, solution)[0] == "ERROR", bad


@pytest.mark.parametrize("case", ["wrong key", "unknown competition", "rules not accepted", "over the daily limit"])
def test_errors_as_kaggle_sends_them(tiny_kaggle, tmp_path, case):
    env, slug = dict(tiny_kaggle.env), SLUG
    if case == "wrong key": wrong_credentials(tiny_kaggle, env)
    if case == "unknown competition": slug = "no-such-competition"
    if case == "rules not accepted": tiny_kaggle.competitions[SLUG].rules_accepted = False
    if case == "over the daily limit": tiny_kaggle.daily_limit = 0
    r = submit(tiny_kaggle, tmp_path, 4, slug=slug, env=env)
    expected = {"wrong key": "Authentication required", "unknown competition": "Could not find competition",
                "rules not accepted": "accept this competition's rules",
                "over the daily limit": "daily submission allowance"}[case]
    assert r.returncode != 0 and expected in r.stdout + r.stderr
    assert tiny_kaggle.submissions == []


def test_error_body_is_code_and_message(kaggle_emulator):
    conn = http.client.HTTPConnection("127.0.0.1", kaggle_emulator.port)
    conn.request("POST", "/v1/competitions.CompetitionApiService/ListSubmissions", body=b"{}",
                 headers={"Authorization": "Basic bm9ib2R5Om5vdGhpbmc="})
    r = conn.getresponse()
    assert r.status == 401 and json.loads(r.read()) == {"code": 401, "message": "Unauthenticated"}


def test_upload_500_submits_nothing(tiny_kaggle, tmp_path):
    tiny_kaggle.faults.upload_500 = True
    r = submit(tiny_kaggle, tmp_path, 4)
    assert r.returncode != 0 and "Could not submit to competition" in r.stdout + r.stderr
    assert tiny_kaggle.submissions == []


def test_token_auth(tiny_kaggle, tmp_path):
    no_credentials(tiny_kaggle)
    tiny_kaggle.token = "KGAT_paddy_test_token"
    r = kaggle(tiny_kaggle, "competitions", "submissions", "-c", SLUG, cwd=tmp_path,
               env={**tiny_kaggle.env, "KAGGLE_API_TOKEN": tiny_kaggle.token})
    assert r.returncode == 0 and "No submissions found" in r.stdout


def get_zip(emulator):
    conn = http.client.HTTPConnection("127.0.0.1", emulator.port)
    conn.request("GET", f"/download/{SLUG}.zip")
    return conn.getresponse()


def test_truncated_download_is_short_of_its_content_length(tiny_kaggle):
    tiny_kaggle.faults.truncate_download = True
    r = get_zip(tiny_kaggle)
    with pytest.raises(http.client.IncompleteRead) as e: r.read()
    assert len(e.value.partial) > 0 and len(e.value.partial) + e.value.expected == int(r.getheader("Content-Length"))


def test_dropped_download_resets_the_connection(tiny_kaggle):
    tiny_kaggle.faults.drop_download = True
    r = get_zip(tiny_kaggle)
    with pytest.raises((ConnectionResetError, http.client.IncompleteRead)): r.read()


def test_corrupt_and_zip_slip_downloads(tiny_kaggle):
    tiny_kaggle.faults.corrupt_download = tiny_kaggle.faults.zip_slip = True
    with zipfile.ZipFile(io.BytesIO(get_zip(tiny_kaggle).read())) as z:
        assert z.testzip() is not None and "../escaped.txt" in z.namelist()


def test_kernels_push_is_recorded(kaggle_emulator, tmp_path):
    meta = {"id": f"{kaggle_emulator.user}/paddy-train", "title": "paddy train", "code_file": "train.py",
            "language": "python", "kernel_type": "script", "enable_gpu": True, "competition_sources": [SLUG]}
    (tmp_path / "kernel-metadata.json").write_text(json.dumps(meta))
    (tmp_path / "train.py").write_text("print('training')\n")
    r = kaggle(kaggle_emulator, "kernels", "push", "-p", ".", cwd=tmp_path)
    assert r.returncode == 0 and "Kernel version 1 successfully pushed" in r.stdout, r.stdout + r.stderr
    (k,) = kaggle_emulator.kernels
    assert k["slug"] == f"{kaggle_emulator.user}/paddy-train" and k["text"] == "print('training')\n"
    assert k["enableGpu"] is True and k["competitionDataSources"] == [SLUG] and k["kernelType"] == "script"


def test_datasets_create_and_version_are_recorded(kaggle_emulator, tmp_path):
    kaggle_emulator.processing = 0  # version right after create; the wait for processing is tested in test_kaggle_datasets
    ref = f"{kaggle_emulator.user}/paddy-wheels"
    meta = {"title": "paddy-wheels", "id": ref, "licenses": [{"name": "CC0-1.0"}]}
    (tmp_path / "dataset-metadata.json").write_text(json.dumps(meta))
    (tmp_path / "a.whl").write_bytes(b"wheel")
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "w.bin").write_bytes(b"w")
    r = kaggle(kaggle_emulator, "datasets", "create", "-p", ".", "--dir-mode", "zip", cwd=tmp_path)
    assert r.returncode == 0 and "Dataset is being created" in r.stdout, r.stdout + r.stderr
    r = kaggle(kaggle_emulator, "datasets", "version", "-p", ".", "-m", "new wheels", cwd=tmp_path)
    assert r.returncode == 0 and "version is being created" in r.stdout, r.stdout + r.stderr
    first, second = kaggle_emulator.datasets
    assert (first["ref"], first["version"], first["title"]) == (ref, 1, "paddy-wheels")
    assert first["files"]["a.whl"] == b"wheel" and zipfile.is_zipfile(io.BytesIO(first["files"]["weights.zip"]))
    assert (second["version"], second["notes"], set(second["files"])) == (2, "new wheels", {"a.whl"})


EMULATOR = [sys.executable, "-m", "paddy.testing.kaggle_emulator"]


def test_help_runs_without_pytest(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    r = subprocess.run([*EMULATOR, "--help"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "--competition" in r.stdout and "--solution" in r.stdout, r.stderr
    loaded = "import sys, paddy.testing.kaggle_emulator; print(sorted(m for m in sys.modules if m.split('.')[0] == 'pytest'))"
    r = subprocess.run([sys.executable, "-c", loaded], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stdout + r.stderr


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_started_as_a_user_starts_it(tmp_path):
    """`python -m paddy.testing.kaggle_emulator --port P --competition DIR --solution CSV` (the README's command): the
    lines it prints, pasted into a shell without kaggle.json, point the kaggle CLI at it; Ctrl-C stops it."""
    folder, solution = served_competition(tmp_path / "served", per_label=2, n_test=4)
    port = free_port()
    server = subprocess.Popen([*EMULATOR, "--port", str(port), "--competition", str(folder), "--solution", str(solution)],
                              cwd=tmp_path, env=dict(os.environ, PYTHONPATH=str(REPO)),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = [server.stdout.readline().strip() for _ in range(6)]
        assert lines[-1] == "unset NO_PROXY no_proxy", (lines, server.poll())
        exports = dict(line.removeprefix("export ").split("=", 1) for line in lines[:-1])
        assert exports["HTTP_PROXY"] == f"http://127.0.0.1:{port}" and exports["KAGGLE_USERNAME"] == "paddy-tester"
        (tmp_path / "home").mkdir()
        shell = {k: v for k, v in os.environ.items() if not k.startswith("KAGGLE_")
                 and k.upper() not in {"NO_PROXY", "ALL_PROXY", "HTTPS_PROXY"}}
        env = {**shell, **exports, "HOME": str(tmp_path / "home")}
        r = kaggle(None, "competitions", "files", "-c", SLUG, cwd=tmp_path, env=env)
        assert r.returncode == 0 and "test_images/200001.jpg" in r.stdout, r.stdout + r.stderr
        server.send_signal(signal.SIGINT)
        _, err = server.communicate(timeout=30)  # reads its pipes while it stops
        assert server.returncode == 0 and f"# serving {SLUG} on http://127.0.0.1:{port}" in err, err
    finally:
        if server.poll() is None: server.kill()
        server.wait()
