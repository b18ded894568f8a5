"""Kaggle for a Kaggler: a download that is whole or absent, submit, scores, pushing a dataset and a kernel, and the
API key's permissions.

The kaggle client comes from fastkaggle's import_kaggle inside the functions: importing it authenticates, and paddy must
import without credentials; in a kernel the credentials are the secrets kaggle_username/kaggle_key, as fastkaggle reads
them. Its failures become PaddyError with one line saying what to do.
"""
import contextlib, functools, io, json, os, shutil, stat, sys, tempfile, time, zipfile
from pathlib import Path

from paddy.data.layout import KAGGLE_INFO_FILE, SLUG, data_root, in_kernel
from paddy.errors import PaddyError

STAMP = ".paddy-complete"  # written last into a downloaded folder: without it the folder is incomplete
SUBMISSION_FIELDS = ("ref", "date", "description", "status", "publicScore", "privateScore", "fileName")


def _no_credentials():
    "The error for missing credentials, naming where they go here."
    if in_kernel():
        return PaddyError("no Kaggle credentials in this kernel: add the Kaggle secrets kaggle_username and kaggle_key "
                          "(Add-ons > Secrets)")
    return PaddyError("no Kaggle credentials: create an API token at https://www.kaggle.com/settings and set KAGGLE_API_TOKEN to it "
                      f"or save it as {token_file()} (chmod 600); the legacy key kaggle.json or KAGGLE_USERNAME and KAGGLE_KEY work too")


def config_dir():
    "The kaggle client's folder of kaggle.json (KAGGLE_CONFIG_DIR moves it)."
    return Path(os.environ.get("KAGGLE_CONFIG_DIR", "~/.kaggle")).expanduser()


def token_file():
    "Where the kaggle client reads an API token from a file (always ~/.kaggle, whatever KAGGLE_CONFIG_DIR says)."
    return Path("~/.kaggle/access_token").expanduser()


def token_source():
    "Where an API token is offered, in the kaggle client's order: 'KAGGLE_API_TOKEN', the token file, or None."
    if os.environ.get("KAGGLE_API_TOKEN"): return "KAGGLE_API_TOKEN"
    return next((str(p) for p in (token_file(), token_file().with_suffix(".txt")) if p.is_file()), None)


def by_token(api):
    "Did the authenticated client `api` sign in with an API token (rather than a legacy key)?"
    return "TOKEN" in str(api.config_values.get(api.CONFIG_NAME_AUTH_METHOD, "")).upper()


def credentials_used(api):
    """Which credentials the authenticated client `api` uses, by name, never by value: the token in KAGGLE_API_TOKEN or
    in ~/.kaggle/access_token, the key in KAGGLE_USERNAME/KAGGLE_KEY or in kaggle.json (the client's order)."""
    if by_token(api) or token_source(): return f"the API token in {token_source()}"  # a token offered is sent with every call
    if os.environ.get("KAGGLE_USERNAME") and os.environ.get("KAGGLE_KEY"): return "the key in KAGGLE_USERNAME and KAGGLE_KEY"
    return f"the key in {config_dir() / 'kaggle.json'}"


def _kernel_secrets():
    "Check the kernel's secrets kaggle_username/kaggle_key, which fastkaggle's import_kaggle reads in a kernel."
    try:
        from kaggle_secrets import UserSecretsClient
        secrets = UserSecretsClient()
        user, key = secrets.get_secret("kaggle_username"), secrets.get_secret("kaggle_key")
    except Exception as e: raise _no_credentials() from e
    if not (user and key): raise _no_credentials()


def _api():
    "The authenticated kaggle API from fastkaggle's import_kaggle, without the help text kaggle prints when it finds no credentials."
    import fastkaggle
    if fastkaggle.iskaggle: _kernel_secrets()
    from paddy.errors import warn
    for secret in (config_dir() / "kaggle.json", token_file()):
        if loose := key_file_warning(secret): warn(loose)
    with contextlib.redirect_stdout(io.StringIO()):
        try: api = fastkaggle.import_kaggle()  # kaggle authenticates on import and swallows a failure; import_kaggle asks again
        except SystemExit: raise _no_credentials() from None
    if token_source() and not by_token(api):  # the client would go on sending it with every call: each would answer 401
        where = "unset KAGGLE_API_TOKEN" if token_source() == "KAGGLE_API_TOKEN" else f"delete {token_source()}"
        raise PaddyError(f"Kaggle did not accept the API token in {token_source()} (invalid or expired): create a new one at "
                         f"https://www.kaggle.com/settings, or {where} to sign in with kaggle.json")
    return api


