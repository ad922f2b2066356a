"""Screenshot the served app and an explorer in JupyterLab, once their plots are drawn.

    python docs/screenshots.py [--out-dir docs/_static] [--chromium /usr/bin/chromium] [--timeout 240]

Writes two PNGs into ``--out-dir``:

``app.png``
    ``brainmass-widgets serve`` on a free port, opened in headless chromium (Debian's, driven by
    playwright), taken once the Model tab's ``"trajectory"``, ``"phase"`` and ``"spectrum"``
    sources hold data and the status line says the run is done.
``jupyterlab.png``
    A token-less JupyterLab on a free port, rooted in a temporary folder, with a notebook whose
    cell displays ``brainmass_widgets.ipywidgets.ModelExplorer()``, the file browser folded away;
    taken once the cell has run, the explorer's status line says the run is done, its
    ``"trajectory"`` source holds data and no plot shows its "Waiting for the first run" hint.

Every server the script starts is stopped before it returns; every wait is bounded by
``--timeout`` and fails with a message naming what did not happen.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import nbformat
from playwright.sync_api import Browser, Page, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

DOCS = Path(__file__).resolve().parent
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
FILLED = """names => {
  const docs = (window.Bokeh && window.Bokeh.documents) || [];
  const filled = name => docs.some(doc => {
    const src = doc.get_model_by_name(name);
    return src && Object.values(src.data).some(col => col.length > 0);
  });
  return names.every(filled);
}"""
DRAWN = """() => ((window.Bokeh && window.Bokeh.documents) || []).some(doc => {
  const src = doc.get_model_by_name("trajectory");
  const hints = Array.from(doc.all_models).filter(m => m.name === "hint");
  return src && Object.values(src.data).some(col => col.length > 0) && hints.every(h => !h.visible);
})"""
DOCUMENTS = "() => ((window.Bokeh && window.Bokeh.documents) || []).length"
CELL = ("from brainmass_widgets.ipywidgets import ModelExplorer\n"
        "\n"
        "explorer = ModelExplorer()\n"
        "explorer")
LAB_SETTINGS = {
    # No "news" or update notification over the notebook.
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
        {"fetchNews": "false", "checkForUpdates": False},
}


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free at the time of the call.

    Returns
    -------
    int
        The port number.
    """
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_served(url: str, proc: subprocess.Popen, timeout: float) -> None:
    """Poll ``url`` until it answers 200.

    Parameters
    ----------
    url : str
        Address to poll.
    proc : subprocess.Popen
        The server process; its exit ends the wait with an error.
    timeout : float
        Seconds to wait.

    Raises
    ------
    RuntimeError
        If ``proc`` exits before ``url`` answers.
    TimeoutError
        If ``url`` does not answer within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with code {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


@contextmanager
def serving(cmd: list[str], ready_url: str, timeout: float, env: dict[str, str] | None = None,
            cwd: Path | None = None) -> Iterator[None]:
    """Run a server until the block ends, once ``ready_url`` answers.

    Parameters
    ----------
    cmd : list of str
        The server's command line.
    ready_url : str
        Address that answers 200 once the server is up.
    timeout : float
        Seconds to wait for ``ready_url``.
    env : dict, optional
        The server's environment (default: this process's).
    cwd : Path, optional
        The server's working directory.

    Yields
    ------
    None
        While the server runs. On an error inside the block, the end of the server's output is
        written to stderr; the server is stopped in every case.
    """
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd)
        try:
            wait_until_served(ready_url, proc, timeout)
            yield
        except BaseException:
            log.seek(0)
            sys.stderr.write(f"--- end of the output of {' '.join(cmd[:4])} ...\n{log.read()[-4000:]}\n")
            raise
        finally:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_for(what: str, wait, timeout: float) -> None:
    """Call ``wait(timeout_ms)``, turning a playwright timeout into one naming ``what``.

    Parameters
    ----------
    what : str
        What the wait is for, as said in the error.
    wait : callable
        Takes a timeout in milliseconds and returns once the condition holds.
    timeout : float
        Seconds to wait.

    Raises
    ------
    TimeoutError
        If the condition does not hold within ``timeout`` seconds.
    """
    try:
        wait(timeout * 1000)
    except PlaywrightTimeout:
        raise TimeoutError(f"{what} did not happen within {timeout} s") from None


def app_screenshot(browser: Browser, out: Path, timeout: float, width: int = 1280,
                   height: int = 760) -> Path:
    """Serve the app, screenshot its first page once the plots are drawn.

    Parameters
    ----------
    browser : playwright.sync_api.Browser
        The browser to open the app in.
    out : Path
        PNG to write.
    timeout : float
        Seconds allowed for each wait.
    width, height : int
        Viewport size in pixels.

    Returns
    -------
    Path
        ``out``.
    """
    port = free_port()
    url = f"http://localhost:{port}/"
    cmd = [sys.executable, "-m", "brainmass_widgets.cli", "serve", "--port", str(port), "--no-jax-cache"]
    with serving(cmd, url, timeout):
        page = browser.new_page(viewport={"width": width, "height": height})
        try:
            page.goto(url, timeout=timeout * 1000)
            wait_for("the app's trajectory, phase and spectrum plots holding data",
                     lambda ms: page.wait_for_function(FILLED, arg=["trajectory", "phase", "spectrum"],
                                                       timeout=ms), timeout)
            wait_for("the app's status line saying done",
                     lambda ms: page.locator(".bmw-status.bmw-done").first.wait_for(timeout=ms), timeout)
            page.wait_for_timeout(1500)
            page.screenshot(path=str(out))
        finally:
            page.close()
    return out


def write_lab(root: Path) -> None:
    """Write the notebook and the user settings of the screenshot's JupyterLab into ``root``.

    Parameters
    ----------
    root : Path
        A folder for the lab: ``notebooks/explorer.ipynb`` (the lab's root folder holds only the
        notebook) and the user settings under ``settings/``.
    """
    nb = nbformat.v4.new_notebook()
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(CELL)]
    (root / "notebooks").mkdir()
    nbformat.write(nb, root / "notebooks" / "explorer.ipynb")
    for name, settings in LAB_SETTINGS.items():
        path = root / "settings" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(settings))


def run_cell(page: Page, timeout: float) -> None:
    """Run the open notebook's first cell and wait until the explorer in its output is drawn.

    Drawn means: the status line says done, and a Bokeh document of the page holds the
    ``"trajectory"`` source with data and shows none of its "Waiting for the first run" hints. The
    wait ends once that has held, with no new Bokeh document (a view redrawing), for two seconds.

    Parameters
    ----------
    page : playwright.sync_api.Page
        A page showing ``explorer.ipynb`` in JupyterLab.
    timeout : float
        Seconds allowed for each wait.
    """
    wait_for("the notebook's kernel becoming idle",
             lambda ms: page.get_by_text("Python 3 (ipykernel) | Idle").wait_for(timeout=ms), timeout)
    page.locator(".jp-Notebook .jp-Cell .cm-content").first.click()
    page.keyboard.press("Shift+Enter")
    wait_for("the explorer's status line saying done",
             lambda ms: page.locator(".jp-OutputArea-output .bmw-status.bmw-done").first.wait_for(timeout=ms),
             timeout)
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        wait_for("the explorer's trajectory plot holding data with its waiting hints hidden",
                 lambda ms: page.wait_for_function(DRAWN, timeout=ms), max(left, 1))
        documents = page.evaluate(DOCUMENTS)
        page.wait_for_timeout(2000)
        if page.evaluate(DOCUMENTS) == documents and page.evaluate(DRAWN):
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"the explorer's plot kept redrawing for {timeout} s")
    # No cell in edit mode, the notebook scrolled back to its top.
    page.keyboard.press("Escape")
    page.locator(".jp-Notebook .jp-Cell").first.scroll_into_view_if_needed()
    page.wait_for_timeout(500)


def lab_screenshot(browser: Browser, out: Path, timeout: float, width: int = 1360,
                   height: int = 800) -> Path:
    """Start JupyterLab, run a notebook that displays a ModelExplorer and screenshot it drawn.

    Parameters
    ----------
    browser : playwright.sync_api.Browser
        The browser to open the lab in.
    out : Path
        PNG to write.
    timeout : float
        Seconds allowed for each wait.
    width, height : int
        Viewport size in pixels.

    Returns
    -------
    Path
        ``out``.
    """
    with tempfile.TemporaryDirectory(prefix="bmw-lab-") as tmp:
        root = Path(tmp)
        write_lab(root)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(root / "runtime")}
        cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", f"--port={port}",
               "--ip=127.0.0.1", "--IdentityProvider.token=", "--ServerApp.password=",
               f"--ServerApp.root_dir={root / 'notebooks'}",
               f"--LabApp.user_settings_dir={root / 'settings'}",
               f"--LabApp.workspaces_dir={root / 'workspaces'}"]
        with serving(cmd, f"{base}/api/status", timeout, env=env, cwd=root / "notebooks"):
            page = browser.new_page(viewport={"width": width, "height": height})
            try:
                page.goto(f"{base}/lab/workspaces/screenshot/tree/explorer.ipynb?reset",
                          timeout=timeout * 1000)
                # The file browser folded away: the explorer gets the width of the window.
                tab = page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current")
                wait_for("JupyterLab's file browser tab", lambda ms: tab.wait_for(timeout=ms), timeout)
                tab.click()
                run_cell(page, timeout)
                page.screenshot(path=str(out))
            finally:
                page.close()
    return out


def main(argv: list[str] | None = None) -> None:
    """Write ``app.png`` and ``jupyterlab.png`` into the output folder.

    Parameters
    ----------
    argv : list of str, optional
        Command-line arguments (default: ``sys.argv[1:]``).
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=DOCS / "_static",
                        help="folder for app.png and jupyterlab.png (default: docs/_static)")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium",
                        help="chromium executable (default: Debian's)")
    parser.add_argument("--timeout", type=float, default=240,
                        help="seconds allowed for each wait (default: 240)")
    args = parser.parse_args(argv)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
        try:
            for name, take in (("app.png", app_screenshot), ("jupyterlab.png", lab_screenshot)):
                start = time.monotonic()
                out = take(browser, args.out_dir / name, args.timeout)
                print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KiB, {time.monotonic() - start:.0f} s)")
        finally:
            browser.close()


if __name__ == "__main__":
    main()
