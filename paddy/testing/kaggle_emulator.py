"""A local Kaggle API that the unmodified kaggle client (kaggle 2.x + kagglesdk) talks to, for tests and by hand.

The client has no URL setting. With KAGGLE_API_ENVIRONMENT=LOCALHOST (read at import) it sends every call as
`POST http://localhost/api/v1/<service>/<Method>` with a camelCase JSON body; HTTP_PROXY pointing here (and no
NO_PROXY) delivers those requests to this server on any port. Errors are JSON `{"code", "message"}` with that status.

Standalone: `python -m paddy.testing.kaggle_emulator --port 8765 --competition DIR --solution CSV` prints the
`export` lines that point the real client here, then serves until Ctrl-C. In paddy's tests: the `kaggle_emulator`
and `tiny_kaggle` fixtures of tests/conftest.py. Each competition is a folder (its name is the slug) served as one
zip, and a hidden solution CSV (`image_id,label[,Usage]`) that uploaded submissions are scored against (accuracy).
"""
import argparse, base64, csv, io, itertools, json, os, secrets, shutil, signal, socket, struct, subprocess, sys, tempfile, threading, time, zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[2]  # the folder holding this paddy package (the repository in a checkout)
SLUG = "paddy-disease-classification"
API = {  # the calls answered, by service
    "competitions.CompetitionApiService": {
        "ListCompetitions", "ListDataFiles", "DownloadDataFiles", "StartSubmissionUpload", "CreateSubmission",
        "CreateCodeSubmission", "ListSubmissions", "GetSubmission", "GetSubmissionLimits"},
    "kernels.KernelsApiService": {"SaveKernel", "GetKernelSessionStatus", "ListKernelSessionOutput"},
    "blobs.BlobApiService": {"StartBlobUpload"},
    "datasets.DatasetApiService": {"GetDatasetStatus", "GetDataset", "ListDatasetFiles", "CreateDataset", "CreateDatasetVersion"},
    "security.OAuthService": {"IntrospectToken"},
}
MACHINE_SHAPES = {"NvidiaTeslaT4", "NvidiaTeslaP100", "TpuV5E8", "Tpu1VmV38"}  # what SaveKernel takes (P100: retired, runs on a T4)
MOUNTS = ("classic", "current")  # input/<slug>, or input/competitions/<slug> and input/datasets/<owner>/<slug> as links


class ApiError(Exception):
    "An error Kaggle answers as JSON `{code, message}` with HTTP status `code`."
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


@dataclass
class Faults:
    "Faults to inject; each stays on until set back to False."
    truncate_download: bool = False  # Content-Length of the whole zip, half of it sent, clean close
    drop_download: bool = False      # half of the zip sent, then the connection is reset
    corrupt_download: bool = False   # exact size, but one byte of a member's data flipped (CRC error)
    zip_slip: bool = False           # the zip holds an extra member named ../escaped.txt
    upload_500: bool = False         # PUT of an uploaded file answers 500


@dataclass
class Redirect:
    "An API answer that is a 302 to `location`."
    location: str


@dataclass
class Competition:
    slug: str
    folder: Path
    solution: dict  # image_id -> (label, usage)
    rules_accepted: bool = True
    metric: str = "Categorization Accuracy"  # the evaluation metric its page names


def read_solution(path):
    "Read a solution CSV `image_id,label[,Usage]` into {image_id: (label, usage)}."
    with open(path, newline="") as f:
        return {r["image_id"]: (r["label"], r.get("Usage") or "Public") for r in csv.DictReader(f)}


def zip_folder(folder, extra=()):
    "The bytes of a zip of every file under `folder` (stored, sorted), plus `extra` (name, bytes) members."
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for p in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
            z.write(p, p.relative_to(folder).as_posix())
        for name, data in extra: z.writestr(name, data)
    return buf.getvalue()


def submission_csv(path, competition, right):
    "Write a submission for `competition` to `path` with its first `right` labels right and the rest wrong."
    labels = [(i, label if n < right else "wrong") for n, (i, (label, _)) in enumerate(competition.solution.items())]
    Path(path).write_text("image_id,label\n" + "".join(f"{i},{label}\n" for i, label in labels))
    return path


