"""A saved page works in a browser with the network off; the Panel explorer saves and downloads one."""

import asyncio
import base64
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import brainunit as u
import numpy as np
import pytest
from export_data import named, source

import brainmass_widgets as bw
from brainmass_widgets.panel import ModelExplorer

GRID = {"a": [-0.5, 0.25, 0.9], "w": [0.2, 0.45]}

DATA = """([name, col]) => {
  const src = Bokeh.documents[0].get_model_by_name(name);
  return src && src.data[col] ? Array.from(src.data[col]) : null;
}"""

POINT = "() => Bokeh.documents[0].get_model_by_name('export_point').text"


def close(actual, expected):
    """Equal up to float32 rounding: the vmapped program may fuse operations differently."""
    np.testing.assert_allclose(actual, expected, rtol=1e-6, atol=1e-6)


def mag(x):
    return np.asarray(u.get_magnitude(x))


def engine(duration_ms=80.0, **params):
    res = bw.CachedSimulator("HopfStep").run(duration_ms * u.ms, params=params, monitors=["x", "y"])
    return mag(res["x"])[:, 0], mag(res["y"])[:, 0]


@pytest.fixture(scope="module")
def page_file(tmp_path_factory):
    return bw.export_page(bw.CachedSimulator("HopfStep"), tmp_path_factory.mktemp("page") / "hopf.html", GRID,
                          duration=80 * u.ms)


def test_the_page_works_offline_and_a_slider_shows_the_engines_run(browser, page_file):
    context = browser.new_context(offline=True)
    requests, refused = [], []

    def guard(route):
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    page = context.new_page()
    page.on("request", lambda request: requests.append(request.url))
    try:
        page.goto(page_file.as_uri())
        page.wait_for_function("() => window.Bokeh && Bokeh.documents.length > 0 && "
                               "Bokeh.documents[0].get_model_by_name('trajectory') !== null", timeout=60_000)
        x0, _ = engine(a=0.25, w=0.2)
        close(np.float32(page.evaluate(DATA, ["trajectory", "x[0]"])), x0)
        slider = page.locator(".bk-slider-title").first
        assert "0.25" in slider.inner_text()

        handle = page.locator(".noUi-handle").nth(1)  # the second slider: w
        handle.focus()
        page.keyboard.press("ArrowRight")
        page.wait_for_function(f"() => ({DATA})(['trajectory', 'x[0]'])[100] !== {float(x0[100])!r}",
                               timeout=30_000)
        x1, y1 = engine(a=0.25, w=0.45)
        close(np.float32(page.evaluate(DATA, ["trajectory", "x[0]"])), x1)
        close(np.float32(page.evaluate(DATA, ["phase", "v"])), y1)
        assert page.evaluate(POINT) == "<b>a = 0.25, w = 0.45</b>"

        handle = page.locator(".noUi-handle").nth(0)  # a: 0.25 -> 0.9
        handle.focus()
        page.keyboard.press("ArrowRight")
        page.wait_for_function(f"() => ({DATA})(['trajectory', 'x[0]'])[100] !== {float(x1[100])!r}",
                               timeout=30_000)
        x2, _ = engine(a=0.9, w=0.45)
        close(np.float32(page.evaluate(DATA, ["trajectory", "x[0]"])), x2)
        assert "0.9" in page.locator(".bk-slider-title").first.inner_text()
        assert page.evaluate(POINT) == "<b>a = 0.9, w = 0.45</b>"
    finally:
        context.close()
    assert requests and all(url.startswith("file://") for url in requests), requests
    assert refused == []


def test_export_html_delegates_with_the_explorers_values(tmp_path):
    explorer = ModelExplorer("HopfStep", autorun=False, duration=50.0)
    explorer.set(beta=1.5)
    path = explorer.export_html(tmp_path / "panel.html", grid={"a": [0.1, 0.6]})
    assert path == tmp_path / "panel.html"
    runs = source(path, "export_runs")
    for i, a in enumerate([0.1, 0.6]):
        ref = bw.CachedSimulator("HopfStep").run(50 * u.ms, params={"a": a, "beta": 1.5})
        close(runs[f"{i}|x[0]"], mag(ref["x"])[:, 0])
    explorer.controller.close()


def test_save_as_page_downloads_the_default_grid(tmp_path):
    explorer = ModelExplorer("HopfStep", autorun=False, duration=40.0)
    explorer.set(w=0.5)
    download = explorer._page_download
    assert download.label == "Save as page" and not download.data
    download._clicks += 1
    deadline = time.monotonic() + 120
    while not download.data and time.monotonic() < deadline:
        time.sleep(0.2)
    assert download.filename == "HopfStep-explorer.html"
    head, b64 = download.data.split(",", 1)
    assert head == "data:text/html;base64"
    path = tmp_path / "downloaded.html"
    path.write_bytes(base64.b64decode(b64))
    # w was moved: the page varies w alone, around 0.5, in steps of an eighth of its slider range
    assert named(path, "slider:w")["format"]["attributes"]["args"]["entries"][0][1] == [0.26, 0.38, 0.5,
                                                                                          0.62, 0.74]
    runs = source(path, "export_runs")
    ref = bw.CachedSimulator("HopfStep").run(40 * u.ms, params={"w": 0.62})
    close(runs["3|x[0]"], mag(ref["x"])[:, 0])
    explorer.controller.close()


def test_a_refused_page_shows_a_notice():
    explorer = ModelExplorer("HopfStep", autorun=False)
    try:
        bw.set_limits(bw.Limits(max_grid_points=4))
        explorer._page_download._clicks += 1
        deadline = time.monotonic() + 60
        while not explorer._page_download.data and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        bw.set_limits(bw.Limits())
    assert explorer.notice.startswith("Save as page: the sweep has 25 grid points; this server allows")
    assert b"refused" in base64.b64decode(explorer._page_download.data.split(",", 1)[1])
    explorer.configure(duration=20.0)
    explorer._page_download._clicks += 1
    assert explorer.notice == ""
    assert b"slider:a" in base64.b64decode(explorer._page_download.data.split(",", 1)[1])
    explorer.controller.close()


def test_a_served_page_is_computed_off_the_event_loop(monkeypatch):
    from brainmass_widgets.panel import _explorers

    explorer = ModelExplorer("HopfStep", autorun=False, duration=30.0)
    threads = []
    make = _explorers.page_bytes

    def watched(controller):
        threads.append(threading.current_thread())
        return make(controller)

    monkeypatch.setattr(_explorers, "page_bytes", watched)
    loop_thread = []

    def serve_one():
        loop_thread.append(threading.current_thread())
        return asyncio.run(explorer._served_page_file())

    with ThreadPoolExecutor(1) as pool:
        page = pool.submit(serve_one).result(120).getvalue()
    assert threads and threads[0] is not loop_thread[0]
    assert page.startswith(b"<!DOCTYPE html>") and b"slider:a" in page
    explorer.controller.close()
