"""The served app in headless chromium: plots follow sliders, the URL, sessions, sweeps, notices."""

import sys

import brainunit as u
import numpy as np
import pytest
from browser import (
    SOURCE,
    column,
    engine,
    free_port,
    press,
    query,
    server,
    tap_plane,
    text,
    type_and_enter,
    wait_column,
)

import brainmass_widgets as bw


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    port = free_port()
    log_path = tmp_path_factory.mktemp("serve") / "serve.log"
    # every page of these tests comes from this one address: the per-address cap is lifted
    cmd = [sys.executable, "-m", "brainmass_widgets.cli", "serve", "--port", str(port), "--no-jax-cache",
           "--max-client-sessions", "0"]
    with server(cmd, f"http://localhost:{port}/", log_path):
        yield f"http://localhost:{port}/"
    text = log_path.read_text()
    assert "Traceback" not in text, text[-4000:]


def test_slider_keys_move_the_trajectory_to_the_engine_values(app_url, page):
    page.goto(app_url)
    first = wait_column(page, "trajectory", "x[0]")
    np.testing.assert_allclose(first, engine(), rtol=1e-5, atol=1e-6)
    assert page.locator(".bmw-backend").first.text_content() == "computing on the CPU"
    press(page, ".bmw-param-a", "ArrowRight", 3)
    page.wait_for_function("() => new URLSearchParams(location.search).get('a') === '0.28'")
    moved = wait_column(page, "trajectory", "x[0]", differs_from=first)
    page.wait_for_timeout(300)
    moved = column(page, "trajectory", "x[0]")
    np.testing.assert_allclose(moved, engine(a=0.28), rtol=1e-5, atol=1e-6)
    assert query(page)["model"] == "HopfStep"


def test_query_string_sets_the_first_view(app_url, page):
    page.goto(app_url + "?model=JansenRitStep&E_inp=180&duration=100")
    data = wait_column(page, "trajectory", "E[0]")
    ref = engine("JansenRitStep", E_inp=180.0, duration=100.0)
    np.testing.assert_allclose(data, ref, rtol=1e-4, atol=1e-4)
    assert page.locator(".bmw-param-E_inp").count() == 1
    assert not page.locator(".bmw-notice").first.is_visible()
    q = query(page)
    assert q["model"] == "JansenRitStep" and q["E_inp"] == "180" and q["duration"] == "100.0"


def test_bad_url_values_are_ignored_with_a_notice(app_url, page):
    page.goto(app_url + "?a=abc&zz=1&duration=-5&w=0.5&__import__=os")
    data = wait_column(page, "trajectory", "x[0]")
    np.testing.assert_allclose(data, engine(w=0.5), rtol=1e-5, atol=1e-6)
    notice = page.locator(".bmw-notice").first
    notice.wait_for(state="visible")
    message = text(notice)
    assert "Ignored from the URL" in message
    for part in ("a='abc'", "zz: unknown name", "duration='-5'", "__import__: unknown name"):
        assert part in message, message


