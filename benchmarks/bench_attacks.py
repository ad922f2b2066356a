"""The served app as a class meets it, measured in headless chromium on loopback.

Run: ``python benchmarks/bench_attacks.py [--seconds 15] [--grid 128] [--requests 300]``. One
server (``brainmass-widgets serve``, served limits and session expiry; ``--max-client-sessions 12``
and ``--max-client-jobs 0``, as one browser here stands for the visitors of loads (b) and (c))
and, printed side by side in one run:

* slider latency of a connected tab (HopfStep, 10,000 steps per change; a closed loop inside
  the page: keydown, wait for the "trajectory" source to change, record, repeat), p50 and p95,
  alone and while (a) 100 plain GETs arrive, 8 at a time, from another address, (b) ten more tabs
  open and visit every tab of the app at once, (c) two sweeps of 2,000 points x 100,000 steps run
  in two other tabs; beside each, how long a ``GET /brainmass-status`` asked every 100 ms waited
  (the server's event loop alone, without the browser's share of the cores);
* a ``grid x grid`` HopfStep sweep (``a`` x ``w``, 200 ms per point) run again from the Sweep
  tab once its program is compiled, from click to the frame after the last block's data (the
  page's own clock), to "swept" (told by the page), and as the server's status line times it,
  against the same sweep computed by ``CachedSimulator.sweep`` in this process in the blocks
  the app uses (bounded by ``SWEEP_BLOCK_WORK``) and in blocks of 16, and the bytes the page
  received over its websocket against the final data's size;
* the time a plain GET of the page takes (no websocket: what a link preview or a crawler costs
  the server's event loop), ``--gets`` of them one after another from as many addresses;
* the server's memory (RSS) at rest, and again after ``--requests`` attack requests of each kind
  (Panel's module-importing route, 4,301-digit URL values, plain GETs, wrong passwords are not
  sent here: this server has no login), once the sessions they opened have expired.
"""

from __future__ import annotations

import argparse
import http.client
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import brainunit as u
import numpy as np
import psutil
from bench_app import CHROMIUM_ARGS, HAS_DATA, free_port, wait_http
from bench_load import LOOP

import brainmass_widgets as bw
from brainmass_widgets.panel.app import SWEEP_BLOCK_WORK


def get_from(port: int, client: str, path: str = "/") -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120, source_address=(client, 0))
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def open_page(browser, url: str):
    context = browser.new_context()
    page = context.new_page()
    page.goto(url)
    page.wait_for_function(HAS_DATA, timeout=300_000)
    return context, page


def sessions(port: int) -> int:
    import json
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/brainmass-status", timeout=30) as r:
        return json.loads(r.read())["sessions"]