def status_of(e):
    "The HTTP status of a kaggle client's HTTPError (0 when there is no response)."
    return e.response.status_code if e.response is not None else 0


def _http_message(e, api, kind, name, doing):
    "One line for an HTTP error from Kaggle while `doing` something to the competition, dataset or kernel `name` (`kind`)."
    code, said = status_of(e), " ".join(str(e).split())
    if code == 401:
        return (f"Kaggle rejected {credentials_used(api)} of user {api.config_values.get('username')!r} (401): create a new API token "
                "at https://www.kaggle.com/settings and set KAGGLE_API_TOKEN to it or save it as ~/.kaggle/access_token")
    if code == 403 and kind == "competition":
        return (f"Kaggle refused {doing} (403): accept the competition rules at "
                f"https://www.kaggle.com/competitions/{name}/rules, then run again")
    if code == 403: return f"Kaggle refused {doing} (403): {said}; check that the {kind} {name} is yours"
    if code == 404: return f"Kaggle has no {kind} {name!r} (404): check the {kind}'s name"
    if code == 429: return f"Kaggle refused {doing}, too many requests (429): {said}; wait and try again"
    if code >= 500: return f"Kaggle failed {doing} ({code}, a problem on Kaggle's side): try again later"
    return f"Kaggle refused {doing} ({code}): {said}"


@contextlib.contextmanager
def _calling(api, kind, name, doing):
    "Turn the kaggle client's HTTP and network failures while `doing` something to `kind` `name` into PaddyError."
    from requests.exceptions import HTTPError, RequestException
    from urllib3.exceptions import HTTPError as Urllib3Error
    try: yield
    except HTTPError as e: raise PaddyError(_http_message(e, api, kind, name, doing)) from e
    except (RequestException, Urllib3Error) as e:
        raise PaddyError(f"{doing} failed, the connection to Kaggle broke ({type(e).__name__}): "
                         "nothing was kept; check the network and run again") from e


@contextlib.contextmanager
def _client_retries(api, retries):
    "Make the kaggle client retry a broken transfer `retries` times (its download_file's max_retries), as fastkaggle's call cannot say."
    api.download_file = functools.partial(api.download_file, max_retries=retries)
    try: yield
    finally: del api.download_file


def _fetch(api, slug, folder, retries):
    """Download the competition zip into `folder` with the call fastkaggle's setup_comp makes; the client checks its size
    against Content-Length. Its progress bar goes to a terminal's stderr only; its printed advice (resume) does not apply here."""
    archive = folder / f"{slug}.zip"
    with _calling(api, "competition", slug, f"downloading {slug}"), _client_retries(api, retries), contextlib.redirect_stdout(io.StringIO()):
        try: api.competition_download_cli(slug, path=str(folder), force=True, quiet=not sys.stderr.isatty())
        except ValueError as e:
            raise PaddyError(f"the download of {slug} is incomplete ({e}): nothing was kept; run again") from e
    if not archive.is_file(): raise PaddyError(f"Kaggle sent {slug}'s data in another format than a zip: run again later")
    return archive


def _extract(archive, folder, slug):
    "Check `archive` (zip structure, CRCs, no member outside `folder`, disk room), extract it, stamp `folder` last."
    try: z = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as e: raise PaddyError(f"the download of {slug} is not a valid zip: run again") from e
    with z:
        if (bad := z.testzip()) is not None:
            raise PaddyError(f"the download of {slug} is corrupt ({bad} fails its CRC check): "
                             "nothing was kept; run again")
        root = folder.resolve()
        for name in z.namelist():
            if not (root / name).resolve().is_relative_to(root):
                raise PaddyError(f"refusing the download of {slug}: "
                                 f"its member {name!r} would land outside the data folder")
        need, free = sum(i.file_size for i in z.infolist()), shutil.disk_usage(folder.parent).free
        if need > free:
            raise PaddyError(f"{slug} needs {need / 1e9:.1f} GB to extract and the data folder's disk has "
                             f"{free / 1e9:.1f} GB free: make room, or download elsewhere")
        z.extractall(folder)
        (folder / STAMP).write_text(f"{len(z.namelist())} files from {archive.name}\n")


