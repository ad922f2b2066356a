"""The Sphinx site in docs/ builds with warnings as errors, and its pages hold real content."""

from __future__ import annotations

import html
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

import brainmass_widgets
import brainmass_widgets.ipywidgets
import brainmass_widgets.panel

ROOT = Path(__file__).resolve().parents[1]
BUILD_TIMEOUT_S = 1200
KERNEL_PORT_TAKEN = "zmq.error.ZMQError: Address already in use"


def build(out: Path) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-T", "-b", "html", str(ROOT / "docs"),
           str(out)]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The HTML site, built once from docs/ (the notebooks are executed by the build)."""
    out = tmp_path_factory.mktemp("docs") / "html"
    proc = build(out)
    if proc.returncode != 0 and KERNEL_PORT_TAKEN in proc.stdout + proc.stderr:
        # A kernel lost the port jupyter_client picked for it to another process: build again.
        out = tmp_path_factory.mktemp("docs") / "html"
        proc = build(out)
    log = proc.stdout + proc.stderr
    failed_cell = log[log.find("CellExecutionError"):][:5000] if "CellExecutionError" in log else ""
    assert proc.returncode == 0, f"sphinx exited {proc.returncode}:\n{failed_cell}\n...\n{log[-5000:]}"
    return out


def page(site: Path, name: str) -> str:
    path = site / name
    assert path.is_file(), f"{name} was not built"
    return path.read_text(encoding="utf-8")


class _Outputs(HTMLParser):
    """Collects the text inside ``<div class="cell_output ...">`` elements."""

    def __init__(self):
        super().__init__()
        self.depth = 0
        self.parts: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag != "div":
            return
        if self.depth:
            self.depth += 1
        elif "cell_output" in (dict(attrs).get("class") or "").split():
            self.depth = 1

    def handle_endtag(self, tag):
        if tag == "div" and self.depth:
            self.depth -= 1

    def handle_data(self, data):
        if self.depth:
            self.parts.append(data)


def outputs(text: str) -> str:
    """The text of a page's notebook cell outputs (neither code cells nor prose)."""
    parser = _Outputs()
    parser.feed(text)
    return "".join(parser.parts)


def test_every_public_name_has_an_api_page(site):
    for module in (brainmass_widgets, brainmass_widgets.ipywidgets, brainmass_widgets.panel):
        for name in module.__all__:
            qualified = f"{module.__name__}.{name}"
            text = page(site, f"api/generated/{qualified}.html")
            assert f'id="{qualified}"' in text, f"{qualified} is not documented on its page"


def test_api_documents_the_engine_methods_from_their_docstrings(site):
    text = page(site, "api/generated/brainmass_widgets.CachedSimulator.html")
    for method in ("run", "stream", "sweep", "cache_info"):
        assert f'id="brainmass_widgets.CachedSimulator.{method}"' in text, method
    assert "Simulate for" in text and "Yield one run in successive pieces" in text
    panel = page(site, "api/generated/brainmass_widgets.panel.ModelExplorer.html")
    assert 'id="brainmass_widgets.panel.ModelExplorer.wait"' in panel
    assert "Param state" in panel and "Run length [ms]." in panel
    widgets = page(site, "api/generated/brainmass_widgets.ipywidgets.ModelExplorer.html")
    assert 'id="brainmass_widgets.ipywidgets.ModelExplorer.set"' in widgets
    assert "add_traits" not in widgets, "ipywidgets' own members leak into the reference"


def test_notebook_pages_show_executed_outputs(site):
    notebooks = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert notebooks
    for name in notebooks:
        assert outputs(page(site, f"notebooks/{name}.html")).strip(), f"{name} shows no output"
    quickstart = outputs(page(site, "notebooks/00_quickstart.html"))
    assert re.search(r"a = -0\.50 -> amplitude \d\.\d{3}", quickstart), quickstart[:2000]


def test_engine_guide_shows_no_recompile_on_parameter_change(site):
    text = outputs(page(site, "engine.html"))
    compiles = re.search(r"compiles: (\d+) -> (\d+)", text)
    assert compiles, text[:2000]
    assert compiles.group(1) == compiles.group(2), compiles.group(0)
    assert "joined pieces equal run(): True" in text
    assert "programs compiled by the second sweep: 0" in text


def test_getting_started_shows_the_app_screenshot(site):
    text = page(site, "getting-started.html")
    assert re.search(r'<img[^>]+src="_images/app\.png"', text)
    shown = html.unescape(re.sub(r"<[^>]+>", "", text))
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"```bash\n(.*?)\n```", readme, re.S)[:2]
    assert len(commands) == 2 and "brainmass-widgets serve" in commands[0]
    for command in commands:
        assert command in shown, command
    png = (site / "_images" / "app.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and 10_000 < len(png) < 300_000


def test_readme_shows_screenshots_that_are_in_the_repository():
    readme = (ROOT / "README.md").read_text()
    images = [i for i in re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", readme) if "://" not in i]
    assert {"docs/_static/app.png", "docs/_static/jupyterlab.png"} <= set(images), images
    for image in images:
        path = ROOT / image
        assert path.is_file(), f"the README shows {image}, which is not in the repository"
        png = path.read_bytes()
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and 10_000 < len(png) < 300_000, image
        assert readme.index(image) < readme.index("## Install"), f"{image} is not near the top"
    assert "`python docs/screenshots.py`" in readme


def test_serving_page_holds_the_command_help(site):
    text = html.unescape(page(site, "serving.html"))
    assert "usage: brainmass-widgets serve" in text
    for option in ("--basic-auth", "--prefix", "--max-client-sessions", "--max-request-work"):
        assert option in text, option


def test_explorer_pages_list_every_source(site):
    from brainmass_widgets import (
        FitController,
        ModelController,
        NetworkController,
        PhasePlaneController,
        SweepController,
    )

    controllers = {"model": lambda: ModelController(autorun=False), "sweep": SweepController,
                   "phase-plane": lambda: PhasePlaneController(autorun=False),
                   "network": lambda: NetworkController(autorun=False), "fit": FitController}
    for name, make in controllers.items():
        controller = make()
        try:
            sources = set(controller.sources)
        finally:
            controller.close()
        assert sources
        text = page(site, f"explorers/{name}.html")
        missing = [s for s in sorted(sources) if f"&quot;{s}&quot;" not in text]
        assert not missing, f"explorers/{name} does not document the sources {missing}"