def test_two_sessions_are_isolated(app_url, browser):
    one, two = browser.new_context(), browser.new_context()
    p1, p2 = one.new_page(), two.new_page()
    p1.goto(app_url)
    p2.goto(app_url)
    base1 = wait_column(p1, "trajectory", "x[0]")
    base2 = wait_column(p2, "trajectory", "x[0]")
    press(p1, ".bmw-param-a", "ArrowRight", 5)
    press(p2, ".bmw-param-w", "ArrowLeft", 5)
    p1.wait_for_function("() => new URLSearchParams(location.search).get('a') === '0.3'")
    p2.wait_for_function("() => new URLSearchParams(location.search).get('w') === '0.15'")
    wait_column(p1, "trajectory", "x[0]", differs_from=base1)
    wait_column(p2, "trajectory", "x[0]", differs_from=base2)
    p1.wait_for_timeout(500)
    np.testing.assert_allclose(column(p1, "trajectory", "x[0]"), engine(a=0.3), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(column(p2, "trajectory", "x[0]"), engine(w=0.15), rtol=1e-5, atol=1e-6)
    assert query(p1)["w"] == "0.2" and query(p2)["a"] == "0.25"
    one.close()
    two.close()


def _open_sweep(page, app_url):
    page.goto(app_url)
    wait_column(page, "trajectory", "x[0]")
    page.locator(".bk-tab", has_text="Sweep").click()
    page.wait_for_function(f"() => ({SOURCE})('sweep') !== null")
    page.evaluate(f"""() => {{
      const src = ({SOURCE})("sweep");
      window.__fills = [];
      const count = () => window.__fills.push(
        Array.from(src.data.y).filter(v => v !== null && !Number.isNaN(v)).length);
      src.properties.data.change.connect(count);  // a new grid
      src.patching.connect(count);  // each block's new values
    }}""")


def test_sweep_fills_progressively_and_equals_the_engine(app_url, page):
    _open_sweep(page, app_url)
    page.locator(".bmw-run button").click()
    page.locator(".bmw-status", has_text="swept 32 points").wait_for()
    fills = page.evaluate("window.__fills")
    # blocks of 16 arrive as patches; a page that falls behind may get the newest picture only
    assert fills[-1] == 32 and fills == sorted(fills) and set(fills) <= {0, 16, 32}, fills
    y = column(page, "sweep", "y")
    spec = bw.model_spec("HopfStep")
    grid = {"a": np.linspace(spec.params["a"].low, spec.params["a"].high, 32)}
    ref = bw.CachedSimulator("HopfStep").sweep(grid, duration=spec.duration, transient=spec.duration / 4)
    np.testing.assert_allclose(y, ref.values, rtol=1e-4, atol=1e-6)


def test_sweep_can_be_cancelled_from_the_page(app_url, page):
    _open_sweep(page, app_url)
    # long enough (512 points x 500,000 steps) that the Cancel lands while blocks remain
    for name, value in (("duration", "50000"), ("points", "512")):
        box = page.locator(f".bmw-sweep-{name} input")
        box.fill(value)
        box.press("Enter")
    page.locator(".bmw-sweep-duration input").blur()
    page.wait_for_timeout(500)
    page.locator(".bmw-run button").click()
    # The grid has 512 points only once both typed values reached the server (in order).
    page.wait_for_function(f"() => ({SOURCE})('sweep').data.x.length === 512")
    page.wait_for_function("() => window.__fills.some(n => n > 0)")
    page.locator(".bmw-cancel button").click()
    page.locator(".bmw-status", has_text="cancelled after").wait_for()
    filled = page.evaluate("window.__fills")[-1]
    assert 0 < filled < 512


def test_a_tap_on_a_heatmap_cell_outlines_it_and_sends_its_values_to_the_model_tab(app_url, page):
    _open_sweep(page, app_url)
    page.locator(".bmw-sweep-parameter2 select").select_option("w")
    for name, value in (("points", "8"), ("points2", "4")):
        type_and_enter(page, f".bmw-sweep-{name}", value)
    page.wait_for_timeout(500)
    page.locator(".bmw-run button").click()
    page.locator(".bmw-status", has_text="swept 32 points").wait_for()
    image = page.evaluate(f"() => ({SOURCE})('heatmap').data.image[0]")
    assert len(image) == 4 * 8 and all(v is not None for v in image)  # 4 rows (w) of 8 cells (a)
    boxes = page.locator("canvas").evaluate_all(
        "els => els.map(e => e.getBoundingClientRect()).map(r => [r.x, r.y, r.width, r.height])")
    x, y, w, h = max(boxes, key=lambda r: r[2] * r[3])  # the heatmap, the tab's only figure
    page.mouse.click(x + 0.45 * w, y + 0.5 * h)
    page.wait_for_function(f"() => ({SOURCE})('heatmap_cell').data.x.length === 1", timeout=30_000)
    cell = page.evaluate(f"() => {{ const s = ({SOURCE})('heatmap_cell'); "
                         "return [s.data.x[0], s.data.y[0]]; }")
    spec = bw.model_spec("HopfStep")
    a = np.linspace(spec.params["a"].low, spec.params["a"].high, 8)
    w_values = np.linspace(spec.params["w"].low, spec.params["w"].high, 4)
    assert np.isclose(a, cell[0]).any() and np.isclose(w_values, cell[1]).any(), cell
    # a hover there names the parameters and shows the cell's grid values, not the pointer's
    page.mouse.move(x + 0.45 * w, y + 0.5 * h)
    rows = page.locator(".bk-tooltip-row-label")
    rows.nth(2).wait_for(timeout=30_000)
    assert rows.all_inner_texts() == ["a:", "w:", "amplitude of x:"]
    shown = page.locator(".bk-tooltip-row-value").all_inner_texts()
    assert [float(v) for v in shown[:2]] == pytest.approx(cell, rel=1e-3), (shown, cell)
    # the Model tab takes the tapped cell's values, and its URL follows
    page.wait_for_function("""([a, w]) => {
      const q = new URLSearchParams(window.location.search);
      return Math.abs(Number(q.get("a")) - a) < 1e-6 && Math.abs(Number(q.get("w")) - w) < 1e-6;
    }""", arg=cell, timeout=60_000)


def test_bad_typed_value_shows_a_notice_and_the_app_keeps_working(app_url, page):
    page.goto(app_url)
    first = wait_column(page, "trajectory", "x[0]")
    page.get_by_text("Run options").click()
    box = type_and_enter(page, ".bmw-opt-duration", "-5")
    notice = page.locator(".bmw-notice").first
    notice.wait_for(state="visible")
    assert "duration" in text(notice)
    assert box.input_value() == "200"
    press(page, ".bmw-param-a", "ArrowRight", 1)
    wait_column(page, "trajectory", "x[0]", differs_from=first)
    page.wait_for_timeout(300)
    np.testing.assert_allclose(column(page, "trajectory", "x[0]"), engine(a=0.26), rtol=1e-5, atol=1e-6)


def test_phase_plane_tab_draws_the_plane_and_a_tap_launches_a_trajectory(app_url, page):
    page.goto(app_url)
    wait_column(page, "trajectory", "x[0]")
    page.locator(".bk-tab", has_text="Phase plane").click()
    page.wait_for_function(f"() => {{ const s = ({SOURCE})('fixed_points'); return s && s.data.x.length; }}",
                           timeout=120_000)
    assert column(page, "fixed_points", "stability") == ["unstable focus"]
    assert len(column(page, "field", "x0")) == 400
    start = tap_plane(page)
    page.wait_for_function(f"""() => {{ const s = ({SOURCE})('trajectories');
        return s && s.data.xs.length === 1 && s.data.xs[0].length === 2001; }}""", timeout=120_000)
    xs = page.evaluate(f"() => Array.from(({SOURCE})('trajectories').data.xs[0])")
    ref = bw.CachedSimulator("HopfStep").run(bw.model_spec("HopfStep").duration,
                                             init={"x": start[0], "y": start[1]}, monitors=["x"])
    np.testing.assert_allclose(xs[1:], np.asarray(u.get_magnitude(ref["x"]))[:, 0], rtol=1e-4, atol=1e-5)


def test_network_tab_draws_fc_and_the_k_slider_moves_it_to_the_engine_values(app_url, page):
    errors, failed = [], []
    page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("requestfailed", lambda req: failed.append(req.url))
    page.goto(app_url)
    wait_column(page, "trajectory", "x[0]")
    page.locator(".bk-tab", has_text="Network").click()
    page.wait_for_function(f"() => {{ const s = ({SOURCE})('fc'); return s && s.data.value.length === 64; }}",
                           timeout=180_000)
    first = column(page, "fc", "value")
    assert len(column(page, "connectivity", "value")) == 64
    ref = bw.NetworkController(params={"k": 0.55})
    assert ref.wait(300)
    expected = [float(v) for v in ref.sources["fc"].data["value"]]
    ref.close()
    assert not np.allclose(first, expected, atol=1e-4)
    press(page, ".bmw-param-k", "ArrowRight", 5)
    page.wait_for_function(f"""expected => {{ const s = ({SOURCE})('fc');
        return s.data.value.length === 64
            && expected.every((v, i) => Math.abs(s.data.value[i] - v) < 1e-4); }}""", arg=expected,
                           timeout=120_000)
    assert not np.allclose(column(page, "fc", "value"), first, atol=1e-4)
    # Offline, only resources from outside the app (a web font) may fail to load.
    assert not [url for url in failed if url.startswith(app_url)], failed
    assert not [e for e in errors if not e.startswith("Failed to load resource")], errors


def test_fit_tab_streams_the_engine_loss_and_sends_the_best_values_to_the_model_tab(app_url, page, tmp_path):
    page.goto(app_url)
    wait_column(page, "trajectory", "x[0]")
    page.locator(".bk-tab", has_text="Fit").click()
    type_and_enter(page, ".bmw-fit-n-steps", "40")
    page.locator(".bmw-fit-run button").click()
    page.wait_for_function(f"() => {{ const s = ({SOURCE})('loss'); return s && s.data.step.length == 40; }}",
                           timeout=180_000)
    c = bw.FitController(n_steps=40)
    fitter = c.fitter
    out = fitter.fit(c.target_data(), initial=c.options["initial"], lr=c.options["lr"], n_steps=40)
    np.testing.assert_allclose(column(page, "loss", "loss"), out.history, rtol=1e-5)
    np.testing.assert_allclose(column(page, "paths", "w"), out.path["w"], rtol=1e-5)
    memory = page.locator(".bmw-fit-memory").first
    page.wait_for_function("el => (el.shadowRoot || el).textContent.includes('MiB')",
                           arg=memory.element_handle(), timeout=60_000)
    assert "for_loop" in text(memory)
    bad = tmp_path / "bad.csv"
    bad.write_text("x\n1\nnan\n")
    page.locator(".bmw-fit-upload input").set_input_files(str(bad))
    notice = page.locator(".bmw-notice").first
    notice.wait_for(state="visible")
    assert "bad.csv" in text(notice)
    before = column(page, "trajectory", "x[0]")
    page.locator(".bmw-fit-use button").click()
    page.locator(".bk-tab", has_text="Model").click()
    expected = bw.CachedSimulator("HopfStep").run(bw.model_spec("HopfStep").duration, params=out.best_params)
    expected = [float(v) for v in np.asarray(u.get_magnitude(expected["x"]))[:, 0]]
    page.wait_for_function(f"""expected => {{ const s = ({SOURCE})('trajectory');
        return s && s.data["x[0]"].length === expected.length
            && expected.every((v, i) => Math.abs(s.data["x[0]"][i] - v) < 1e-4); }}""", arg=expected,
                           timeout=120_000)
    assert not np.allclose(before, expected, atol=1e-3)
    assert float(query(page)["a"]) == pytest.approx(out.best_params["a"], abs=1e-3)


def test_network_tab_loads_an_uploaded_connectome_and_refuses_a_bad_one(app_url, page, tmp_path):
    page.goto(app_url)
    wait_column(page, "trajectory", "x[0]")
    page.locator(".bk-tab", has_text="Network").click()
    page.wait_for_function(f"() => {{ const s = ({SOURCE})('fc'); return s && s.data.value.length === 64; }}",
                           timeout=180_000)
    good = tmp_path / "three.csv"
    good.write_text("V1,M1,S1\n0,0.5,0.2\n0.5,0,0.7\n0.2,0.7,0\n")
    page.locator(".bmw-net-upload input").set_input_files(str(good))
    page.wait_for_function(f"() => ({SOURCE})('fc').data.value.length === 9", timeout=120_000)
    assert column(page, "connectivity", "value") == [0, 0.5, 0.2, 0.5, 0, 0.7, 0.2, 0.7, 0]
    assert sorted(set(column(page, "connectivity", "source"))) == ["M1", "S1", "V1"]
    bad = tmp_path / "bad.npy"
    np.save(bad, np.ones((2, 3)))
    page.locator(".bmw-net-upload input").set_input_files(str(bad))
    notice = page.locator(".bmw-notice").first
    notice.wait_for(state="visible")
    assert "bad.npy" in text(notice) and "square" in text(notice)
    assert len(column(page, "connectivity", "value")) == 9


@pytest.fixture(scope="module")
def dask_app_url(tmp_path_factory, dask_client):
    port = free_port()
    log_path = tmp_path_factory.mktemp("serve-dask") / "serve.log"
    cmd = [sys.executable, "-m", "brainmass_widgets.cli", "serve", "--port", str(port), "--no-jax-cache",
           "--max-client-sessions", "0", "--dask-scheduler", dask_client.scheduler.address]
    with server(cmd, f"http://localhost:{port}/", log_path):
        yield f"http://localhost:{port}/"
    text = log_path.read_text()
    assert "Traceback" not in text, text[-4000:]


def test_sweep_tab_runs_on_the_dask_cluster_and_saves_and_opens_the_sweep(dask_app_url, page, browser,
                                                                           tmp_path):
    _open_sweep(page, dask_app_url)
    select = page.locator(".bmw-sweep-executor select")
    label = next(o for o in select.locator("option").all_text_contents() if o.startswith("Dask cluster at"))
    select.select_option(label=label)
    page.wait_for_timeout(300)
    page.locator(".bmw-run button").click()
    page.locator(".bmw-status", has_text="on Dask cluster at").wait_for(timeout=120_000)
    y = column(page, "sweep", "y")
    spec = bw.model_spec("HopfStep")
    grid = {"a": np.linspace(spec.params["a"].low, spec.params["a"].high, 32)}
    ref = bw.CachedSimulator("HopfStep").sweep(grid, duration=spec.duration, transient=spec.duration / 4)
    np.testing.assert_allclose(y, ref.values, rtol=1e-4, atol=1e-6)
    with page.expect_download() as download:
        page.locator(".bmw-sweep-save button").click()
    path = tmp_path / "sweep.npz"
    download.value.save_as(path)
    saved = bw.SweepResult.load(path)
    np.testing.assert_allclose(saved.values, ref.values, rtol=1e-4, atol=1e-6)
    assert saved.executor == label
    fresh = browser.new_page()
    try:
        _open_sweep(fresh, dask_app_url)
        fresh.locator(".bmw-sweep-open input").set_input_files(str(path))
        fresh.locator(".bmw-status", has_text="opened a sweep of 32 of 32 points").wait_for()
        assert column(fresh, "sweep", "y") == pytest.approx(y, rel=1e-6)
    finally:
        fresh.close()


def test_network_tab_takes_only_the_values_moved_on_the_model_tab():
    from brainmass_widgets.panel.app import create_app

    app = create_app("HopfStep")
    model = app.explorers["model"]
    assert model.wait(120)
    model.sliders["w"].value = 0.3
    assert model.wait(120)
    app.tabs.active = 3
    network = app.explorers["network"]
    assert network.wait(300)
    params = network.controller.options["params"]
    assert params["w"] == pytest.approx(0.3)  # moved on the Model tab: carried over
    default = bw.NetworkController(autorun=False).options["params"]["a"]
    assert params["a"] == pytest.approx(default) and default < 0  # left alone: the network's default
    for explorer in app.explorers.values():
        explorer.controller.close()


PLOT_RANGES = """() => {
  const out = [];
  for (const doc of Bokeh.documents) for (const m of doc.all_models) {
    if (m.x_range === undefined || m.title === undefined || m.title === null || !m.visible) continue;
    const hint = (m.above || []).find(a => a.name === "hint" && a.visible);
    out.push({title: m.title.text, hint: hint ? hint.text : null,
              ranges: [m.x_range.start, m.x_range.end, m.y_range.start, m.y_range.end]});
  }
  return out;
}"""


def test_every_plot_shown_has_axes_and_the_empty_ones_say_what_to_do(app_url, page):
    page.goto(app_url)
    wait_column(page, "trajectory", "x[0]")
    # each tab is left once its first computation is drawn
    ready = {"Sweep": "() => ({SOURCE})('sweep') !== null",
             "Phase plane": "() => { const s = ({SOURCE})('fixed_points'); return s && s.data.x.length; }",
             "Network": "() => { const s = ({SOURCE})('fc'); return s && s.data.value.length === 64; }",
             "Fit": "() => ({SOURCE})('loss') !== null",
             "Bifurcation": "() => { const s = ({SOURCE})('special'); return s && s.data.x.length; }"}
    for tab, done in ready.items():
        page.locator(".bk-tab", has_text=tab).click()
        page.wait_for_function(done.replace("{SOURCE}", SOURCE), timeout=180_000)
    plots = page.evaluate(PLOT_RANGES)
    titles = {p["title"] for p in plots}
    assert {"HopfStep fit: loss", "HopfStep fit: fitted parameters", "HopfStep: latest trajectory",
            "HopfStep network: synchrony, order parameter R(t)"} <= titles
    assert all(t.startswith("HopfStep") for t in titles), titles  # every figure names the model
    for p in plots:
        assert all(np.isfinite(v) for v in p["ranges"]), p  # a plot without ranges draws no axes
    hints = {p["title"]: p["hint"] for p in plots if p["hint"]}
    assert hints["HopfStep fit: loss"] == "Press Fit to start fitting"
    assert hints["HopfStep: latest trajectory"] == "Tap the phase plane to launch a trajectory"
    assert "Press Run" in hints[next(t for t in hints if t.startswith("HopfStep: amplitude"))]
    assert not any(t.startswith("HopfStep: trajectory") for t in hints)  # it has its run
    assert hints["HopfStep: fold and Hopf curves (choose a second parameter)"] == \
        "Choose a second parameter to trace fold and Hopf curves"
    assert not any(t.startswith("HopfStep: equilibria") for t in hints)  # the diagram is drawn


def test_bifurcation_tab_sends_a_picked_value_to_the_model_and_phase_plane_tabs():
    from brainmass_widgets.panel.app import create_app

    app = create_app("HopfStep")
    app.tabs.active = 2
    app.tabs.active = 5
    bif = app.explorers["bifurcation"]
    assert bif.wait(300)
    assert [sp.kind for sp in bif.diagram.special] == ["hopf"]
    bif.controller.sources["pick"].data = {"x": [0.4], "y": [0.0], "at": [1.0]}
    picked = bif.controller.picked["a"]
    assert abs(picked - 0.4) < 0.05
    for key in ("model", "phase"):
        assert app.explorers[key].wait(120)
        assert app.explorers[key].controller.params["a"] == pytest.approx(picked)
    for explorer in app.explorers.values():
        explorer.controller.close()


def test_a_typed_exact_value_runs_and_copy_as_code_puts_its_script_on_the_clipboard(app_url, browser):
    context = browser.new_context()
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=app_url.rstrip("/"))
    page = context.new_page()
    page.goto(app_url)
    first = wait_column(page, "trajectory", "x[0]")
    # the box beside each slider names the slider's range and carries the parameter's doc
    box = page.locator(".bmw-param-w-value")
    assert "0 \u2026 1" in text(box)
    box.locator(".bk-description").hover()
    tip = page.get_by_text("Range 0 to 1, default 0.2; type a value for an exact one.")
    tip.wait_for()
    assert tip.text_content().startswith("Angular frequency \u03c9 (dimensionless")
    type_and_enter(page, ".bmw-param-a-value", "0.333")
    wait_column(page, "trajectory", "x[0]", differs_from=first)
    page.wait_for_timeout(300)
    assert "a: 0.333" in text(page.locator(".bmw-param-a"))
    np.testing.assert_allclose(column(page, "trajectory", "x[0]"), engine(a=0.333), rtol=1e-5, atol=1e-6)
    page.get_by_text("Copy as code").first.click()
    page.locator(".bmw-copy button").click()
    page.locator(".bmw-copy button", has_text="Copied").wait_for()
    script = page.evaluate("navigator.clipboard.readText()")
    assert script.startswith("import brainmass\n") and "    a=0.333,\n" in script
    namespace = {}
    exec(compile(script, "copied.py", "exec"), namespace)
    np.testing.assert_allclose(np.asarray(u.get_magnitude(namespace["result"]["x"]))[:, 0], engine(a=0.333),
                               rtol=1e-5, atol=1e-6)
    context.close()