def download(slug=SLUG, dest=Path("data"), retries=5) -> Path:
    """Download and extract competition `slug` into `dest/slug`, which exists only once it is complete.

    A complete folder (stamped) makes this a no-op. The kaggle client retries a broken transfer `retries`
    times, with growing pauses. In a kernel, returns the competition's input folder.
    """
    if in_kernel(): return data_root(slug)
    dest, target = Path(dest), Path(dest) / slug
    if (target / STAMP).is_file(): return target
    if target.exists(): print(f"{target} has no {STAMP} (an interrupted or foreign download): downloading again")
    api = _api()
    print(f"downloading {slug} from Kaggle into {target}")
    try:
        dest.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=f".{slug}.", dir=dest) as tmp:
            archive = _fetch(api, slug, Path(tmp), retries)
            _extract(archive, Path(tmp) / slug, slug)
            (Path(tmp) / slug / KAGGLE_INFO_FILE).write_text(json.dumps(dict(slug=slug, evaluation_metric=evaluation_metric(api, slug))) + "\n")
            if target.exists(): target.rename(Path(tmp) / "replaced")  # removed with the temporary folder
            (Path(tmp) / slug).rename(target)
    except OSError as e:
        message = f"cannot write the data into {dest}: {e.strerror or e}; check permissions and free space"
        raise PaddyError(message) from e
    return target


def evaluation_metric(api, slug):
    "The evaluation metric competition `slug`'s page names (Kaggle's competition list says it), or None where it cannot be read."
    from requests.exceptions import RequestException
    try: found = api.competitions_list(search=slug).competitions or []
    except (RequestException, ValueError, AttributeError): return None
    return next((c.evaluation_metric or None for c in found if str(c.ref).rstrip("/").split("/")[-1] == slug), None)


def submit(csv_path, message, slug=SLUG) -> str:
    "Upload the submission `csv_path` to `slug` with `message`; returns Kaggle's submission ref."
    api = _api()
    with _calling(api, "competition", slug, f"the submission to {slug}"):
        result = api.competition_submit(str(csv_path), message, slug, quiet=True)
    if not result.ref:
        raise PaddyError(f"the upload of {csv_path} to Kaggle failed ({result.message}): "
                         "nothing was submitted; try again")
    return str(result.ref)


def submissions(slug=SLUG) -> list[dict]:
    "Past submissions to `slug`, newest first: ref, date, description, status, publicScore, privateScore, fileName."
    api = _api()
    with _calling(api, "competition", slug, f"listing submissions to {slug}"):
        subs = api.competition_submissions(slug) or []
    rows = [s.to_dict(ignore_defaults=False) for s in subs]
    score = lambda v: float(v) if v else None
    return [{k: score(r.get(k)) if k.endswith("Score") else r.get(k) for k in SUBMISSION_FIELDS} for r in rows]


def user() -> str:
    "The Kaggle user name the credentials belong to."
    api = _api()
    name = api.get_config_value(api.CONFIG_NAME_USER)
    if not name: raise PaddyError("the Kaggle credentials name no user: set KAGGLE_USERNAME, or use a kaggle.json with a username")
    return name


def pauses(first=1.0, most=15.0, total=900.0):
    "Waits between polls: 1 s, then doubling up to `most`, for `total` seconds in all."
    waited, pause = 0.0, first
    while waited < total:
        yield pause
        waited += pause
        pause = min(pause * 2, most)


def dataset_state(api, ref):
    """(status, current version number) of dataset `ref` as Kaggle reports them, or (None, 0) while it does not know the
    dataset (404: never pushed, or created a moment ago). The status can be the previous version's while a new one is
    processing: only the version number tells that the new one is in place."""
    from requests.exceptions import HTTPError
    try: state = json.loads(api.dataset_status(ref, format="json(status,current_version_number)"))
    except HTTPError as e:
        if status_of(e) == 404: return None, 0
        raise
    return state["status"], int(state.get("current_version_number") or 0)


def push_dataset(folder, notes, wait=pauses) -> str:
    """Upload `folder` (files, dataset-metadata.json) as a new private dataset or a new version of it, the way
    fastkaggle's mk_dataset/push_dataset do, then wait until that version is current and ready, so a kernel pushed next
    gets these files. While Kaggle still processes the previous version, a new one is refused (403): the push is tried
    again. Waits follow `wait()` (pauses growing to 15 s, 15 minutes in all). Returns the dataset ref."""
    from requests.exceptions import HTTPError
    api, ref = _api(), json.loads((Path(folder) / "dataset-metadata.json").read_text())["id"]
    with _calling(api, "dataset", ref, f"pushing the dataset {ref}"):
        status, before = dataset_state(api, ref)
        ours = before + 1  # the version this push makes; one more if another version was processing (Kaggle refused ours meanwhile)
        for pause in [*wait(), None]:
            try:
                if status is None: result = api.dataset_create_new(str(folder), public=False, quiet=True, dir_mode="zip")
                else: result = api.dataset_create_version(str(folder), notes, quiet=True, dir_mode="zip")
                break
            except ValueError as e: raise PaddyError(f"the kaggle client refused the dataset {ref}: {e}") from e
            except HTTPError as e:
                if status is None or status_of(e) != 403 or pause is None: raise
                ours = before + 2
                time.sleep(pause)  # 403 to a new version: the previous one is still processing
        if result.error: raise PaddyError(f"Kaggle refused the dataset {ref}: {result.error}")
        for pause in wait():
            status, version = dataset_state(api, ref)
            if status == "failed": raise PaddyError(f"Kaggle failed to process the dataset {ref}: see https://www.kaggle.com/datasets/{ref}, then run again")
            if status == "ready" and version >= ours: return ref
            time.sleep(pause)
    raise PaddyError(f"Kaggle has not made version {ours} of the dataset {ref} ready in {sum(wait()) / 60:.0f} min "
                     f"(it says {status or 'unknown'}, version {version or 'none'}): run `paddy kernel` again later")


