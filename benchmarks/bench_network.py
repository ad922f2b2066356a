"""Network sweep: a 2-D grid (global coupling k x conduction speed) of an 8-region delayed Hopf network.

Run: ``python benchmarks/bench_network.py [--points N] [--duration MS] [--sample N]``. The network
is brainmass's bundled 8-region example connectome with a noisy ``HopfStep`` node per region
(``a = -0.05``, ``w = 0.3``, OU noise sigma 0.02, tau 5 ms), diffusive coupling on ``x`` with
conduction delays distance / speed, ``dt = 0.1 ms``, seed 0; every grid point is reduced to its
mean functional connectivity (mean off-diagonal Pearson correlation of x, ``metric="fc"``).
Measured side by side in one run, on the same grid (default 16 x 16 = 256 simulations of 1 s):

* ``CachedSimulator.sweep``: the speed shapes the delay buffers, so it is structure: one
  ``NetworkModel(speed=s)`` per speed, and one compiled vmap program per speed sweeping every k
  at once (16 compiles). Timed cold (first pass, compiles included) and warm (a second pass);
* the naive sweep order: the grid visited point by point, k outer and speed inner (so the
  structure changes at every point), one ``CachedSimulator.run`` per point and FC in NumPy. The
  run programs (one per speed) are compiled once and reused, but nothing is batched;
* plain brainmass: ``brainmass.Network`` + ``brainmass.Simulator(...).run`` in a Python loop (the
  script ``NetworkController.code()`` emits), FC in NumPy. ``Simulator.run`` compiles anew on
  every call, so it is timed on a sample of points spread over the grid and scaled to the grid.
  The sampled FC values are compared with the sweep's at the same points (same seed).

"compiles" counts XLA backend compilations in each phase (scaled for the sampled loop).
"peak RSS" is the process's peak resident memory (``ru_maxrss``) after each phase; the phases
run in the order printed, so each value is the peak so far, not the phase's own.
"""

from __future__ import annotations

import argparse
import resource
import time
import warnings

import brainmass
import brainstate
import brainunit as u
import jax
import numpy as np

import brainmass_widgets as bw

warnings.filterwarnings("ignore")

XLA = {"compiles": 0}
jax.monitoring.register_event_duration_secs_listener(
    lambda event, duration, **kw: XLA.__setitem__("compiles", XLA["compiles"] + 1)
    if event == "/jax/core/compile/backend_compile_duration" else None
)

DT = 0.1 * u.ms
PARAMS = {"a": -0.05, "w": 0.3, "beta": 1.0, "noise_sigma": 0.02, "noise_tau": 5.0}
SEED = 0


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def mean_fc(x: np.ndarray) -> float:
    """Mean off-diagonal Pearson correlation of a ``(time, regions)`` trace."""
    c = np.corrcoef(np.asarray(x, dtype=np.float64).T)
    n = c.shape[0]
    return float((c.sum() - np.trace(c)) / (n * (n - 1)))


def simulators(speeds: np.ndarray, cache: bw.CompileCache) -> list[bw.CachedSimulator]:
    """One network (a structure of its own) and simulator per speed, sharing ``cache``."""
    return [bw.CachedSimulator(bw.NetworkModel("HopfStep", speed=float(s), noise=True), cache=cache)
            for s in speeds]


def sweep_all(sims: list[bw.CachedSimulator], ks: np.ndarray, duration) -> np.ndarray:
    """``CachedSimulator.sweep`` over k for every speed: values shaped ``(k, speed)``."""
    cols = [sim.sweep({"k": ks}, duration=duration, params=PARAMS, metric="fc", seed=SEED).values
            for sim in sims]
    return np.stack(cols, axis=1)


def naive_order(sims: list[bw.CachedSimulator], ks: np.ndarray, duration) -> np.ndarray:
    """Point by point, k outer and speed inner: one ``CachedSimulator.run`` per point."""
    out = np.empty((len(ks), len(sims)))
    for i, k in enumerate(ks):
        for j, sim in enumerate(sims):
            res = sim.run(duration, params={**PARAMS, "k": float(k)}, seed=SEED)
            out[i, j] = mean_fc(u.get_magnitude(res["x"]))
    return out


def plain_run(k: float, speed: float, duration) -> float:
    """Mean FC of one plain brainmass run (the script ``NetworkController.code()`` emits)."""
    conn = brainmass.datasets.load_dataset("example_connectome")
    brainstate.environ.set(dt=DT)  # delays are sized from dt
    n = len(conn.labels)
    node = brainmass.HopfStep(
        n, a=PARAMS["a"], w=PARAMS["w"], beta=PARAMS["beta"],
        noise_x=brainmass.OUProcess(n, sigma=PARAMS["noise_sigma"], tau=PARAMS["noise_tau"] * u.ms),
        noise_y=brainmass.OUProcess(n, sigma=PARAMS["noise_sigma"], tau=PARAMS["noise_tau"] * u.ms),
    )
    network = brainmass.Network(node, conn=conn.weights, distance=conn.distances, speed=speed * u.mm / u.ms,
                                coupling="diffusive", coupled_var="x", k=k)
    brainstate.random.seed(SEED)
    brainstate.nn.init_all_states(network)
    network.node.x.value = u.math.full_like(network.node.x.value, 0.5)
    result = brainmass.Simulator(network, dt=DT).run(duration, monitors={"x": lambda m: m.node.x.value},
                                                     init_states=False)
    return mean_fc(u.get_magnitude(result["x"]))


