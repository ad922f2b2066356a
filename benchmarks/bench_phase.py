"""Phase-plane latency: vector field + nullclines on a 100 x 100 grid, per parameter change.

Run: ``python benchmarks/bench_phase.py [--changes N] [--grid N]``. Measured side by side in one
run, for HopfStep and FitzHughNagumoStep, warm (after the first, compiling call):

* ``PhasePlane.field`` + ``PhasePlane.nullclines``: the model's own derivative recorded from one
  traced ``update``, one compiled call for the whole grid, then contourpy's zero-level lines;
* the same field computed tvb-widgets' way: a Python double loop over the grid calling the
  model's derivative (here brainmass's own ``model.derivative``, eagerly) point by point, then
  the same nullcline extraction. The loop is timed on every 10th row and scaled to the grid;
* the fixed-point solve (vmapped Newton from 12 x 12 seeds) and the whole controller update
  (field, nullclines, fixed points, arrows) from ``set()`` to its status turning "done".
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import brainstate
import brainunit as u
import numpy as np

import brainmass_widgets as bw
from brainmass_widgets._phase import PhasePlane, zero_level
from brainmass_widgets._phase_controller import PhasePlaneController

warnings.filterwarnings("ignore")

CASES = {
    "HopfStep": ("a", np.linspace(-0.5, 1.0, 64), ((-1.5, 1.5), (-1.5, 1.5)), (0.0, 0.0)),
    "FitzHughNagumoStep": ("alpha", np.linspace(2.0, 4.0, 64), ((-2.5, 2.5), (-1.0, 2.5)), (1.0, 0.0)),
}


def p50_p95(values: list[float]) -> tuple[float, float]:
    return statistics.median(values), float(np.percentile(values, 95))


def ours(name: str, param: str, values: np.ndarray, ranges: tuple, n: int) -> list[float]:
    pp = PhasePlane(name)
    pp.nullclines(pp.field(*ranges, n, params={param: float(values[0])}))
    times = []
    for v in values:
        t0 = time.perf_counter()
        pp.nullclines(pp.field(*ranges, n, params={param: float(v)}))
        times.append(time.perf_counter() - t0)
    return times


def python_loop(name: str, param: str, value: float, ranges: tuple, n: int, inputs: tuple) -> float:
    """Seconds for the full grid, tvb-widgets' way (timed on every 10th row, scaled)."""
    spec = bw.model_spec(name)
    model = spec.model_class(1, **{param: value})
    xs, ys = np.linspace(*ranges[0], n), np.linspace(*ranges[1], n)
    dx, dy = np.zeros((n, n)), np.zeros((n, n))
    rows = range(0, n, 10)
    with brainstate.environ.context(dt=spec.dt):
        brainstate.nn.init_all_states(model)
        t0 = time.perf_counter()
        for j in rows:
            for i in range(n):
                d = model.derivative((np.array([xs[i]]), np.array([ys[j]])), 0.0 * u.ms, *inputs)
                dx[j, i] = float(u.get_magnitude(d[0] * u.ms)[0])
                dy[j, i] = float(u.get_magnitude(d[1] * u.ms)[0])
        zero_level(xs, ys, dx)
        zero_level(xs, ys, dy)
        elapsed = time.perf_counter() - t0
    return elapsed * n / len(rows)


def controller(name: str, param: str, values: np.ndarray, ranges: tuple, n: int) -> list[float]:
    c = PhasePlaneController(name, x_range=ranges[0], y_range=ranges[1], grid=n)
    assert c.wait(300)
    times = []
    for v in values[:16]:
        t0 = time.perf_counter()
        c.set(**{param: float(v)})
        assert c.wait(60)
        times.append(time.perf_counter() - t0)
    c.close()
    return times


def fixed_point_times(name: str, param: str, values: np.ndarray, ranges: tuple) -> list[float]:
    pp = PhasePlane(name)
    pp.fixed_points(*ranges, params={param: float(values[0])})
    times = []
    for v in values[:16]:
        t0 = time.perf_counter()
        pp.fixed_points(*ranges, params={param: float(v)})
        times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=64, help="parameter changes timed per model")
    parser.add_argument("--grid", type=int, default=100, help="grid points per axis")
    args = parser.parse_args()
    n = args.grid
    print(f"vector field + nullclines, {n} x {n} grid, warm, per parameter change (ms)")
    print(f"{'model':<20} {'ours p50':>9} {'p95':>7} {'python loop':>12} {'ratio':>8} "
          f"{'fixed pts p50':>14} {'controller p50':>15} {'p95':>7}")
    for name, (param, values, ranges, inputs) in CASES.items():
        values = values[: args.changes]
        mine = p50_p95(ours(name, param, values, ranges, n))
        loop = python_loop(name, param, float(values[0]), ranges, n, inputs)
        fps = p50_p95(fixed_point_times(name, param, values, ranges))
        ctl = p50_p95(controller(name, param, values, ranges, n))
        print(f"{name:<20} {mine[0] * 1e3:9.2f} {mine[1] * 1e3:7.2f} {loop * 1e3:12.0f} "
              f"{loop / mine[0]:7.0f}x {fps[0] * 1e3:14.2f} {ctl[0] * 1e3:15.2f} {ctl[1] * 1e3:7.2f}")


if __name__ == "__main__":
    main()
