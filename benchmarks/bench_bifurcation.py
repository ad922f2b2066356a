"""Bifurcation-diagram latency: equilibria, stability and special points along one parameter, warm.

Run: ``python benchmarks/bench_bifurcation.py [--repeats N] [--slow-repeats N] [--venv DIR]``.
Measured side by side in one run, for FitzHughNagumoStep (2 states, ``V_inp`` from -2 to 3) and
JansenRitStep (6 states, ``E_inp`` from 0 to 400 Hz), at the catalogue's defaults, each row the
median of several warm repeats (after a first, compiling or importing call):

* ``Bifurcation.diagram(points=200, cycles=0)``: every equilibrium branch by compiled
  pseudo-arclength continuation, its stability, fold and Hopf points refined by Newton's method,
  first Lyapunov coefficients. Targets: 50 ms (FitzHugh-Nagumo), 200 ms (Jansen-Rit);
* a slider move of another parameter (``alpha``, ``C``): ``diagram(cycles=40)`` (limit-cycle
  sweeps included) after that parameter's value changed, a new value every repeat. Target: 250 ms.
  The same moves through the explorer's ``BifurcationController``, from ``set()`` to its status
  turning "done";
* a Python loop of ``scipy.optimize.root`` (``hybr``) over 200 values of the parameter, each
  started from the previous solution (natural continuation, which cannot turn at a fold), then the
  eigenvalues of the Jacobian at each. The right-hand side is either a NumPy closed form of the
  model (written below, checked against the catalogue; Jacobians exact for FitzHugh-Nagumo, by
  finite differences for Jansen-Rit), or the catalogue model's own, through
  ``Bifurcation(...).plane.derivative`` with finite-difference Jacobians. That right-hand side is
  float32: near Jansen-Rit's second Hopf point, where the leading real part is about 1e-4 per ms,
  the differences cannot resolve its sign, and the loop reports spurious stability changes;
* ``brainpy.analysis.Bifurcation2D`` (FitzHugh-Nagumo only: brainpy's low-dimensional analyzers
  take one or two variables, ``Bifurcation1D`` one) over the same 200 values, with its default
  candidate search, a new analyzer per repeat as a parameter change needs; and pycont-lite's
  ``arclengthContinuation`` on the NumPy closed form, from the equilibrium at the low end of the
  range, with its Hopf detection on (its branch-point detection too, except on Jansen-Rit, where
  it raises in ``newton_krylov``). Both run in a separate virtual environment (``--venv``,
  default ``/tmp/venv-bif``: ``python -m venv /tmp/venv-bif && /tmp/venv-bif/bin/pip install
  brainpy pycont-lite``), through this same file in ``--worker`` mode; a row says why it was
  skipped when the environment or a package is missing.

The ratio is each row's median over the continuation's (first row of the model). The last column
lists what each method found: ours and pycont-lite name their special points, the loops and
brainpy the grid values between which stability changes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy import optimize

MODELS = ("FitzHughNagumoStep", "JansenRitStep")
PARAM = {"FitzHughNagumoStep": "V_inp", "JansenRitStep": "E_inp"}
RANGE = {"FitzHughNagumoStep": (-2.0, 3.0), "JansenRitStep": (0.0, 400.0)}
SLIDER = {"FitzHughNagumoStep": ("alpha", (2.8, 3.2)), "JansenRitStep": ("C", (130.0, 140.0))}
TARGET_MS = {"FitzHughNagumoStep": 50.0, "JansenRitStep": 200.0}
SLIDER_TARGET_MS = 250.0
POINTS = 200

warnings.filterwarnings("ignore")  # scipy's "not making good progress" past a fold, JAX's notices

# Catalogue defaults. Jansen-Rit in ms: rates per ms, so the equilibria are the catalogue's and
# the velocities (Mv, Ev, Iv) are in mV/ms.
FHN = {"alpha": 3.0, "beta": 4.0, "gamma": -1.5, "delta": 0.0, "epsilon": 0.5, "tau": 20.0}
JR = {"Ae": 3.25, "Ai": 22.0, "be": 0.1, "bi": 0.05, "C": 135.0, "a1": 1.0, "a2": 0.8, "a3": 0.25,
      "a4": 0.25, "s_max": 0.005, "v0": 6.0, "r": 0.56}


def fhn_rhs(x: np.ndarray, p: float) -> np.ndarray:
    """FitzHugh-Nagumo's derivatives per ms at ``x = (V, w)``, ``V_inp = p``."""
    v, w = x
    q = FHN
    return np.array([-q["alpha"] * v**3 + q["beta"] * v**2 + q["gamma"] * v - w + p,
                     (v - q["delta"] - q["epsilon"] * w) / q["tau"]])


