"""Explorer latency: from ``explorer.set(a=...)`` to the ``"trajectory"`` source holding the new data.

Run: ``python benchmarks/bench_explorer.py [--changes N]``. HopfStep, in_size = 1, 10,000 steps
(1 s at dt = 0.1 ms). Measured side by side in one run:

* the ipywidgets ``ModelExplorer`` (controller thread, validation, columns, Bokeh assignment);
* the engine's own warm ``CachedSimulator.run`` for the same values (the floor);
* a plain ``brainmass.Simulator`` run per change, as an explorer without a compile cache would do.

The explorer's time is taken inside the source's ``on_change`` callback, which Bokeh fires when
the new data is assigned.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import brainmass
import braintools
import brainunit as u
import jax
import numpy as np

import brainmass_widgets as bw
from brainmass_widgets.ipywidgets import ModelExplorer

warnings.filterwarnings("ignore")
DURATION_MS = 1000.0


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def explorer_latency(values: np.ndarray) -> list[float]:
    e = ModelExplorer("HopfStep", duration=DURATION_MS)
    assert e.wait(300)
    arrived = {}
    e.sources["trajectory"].on_change(
        "data", lambda attr, old, new: arrived.setdefault("t", time.perf_counter()))
    out = []
    for a in values:
        arrived.clear()
        t0 = time.perf_counter()
        e.set(a=float(a))
        assert e.wait(60)
        out.append(arrived["t"] - t0)
    ref = bw.CachedSimulator("HopfStep").run(DURATION_MS * u.ms, params={"a": float(values[-1])})
    np.testing.assert_allclose(e.sources["trajectory"].data["x[0]"], np.asarray(ref["x"])[:, 0], rtol=1e-6)
    e.close()
    return out


def engine_latency(values: np.ndarray) -> list[float]:
    sim = bw.CachedSimulator("HopfStep")
    jax.block_until_ready(sim.run(DURATION_MS * u.ms)["x"])
    out = []
    for a in values:
        t0 = time.perf_counter()
        jax.block_until_ready(sim.run(DURATION_MS * u.ms, params={"a": float(a)})["x"])
        out.append(time.perf_counter() - t0)
    return out


def naive_latency(values: np.ndarray) -> list[float]:
    out = []
    for a in values:
        t0 = time.perf_counter()
        node = brainmass.HopfStep(1, a=float(a), init_x=braintools.init.Constant(0.5))
        res = brainmass.Simulator(node, dt=0.1 * u.ms).run(DURATION_MS * u.ms, monitors=["x"])
        jax.block_until_ready(res["x"])
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--changes", type=int, default=50, help="parameter changes (default 50)")
    args = parser.parse_args()
    values = np.linspace(0.1, 1.2, args.changes)
    rows = [("ModelExplorer.set -> trajectory source", explorer_latency(values)),
            ("CachedSimulator.run (warm)", engine_latency(values)),
            ("brainmass.Simulator per change", naive_latency(values[: max(5, args.changes // 5)]))]
    print(f"HopfStep, in_size=1, 10,000 steps, {args.changes} changes ({jax.default_backend()})")
    print(f"{'path':42s} {'p50 ms':>9s} {'p95 ms':>9s} {'p50 / engine':>13s}")
    engine_p50 = statistics.median(rows[1][1])
    for name, times in rows:
        p50 = statistics.median(times)
        print(f"{name:42s} {p50 * 1e3:9.2f} {pct(times, 95) * 1e3:9.2f} {p50 / engine_p50:12.1f}x")
    print("target: explorer p50 <= 20 ms")


if __name__ == "__main__":
    main()
