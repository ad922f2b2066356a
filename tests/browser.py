"""Helpers for the browser tests: Debian's chromium, free ports, and waiting for servers."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs

import brainunit as u
import numpy as np
from playwright.sync_api import TimeoutError as PlaywrightTimeout

import brainmass_widgets as bw

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


def chromium_path() -> str:
    """The system chromium; browser tests fail (never skip) without it."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        raise RuntimeError("browser tests need Debian's chromium: apt-get install -y chromium")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float, proc=None) -> None:
    """Poll ``url`` until it answers 200, failing early if ``proc`` exits."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError as exc:
            last = exc
        time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer within {timeout} s ({last})")


@contextmanager
def server(cmd: list[str], ready_url: str, log_path: Path, timeout: float = 180) -> Iterator[Path]:
    """Run a server process (output to ``log_path``) until the block ends; wait for ``ready_url``."""
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_http(ready_url, timeout, proc)
            yield log_path
        finally:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()


def log_in(session, url: str, user: str, password: str, **kwargs):
    """Log ``session`` (a ``requests.Session``) in as a browser does: GET the login page, then POST
    its form with the token the page set (its hidden field; the session keeps the cookie)."""
    form = session.get(url + "login", timeout=30)
    token = re.search(r'name="bmw-login" value="([^"]+)"', form.text)
    fields = {"username": user, "password": password, "bmw-login": token.group(1) if token else ""}
    return session.post(url + "login", data=fields, timeout=30, **kwargs)


# ----------------------------------------------------------------------------- pages of the app

SOURCE = """name => {
  for (const doc of (window.Bokeh && window.Bokeh.documents) || []) {
    const src = doc.get_model_by_name(name);
    if (src) return src;
  }
  return null;
}"""


def column(page, name, col):
    """A column of the named source in the page's Bokeh document (None until it has data)."""
    return page.evaluate(f"""([name, col]) => {{
      const src = ({SOURCE})(name);
      return src && src.data[col] && src.data[col].length ? Array.from(src.data[col]) : null;
    }}""", [name, col])


def wait_column(page, name, col, differs_from=None, timeout=120_000):
    page.wait_for_function(f"""([name, col, old]) => {{
      const src = ({SOURCE})(name);
      if (!src || !src.data[col] || !src.data[col].length) return false;
      return old === null || src.data[col][150] !== old;
    }}""", arg=[name, col, None if differs_from is None else differs_from[150]], timeout=timeout)
    return column(page, name, col)


def tap_plane(page, canvases: str = "canvas", tries: int = 4) -> list[float]:
    """Tap the largest canvas among ``canvases`` at 70 % across, 40 % down, until the plane's
    ``click`` source holds the tap (a plot still laying out can miss the first), and return it."""
    for _ in range(tries):
        boxes = page.locator(canvases).evaluate_all(
            "els => els.map(e => e.getBoundingClientRect()).map(r => [r.x, r.y, r.width, r.height])")
        x, y, w, h = max(boxes, key=lambda r: r[2] * r[3])
        page.mouse.click(x + 0.7 * w, y + 0.4 * h)
        try:
            page.wait_for_function(f"() => {{ const s = ({SOURCE})('click'); return s && s.data.x.length; }}",
                                   timeout=15_000)
        except PlaywrightTimeout:
            continue
        return page.evaluate(f"() => {{ const s = ({SOURCE})('click'); return [s.data.x[0], s.data.y[0]]; }}")
    raise AssertionError(f"{tries} taps on the plane never reached its click source")


def text(locator):
    """Text of a Panel pane, which renders inside its element's shadow root."""
    return locator.evaluate("""el => Array.from((el.shadowRoot || el).children)
        .filter(c => c.tagName !== "STYLE" && c.tagName !== "LINK").map(c => c.textContent).join("")""")


def query(page):
    return {k: v[-1] for k, v in parse_qs(page.evaluate("window.location.search").lstrip("?")).items()}


def engine(name="HopfStep", **params):
    """The default monitor's first region of a plain engine run of the app's default view of
    ``name`` (with the catalogue's default noise, seed 0) at ``params``."""
    spec = bw.model_spec(name)
    duration = params.pop("duration", None)
    duration = spec.duration if duration is None else duration * u.ms
    sim = bw.CachedSimulator(name, noise=spec.default_noise or False)
    res = sim.run(duration, params={**spec.default_noise_params, **params}, seed=0)
    return np.asarray(u.get_magnitude(res[spec.default_monitor]))[:, 0]


def press(page, css, key, times=1):
    handle = page.locator(f"{css} .noUi-handle").first
    handle.focus()
    for _ in range(times):
        page.keyboard.press(key)


def type_and_enter(page, css: str, value: str):
    """Type ``value`` into the input inside ``css``, press Enter, and return the input."""
    box = page.locator(f"{css} input")
    box.fill(value)
    box.press("Enter")
    return box