def wait_quiet(port: int, baseline: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while sessions(port) > baseline and time.monotonic() < deadline:
        time.sleep(0.5)


def latency(page, seconds: float, load, port: int) -> tuple[list[float], list[float]]:
    """The watched page's closed-loop latencies while ``load()`` runs (then ``seconds`` more at
    most), and the times of ``GET /brainmass-status`` asked every 100 ms meanwhile (ms): a request
    answered on the server's event loop without building anything, so how long it waits is how long
    the loop was busy, whatever the browser's share of the cores."""
    stop = threading.Event()
    probes: list[float] = []

    def probe() -> None:
        while not stop.wait(0.1):
            t0 = time.perf_counter()
            get_from(port, "127.0.0.250", "/brainmass-status")
            probes.append((time.perf_counter() - t0) * 1e3)

    prober = threading.Thread(target=probe, daemon=True)
    page.evaluate(LOOP, page.locator(".bmw-param-a .noUi-handle").first.element_handle())
    deadline = time.monotonic() + seconds
    prober.start()
    load()
    page.wait_for_timeout(max(0.0, deadline - time.monotonic()) * 1000)
    page.evaluate("() => { window.__run = false; }")
    stop.set()
    prober.join()
    page.wait_for_timeout(500)
    return page.evaluate("window.__lat"), probes


def start_sweep(page, points: int | None = None, duration: float | None = None,
                grid2: int | None = None) -> None:
    page.locator(".bk-tab", has_text="Sweep").click()
    page.wait_for_function("() => Bokeh.documents.some(d => d.get_model_by_name('sweep'))", timeout=120_000)
    if grid2 is not None:
        page.locator(".bmw-sweep-parameter2 select").select_option("w")
        page.wait_for_timeout(300)
        fill(page, ".bmw-sweep-points2", str(grid2))
    if points is not None:
        fill(page, ".bmw-sweep-points", str(points))
    if duration is not None:
        fill(page, ".bmw-sweep-duration", str(duration))
    page.wait_for_timeout(500)
    page.locator(".bmw-run button").click()


#: In the page: the time of the frame after the heatmap's data last changed (``window.__drawn``).
DRAWN = """() => {
  const src = Bokeh.documents.map(d => d.get_model_by_name("heatmap")).find(m => m);
  const mark = () => requestAnimationFrame(() => { window.__drawn = performance.now(); });
  src.patching.connect(mark);
  src.properties.data.change.connect(mark);
  window.__swept = null;
  for (const d of Bokeh.documents)
    for (const m of d.all_models)
      if ((m.css_classes || []).includes("bmw-status-line"))
        m.properties.text.change.connect(() => {
          if (m.text.includes("swept") && window.__swept === null) window.__swept = m.text;
        });
}"""


FIT_SHOWN = """() => Bokeh.documents.some(d => d.get_model_by_name("loss"))"""


def fill(page, css: str, value: str) -> None:
    box = page.locator(f"{css} input")
    box.fill(value)
    box.press("Enter")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=15.0, help="seconds per load (default 15)")
    parser.add_argument("--grid", type=int, default=128, help="points per sweep axis (default 128)")
    parser.add_argument("--requests", type=int, default=300, help="attack requests per kind (default 300)")
    parser.add_argument("--gets", type=int, default=12, help="plain GETs timed one by one (default 12)")
    parser.add_argument("--tab-build-gap", type=float, default=0.5,
                        help="the server's --tab-build-gap, seconds (default 0.5, the server's own)")
    kinds = ["alone", "a", "b", "c"]
    parser.add_argument("--loads", nargs="*", default=kinds, choices=kinds,
                        help="slider-latency loads to measure (default all; none: the sweep and memory only)")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    port = free_port()
    url = f"http://localhost:{port}/"
    proc = subprocess.Popen([sys.executable, "-m", "brainmass_widgets.cli", "serve", "--port", str(port),
                             "--no-jax-cache", "--max-client-sessions", "12", "--max-client-jobs", "0",
                             "--tab-build-gap", str(args.tab_build_gap)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    server = psutil.Process(proc.pid)
    lat_rows, sweep_rows, memory_rows = [], [], []
    try:
        wait_http(url + "brainmass-status", proc)
        gets = []
        for i in range(args.gets):
            t0 = time.perf_counter()
            code = get_from(port, f"127.0.1.{1 + i}")
            gets.append(((time.perf_counter() - t0) * 1e3, code))
        wait_quiet(port, 0)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
            watched_context, watched = open_page(browser, url)
            latency(watched, 3.0, lambda: None, port)  # warm
            others: list = []

            def flood() -> None:
                with ThreadPoolExecutor(8) as pool:
                    codes = list(pool.map(lambda i: get_from(port, "127.0.0.2"), range(100)))
                others.append(f"{codes.count(200)} of 100 built a page")

            def ten_tabs() -> None:
                t0 = time.monotonic()
                for _ in range(10):
                    context = browser.new_context()
                    page = context.new_page()
                    page.goto(url, wait_until="commit")
                    others.append(context)
                contexts = [o for o in others if not isinstance(o, str)]
                for context in contexts:
                    page = context.pages[0]
                    for tab in ("Sweep", "Phase plane", "Network", "Fit"):
                        page.locator(".bk-tab", has_text=tab).click(timeout=120_000)

                def built() -> None:
                    # the Fit tab, clicked last on each page, is shown once it is built
                    for context in contexts:
                        context.pages[0].wait_for_function(FIT_SHOWN, timeout=300_000)
                    others.append(f"every page's last tab built {time.monotonic() - t0:.1f} s after the "
                                  f"first page was opened")

                others.append(built)

            def two_sweeps() -> None:
                for _ in range(2):
                    context, page = open_page(browser, url)
                    start_sweep(page, points=2000, duration=10_000.0)
                    others.append(context)

            loads = {"alone": ("alone", lambda: None), "a": ("(a) 100 plain GETs, 8 at a time", flood),
                     "b": ("(b) 10 tabs open every tab at once", ten_tabs),
                     "c": ("(c) two sweeps of 2,000 x 100,000 steps", two_sweeps)}
            for name, load in (loads[key] for key in args.loads):
                others.clear()
                lat, probes = latency(watched, args.seconds, load, port)
                for after in [o for o in others if callable(o)]:
                    others.remove(after)
                    after()
                notes = [o for o in others if isinstance(o, str)]
                for context in (o for o in others if not isinstance(o, str)):
                    context.close()
                q = statistics.quantiles(lat, n=20) if len(lat) > 1 else [lat[0]] * 19
                p = statistics.quantiles(probes, n=20)
                lat_rows.append((name, statistics.median(lat), q[18], len(lat), statistics.median(probes),
                                 p[18], "; ".join(notes)))
                wait_quiet(port, 1)

            # the large sweep from the page, bytes on the websocket
            received = [0]
            context = browser.new_context()
            page = context.new_page()
            page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: received.__setitem__(
                0, received[0] + len(payload))))
            page.goto(url)
            page.wait_for_function(HAS_DATA, timeout=300_000)
            start_sweep(page, points=args.grid, grid2=args.grid)  # compiles the sweep program
            page.locator(".bmw-status", has_text="swept").wait_for(timeout=1_800_000)
            page.wait_for_timeout(1000)
            before = received[0]
            page.evaluate(DRAWN)
            run = page.locator(".bmw-run button")
            run.evaluate("b => b.addEventListener('click', () => { window.__clicked = performance.now(); }, "
                         "{capture: true, once: true})")
            run.click()
            t0 = time.perf_counter()
            # told by the page (a Bokeh change handler on the status line), not polled through the
            # locator: polling every 20 ms took CPU from the server on these two cores
            page.wait_for_function("() => window.__swept !== null", polling=50, timeout=1_800_000)
            wall = time.perf_counter() - t0
            text = page.evaluate("() => window.__swept")
            page.wait_for_timeout(200)  # the last change's frame
            in_page = page.evaluate("() => (window.__drawn - window.__clicked) / 1e3")
            served = float(re.search(r" in ([0-9.,]+) ms", text).group(1).replace(",", "")) / 1e3
            sent = received[0] - before
            lows = [float(page.locator(f".bmw-sweep-{n} input").input_value())
                    for n in ("low", "high", "low2", "high2")]
            values = page.evaluate("() => { for (const d of Bokeh.documents) { const s = d.get_model_by_name("
                                   "'heatmap'); if (s) return Array.from(s.data.image[0]); } }")
            context.close()
            watched_context.close()
            browser.close()

        grid = {"a": np.linspace(lows[0], lows[1], args.grid), "w": np.linspace(lows[2], lows[3], args.grid)}
        sim = bw.CachedSimulator("HopfStep")
        kw = dict(duration=200 * u.ms, transient=50 * u.ms)
        n_steps = sim.steps(kw["duration"], kw["transient"], None)[0]
        served_block = bw.SweepController("HopfStep", block_work=SWEEP_BLOCK_WORK).block_size(
            sim, args.grid**2, n_steps, None)
        sim.sweep(grid, chunk_size=served_block, **kw)  # compile
        t0 = time.perf_counter()
        ref = sim.sweep(grid, chunk_size=served_block, **kw)
        engine_served = time.perf_counter() - t0
        sim.sweep(grid, chunk_size=16, **kw)
        t0 = time.perf_counter()
        sim.sweep(grid, chunk_size=16, **kw)
        engine16 = time.perf_counter() - t0
        final = args.grid**2 * 8  # the heatmap's image of float64 values
        # the image's rows are the second parameter's values
        agree = np.allclose(np.asarray(values, float).reshape(args.grid, args.grid).T, ref.values,
                            rtol=1e-5, atol=1e-7)
        sweep_rows = [(wall, in_page, served, served_block, engine_served, engine16, sent, final, agree)]

        # memory after attacks
        wait_quiet(port, 0)
        rest = server.memory_info().rss
        attacks = (("Panel's /components/<module>/ route", lambda i: get_from(port, "127.0.0.3",
                                                                             "/components/this/x/y/z")),
                   ("4,301-digit URL values", lambda i: get_from(port, "127.0.0.3", "/?a=" + "1" * 4301)),
                   ("plain GETs of the page", lambda i: get_from(port, f"127.0.0.{4 + i % 50}")))
        for name, attack in attacks:
            with ThreadPoolExecutor(8) as pool:
                codes = list(pool.map(attack, range(args.requests)))
            wait_quiet(port, 0)
            time.sleep(1)
            rss = server.memory_info().rss
            memory_rows.append((name, rss, rss / rest - 1, sorted(set(codes))))
    finally:
        proc.terminate()
        proc.wait(60)

    if gets:
        times = [ms for ms, _ in gets]
        print(f"\nA plain GET of the page (no websocket), {len(gets)} one after another: median "
              f"{statistics.median(times):.0f} ms, max {max(times):.0f} ms; status codes "
              f"{sorted({code for _, code in gets})}")
    print(f"\nSlider latency of a connected tab (HopfStep, 10,000 steps per change; server's "
          f"--tab-build-gap {args.tab_build_gap:g} s), {args.seconds:g} s "
          f"each\n")
    print("| load | p50 ms | p95 ms | answered | server loop wait p50 / p95 ms | note |")
    print("|---|---|---|---|---|---|")
    for name, p50, p95, n, loop50, loop95, note in lat_rows:
        print(f"| {name} | {p50:.0f} | {p95:.0f} | {n} | {loop50:.0f} / {loop95:.0f} | {note} |")
    wall, in_page, served, served_block, engine_served, engine16, sent, final, agree = sweep_rows[0]
    print(f"\n{args.grid} x {args.grid} HopfStep sweep (a x w, 200 ms per point) from the Sweep tab\n")
    print("| | s | ratio |")
    print("|---|---|---|")
    print(f"| served app, click to last block drawn (the page's own clock) | {in_page:.2f} | "
          f"app {in_page / engine_served:.2f}x |")
    print(f"| served app, click to 'swept' seen by this script (polling the page) | {wall:.2f} | "
          f"app {wall / engine_served:.2f}x |")
    print(f"| served app, as its status line times it (the server's share) | {served:.2f} | |")
    print(f"| CachedSimulator.sweep, the app's blocks of {served_block} | {engine_served:.2f} | 1x |")
    print(f"| CachedSimulator.sweep, blocks of 16 | {engine16:.2f} | |")
    print(f"\nwebsocket bytes received during the sweep {sent:,}; final heatmap data {final:,} "
          f"({sent / final:.2f}x); page values equal the engine's: {agree}\n")
    print(f"Server memory: {rest / 2**20:.0f} MiB at rest\n")
    print(f"| after {args.requests} requests of | RSS MiB | vs rest | status codes |")
    print("|---|---|---|---|")
    for name, rss, growth, codes in memory_rows:
        print(f"| {name} | {rss / 2**20:.0f} | {growth:+.1%} | {codes} |")


if __name__ == "__main__":
    main()