def corrupt(data):
    "Flip one byte of the first member's data, so the zip opens but fails its CRC check."
    name_len, extra_len = struct.unpack("<HH", data[26:30])
    at = 30 + name_len + extra_len
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1:]


def score(content, solution):
    "Score a submission: (status, public, private, error) with accuracy as Paddy Doctor does."
    try: rows = list(csv.reader(io.StringIO(content.decode("utf-8"))))
    except UnicodeDecodeError: return "ERROR", None, None, "The submission is not a UTF-8 text file."
    if not rows or [c.strip() for c in rows[0]] != ["image_id", "label"]:
        return "ERROR", None, None, "The header must be exactly: image_id,label"
    if any(len(r) != 2 for r in rows[1:]): return "ERROR", None, None, "Every row must have 2 columns."
    pred = dict(rows[1:])
    if len(pred) != len(rows) - 1: return "ERROR", None, None, "Duplicate image_id values."
    if pred.keys() != solution.keys():
        return "ERROR", None, None, f"Submission must have {len(solution)} rows with the test image ids."
    def acc(usage):
        ids = [i for i, (_, u) in solution.items() if u == usage] or list(solution)
        return f"{sum(pred[i] == solution[i][0] for i in ids) / len(ids):.5f}"
    return "COMPLETE", acc("Public"), acc("Private"), None


def now_iso():
    return datetime.now(timezone.utc).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


