"""The served app under concurrent sessions, measured in headless chromium.

Run: ``python benchmarks/bench_load.py [--seconds 20] [--sessions 1 5 20]``. One server
(``brainmass-widgets serve``, default limits, HopfStep, 10,000 steps per change) and, for each
level, that many browser sessions (separate contexts) each moving its ``a`` slider in a closed
loop inside the page: a keydown on the slider handle, then the next keydown as soon as the
"trajectory" source changes (so every session always has one change in flight). Printed side by
side: latency from keydown to new data (p50, p95) and throughput (changes answered per second,
all sessions together), with the single-session figures as the reference. The browser and the
server share this machine's cores.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from bench_app import CHROMIUM_ARGS, HAS_DATA, free_port, wait_http

# Each page drives itself: keydown, wait for the trajectory source to change, record, repeat.
LOOP = """handle => {
  let src = null;
  for (const d of Bokeh.documents) { src = src || d.get_model_by_name("trajectory"); }
  window.__lat = []; window.__run = true; let t0 = 0; let right = true;
  const press = () => {
    if (!window.__run) return;
    const key = right ? "ArrowRight" : "ArrowLeft"; right = !right;
    t0 = performance.now();
    handle.dispatchEvent(new KeyboardEvent("keydown", {key, code: key, keyCode: right ? 37 : 39,
                                                        which: right ? 37 : 39, bubbles: true}));
  };
  src.properties.data.change.connect(() => {
    if (t0) { window.__lat.push(performance.now() - t0); t0 = 0; setTimeout(press, 0); }
  });
  press();
}"""


def level(browser, url: str, sessions: int, seconds: float) -> tuple[list[float], float]:
    contexts = [browser.new_context() for _ in range(sessions)]
    try:
        pages = [c.new_page() for c in contexts]
        for p in pages:
            p.goto(url)
        for p in pages:
            p.wait_for_function(HAS_DATA, timeout=300_000)
        t0 = time.perf_counter()
        for p in pages:
            p.evaluate(LOOP, p.locator(".bmw-param-a .noUi-handle").first.element_handle())
        time.sleep(seconds)
        for p in pages:
            p.evaluate("() => { window.__run = false; }")
        elapsed = time.perf_counter() - t0
        latencies = [x for p in pages for x in p.evaluate("window.__lat")]
        return latencies, elapsed
    finally:
        for c in contexts:
            c.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds per level (default 20)")
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 5, 20], help="levels (default 1 5 20)")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    port = free_port()
    url = f"http://localhost:{port}/"
    proc = subprocess.Popen([sys.executable, "-m", "brainmass_widgets.cli", "serve", "--port", str(port),
                             "--no-jax-cache", "--max-client-sessions", "0",
                             "--max-client-jobs", "0"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.STDOUT)
    rows = []
    try:
        wait_http(url, proc)
        with sync_playwright() as pw:
            import shutil

            browser = pw.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
            level(browser, url, 1, 3.0)
            for n in args.sessions:
                lat, elapsed = level(browser, url, n, args.seconds)
                q = statistics.quantiles(lat, n=20)
                rows.append((n, statistics.median(lat), q[18], len(lat) / elapsed, len(lat)))
            browser.close()
    finally:
        proc.terminate()
        proc.wait(20)
    base = rows[0]
    print(f"\n{args.seconds:g} s per level; HopfStep, 10,000 steps per change; a closed loop in each page\n")
    print("| sessions | latency p50 ms | latency p95 ms | p50 vs 1 session | changes answered / s | "
          "answered |")
    print("|---|---|---|---|---|---|")
    for n, p50, p95, rate, count in rows:
        print(f"| {n} | {p50:.0f} | {p95:.0f} | {p50 / base[1]:.1f}x | {rate:.1f} | {count:,} |")


if __name__ == "__main__":
    main()
