"""Serve the app, wait until its plots are drawn, and save a screenshot for the documentation.

    python docs/screenshots.py [--out docs/_static/app.png] [--chromium /usr/bin/chromium]

Starts ``brainmass-widgets serve`` on a free port, opens it in headless chromium (Debian's, driven
by playwright), waits until the Model tab's ``"trajectory"``, ``"phase"`` and ``"spectrum"``
sources hold data and the status line says the run is done, and writes a PNG of the page.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

DOCS = Path(__file__).resolve().parent
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PLOTTED = """() => {
  const docs = (window.Bokeh && window.Bokeh.documents) || [];
  const filled = name => docs.some(doc => {
    const src = doc.get_model_by_name(name);
    return src && Object.values(src.data).some(col => col.length > 0);
  });
  return ["trajectory", "phase", "spectrum"].every(filled);
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_served(url: str, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with code {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


def screenshot(out: Path, chromium: str, width: int = 1280, height: int = 760, timeout: float = 180) -> Path:
    """Serve the app, screenshot its first page once the plots are drawn, and return ``out``."""
    port = free_port()
    url = f"http://localhost:{port}/"
    cmd = [sys.executable, "-m", "brainmass_widgets.cli", "serve", "--port", str(port), "--no-jax-cache"]
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_until_served(url, proc, timeout)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": width, "height": height})
                page.goto(url)
                page.wait_for_function(PLOTTED, timeout=timeout * 1000)
                page.locator(".bmw-status.bmw-done").first.wait_for(timeout=timeout * 1000)
                page.wait_for_timeout(1500)
                out.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(out))
                browser.close()
        except BaseException:
            log.seek(0)
            sys.stderr.write(log.read()[-4000:])
            raise
        finally:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DOCS / "_static" / "app.png", help="PNG to write")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium",
                        help="chromium executable (default: Debian's)")
    args = parser.parse_args(argv)
    out = screenshot(args.out, args.chromium)
    print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