def push_kernel(folder) -> str:
    "Push and start the kernel in `folder` (kernel-metadata.json and its code file); returns its URL."
    api, meta = _api(), json.loads((Path(folder) / "kernel-metadata.json").read_text())
    with _calling(api, "kernel", meta["id"], f"pushing the kernel {meta['id']}"):
        try: result = api.kernels_push(str(folder))
        except ValueError as e: raise PaddyError(f"the kaggle client refused the kernel {meta['id']}: {e}") from e
    if result.error: raise PaddyError(f"Kaggle refused the kernel {meta['id']}: {result.error}")
    missing = [*result.invalid_dataset_sources, *result.invalid_competition_sources]
    if missing:
        raise PaddyError(f"Kaggle pushed the kernel {result.url} but could not attach {', '.join(missing)}: "
                         "check those names, then run again")
    return result.url


FINISHED = ("complete", "error", "cancel_acknowledged")  # a kernel version's statuses once it has stopped


def kernel_status(ref):
    "(status, failure message) of the newest version of kernel `ref` (owner/slug): queued, running, complete, error..."
    api = _api()
    with _calling(api, "kernel", ref, f"reading the status of the kernel {ref}"):
        try: answer = api.kernels_status(ref)
        except ValueError as e: raise PaddyError(f"Kaggle refused to show the kernel {ref}: {' '.join(str(e).split())[:160]}") from e
    return answer.status.name.lower(), answer.failure_message or ""


def follow(ref, echo=print, wait=functools.partial(pauses, most=30.0, total=12 * 3600.0)):
    """Poll kernel `ref` until it stops, printing its status and the time since following began whenever it changes;
    returns (status, failure message). Ctrl-C stops the following, not the kernel."""
    start, said = time.monotonic(), None
    for pause in wait():
        status, failure = kernel_status(ref)
        if status != said: echo(f"kernel {ref}: {status.replace('_', ' ')} ({elapsed(time.monotonic() - start)})")
        said = status
        if status in FINISHED: return status, failure
        time.sleep(pause)
    raise PaddyError(f"the kernel {ref} is still {said} after {elapsed(time.monotonic() - start)}; follow it again with `paddy follow {ref}`")


def elapsed(seconds):
    "A duration as 1h02m03s, 2m03s or 3s."
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s" if m else f"{s}s"


def kernel_output(ref, folder):
    "Download the output files of kernel `ref` and its log (SLUG.log) into `folder`; returns their paths."
    api = _api()
    with _calling(api, "kernel", ref, f"downloading the output of the kernel {ref}"), contextlib.redirect_stdout(io.StringIO()):
        try: files, _ = api.kernels_output(ref, str(folder), force=True, quiet=True)
        except ValueError as e: raise PaddyError(f"Kaggle refused the output of the kernel {ref}: {' '.join(str(e).split())[:160]}") from e
    return [Path(f) for f in files]


def submit_code(kernel, message, slug=SLUG, version=None, file="submission.csv") -> str:
    "Submit kernel `kernel`'s (owner/slug) output `file` to the code competition `slug`; returns Kaggle's submission ref."
    api = _api()
    with _calling(api, "competition", slug, f"the code submission of {kernel} to {slug}"):
        try: result = api.competition_submit_code(file, message, slug, kernel=kernel, kernel_version=version, quiet=True)
        except ValueError as e: raise PaddyError(f"the kaggle client refused the code submission: {e}") from e
    if not result.ref: raise PaddyError(f"Kaggle did not take the code submission of {kernel} ({result.message}): nothing was submitted")
    return str(result.ref)


def key_file_warning(path):
    "The warning for a kaggle.json that other users can read (with the chmod that fixes it), or None."
    path = Path(path).expanduser()
    try: mode = path.stat().st_mode
    except OSError: return None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        return f"{path} is readable by other users (mode {stat.S_IMODE(mode):o}); run `chmod 600 {path}`"
    return None
