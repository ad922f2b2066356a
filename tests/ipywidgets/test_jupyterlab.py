"""Explorers in a real JupyterLab, driven by headless chromium."""

import sys

import brainunit as u
import nbformat
import numpy as np
import pytest
from browser import free_port, server, tap_plane
from playwright.sync_api import TimeoutError as PlaywrightTimeout

import brainmass_widgets as bw

TOKEN = "brainmass-widgets-test"
TRAJECTORY = """() => {
  const docs = (window.Bokeh && window.Bokeh.documents) || [];
  for (const doc of docs) {
    const src = doc.get_model_by_name("trajectory");
    if (src && src.data["x[0]"] && src.data["x[0]"].length > 0) return Array.from(src.data["x[0]"]);
  }
  return null;
}"""

DRAWN = """() => ((window.Bokeh && window.Bokeh.documents) || []).some(doc => {
  const src = doc.get_model_by_name("trajectory");
  const hints = Array.from(doc.all_models).filter(m => m.name === "hint");
  const filled = src && src.data["x[0]"] && src.data["x[0]"].length > 0;
  return filled && hints.length > 0 && hints.every(h => !h.visible);
})"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    root = tmp_path_factory.mktemp("lab")
    nb = nbformat.v4.new_notebook()
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(
        'from brainmass_widgets.ipywidgets import ModelExplorer\n'
        'explorer = ModelExplorer("HopfStep")\n'
        'explorer')]
    nbformat.write(nb, root / "explorer.ipynb")
    nb.cells = [nbformat.v4.new_code_cell(
        'from brainmass_widgets.ipywidgets import PhasePlaneExplorer\n'
        'plane = PhasePlaneExplorer("HopfStep", x_range=(-1, 1), y_range=(-1, 1))\n'
        'plane')]
    nbformat.write(nb, root / "phase.ipynb")
    nb.cells = [nbformat.v4.new_code_cell(
        'from brainmass_widgets.ipywidgets import NetworkExplorer\n'
        'network = NetworkExplorer(duration=1000.0)\n'
        'network')]
    nbformat.write(nb, root / "network.ipynb")
    nb.cells = [nbformat.v4.new_code_cell(
        'from brainmass_widgets.ipywidgets import FitExplorer\n'
        'fit = FitExplorer("HopfStep", n_steps=30)\n'
        'fit')]
    nbformat.write(nb, root / "fit.ipynb")
    nb.cells = [nbformat.v4.new_code_cell(
        'from brainmass_widgets.ipywidgets import SweepExplorer\n'
        'sweep = SweepExplorer("HopfStep", axes={"a": (-1.0, 1.5, 8), "w": (0.1, 1.0, 4)}, duration=100.0)\n'
        'sweep.run()\n'
        'sweep')]
    nbformat.write(nb, root / "sweep.ipynb")
    port = free_port()
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", f"--port={port}",
           "--ip=127.0.0.1", f"--ServerApp.token={TOKEN}", f"--ServerApp.root_dir={root}",
           f"--LabApp.user_settings_dir={root / 'settings'}", f"--LabApp.workspaces_dir={root / 'ws'}"]
    with server(cmd, f"http://127.0.0.1:{port}/api/status?token={TOKEN}", root / "lab.log", 90):
        yield f"http://127.0.0.1:{port}"


def run_notebook(page, lab: str, name: str) -> None:
    """Open ``name``.ipynb in a workspace of its own (the lab would otherwise reopen the notebook of
    the test before), run its cell and wait for the first plot."""
    page.goto(f"{lab}/lab/workspaces/{name}/tree/{name}.ipynb?reset&token={TOKEN}")
    page.get_by_text("Python 3 (ipykernel) | Idle").wait_for()
    page.locator(".jp-Notebook .jp-Cell .cm-content").first.click()
    page.keyboard.press("Shift+Enter")
    page.wait_for_selector(".jp-OutputArea-output canvas", state="attached")


def test_explorer_draws_and_follows_a_slider_in_jupyterlab(lab, page):
    page.set_default_timeout(120_000)
    run_notebook(page, lab, "explorer")
    first = page.wait_for_function(TRAJECTORY).json_value()
    # the view appeared after the run was sent or before: either way it hides "Waiting for the first run"
    page.wait_for_function(DRAWN)
    sim = bw.CachedSimulator("HopfStep")
    expected = np.asarray(sim.run(200 * u.ms, params={"a": 0.25})["x"])[:, 0]
    np.testing.assert_allclose(first, expected, rtol=1e-5, atol=1e-6)

    handle = page.locator(".jp-OutputArea-output .widget-slider .noUi-handle").first
    handle.focus()
    for _ in range(5):
        page.keyboard.press("ArrowRight")
    page.wait_for_function(f"() => {{ const d = ({TRAJECTORY})(); return d && d[150] !== {first[150]!r}; }}")
    readout = page.locator(".jp-OutputArea-output .widget-slider .widget-readout").first
    page.wait_for_function("el => el.textContent.trim() !== '0.2500'", arg=readout.element_handle())
    a = float(readout.text_content())
    assert a > 0.25
    page.wait_for_timeout(1000)
    moved = page.evaluate(TRAJECTORY)
    expected = np.asarray(sim.run(200 * u.ms, params={"a": a})["x"])[:, 0]
    np.testing.assert_allclose(moved, expected, rtol=1e-4, atol=1e-5)


def _source(name, column):
    return f"""() => {{
      for (const doc of (window.Bokeh && window.Bokeh.documents) || []) {{
        const src = doc.get_model_by_name("{name}");
        if (src && src.data["{column}"] && src.data["{column}"].length) return src.data["{column}"];
      }}
      return null;
    }}"""


def _columns(name, column):
    """The ``column`` of the source ``name`` in every Bokeh document of the page (a re-rendered
    output leaves its earlier view's document behind, which no longer follows the kernel)."""
    return f"""() => ((window.Bokeh && window.Bokeh.documents) || [])
      .map(doc => doc.get_model_by_name("{name}"))
      .filter(src => src && src.data["{column}"])
      .map(src => Array.from(src.data["{column}"], v => (v && v.length !== undefined) ? Array.from(v) : v))"""


def _wait_any(page, name, column, test, what):
    """Wait until some document's ``column`` of ``name`` passes the JS predicate ``test`` and
    return it; on a timeout, fail with what every document and the status line held."""
    try:
        page.wait_for_function(f"() => ({_columns(name, column)})().some({test})")
    except PlaywrightTimeout:
        held = page.evaluate(f"() => ({_columns(name, column)})().map(c => c.map(v => v && v.length))")
        status = page.locator(".jp-OutputArea-output .bmw-status").all_text_contents()
        raise AssertionError(f"no view showed {what}; lengths per document: {held}; "
                             f"status: {status}") from None
    return page.evaluate(f"() => ({_columns(name, column)})().find({test})")


def test_phase_plane_tap_launches_a_trajectory_in_jupyterlab(lab, page):
    page.set_default_timeout(120_000)
    run_notebook(page, lab, "phase")
    stability = page.wait_for_function(_source("fixed_points", "stability")).json_value()
    assert stability == ["unstable focus"]
    trajectories = _source("trajectories", "xs")
    for _ in range(3):  # a tap can be lost between the page and the kernel while the view settles
        start = tap_plane(page, ".jp-OutputArea-output canvas")
        try:
            page.wait_for_function(f"() => ({trajectories})() !== null", timeout=30_000)
            break
        except PlaywrightTimeout:
            continue
    full = "xs => xs.length && xs[xs.length - 1].length === 2001"
    xs = _wait_any(page, "trajectories", "xs", full, "a whole trajectory")[-1]
    ys = _wait_any(page, "trajectories", "ys", full, "a whole trajectory")[-1]
    assert np.allclose([xs[0], ys[0]], start, atol=1e-6)
    ref = bw.CachedSimulator("HopfStep").run(200 * u.ms, init={"x": xs[0], "y": ys[0]}, monitors=["x"])
    np.testing.assert_allclose(xs[1:], np.asarray(ref["x"])[:, 0], rtol=1e-4, atol=1e-5)


def test_network_explorer_draws_the_fc_of_the_engine_run_in_jupyterlab(lab, page):
    page.set_default_timeout(180_000)
    run_notebook(page, lab, "network")
    fc_source = _source("fc", "value")
    page.wait_for_function(f"() => {{ const v = ({fc_source})(); return v && v.length === 64; }}")
    fc = page.evaluate(f"() => Array.from(({fc_source})())")
    weights = page.evaluate(f"() => Array.from(({_source('connectivity', 'value')})())")
    ref = bw.NetworkController(duration=1000.0)
    assert ref.wait(300)
    np.testing.assert_allclose(fc, ref.sources["fc"].data["value"], atol=1e-4)
    np.testing.assert_allclose(weights, ref.network.connectome.weights.ravel())
    ref.close()


def test_fit_explorer_streams_the_engine_loss_in_jupyterlab(lab, page):
    page.set_default_timeout(180_000)
    run_notebook(page, lab, "fit")
    loss = _source("loss", "loss")
    button = page.locator(".jp-OutputArea-output button", has_text="Fit").first
    for _ in range(3):  # a click before the widget's view is wired up is lost
        button.click()
        try:
            page.wait_for_function(f"() => ({loss})() !== null", timeout=60_000)
            break
        except PlaywrightTimeout:
            continue
    shown = _wait_any(page, "loss", "loss", "v => v.length === 30", "the 30 steps of the fit")
    c = bw.FitController(n_steps=30)
    out = c.fitter.fit(c.target_data(), initial=c.options["initial"], lr=c.options["lr"], n_steps=30)
    np.testing.assert_allclose(shown, out.history, rtol=1e-5)


def test_a_tap_on_a_heatmap_cell_reaches_the_kernel_and_outlines_the_cell_in_jupyterlab(lab, page):
    page.set_default_timeout(120_000)
    run_notebook(page, lab, "sweep")
    full = ("image => image[0].length === 32 && "
            "Array.from(image[0]).every(v => v !== null && !Number.isNaN(v))")
    _wait_any(page, "heatmap", "image", full, "a whole heatmap")
    for _ in range(3):  # a tap can be lost between the page and the kernel while the view settles
        boxes = page.locator(".jp-OutputArea-output canvas").evaluate_all(
            "els => els.map(e => e.getBoundingClientRect()).map(r => [r.x, r.y, r.width, r.height])")
        x, y, w, h = max(boxes, key=lambda r: r[2] * r[3])
        page.mouse.click(x + 0.45 * w, y + 0.5 * h)
        try:
            page.wait_for_function(f"() => ({_source('heatmap_cell', 'x')})() !== null", timeout=30_000)
            break
        except PlaywrightTimeout:
            continue
    # the kernel got the tapped cell (selected.image_indices) and outlined it at a grid point
    cell = [page.evaluate(f"() => ({_source('heatmap_cell', c)})()")[0] for c in ("x", "y")]
    assert np.isclose(np.linspace(-1.0, 1.5, 8), cell[0]).any(), cell
    assert np.isclose(np.linspace(0.1, 1.0, 4), cell[1]).any(), cell
