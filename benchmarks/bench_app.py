"""The served app, measured in headless chromium (Debian's chromium package).

Run: ``python benchmarks/bench_app.py [--moves 30]``. Prints, side by side in one run:

* slider latency inside the page -- from the keydown on the ``a`` slider to new data in the
  ``"trajectory"`` source (a BokehJS change handler records both times), HopfStep, in_size = 1,
  10,000 steps -- for the app and for a baseline Panel app whose stock ``FloatSlider`` drives the
  same cached simulator (Panel holds its widget changes for 50 ms);
* page load to first plot on a warm server;
* a cold server start (process start to first plot) without and with the persistent JAX
  compilation cache.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
HOOK = """() => {
  const find = () => { for (const d of Bokeh.documents) { const s = d.get_model_by_name("trajectory");
                                                         if (s) return s; } };
  const src = find();
  window.__lat = []; window.__kd = 0;
  document.addEventListener("keydown", () => { window.__kd = performance.now(); }, true);
  src.properties.data.change.connect(() => {
    if (window.__kd) { window.__lat.push(performance.now() - window.__kd); window.__kd = 0; }
  });
}"""
HAS_DATA = """() => { for (const d of (window.Bokeh && Bokeh.documents) || []) {
  const s = d.get_model_by_name("trajectory");
  if (s && s.data.t && s.data.t.length) return true; } return false; }"""


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited ({proc.returncode})")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(url)


def start(args: list[str], port: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()


def serve_cmd(port: int, cache: str | None) -> list[str]:
    cmd = ["-m", "brainmass_widgets.cli", "serve", "--port", str(port)]
    return cmd + (["--jax-cache", cache] if cache else ["--no-jax-cache"])


def slider_latency(browser, url: str, css: str, moves: int) -> list[float]:
    page = browser.new_page()
    page.goto(url)
    page.wait_for_function(HAS_DATA, timeout=120_000)
    page.wait_for_timeout(500)
    page.evaluate(HOOK)
    handle = page.locator(f"{css} .noUi-handle").first
    handle.focus()
    for i in range(moves):
        page.keyboard.press("ArrowRight" if i % 2 == 0 else "ArrowLeft")
        page.wait_for_function(f"() => window.__lat.length >= {i + 1}", timeout=30_000)
        page.wait_for_timeout(200)
    out = page.evaluate("window.__lat")
    page.close()
    return out


def first_plot(browser, url: str) -> float:
    page = browser.new_page()
    t0 = time.perf_counter()
    page.goto(url)
    page.wait_for_function(HAS_DATA, timeout=300_000, polling=20)
    dt = time.perf_counter() - t0
    page.close()
    return dt


def cold_start(browser, cache: str | None) -> float:
    port = free_port()
    t0 = time.perf_counter()
    proc = start(serve_cmd(port, cache), port)
    try:
        wait_http(f"http://localhost:{port}/", proc)
        first_plot(browser, f"http://localhost:{port}/")
        return time.perf_counter() - t0
    finally:
        stop(proc)


def baseline_app(port: int) -> None:
    """A trivial Panel app: a stock FloatSlider drives the same cached simulator and source."""
    import brainunit as u
    import panel as pn
    from bokeh.models import ColumnDataSource
    from bokeh.plotting import figure

    import brainmass_widgets as bw

    sim = bw.CachedSimulator("HopfStep")

    def run(a: float) -> dict:
        res = sim.run(1000 * u.ms, params={"a": a})
        return {"t": np.asarray(res["ts"] / u.ms, float), "x[0]": np.asarray(res["x"], float)[:, 0]}

    run(0.25)

    def app():
        src = ColumnDataSource(run(0.25), name="trajectory")
        fig = figure(height=300, sizing_mode="stretch_width")
        fig.line("t", "x[0]", source=src)
        slider = pn.widgets.FloatSlider(label="a", start=-1, end=1.5, step=0.01, value=0.25,
                                        css_classes=["base-a"])
        slider.param.watch(lambda e: setattr(src, "data", run(e.new)), "value")
        return pn.Column(slider, pn.pane.Bokeh(fig))

    pn.serve({"/": app}, port=port, address="localhost", show=False, print_url=False,
             allow_websocket_origin=[f"localhost:{port}"])


def row(name: str, values: list[float], unit: str = "ms") -> str:
    p50, p95 = statistics.median(values), float(np.percentile(values, 95))
    return f"{name:52s} {p50:9.1f} {p95:9.1f} {unit}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--moves", type=int, default=30, help="slider moves per app (default 30)")
    parser.add_argument("--no-cold", action="store_true", help="skip the cold-start measurements")
    parser.add_argument("--baseline-server", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline_server:
        baseline_app(args.baseline_server)
        return
    import jax
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p, tempfile.TemporaryDirectory() as cache:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        ours_port, base_port = free_port(), free_port()
        ours = start(serve_cmd(ours_port, None), ours_port)
        base = start([str(Path(__file__)), "--baseline-server", str(base_port)], base_port)
        try:
            wait_http(f"http://localhost:{ours_port}/", ours)
            wait_http(f"http://localhost:{base_port}/", base)
            lat_ours = slider_latency(browser, f"http://localhost:{ours_port}/?duration=1000", ".bmw-param-a",
                                      args.moves)
            lat_base = slider_latency(browser, f"http://localhost:{base_port}/", ".base-a", args.moves)
            loads = [first_plot(browser, f"http://localhost:{ours_port}/") for _ in range(5)]
        finally:
            stop(ours)
            stop(base)
        cold_plain = cold_cached = float("nan")
        if not args.no_cold:
            cold_plain = cold_start(browser, None)
            cold_start(browser, cache)
            cold_cached = cold_start(browser, cache)
        browser.close()
    print(f"served app, HopfStep, in_size=1, 10,000 steps, {args.moves} moves ({jax.default_backend()})")
    print(f"{'measure':52s} {'p50':>9s} {'p95':>9s}")
    print(row("keydown -> trajectory data, brainmass-widgets app", lat_ours))
    print(row("keydown -> trajectory data, stock Panel FloatSlider", lat_base))
    ratio = statistics.median(lat_base) / statistics.median(lat_ours)
    print(f"{'ratio stock / ours (p50)':52s} {ratio:9.1f}x")
    print(row("page load -> first plot, warm server", [x * 1e3 for x in loads]))
    print(f"{'cold start -> first plot, no JAX cache':52s} {cold_plain:9.2f} s")
    print(f"{'cold start -> first plot, persistent JAX cache':52s} {cold_cached:9.2f} s")
    print("targets: slider p50 <= 25 ms, p95 <= 50 ms; page load <= 1.5 s")


if __name__ == "__main__":
    main()