def fhn_jac(x: np.ndarray, p: float) -> np.ndarray:
    """The exact Jacobian of :func:`fhn_rhs`."""
    v = x[0]
    q = FHN
    return np.array([[-3 * q["alpha"] * v**2 + 2 * q["beta"] * v + q["gamma"], -1.0],
                     [1 / q["tau"], -q["epsilon"] / q["tau"]]])


def _sigmoid(v: np.ndarray) -> np.ndarray:
    return JR["s_max"] / (1 + np.exp(JR["r"] * (JR["v0"] - v)))


def jr_rhs(x: np.ndarray, p: float) -> np.ndarray:
    """Jansen-Rit's derivatives per ms at ``x = (M, E, I, Mv, Ev, Iv)``, ``E_inp = p`` Hz."""
    m, e, i, mv, ev, iv = x
    q = JR
    return np.array([
        mv, ev, iv,
        q["Ae"] * q["be"] * _sigmoid(e - i) - 2 * q["be"] * mv - q["be"] ** 2 * m,
        q["Ae"] * q["be"] * (p * 1e-3 + q["C"] * q["a2"] * _sigmoid(q["C"] * q["a1"] * m))
        - 2 * q["be"] * ev - q["be"] ** 2 * e,
        q["Ai"] * q["bi"] * q["C"] * q["a4"] * _sigmoid(q["C"] * q["a3"] * m)
        - 2 * q["bi"] * iv - q["bi"] ** 2 * i,
    ])


CLOSED = {"FitzHughNagumoStep": (fhn_rhs, fhn_jac), "JansenRitStep": (jr_rhs, None)}


def median_ms(times: list[float]) -> float:
    return statistics.median(times) * 1e3


def changes(grid: np.ndarray, stable: np.ndarray) -> str:
    """The grid midpoints where stability changes, as text (the first four)."""
    flips = np.nonzero(np.diff(stable.astype(int)))[0]
    if not len(flips):
        return "no stability change"
    text = ", ".join(f"{0.5 * (grid[i] + grid[i + 1]):.4g}" for i in flips[:4])
    return f"stability changes near {text}" + (f" ... ({len(flips)} in all)" if len(flips) > 4 else "")


# ---------------------------------------------------------------------------------------- ours


def ours(name: str, repeats: int) -> tuple[list[float], str, list[float]]:
    """Warm times of the codim-1 diagram and of slider moves, and what the diagram found."""
    from brainmass_widgets import Bifurcation

    bif = Bifurcation(name)
    bif.diagram(RANGE[name], points=POINTS, cycles=0)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        d = bif.diagram(RANGE[name], points=POINTS, cycles=0)
        times.append(time.perf_counter() - t0)
    found = ", ".join(f"{'H' if s.kind == 'hopf' else 'LP'} {s.param:.4g}"
                      + (f" ({s.criticality[:3]})" if s.kind == "hopf" else "") for s in d.special)
    other, (lo, hi) = SLIDER[name]
    bif.diagram(RANGE[name], params={other: hi + 1.0}, points=POINTS, cycles=40)  # compiles the sweeps
    moves = []
    for value in np.linspace(lo, hi, repeats):
        t0 = time.perf_counter()
        bif.diagram(RANGE[name], params={other: float(value)}, points=POINTS, cycles=40)
        moves.append(time.perf_counter() - t0)
    return times, found or "none", moves


def controller_moves(name: str, repeats: int) -> list[float]:
    """The same slider moves through the explorer's controller, from ``set()`` to "done"."""
    from brainmass_widgets import BifurcationController

    other, (lo, hi) = SLIDER[name]
    c = BifurcationController(name, param_range=RANGE[name], points=POINTS, cycles=40)
    assert c.wait(600)
    times = []
    for value in np.linspace(lo, hi, repeats):
        t0 = time.perf_counter()
        c.set(**{other: float(value)})
        assert c.wait(600)
        times.append(time.perf_counter() - t0)
    c.close()
    return times


# ------------------------------------------------------------------------------- scipy loops


def fd_jacobian(rhs: Callable, x: np.ndarray, p: float, step: float) -> np.ndarray:
    """Forward differences, steps of ``step`` times each coordinate's size (at least ``step``)."""
    f0 = rhs(x, p)
    jac = np.empty((len(x), len(x)))
    for k in range(len(x)):
        h = step * max(1.0, abs(x[k]))
        dx = x.copy()
        dx[k] += h
        jac[:, k] = (rhs(dx, p) - f0) / h
    return jac