def sample_points(points: int, sample: int) -> list[tuple[int, int]]:
    """``sample`` grid points spread over the grid: k rising while the speed falls."""
    idx = np.unique(np.round(np.linspace(0, points - 1, sample)).astype(int))
    return [(int(i), int(points - 1 - i)) for i in idx]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=16, help="grid points per axis (k and speed)")
    parser.add_argument("--duration", type=float, default=1000.0, help="simulated time per point, ms")
    parser.add_argument("--sample", type=int, default=8,
                        help="grid points timed with the plain brainmass loop")
    args = parser.parse_args()
    p = args.points
    duration = args.duration * u.ms
    ks = np.linspace(0.0, 2.0, p)
    speeds = np.linspace(1.0, 16.0, p)
    total = p * p
    print(f"backend: {jax.default_backend()}; grid: {p} k in [0, 2] x {p} speeds in [1, 16] m/s = {total} "
          f"simulations of {args.duration:g} ms ({round(args.duration / 0.1):,} steps, dt = 0.1 ms), "
          f"8 regions; peak RSS after imports {peak_rss_mib():.0f} MiB")
    rows = []

    def phase(name: str, fn, cache: bw.CompileCache | None = None, scale: float = 1.0):
        xla0, prog0 = XLA["compiles"], cache.compiles if cache is not None else 0
        t0 = time.perf_counter()
        out = fn()
        elapsed = (time.perf_counter() - t0) * scale
        programs = f" ({cache.compiles - prog0} programs)" if cache is not None else ""
        rows.append((name, elapsed, (XLA["compiles"] - xla0) * scale, programs, peak_rss_mib()))
        return out

    # CachedSimulator.sweep: one NetworkModel (structure) per speed, one vmap program per speed
    cache = bw.CompileCache(64)
    sims = simulators(speeds, cache)
    fc_cold = phase("CachedSimulator.sweep, cold (compiles included)", lambda: sweep_all(sims, ks, duration),
                    cache)
    fc_warm = phase("CachedSimulator.sweep, warm", lambda: sweep_all(sims, ks, duration), cache)
    assert np.array_equal(fc_cold, fc_warm, equal_nan=True)

    # the naive order: point by point, the structure changing at every point
    naive_cache = bw.CompileCache(64)
    naive_sims = simulators(speeds, naive_cache)
    fc_naive = phase("naive order (run per point, k outer, speed inner), cold",
                     lambda: naive_order(naive_sims, ks, duration), naive_cache)
    phase("naive order, warm", lambda: naive_order(naive_sims, ks, duration), naive_cache)

    # plain brainmass on a sample of the grid, scaled
    picks = sample_points(p, args.sample)

    def plain() -> list[float]:
        return [plain_run(float(ks[i]), float(speeds[j]), duration) for i, j in picks]

    fc_plain = phase(f"plain brainmass Simulator.run loop ({len(picks)} timed, x{total / len(picks):g})",
                     plain, scale=total / len(picks))
    t_plain = rows[-1][1]

    print(f"\n## {p} x {p} sweep (k x speed), {args.duration:g} ms per simulation, metric mean FC\n")
    header = ("method", "total s", "per simulation ms", "ratio vs plain loop (its time / this)", "compiles",
              "peak RSS MiB")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for name, elapsed, compiles, programs, rss in rows:
        comp = ("~" if name.startswith("plain") else "") + f"{compiles:.0f} XLA{programs}"
        print(f"| {name} | {elapsed:.2f} | {elapsed / total * 1e3:.2f} | {t_plain / elapsed:.1f}x | {comp} "
              f"| {rss:.0f} |")
    (_, t_cold, *_), (_, t_warm, *_), (_, t_naive_cold, *_), (_, t_naive_warm, *_) = rows[:4]
    print(f"\nnaive sweep order / CachedSimulator.sweep (time ratio): {t_naive_cold / t_cold:.1f}x cold, "
          f"{t_naive_warm / t_warm:.1f}x warm")
    ours = np.array([fc_warm[i, j] for i, j in picks])
    print(f"max |mean FC difference| at the {len(picks)} sampled points: sweep vs plain brainmass "
          f"{np.max(np.abs(ours - np.array(fc_plain))):.1e}, sweep vs naive order "
          f"{np.nanmax(np.abs(fc_warm - fc_naive)):.1e} (whole grid)")
    print(f"mean FC over the grid: {np.nanmin(fc_warm):.3f} .. {np.nanmax(fc_warm):.3f}; "
          f"diverged points: {int(np.isnan(fc_warm).sum())}")


if __name__ == "__main__":
    main()
