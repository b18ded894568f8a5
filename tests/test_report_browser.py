"""A run's page opened in a real headless Chromium (Debian's `chromium`; .ci/run installs it): every image loads, every
section is there, and a screenshot of the whole page is not blank. Skipped, with the reason, where there is no browser."""
import base64, io, json, os, select, shutil, subprocess, time

import numpy as np
import pytest
from conftest import make_competition
from fake_runs import VOCAB, fake_run
from PIL import Image

from paddy.report import pages

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
TIMEOUT = 60  # seconds for any one answer of the browser


class Chromium:
    """Headless Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe: it reads commands on fd 3
    and writes answers on fd 4, each a JSON message ended by a NUL byte): no port, no network."""

    def __init__(self, binary, profile):
        to_browser, self.to_browser = os.pipe()
        self.from_browser, from_browser = os.pipe()
        args = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--remote-debugging-pipe",
                f"--user-data-dir={profile}", "--window-size=1200,900", "about:blank"]
        self.proc = subprocess.Popen(["bash", "-c", f'exec "$0" "$@" 3<&{to_browser} 4>&{from_browser}', binary, *args],
                                     pass_fds=(to_browser, from_browser), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        os.close(to_browser), os.close(from_browser)
        self.buffer, self.messages, self.last_id = b"", [], 0

    def call(self, method, session=None, **params):
        "Send a command and return its result; an error answer fails the test."
        self.last_id += 1
        message = dict(id=self.last_id, method=method, params=params) | ({"sessionId": session} if session else {})
        os.write(self.to_browser, json.dumps(message).encode() + b"\0")
        answer = self.wait(lambda m: m.get("id") == self.last_id)
        assert "error" not in answer, (method, answer["error"])
        return answer["result"]

    def wait(self, match):
        "The first message (answer or event) that `match` accepts, reading the pipe until it comes."
        deadline = time.monotonic() + TIMEOUT
        while True:
            for m in self.messages:
                if match(m):
                    self.messages.remove(m)
                    return m
            ready, _, _ = select.select([self.from_browser], [], [], max(0.0, deadline - time.monotonic()))
            chunk = os.read(self.from_browser, 1 << 20) if ready else b""
            if not chunk: raise BrowserGone(f"no answer from Chromium (exit code {self.proc.poll()}): {self.proc.stderr.read1().decode()[-300:] if self.proc.poll() is not None else 'timed out'}")
            *done, self.buffer = (self.buffer + chunk).split(b"\0")
            self.messages += [json.loads(d) for d in done]

    def close(self):
        try: self.call("Browser.close")
        except (BrowserGone, OSError): pass
        self.proc.kill()
        self.proc.wait()
        os.close(self.to_browser), os.close(self.from_browser)


class BrowserGone(Exception):
    "Chromium stopped answering."


@pytest.fixture
def chromium(tmp_path):
    "A started headless Chromium; the test is skipped where none is installed or it cannot start here."
    binary = next(filter(None, map(shutil.which, BROWSERS)), None)
    if binary is None: pytest.skip("no Chromium here: `apt-get install chromium` (Debian; .ci/run does) to run this test")
    browser = Chromium(binary, tmp_path / "profile")
    try: browser.call("Browser.getVersion")
    except BrowserGone as e: pytest.skip(f"Chromium does not start here: {e}")
    yield browser
    browser.close()


def open_page(browser, path):
    "Load file `path` in a new tab; returns (images as [complete, naturalWidth], section ids, full-page PNG screenshot)."
    target = browser.call("Target.createTarget", url="about:blank")["targetId"]
    session = browser.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
    browser.call("Page.enable", session)
    browser.call("Page.navigate", session, url=path.as_uri())
    browser.wait(lambda m: m.get("method") == "Page.loadEventFired" and m.get("sessionId") == session)
    value = lambda js: json.loads(browser.call("Runtime.evaluate", session, expression=f"JSON.stringify({js})", returnByValue=True)["result"]["value"])
    images = value("[...document.images].map(i => [i.complete, i.naturalWidth])")
    sections = value("[...document.querySelectorAll('h2')].map(h => h.id)")
    size = browser.call("Page.getLayoutMetrics", session)["cssContentSize"]
    shot = browser.call("Page.captureScreenshot", session, format="png", captureBeyondViewport=True,
                        clip=dict(x=0, y=0, width=size["width"], height=size["height"], scale=1))
    return images, sections, base64.b64decode(shot["data"])


def test_the_run_page_renders_in_chromium(tmp_path, chromium):
    import matplotlib.pyplot as plt
    comp = make_competition(tmp_path / "comp", labels=tuple(VOCAB), per_label=4, size=(48, 40))[0]
    ids = [f"{k:02d}{j:04d}.jpg" for k in range(3) for j in range(4)]
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(3), len(ids))
    folder = fake_run(tmp_path / "runs", "r", comp, ids, [VOCAB[int(i[1])] for i in ids], probs, lr_find=dict(valley=1e-3, slide=3e-3))
    fig = plt.figure()
    plt.plot([1e-5, 1e-3, 1e-1], [1.0, 0.5, 2.0])
    fig.savefig(folder / "lr_find.png")
    plt.close(fig)
    page = pages.write(["r"], tmp_path / "runs", tmp_path / "reports")[0]

    images, sections, png = open_page(chromium, page)
    (tmp_path / "screenshot.png").write_bytes(png)
    assert sections == ["settings", "training", "lr-find", "score", "confusion", "per-class", "most-confused", "top-losses"]
    assert len(images) == 5 and all(done and width > 0 for done, width in images), images  # every embedded figure decoded
    shot = np.asarray(Image.open(io.BytesIO(png)).convert("L"))
    assert shot.shape[0] > 2000 and shot.shape[1] >= 1000  # the whole page, figures included
    assert (shot < 200).mean() > 0.02 and shot.std() > 20  # not a blank page: text, tables and figures drew
