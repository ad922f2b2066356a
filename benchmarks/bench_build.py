"""How long the served app's builds hold the server's event loop, measured in this process.

Run: ``python benchmarks/bench_build.py [--repeat 7]``. A served page's session is built on the
event loop every session shares, and so is each tab's explorer on the tab's first visit: a
connected page's slider change that arrives meanwhile waits for the build to end. This script
builds what the server builds, in a Bokeh ``Document`` as the server does (the page: the app and
its Bokeh models, and the document's JSON sent with the page; then each tab, as a visit makes
it), ``--repeat`` times (the first, which imports and compiles, is left out), and prints for each
build the Bokeh models in the page after it, its median and fastest time, and that median against 250 ms (a
slider latency a connected page should keep while others load). No browser: the browser's share
of the machine comes on top (``bench_attacks.py`` measures both under load).
"""

from __future__ import annotations

import argparse
import statistics
import time

from bokeh.document import Document
from panel.io.state import set_curdoc

from brainmass_widgets.panel.app import create_app

TABS = ["Sweep", "Phase plane", "Network", "Fit", "Bifurcation"]
BUDGET_MS = 250.0


def build_once() -> list[tuple[float, int]]:
    """One page and its five tabs built in turn: ``(seconds, models in the page after it)`` for
    each (a tab shown replaces the one shown before it in the page)."""
    doc = Document()
    out = []
    with set_curdoc(doc):
        t0 = time.perf_counter()
        app = create_app()
        doc.add_root(app.get_root(doc))
        doc.to_json()
        out.append((time.perf_counter() - t0, len(doc.models)))
        for tab in range(1, len(TABS) + 1):
            t0 = time.perf_counter()
            app.tabs.active = tab
            out.append((time.perf_counter() - t0, len(doc.models)))
    for explorer in app.explorers.values():
        explorer.controller.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=7, help="builds (default 7, the first left out)")
    args = parser.parse_args()
    runs = [build_once() for _ in range(max(2, args.repeat))][1:]
    names = ["page (Model tab), with its JSON"] + [f"{tab} tab, first visit" for tab in TABS]
    print(f"\nBuilds of the served app in one process, {len(runs)} runs after a first (median / fastest)\n")
    print("| build | Bokeh models in the page | median ms | fastest ms | median vs 250 ms |")
    print("|---|---|---|---|---|")
    for i, name in enumerate(names):
        times = [run[i][0] * 1e3 for run in runs]
        models = runs[-1][i][1]
        median = statistics.median(times)
        print(f"| {name} | {models} | {median:.0f} | {min(times):.0f} | {median / BUDGET_MS:.2f}x |")


if __name__ == "__main__":
    main()
