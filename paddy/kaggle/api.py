"""Kaggle for a Kaggler: a download that is whole or absent, submit, scores, pushing a dataset and a kernel, and the
API key's permissions.

The kaggle client comes from fastkaggle's import_kaggle inside the functions: importing it authenticates, and paddy must
import without credentials; in a kernel the credentials are the secrets kaggle_username/kaggle_key, as fastkaggle reads
them. Its failures become PaddyError with one line saying what to do.
"""
import contextlib, functools, io, json, os, shutil, stat, sys, tempfile, time, zipfile
from pathlib import Path

from paddy.data.layout import SLUG, data_root, in_kernel
from paddy.errors import PaddyError

STAMP = ".paddy-complete"  # written last into a downloaded folder: without it the folder is incomplete
SUBMISSION_FIELDS = ("ref", "date", "description", "status", "publicScore", "privateScore", "fileName")


def _no_credentials():
    "The error for missing credentials, naming where they go here."
    if in_kernel():
        return PaddyError("no Kaggle credentials in this kernel: add the Kaggle secrets kaggle_username and kaggle_key "
                          "(Add-ons > Secrets)")
    return PaddyError("no Kaggle credentials: save your API token (https://www.kaggle.com/settings, Create New Token) "
                      "as ~/.kaggle/kaggle.json and chmod 600 it, or set KAGGLE_USERNAME and KAGGLE_KEY")


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
    loose = key_file_warning(Path(os.environ.get("KAGGLE_CONFIG_DIR", "~/.kaggle")) / "kaggle.json")
    if loose: warn(loose)
    with contextlib.redirect_stdout(io.StringIO()):
        try: return fastkaggle.import_kaggle()  # kaggle authenticates on import and swallows a failure; import_kaggle asks again
        except SystemExit: raise _no_credentials() from None


def _http_message(e, api, slug, doing):
    "One line for an HTTP error from Kaggle while `doing`."
    code = e.response.status_code if e.response is not None else 0
    said = " ".join(str(e).split())
    if code == 401:
        user = api.config_values.get("username")
        return (f"Kaggle rejected the credentials of user {user!r} (401): make a new API token at "
                "https://www.kaggle.com/settings and save it as ~/.kaggle/kaggle.json, "
                "or set KAGGLE_USERNAME and KAGGLE_KEY")
    if code == 403:
        return (f"Kaggle refused {doing} (403): accept the competition rules at "
                f"https://www.kaggle.com/competitions/{slug}/rules, then run again")
    if code == 404: return f"Kaggle has no competition {slug!r} (404): check the competition name"
    if code == 429: return f"Kaggle refused {doing}, too many requests (429): {said}; wait and try again"
    if code >= 500: return f"Kaggle failed {doing} ({code}, a problem on Kaggle's side): try again later"
    return f"Kaggle refused {doing} ({code}): {said}"


@contextlib.contextmanager
def _calling(api, slug, doing):
    "Turn the kaggle client's HTTP and network failures while `doing` into PaddyError."
    from requests.exceptions import HTTPError, RequestException
    from urllib3.exceptions import HTTPError as Urllib3Error
    try: yield
    except HTTPError as e: raise PaddyError(_http_message(e, api, slug, doing)) from e
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
    with _calling(api, slug, f"downloading {slug}"), _client_retries(api, retries), contextlib.redirect_stdout(io.StringIO()):
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
            if target.exists(): target.rename(Path(tmp) / "replaced")  # removed with the temporary folder
            (Path(tmp) / slug).rename(target)
    except OSError as e:
        message = f"cannot write the data into {dest}: {e.strerror or e}; check permissions and free space"
        raise PaddyError(message) from e
    return target


def submit(csv_path, message, slug=SLUG) -> str:
    "Upload the submission `csv_path` to `slug` with `message`; returns Kaggle's submission ref."
    api = _api()
    with _calling(api, slug, f"the submission to {slug}"):
        result = api.competition_submit(str(csv_path), message, slug, quiet=True)
    if not result.ref:
        raise PaddyError(f"the upload of {csv_path} to Kaggle failed ({result.message}): "
                         "nothing was submitted; try again")
    return str(result.ref)


def submissions(slug=SLUG) -> list[dict]:
    "Past submissions to `slug`, newest first: ref, date, description, status, publicScore, privateScore, fileName."
    api = _api()
    with _calling(api, slug, f"listing submissions to {slug}"):
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


def _dataset_exists(api, ref):
    from requests.exceptions import HTTPError
    try: api.dataset_status(ref)
    except HTTPError as e:
        if e.response is not None and e.response.status_code == 404: return False
        raise
    return True


def push_dataset(folder, notes, polls=90, pause=10.0) -> str:
    """Upload `folder` (files, dataset-metadata.json) as a new private dataset or a new version of it, the way
    fastkaggle's mk_dataset/push_dataset do; wait until Kaggle has processed it, so a kernel pushed next gets
    these files. Returns the dataset ref."""
    api, ref = _api(), json.loads((Path(folder) / "dataset-metadata.json").read_text())["id"]
    with _calling(api, SLUG, f"pushing the dataset {ref}"):
        try:
            if _dataset_exists(api, ref): result = api.dataset_create_version(str(folder), notes, quiet=True, dir_mode="zip")
            else: result = api.dataset_create_new(str(folder), public=False, quiet=True, dir_mode="zip")
        except ValueError as e: raise PaddyError(f"the kaggle client refused the dataset {ref}: {e}") from e
        if result.error: raise PaddyError(f"Kaggle refused the dataset {ref}: {result.error}")
        for _ in range(polls):
            status = api.dataset_status(ref)
            if status == "ready": return ref
            if status == "failed": raise PaddyError(f"Kaggle failed to process the dataset {ref}: see https://www.kaggle.com/datasets/{ref}, then run again")
            time.sleep(pause)
    raise PaddyError(f"Kaggle is still processing the dataset {ref} after {polls * pause / 60:.0f} min: run again later")


def push_kernel(folder) -> str:
    "Push and start the kernel in `folder` (kernel-metadata.json and its code file); returns its URL."
    api, meta = _api(), json.loads((Path(folder) / "kernel-metadata.json").read_text())
    with _calling(api, SLUG, f"pushing the kernel {meta['id']}"):
        try: result = api.kernels_push(str(folder))
        except ValueError as e: raise PaddyError(f"the kaggle client refused the kernel {meta['id']}: {e}") from e
    if result.error: raise PaddyError(f"Kaggle refused the kernel {meta['id']}: {result.error}")
    missing = [*result.invalid_dataset_sources, *result.invalid_competition_sources]
    if missing:
        raise PaddyError(f"Kaggle pushed the kernel {result.url} but could not attach {', '.join(missing)}: "
                         "check those names, then run again")
    return result.url


def key_file_warning(path):
    "The warning for a kaggle.json that other users can read (with the chmod that fixes it), or None."
    path = Path(path).expanduser()
    try: mode = path.stat().st_mode
    except OSError: return None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        return f"{path} is readable by other users (mode {stat.S_IMODE(mode):o}); run `chmod 600 {path}`"
    return None