def root_loop(rhs: Callable, jac: Callable | None, n: int, grid: np.ndarray, single: bool
              ) -> tuple[np.ndarray, np.ndarray]:
    """Natural continuation: ``scipy.optimize.root`` at every grid value from the last solution
    found, then stability from the Jacobian's eigenvalues (``jac``, or finite differences sized
    for a float32 right-hand side when ``single``). Returns stability and whether the solve
    converged, per value."""
    x = np.zeros(n)
    stable = np.zeros(len(grid), bool)
    ok = np.zeros(len(grid), bool)
    # float32 right-hand sides need coarser finite differences than float64 ones
    options = {"eps": 1e-7} if single else {}
    for j, p in enumerate(grid):
        sol = optimize.root(rhs, x, args=(p,), jac=jac, method="hybr", options=options)
        # a float32 right-hand side can stall hybr at its rounding floor: accept a residual reduced
        # a thousandfold from the start's
        ok[j] = sol.success or np.max(np.abs(sol.fun)) <= 1e-3 * np.max(np.abs(rhs(x, p)))
        if ok[j]:
            x = sol.x
            jm = jac(x, p) if jac is not None else fd_jacobian(rhs, x, p, 1e-3 if single else 1e-7)
            stable[j] = np.all(np.linalg.eigvals(jm).real < 0)
    return stable, ok


def plane_rhs(name: str) -> Callable:
    """The catalogue model's derivative per ms through ``PhasePlane.derivative``, as ``f(x, p)``."""
    from brainmass_widgets import Bifurcation

    plane = Bifurcation(name).plane
    states = plane.spec.states
    param = PARAM[name]

    def f(x: np.ndarray, p: float) -> np.ndarray:
        d = plane.derivative({s: x[i] for i, s in enumerate(states)}, {param: p})
        return np.array([d[s][0] for s in states], dtype=np.float64)

    return f


def loops(name: str, repeats: int) -> list[tuple[str, list[float], str]]:
    """Rows for the scipy loops on the closed form and on ``plane.derivative``."""
    grid = np.linspace(*RANGE[name], POINTS)
    rows = []
    closed, closed_jac = CLOSED[name]
    closed_label = "NumPy closed form" + (", exact Jacobian" if closed_jac else "")
    n = 6 if name == "JansenRitStep" else 2
    for label, rhs, jac, single in ((closed_label, closed, closed_jac, False),
                                    ("plane.derivative", plane_rhs(name), None, True)):
        root_loop(rhs, jac, n, grid[:3], single)  # warm: imports, the derivative's compiled program
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            stable, ok = root_loop(rhs, jac, n, grid, single)
            times.append(time.perf_counter() - t0)
        found = changes(grid[ok], stable[ok])
        if not ok.all():
            found += f"; {np.sum(~ok)} solves failed, the first at {grid[~ok][0]:.4g}"
        rows.append((f"scipy root loop, {label}", times, found))
    return rows


# ------------------------------------------------------------------ brainpy and pycont (venv)


def worker_brainpy(name: str, repeats: int) -> dict:
    """Run in the venv: brainpy's Bifurcation2D on FitzHugh-Nagumo over the same grid."""
    if name != "FitzHughNagumoStep":
        return {"skip": "brainpy's analyzers take one or two variables; Jansen-Rit has six"}
    import brainpy as bp
    import brainpy.math as bm

    bm.enable_x64()
    q = FHN

    @bp.odeint
    def int_v(V, t, w, V_inp=0.0):  # brainpy names the variables and parameters by argument
        return -q["alpha"] * V**3 + q["beta"] * V**2 + q["gamma"] * V - w + V_inp

    @bp.odeint
    def int_w(w, t, V):
        return (V - q["delta"] - q["epsilon"] * w) / q["tau"]

    grid = np.linspace(*RANGE[name], POINTS)
    times = []
    for _ in range(repeats + 1):
        t0 = time.perf_counter()
        analyzer = bp.analysis.Bifurcation2D(model=[int_v, int_w],
                                             target_vars={"V": [-3.0, 3.0], "w": [-6.0, 6.0]},
                                             target_pars={"V_inp": list(RANGE[name])},
                                             resolutions={"V_inp": grid})
        fps, pars, jac = analyzer.plot_bifurcation(with_plot=False, with_return=True)
        times.append(time.perf_counter() - t0)
    p = np.asarray(pars)[:, 0]
    order = np.argsort(p)
    stable = np.all(np.linalg.eigvals(np.asarray(jac)).real < 0, axis=1)[order]
    return {"times": times[1:], "found": f"{len(p)} equilibria; " + changes(p[order], stable),
            "version": bp.__version__}