class KaggleEmulator:
    """Kaggle's API for one user: competitions, submissions, kernels and datasets, kept in memory.

    `submissions`, `kernels`, `datasets` and `downloads` record what was scored, pushed or fetched, in order, and
    `calls` every API call as (method, HTTP status, answer);
    `faults` injects failures; `daily_limit` caps submissions per competition per UTC day (429 beyond it).
    A dataset version is processing for `processing` seconds after its push, as on Kaggle: meanwhile its status and
    current version are the previous version's (a new dataset is 404), and a further version is refused (403).
    After `run_kernels`, each pushed kernel runs (`KernelRunner`): its status goes queued, running, complete or error,
    and its output and log can be listed and fetched, and submitted to a code competition.
    """
    def __init__(self, user="paddy-tester", key="0123456789abcdef0123456789abcdef", token=None, daily_limit=5, processing=0.5):
        self.user, self.key, self.token, self.daily_limit, self.processing = user, key, token, daily_limit, processing
        self.competitions, self.blobs = {}, {}
        self.submissions, self.kernels, self.datasets, self.downloads, self.calls = [], [], [], [], []
        self.faults = Faults()
        self.lock = threading.Lock()
        self._ids = itertools.count(1)
        self.server, self.runner = None, None

    def add_competition(self, slug, folder, solution_csv, rules_accepted=True, metric="Categorization Accuracy"):
        "Serve `folder` as competition `slug`, scoring submissions against `solution_csv`; `metric` as its page names it."
        self.competitions[slug] = Competition(slug, Path(folder), read_solution(solution_csv), rules_accepted, metric)

    def run_kernels(self, runner):
        "Run every kernel pushed from now on with `runner` (a KernelRunner), in a thread: status and output follow it."
        self.runner = runner

    # ---- serving
    def start(self, port=0):
        "Serve on 127.0.0.1:`port` (0: a free port) in a background thread; returns self."
        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.server.emulator = self
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    @property
    def port(self): return self.server.server_address[1]

    @property
    def proxy(self): return f"http://127.0.0.1:{self.port}"

    def client_env(self):
        "Variables that point the real kaggle client here (see the module's docstring): set these, unset the rest."
        return {"KAGGLE_API_ENVIRONMENT": "LOCALHOST", "HTTP_PROXY": self.proxy, "http_proxy": self.proxy}

    def environ(self, home):
        "A complete environment for a subprocess: HOME=`home`, no foreign KAGGLE_* or proxy settings."
        drop = {"NO_PROXY", "ALL_PROXY", "HTTPS_PROXY"}
        env = {k: v for k, v in os.environ.items() if not k.startswith("KAGGLE_") and k.upper() not in drop}
        env.update(self.client_env(), HOME=str(home), PYTHONPATH=os.pathsep.join(
            filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
        return env

    # ---- auth
    def authenticate(self, header):
        "The user an Authorization header belongs to; ApiError 401 if none."
        kind, _, cred = (header or "").partition(" ")
        if kind == "Basic":
            try: user, _, key = base64.b64decode(cred).decode().partition(":")
            except ValueError: raise ApiError(401, "Unauthenticated") from None
            if (user, key) == (self.user, self.key): return user
        if kind == "Bearer" and self.token and cred == self.token: return self.user
        raise ApiError(401, "Unauthenticated")

    # ---- helpers
    def competition(self, slug, need_rules=True):
        comp = self.competitions.get(slug)
        if comp is None: raise ApiError(404, f"Competition '{slug}' not found")
        if need_rules and not comp.rules_accepted:
            raise ApiError(403, "You must accept this competition's rules before you'll be able to do this.")
        return comp

    def zip_bytes(self, comp):
        extra = [("../escaped.txt", b"outside")] if self.faults.zip_slip else []
        data = zip_folder(comp.folder, extra)
        return corrupt(data) if self.faults.corrupt_download else data

    def new_blob(self, name, host):
        token = secrets.token_hex(8)
        self.blobs[token] = {"name": name, "data": None}
        return {"token": token, "createUrl": f"http://{host}/upload/{token}"}

    def blob(self, token):
        blob = self.blobs.get(token)
        if blob is None or blob["data"] is None: raise ApiError(400, f"Unknown or unfinished upload: {token}")
        return blob

    def today(self, slug):
        day = now_iso()[:10]
        return [s for s in self.submissions if s["competition"] == slug and s["date"][:10] == day]

    @staticmethod
    def public(sub):
        "A submission as ListSubmissions answers it."
        keys = ["ref", "totalBytes", "date", "description", "errorDescription", "fileName", "publicScore",
                "privateScore", "status", "submittedBy"]
        return {k: sub[k] for k in keys if sub.get(k) is not None}

    # ---- competitions.CompetitionApiService
    def ListCompetitions(self, req, host):
        search = req.get("search", "")
        return {"competitions": [
            {"ref": f"https://www.kaggle.com/competitions/{c.slug}", "title": c.slug, "category": "Community",
             "reward": "Kudos", "deadline": "2030-01-01T00:00:00.000Z", "teamCount": 1, "evaluationMetric": c.metric,
             "userHasEntered": c.rules_accepted, "maxDailySubmissions": self.daily_limit}
            for c in self.competitions.values() if search in c.slug]}

    def ListDataFiles(self, req, host):
        comp = self.competition(req.get("competitionName", ""))
        files = sorted(p for p in comp.folder.rglob("*") if p.is_file())
        return {"files": [{"name": p.relative_to(comp.folder).as_posix(), "totalBytes": p.stat().st_size,
                           "creationDate": now_iso()} for p in files]}

    def DownloadDataFiles(self, req, host):
        comp = self.competition(req.get("competitionName", ""))
        return Redirect(f"http://{host}/download/{comp.slug}.zip")

    def StartSubmissionUpload(self, req, host):
        self.competition(req.get("competitionName", ""))
        return self.new_blob(req.get("fileName", ""), host)

    def CreateSubmission(self, req, host):
        comp = self.competition(req.get("competitionName", ""))
        blob = self.blob(req.get("blobFileTokens", ""))
        return self.scored(comp, blob["name"], blob["data"], req.get("submissionDescription", ""))

    def scored(self, comp, name, data, description, **more):
        "Score and record a submission of `data` to `comp`; the daily limit applies."
        if len(self.today(comp.slug)) >= self.daily_limit:
            raise ApiError(429, f"Submission not allowed: your team has used its daily submission allowance "
                                f"({self.daily_limit}) today, please try again tomorrow UTC.")
        status, public, private, error = score(data, comp.solution)
        sub = {"ref": next(self._ids), "competition": comp.slug, "fileName": name, "date": now_iso(), "description": description,
               "status": status, "publicScore": public, "privateScore": private, "errorDescription": error,
               "totalBytes": len(data), "submittedBy": self.user, "content": data, **more}
        self.submissions.append(sub)
        return {"message": f"Successfully submitted to {comp.slug}", "ref": sub["ref"]}

    def CreateCodeSubmission(self, req, host):
        "A code competition's submission: the output file of a kernel version that ran (the newest by default)."
        comp = self.competition(req.get("competitionName", ""))
        k = self.kernel(self.user, req.get("kernelSlug", ""), req.get("kernelVersion"))
        if k.get("status") != "complete":
            raise ApiError(400, f"Kernel version {k['versionNumber']} has not completed successfully ({k.get('status', 'queued')})")
        name = req.get("fileName", "submission.csv")
        if name not in k["output"]: raise ApiError(400, f"Kernel version {k['versionNumber']} has no output file {name}")
        return self.scored(comp, name, k["output"][name], req.get("submissionDescription", ""),
                           kernel=k["slug"], kernelVersion=k["versionNumber"])

    def ListSubmissions(self, req, host):
        slug = self.competition(req.get("competitionName", ""), need_rules=False).slug
        return {"submissions": [self.public(s) for s in reversed(self.submissions) if s["competition"] == slug]}

    def GetSubmission(self, req, host):
        for s in self.submissions:
            if s["ref"] == req.get("ref"): return self.public(s)
        raise ApiError(404, "Submission not found")

    def GetSubmissionLimits(self, req, host):
        slug = self.competition(req.get("competitionName", ""), need_rules=False).slug
        n = len(self.today(slug))
        total = sum(s["competition"] == slug for s in self.submissions)
        return {"numToday": n, "numTotal": total, "numAllowedNow": max(0, self.daily_limit - n)}

    # ---- kernels, blobs, datasets, security
    def SaveKernel(self, req, host):
        owner, _, slug = req.get("slug", "").partition("/")
        if owner != self.user: raise ApiError(403, f"You cannot push kernels as '{owner}'")
        if req.get("machineShape") and req["machineShape"] not in MACHINE_SHAPES:
            raise ApiError(400, f"Unknown machine shape '{req['machineShape']}'")
        version = 1 + sum(k["slug"] == req["slug"] for k in self.kernels)
        k = {**req, "versionNumber": version, "id": next(self._ids), "status": "queued", "output": {}, "log": ""}
        self.kernels.append(k)
        if self.runner: threading.Thread(target=self.runner.run, args=(self, k), daemon=True).start()
        bad = [s for s in req.get("competitionDataSources", []) if s.split("/")[-1] not in self.competitions]
        return {"ref": f"/code/{req['slug']}", "url": f"https://www.kaggle.com/code/{req['slug']}",
                "versionNumber": version, "invalidCompetitionSources": bad}

    def kernel(self, owner, slug, version=None):
        "A pushed kernel version (the newest, or `version`: a number or 'vN'); ApiError 404 if there is none."
        pushed = [k for k in self.kernels if k["slug"] == f"{owner}/{slug}"]
        if version: pushed = [k for k in pushed if k["versionNumber"] == int(str(version).lstrip("v"))]
        if not pushed: raise ApiError(404, f"Kernel '{owner}/{slug}'{f' version {version}' if version else ''} not found")
        return pushed[-1]

    def GetKernelSessionStatus(self, req, host):
        k = self.kernel(req.get("userName", ""), req.get("kernelSlug", ""), req.get("versionLabel"))
        return {"status": k["status"].upper(), **({"failureMessage": k["failure"]} if k.get("failure") else {})}

    def ListKernelSessionOutput(self, req, host):
        k = self.kernel(req.get("userName", ""), req.get("kernelSlug", ""), req.get("versionLabel"))
        files = [{"fileName": name, "url": f"http://{host}/kernel-output/{k['id']}/{name}"} for name in sorted(k["output"])]
        return {"files": files, "log": k["log"]}

    def StartBlobUpload(self, req, host):
        return self.new_blob(req.get("name", ""), host)

    def dataset(self, owner, slug, ready=False):
        """The newest pushed version of dataset owner/slug (with `ready`, the newest that processing has finished);
        ApiError 404 if there is none."""
        pushes = [d for d in self.datasets if d["ref"] == f"{owner}/{slug}" and (not ready or d.get("ready_at", 0) <= time.monotonic())]
        if not pushes: raise ApiError(404, f"Dataset '{owner}/{slug}' not found")
        return pushes[-1]

    def push_dataset(self, ref, body, **meta):
        files = {self.blob(f["token"])["name"]: self.blob(f["token"])["data"] for f in body.get("files", [])}
        version = 1 + sum(d["ref"] == ref for d in self.datasets)
        self.datasets.append({"ref": ref, "version": version, "files": files, **meta, "request": body,
                              "ready_at": time.monotonic() + self.processing})
        return {"ref": ref, "url": f"https://www.kaggle.com/datasets/{ref}", "status": "ok"}

    def GetDatasetStatus(self, req, host):
        self.dataset(req.get("ownerSlug", ""), req.get("datasetSlug", ""), ready=True)  # the previous version's, while one processes
        return {"status": "READY"}

    def GetDataset(self, req, host):
        d = self.dataset(req.get("ownerSlug", ""), req.get("datasetSlug", ""), ready=True)
        return {"ref": d["ref"], "currentVersionNumber": d["version"], "title": d.get("title")}

    def ListDatasetFiles(self, req, host):
        d = self.dataset(req.get("ownerSlug", ""), req.get("datasetSlug", ""))
        return {"datasetFiles": [{"name": n, "totalBytes": len(b)} for n, b in d["files"].items()]}

    def CreateDataset(self, req, host):
        ref = f"{req.get('ownerSlug', '')}/{req.get('slug', '')}"
        if req.get("ownerSlug") != self.user: raise ApiError(403, f"You cannot create datasets as '{req['ownerSlug']}'")
        if any(d["ref"] == ref for d in self.datasets):
            return {"status": "error", "error": f"The requested slug is already in use: {ref}"}
        return self.push_dataset(ref, req, title=req.get("title"), notes=None, private=req.get("isPrivate", False))

    def CreateDatasetVersion(self, req, host):
        d = self.dataset(req.get("ownerSlug", ""), req.get("datasetSlug", ""))
        if d.get("ready_at", 0) > time.monotonic():
            raise ApiError(403, f"Dataset '{d['ref']}' version {d['version']} is still being processed; try again when it is ready")
        body = req.get("body", {})
        return self.push_dataset(d["ref"], body, title=d["title"], notes=body.get("versionNotes"), private=d["private"])

    def IntrospectToken(self, req, host):
        ok = bool(self.token) and req.get("token") == self.token
        return {"active": True, "username": self.user} if ok else {"active": False}

    def rpc(self, service, method, body, auth, host):
        "Answer one API call: a JSON-able dict, a Redirect, or ApiError."
        if method not in API.get(service, ()): raise ApiError(404, f"Unknown method {service}/{method}")
        with self.lock:
            try:
                if method != "IntrospectToken": self.authenticate(auth)
                answer = getattr(self, method)(body, host)
            except ApiError as e:
                self.calls.append((method, e.code, str(e)))
                raise
            self.calls.append((method, 200, answer))
            return answer


def listing(folder):
    "Every file under `folder` (symbolic links followed) with its size, relative to `folder`."
    return sorted((os.path.relpath(os.path.join(d, n), folder), os.path.getsize(os.path.join(d, n)))
                  for d, _, names in os.walk(folder, followlinks=True) for n in names)


class KernelRunner:
    """Runs a pushed kernel version here as Kaggle runs it there: its competition and the dataset versions ready when it
    starts mounted under input/ (`mounts` "current": input/competitions/<slug> and input/datasets/<owner>/<slug>, as
    symbolic links; "classic": input/<slug>), an empty working/, its script run by `python` with `env` (and
    KAGGLE_KERNEL_RUN_TYPE, PADDY_KAGGLE_ROOT pointing at the simulated /kaggle). What it leaves in working/ is its
    output, what it prints its log; it ends complete or error. Each run gets a folder under `folder`."""

    def __init__(self, folder, python=sys.executable, env=None, mounts="current", timeout=900):
        if mounts not in MOUNTS: raise ValueError(f"mounts must be one of {MOUNTS}")
        self.folder, self.python, self.env, self.mounts, self.timeout = Path(folder), python, env, mounts, timeout

    def mount(self, emulator, k, root):
        "Lay out the kernel's inputs under root/input; returns the competition's folder there."
        store = root.parent / "storage"
        (slug,) = k.get("competitionDataSources", [])
        shutil.copytree(emulator.competitions[slug].folder, store / "competitions" / slug)
        for ref in k.get("datasetDataSources", []):
            d = emulator.dataset(*ref.split("/"), ready=True)
            for name, data in d["files"].items():
                path = store / "datasets" / ref / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
        mounts = {store / "competitions" / slug: ("competitions", slug) if self.mounts == "current" else (slug,)}
        mounts |= {store / "datasets" / ref: ("datasets", *ref.split("/")) if self.mounts == "current" else (ref.split("/")[1],)
                   for ref in k.get("datasetDataSources", [])}
        for source, where in mounts.items():
            target = root.joinpath("input", *where)
            target.parent.mkdir(parents=True, exist_ok=True)
            if self.mounts == "current": target.symlink_to(source, target_is_directory=True)
            else: shutil.copytree(source, target)
        return root.joinpath("input", *mounts[store / "competitions" / slug])

    def run(self, emulator, k):
        "Run kernel version `k` (a dict of emulator.kernels) to its end, recording status, output and log in it."
        k["status"] = "running"
        root = Path(tempfile.mkdtemp(prefix=f"{k['slug'].split('/')[1]}-v{k['versionNumber']}-", dir=self.folder)) / "kaggle"
        k["root"] = root
        try:
            self.mount(emulator, k, root)
            k["inputs"] = listing(root / "input")  # what the kernel was given: a test can check it wrote nothing there
            (root / "working").mkdir()
            script = root.parent / "script.py"
            script.write_text(k["text"])
            env = {**(os.environ if self.env is None else self.env), "KAGGLE_KERNEL_RUN_TYPE": "Batch", "PADDY_KAGGLE_ROOT": str(root)}
            r = subprocess.run([self.python, str(script)], cwd=root / "working", env=env, capture_output=True, text=True, timeout=self.timeout)
            k["log"] = r.stdout + r.stderr
            k["output"] = {p.relative_to(root / "working").as_posix(): p.read_bytes() for p in sorted((root / "working").rglob("*")) if p.is_file()}
            k["failure"] = None if r.returncode == 0 else ((r.stderr.strip().splitlines() or ["exit code %d" % r.returncode])[-1])
            k["status"] = "complete" if r.returncode == 0 else "error"
        except Exception as e:  # inputs it cannot mount, a run past the timeout: the kernel fails, as on Kaggle
            k["log"], k["failure"], k["status"] = k.get("log", "") + f"{type(e).__name__}: {e}\n", f"{type(e).__name__}: {e}", "error"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args): pass

    @property
    def emulator(self): return self.server.emulator

    def route(self):
        "The path of the request: absolute-form (through the proxy) or origin-form."
        return urlsplit(self.path).path

    def body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while (size := int(self.rfile.readline().split(b";")[0], 16)):
                chunks.append(self.rfile.read(size)); self.rfile.readline()
            self.rfile.readline()
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def send(self, status, data=b"", ctype="application/json", headers=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers: self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def send_json(self, status, obj): self.send(status, json.dumps(obj).encode())

    def do_POST(self):
        parts = self.route().strip("/").split("/")
        body = self.body()
        if parts[:2] == ["api", "v1"]: parts = parts[1:]  # KAGGLE_API_ENVIRONMENT=LOCALHOST adds /api
        if len(parts) != 3 or parts[0] != "v1": return self.send_json(404, {"code": 404, "message": "Not found"})
        try:
            answer = self.emulator.rpc(parts[1], parts[2], json.loads(body or b"{}"), self.headers.get("Authorization"),
                                       self.headers.get("Host", f"127.0.0.1:{self.emulator.port}"))
        except ApiError as e:
            return self.send_json(e.code, {"code": e.code, "message": str(e)})
        if isinstance(answer, Redirect): return self.send(302, headers=[("Location", answer.location)])
        self.send_json(200, answer)

    def do_GET(self):
        path = self.route()
        if path.startswith("/kernel-output/"):
            kid, _, name = path.removeprefix("/kernel-output/").partition("/")
            found = [k for k in self.emulator.kernels if str(k["id"]) == kid and name in k["output"]]
            return self.send(200, found[0]["output"][name], "application/octet-stream") if found else \
                self.send_json(404, {"code": 404, "message": "Not found"})
        slug = path.removeprefix("/download/").removesuffix(".zip")
        comp = self.emulator.competitions.get(slug)
        if not path.startswith("/download/") or comp is None:
            return self.send_json(404, {"code": 404, "message": "Not found"})
        data, faults = self.emulator.zip_bytes(comp), self.emulator.faults
        self.emulator.downloads.append(slug)
        if not (faults.truncate_download or faults.drop_download):
            mtime = max(p.stat().st_mtime for p in comp.folder.rglob("*"))
            return self.send(200, data, "application/zip", [("Last-Modified", formatdate(mtime, usegmt=True))])
        self.send_response(200)
        self.send_header("Content-Type", "application/zip")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[:len(data) // 2])
        self.close_connection = True
        if faults.drop_download:  # an abortive close: the client sees a reset, not an end of stream
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()

    def do_PUT(self):
        token = self.route().removeprefix("/upload/")
        data = self.body()
        blob = self.emulator.blobs.get(token)
        if blob is None: return self.send_json(404, {"code": 404, "message": "Unknown upload"})
        if self.emulator.faults.upload_500: return self.send_json(500, {"code": 500, "message": "Internal error"})
        blob["data"] = data
        self.send(200, b"{}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--competition", action="append", required=True, help="a competition folder; its name is the slug")
    p.add_argument("--solution", action="append", required=True,
                   help="solution CSV: one for all competitions, or one per --competition, in order")
    p.add_argument("--user", default="paddy-tester")
    p.add_argument("--key", default="0123456789abcdef0123456789abcdef")
    p.add_argument("--daily-limit", type=int, default=5)
    p.add_argument("--rules-not-accepted", action="store_true",
                   help="answer 403 as Kaggle does before a user accepts the rules")
    a = p.parse_args(argv)
    solutions = a.solution * len(a.competition) if len(a.solution) == 1 else a.solution
    if len(solutions) != len(a.competition): p.error("give one --solution, or one per --competition")
    emulator = KaggleEmulator(a.user, a.key, daily_limit=a.daily_limit)
    for folder, solution in zip(a.competition, solutions):
        emulator.add_competition(Path(folder).resolve().name, folder, solution, not a.rules_not_accepted)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})  # the serving threads inherit this: Ctrl-C reaches the main thread,
    emulator.start(a.port)                                      # which is the one waiting to stop them
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    env = {**emulator.client_env(), "KAGGLE_USERNAME": a.user, "KAGGLE_KEY": a.key}
    print("\n".join(f"export {k}={v}" for k, v in env.items()) + "\nunset NO_PROXY no_proxy", flush=True)
    print(f"# serving {', '.join(emulator.competitions)} on {emulator.proxy}; Ctrl-C stops", file=sys.stderr)
    try: threading.Event().wait()
    except KeyboardInterrupt: emulator.stop()


if __name__ == "__main__":
    main()