def worker_pycont(name: str, repeats: int) -> dict:
    """Run in the venv: pycont-lite's pseudo-arclength continuation on the closed form."""
    from importlib.metadata import version

    from pycont import Verbosity, arclengthContinuation

    rhs = CLOSED[name][0]
    lo, hi = RANGE[name]
    n = 2 if name == "FitzHughNagumoStep" else 6
    u0 = optimize.root(lambda x: rhs(x, lo), np.zeros(n)).x
    ds = 0.01 * (hi - lo)  # about 200 steps across the range
    times = []
    for _ in range(repeats + 1):
        t0 = time.perf_counter()
        res = arclengthContinuation(
            rhs, u0, lo, ds_min=1e-4, ds_max=ds, ds_0=ds / 2, n_steps=4 * POINTS,
            solver_parameters={"param_min": lo, "param_max": hi, "initial_directions": "increase_p",
                               "hopf_detection": True, "limit_cycle_continuation": False,
                               "bifurcation_detection": name == "FitzHughNagumoStep"},
            verbosity=Verbosity.OFF)
        times.append(time.perf_counter() - t0)
    events = [f"{e.kind} {float(e.p):.4g}" for e in res.events if e.kind not in ("SP",)]
    return {"times": times[1:], "found": ", ".join(events) or "no event", "version": version("pycont-lite")}


WORKERS = {"brainpy": worker_brainpy, "pycont": worker_pycont}


def external(kind: str, name: str, repeats: int, venv: Path) -> tuple[list[float] | None, str]:
    """Run a worker in the venv: its warm times and what it found, or ``None`` and the reason."""
    python = venv / "bin" / "python"
    if not python.exists():
        return None, f"skipped: no venv at {venv}"
    cmd = [str(python), __file__, "--worker", kind, "--model", name, "--repeats", str(repeats)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    except subprocess.TimeoutExpired:
        return None, "skipped: timed out after 30 min"
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return None, f"skipped: {last[:90]}"
    out = json.loads(lines[-1])
    if "skip" in out:
        return None, f"skipped: {out['skip']}"
    return out["times"], f"{kind} {out['version']}: {out['found']}"


# ---------------------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="warm repeats of the fast rows")
    parser.add_argument("--slow-repeats", type=int, default=2,
                        help="warm repeats of brainpy (tens of seconds each)")
    parser.add_argument("--venv", type=Path, default=Path("/tmp/venv-bif"),
                        help="virtual environment holding brainpy and pycont-lite")
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("--model", choices=MODELS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        try:
            out = WORKERS[args.worker](args.model, args.repeats)
        except ImportError as exc:
            out = {"skip": f"{exc.name or exc} is not installed in this venv"}
        print(json.dumps(out))
        return

    print(f"bifurcation diagram over {POINTS} parameter values, warm, median of repeats (ms); "
          "ratio: median / the continuation's")
    header = f"{'model':<19} {'method':<58} {'median':>10} {'ratio':>8} {'target':>14}  found"
    print(header)
    print("-" * len(header))
    for name in MODELS:
        base, found, moves = ours(name, args.repeats)
        ref = median_ms(base)
        other = SLIDER[name][0]
        rows = [(f"ours: diagram(points={POINTS}, cycles=0)", base, TARGET_MS[name], found),
                (f"ours: slider move ({other}), diagram(cycles=40)", moves, SLIDER_TARGET_MS, ""),
                (f"ours: slider move ({other}), BifurcationController.set to done",
                 controller_moves(name, args.repeats), SLIDER_TARGET_MS, "")]
        rows += [(label, times, None, text) for label, times, text in loops(name, args.repeats)]
        for kind, label, reps in (("brainpy", "brainpy Bifurcation2D (venv)", args.slow_repeats),
                                  ("pycont", "pycont-lite arclengthContinuation (venv)", args.repeats)):
            times, text = external(kind, name, reps, args.venv)
            rows.append((label, times, None, text))
        for label, times, target, text in rows:
            if times is None:
                print(f"{name:<19} {label:<58} {'-':>10} {'-':>8} {'':>14}  {text}")
                continue
            ms = median_ms(times)
            verdict = "" if target is None else f"<= {target:.0f} {'ok' if ms <= target else 'MISSED'}"
            print(f"{name:<19} {label:<58} {ms:10.1f} {ms / ref:7.1f}x {verdict:>14}  {text}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
