"""Bifurcation diagrams of catalogue models: equilibrium branches by numerical continuation, their
stability, fold and Hopf points, limit-cycle extents, and fold and Hopf curves in two parameters.

Everything is computed from the model's own right-hand side (:meth:`PhasePlane.traced_derivative`),
so no equation is typed twice. Branches are followed by pseudo-arclength continuation (a tangent
predictor and a bordered Newton corrector, with step-size control) compiled as one ``lax.scan`` and
vmapped over starting points; the Jacobian comes from ``jax.jacfwd``. Continuation works in scaled
coordinates (the parameter's range maps to [0, 1], each state to its typical size), so one step
length fits every model. Parameters are traced arguments: moving a second parameter reuses the
compiled programs.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import brainunit as u
import numpy as np

from ._bifurcation_programs import BifurcationPrograms, bialternate
from ._bifurcation_results import BifurcationDiagram, Branch, Curve, Regions, SpecialPoint
from ._catalog import ModelSpec
from ._compile import CompileCache
from ._engine import CachedSimulator
from ._phase import PhasePlane, check_count, check_range
from ._request import signature
from ._units import one_line

__all__ = [
    "Bifurcation",
    "BifurcationDiagram",
    "Branch",
    "Curve",
    "Regions",
    "SpecialPoint",
    "bialternate",
]

#: Parameter drawn on the horizontal axis when none is named: the model's drive where it has one.
DEFAULT_PARAMS = {
    "HopfStep": "a",
    "StuartLandauStep": "a",
    "VanDerPolStep": "mu",
    "FitzHughNagumoStep": "V_inp",
    "ThresholdLinearStep": "E_inp",
    "Generic2dOscillatorStep": "I",
    "WilsonCowanStep": "rE_inp",
    "JansenRitStep": "E_inp",
    "WongWangStep": "I_0",
    "WongWangExcInhStep": "I_ext",
    "MontbrioPazoRoxinStep": "eta",
    "CoombesByrneStep": "eta",
    "LarterBreakspearStep": "Iext",
    "EpileptorStep": "x0",
    "LorenzStep": "rho",
}

_PROGRAMS = CompileCache(64)
# the runs and sweeps of every Bifurcation, shared: a new instance reuses their programs
_SIMULATIONS = CompileCache(32)
_SEED_ITERS = 40  # Newton iterations from each seed of the brute-force search
_REFINE_ITERS = 30  # Newton iterations locating a fold or Hopf point


def _pad(n: int) -> int:
    """Batch sizes rounded up to powers of two, so counts that vary reuse programs."""
    return 1 << max(0, (n - 1).bit_length())


class Bifurcation:
    """Bifurcation analysis of a catalogue model against one of its parameters.

    Parameters
    ----------
    model : str
        A catalogue model with at least two state variables.
    param : str, optional
        The parameter on the horizontal axis (default: the model's drive, e.g. ``E_inp`` for
        Jansen-Rit, ``a`` for the Hopf oscillator).
    variable : str, optional
        The state variable on the vertical axis (default: the model's default monitor).

    Examples
    --------
    >>> bif = Bifurcation("HopfStep")
    >>> d = bif.diagram((-0.5, 0.5))
    >>> [(p.kind, round(p.param, 3), p.criticality) for p in d.special]
    [('hopf', 0.0, 'supercritical')]
    """

    def __init__(self, model: str = "HopfStep", param: str | None = None, variable: str | None = None):
        self.plane = PhasePlane(model)
        self.spec: ModelSpec = self.plane.spec
        self.param = param or DEFAULT_PARAMS.get(self.spec.name, next(iter(self.spec.params)))
        if self.param not in self.spec.params:
            raise ValueError(
                f"{self.param!r} is not a parameter of {self.spec.name}; valid: {one_line(self.spec.params)}"
            )
        self.variable = variable or self.spec.default_monitor
        if self.variable not in self.spec.states:
            raise ValueError(
                f"{self.variable!r} is not a state variable of {self.spec.name}; "
                f"valid: {one_line(self.spec.states)}"
            )
        self.states: tuple[str, ...] = tuple(self.spec.states)
        self._sim: CachedSimulator | None = None
        self._sims: CachedSimulator | None = None
        self._programs = BifurcationPrograms(self.plane, _PROGRAMS)

    # ------------------------------------------------------------------ validation

    def param_range(
        self, value: Sequence[float] | None = None, name: str | None = None
    ) -> tuple[float, float]:
        """A checked ``(low, high)`` range of a parameter (default: its slider range)."""
        name = name or self.param
        if name not in self.spec.params:
            raise ValueError(
                f"{name!r} is not a parameter of {self.spec.name}; valid: {one_line(self.spec.params)}"
            )
        if value is None:
            ps = self.spec.params[name]
            return float(ps.low), float(ps.high)
        return check_range(value, name)

    # ------------------------------------------------------------------ pieces of a diagram

    def _context(
        self,
        values: Mapping[str, np.ndarray],
        names: tuple[str, ...],
        ranges: Sequence[tuple],
        scale: np.ndarray,
        h: float,
    ) -> dict[str, Any]:
        fixed = {k: v for k, v in values.items() if k not in names}
        return {
            "values": fixed,
            "scale": np.asarray(scale, np.float32),
            "lo": np.array([r[0] for r in ranges], np.float32),
            "span": np.array([r[1] - r[0] for r in ranges], np.float32),
            "h": np.float32(h),
        }

    def _simulator(self) -> CachedSimulator:
        if self._sims is None:
            self._sims = CachedSimulator(self.spec.name, in_size=3, cache=_SIMULATIONS)
        return self._sims

    def _explore(
        self, values: Mapping[str, np.ndarray], prange: tuple[float, float]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Runs at the low end, the middle and the high end of the range: their trajectories (seeds
        for the equilibrium search), each state's typical size, and the final states."""
        ps = np.array([prange[0], 0.5 * (prange[0] + prange[1]), prange[1]], np.float32)
        params = {**{k: v for k, v in values.items() if k != self.param}, self.param: ps}
        res = self._simulator().run(self.spec.duration, params=params, monitors=list(self.states))
        traj = np.stack(
            [np.asarray(u.get_magnitude(res[s]), np.float64) for s in self.states], axis=-1
        )  # (time, 3, n)
        traj = np.where(np.isfinite(traj), traj, np.nan)
        span = np.nanmax(np.abs(traj), axis=(0, 1))
        scale = np.where(np.isfinite(span) & (span > 0), span, 1.0)
        scale = np.maximum(scale, 1e-3 * np.max(scale))
        return traj, scale.astype(np.float32), traj[-1]

    def _seeds(
        self, traj: np.ndarray, scale: np.ndarray, prange: tuple[float, float], count: int
    ) -> np.ndarray:
        """Scaled Newton starts ``(x / scale, p)``: trajectory samples and random points in the
        visited box, at ``count`` parameter values across the range."""
        n = len(self.states)
        rng = np.random.default_rng(0)
        flat = traj.reshape(-1, n)
        flat = flat[np.all(np.isfinite(flat), axis=1)] / scale
        picks = flat[rng.integers(0, len(flat), 24)] if len(flat) else np.zeros((0, n))
        lo = np.min(flat, axis=0) if len(flat) else -np.ones(n)
        hi = np.max(flat, axis=0) if len(flat) else np.ones(n)
        pad = 0.5 * (hi - lo) + 0.05
        box = rng.uniform(lo - pad, hi + pad, (8 * n, n))
        xs = np.concatenate([picks, box, np.zeros((1, n))]).astype(np.float32)
        pv = np.linspace(0.0, 1.0, count, dtype=np.float32)
        z = np.concatenate(
            [np.repeat(xs[None], count, 0), np.broadcast_to(pv[:, None, None], (count, len(xs), 1))], axis=2
        )
        return z.reshape(-1, n + 1)

    def _solve(
        self, kind: str, names: tuple[str, ...], z0: np.ndarray, ctx: Mapping[str, Any], iters: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Newton from every row of ``z0``: the solutions and whether each converged."""
        batch = _pad(len(z0))
        zp = np.concatenate([z0, np.repeat(z0[-1:], batch - len(z0), 0)]).astype(np.float32)
        prog = self._programs.newton(kind, names, batch, iters, signature(ctx["values"]))
        z, err = (np.asarray(a) for a in prog(zp, ctx))
        ok = np.all(np.isfinite(z), axis=1) & (err < 1e-5) & np.all(np.abs(z) < 1e4, axis=1)
        return z[: len(z0)], ok[: len(z0)]

    def equilibria(
        self,
        values: Sequence[float],
        *,
        params: Mapping[str, Any] | None = None,
        param_range: Sequence[float] | None = None,
    ) -> list[np.ndarray]:
        """Equilibria at each of a list of parameter values by a brute-force search: a vmapped
        Newton solve from many seeds at every value, independent of continuation.

        Parameters
        ----------
        values : sequence of float
            Values of :attr:`param`.
        params : Mapping[str, Any], optional
            The other parameters (defaults otherwise).
        param_range : (float, float), optional
            Range whose runs give the seeds' box (default: the span of ``values``, widened).

        Returns
        -------
        list of numpy.ndarray
            Per value, the distinct equilibria found, shape ``(k, n_states)``.
        """
        vals = np.asarray(values, dtype=np.float64).ravel()
        if vals.size == 0 or not np.all(np.isfinite(vals)):
            raise ValueError(f"values of {self.param!r} must be finite numbers; got {values!r}")
        lo, hi = float(vals.min()), float(vals.max())
        prange = (
            self.param_range(param_range) if param_range is not None else (lo, hi if hi > lo else lo + 1.0)
        )
        values_c = self.plane.param_values(params)
        traj, scale, _ = self._explore(values_c, prange)
        ctx = self._context(values_c, (self.param,), [prange], scale, 0.01)
        seeds = self._seeds(traj, scale, prange, 1)[:, :-1]
        span = prange[1] - prange[0]
        out = []
        for v in vals:
            z0 = np.concatenate([seeds, np.full((len(seeds), 1), (v - prange[0]) / span, np.float32)], axis=1)
            z, ok = self._solve("eq", (self.param,), z0, ctx, _SEED_ITERS)
            out.append(_distinct(z[ok, :-1], 1e-3) * scale)
        return out

    # ------------------------------------------------------------------ the diagram

    def diagram(
        self,
        param_range: Sequence[float] | None = None,
        *,
        params: Mapping[str, Any] | None = None,
        points: int = 200,
        cycles: int = 40,
        cycle_time: Any = None,
    ) -> BifurcationDiagram:
        """Equilibrium branches with their stability, fold and Hopf points, and limit-cycle extents.

        Parameters
        ----------
        param_range : (float, float), optional
            Range of :attr:`param` (default: its slider range).
        params : Mapping[str, Any], optional
            The other parameters (defaults otherwise).
        points : int
            Continuation steps across the range, about (10 to 2000).
        cycles : int
            Parameter values of the limit-cycle sweeps (0 to skip them; at most 1000).
        cycle_time : brainunit.Quantity, optional
            Run length of each limit-cycle run; its first half is discarded (default: twice the
            catalogue's duration).

        Returns
        -------
        BifurcationDiagram
        """
        prange = self.param_range(param_range)
        points = check_count(points, "points", 10, 2000)
        cycles = check_count(cycles, "cycles", 0, 1000)
        values = self.plane.param_values(params)
        traj, scale, final = self._explore(values, prange)
        names = (self.param,)
        ctx = self._context(values, names, [prange], scale, 1.0 / points)
        branches_z = self._branches(ctx, traj, scale, prange, points)
        branches, special = self._classify(branches_z, ctx, values)
        cycle_param, cyc = self._cycles(values, prange, final, scale, cycles, cycle_time)
        return BifurcationDiagram(
            model=self.spec.name,
            param=self.param,
            variable=self.variable,
            param_range=prange,
            params={k: float(v) for k, v in values.items() if k != self.param},
            branches=branches,
            special=sorted(special, key=lambda s: s.param),
            cycle_param=cycle_param,
            cycles=cyc,
            states=self.states,
        )

    def _trace(
        self,
        kind: str,
        names: tuple[str, ...],
        starts: np.ndarray,
        directions: np.ndarray,
        ctx: Mapping[str, Any],
        steps: int,
    ) -> list[np.ndarray]:
        """Follow curves from each start along each direction: the accepted points of each."""
        batch = _pad(len(starts))
        pad = batch - len(starts)
        z0 = np.concatenate([starts, np.repeat(starts[-1:], pad, 0)]).astype(np.float32)
        t0 = np.concatenate([directions, np.repeat(directions[-1:], pad, 0)]).astype(np.float32)
        prog = self._programs.continuation(kind, names, batch, steps, signature(ctx["values"]))
        zs, acc = (np.asarray(a) for a in prog(z0, t0, ctx))
        return [np.concatenate([starts[i : i + 1], zs[i][acc[i]]]) for i in range(len(starts))]

    def _branches(
        self,
        ctx: Mapping[str, Any],
        traj: np.ndarray,
        scale: np.ndarray,
        prange: tuple[float, float],
        points: int,
    ) -> list[np.ndarray]:
        """Scaled points of every equilibrium branch: continued from the equilibria at the low end
        of the range, then from any equilibrium of a coarse brute-force search that no branch
        passes near."""
        n = len(self.states)
        names = (self.param,)
        steps = 3 * points
        seeds = self._seeds(traj, scale, prange, 9)
        z, ok = self._solve("eq", names, seeds, ctx, _SEED_ITERS)
        found = z[ok]
        if not len(found):
            return []
        found = _distinct(found, 1e-3)
        hmax = 2.0 * float(ctx["h"])
        forward = np.zeros(n + 1, np.float32)
        forward[-1] = 1.0
        branches: list[np.ndarray] = []
        low = found[found[:, -1] == 0.0]
        if len(low):
            for b in self._trace("eq", names, low, np.repeat(forward[None], len(low), 0), ctx, steps):
                # a branch that starts where an earlier one ends (the far side of a fold) is that one
                if not any(np.min(np.linalg.norm(k - b[0], axis=1)) <= 2 * hmax for k in branches):
                    branches.append(b)
        for _ in range(6):
            covered = np.concatenate(branches) if branches else np.zeros((0, n + 1))
            left = [
                q for q in found if not len(covered) or np.min(np.linalg.norm(covered - q, axis=1)) > 2 * hmax
            ]
            if not left:
                break
            start = np.stack([left[0], left[0]])
            back, ahead = self._trace("eq", names, start, np.stack([-forward, forward]), ctx, steps)
            branches.append(np.concatenate([back[::-1], ahead[1:]]))
        return [b for b in branches if len(b) >= 2]

    def _classify(
        self, branches_z: list[np.ndarray], ctx: Mapping[str, Any], values: Mapping[str, Any]
    ) -> tuple[list[Branch], list[SpecialPoint]]:
        names = (self.param,)
        n = len(self.states)
        scale, lo, span = ctx["scale"], float(ctx["lo"][0]), float(ctx["span"][0])
        branches, candidates = [], []
        for bi, zb in enumerate(branches_z):
            jac = self._jacobians_at(names, zb, ctx)
            lam = np.linalg.eigvals(jac.astype(np.float64))
            lam = np.take_along_axis(lam, np.argsort(-lam.real, axis=1, kind="stable"), axis=1)
            re = lam.real
            stable = np.all(re < 0, axis=1)
            branches.append(
                Branch(
                    param=lo + zb[:, -1].astype(np.float64) * span,
                    states=zb[:, :n].astype(np.float64) * scale,
                    eigenvalues=lam,
                    stable=stable,
                )
            )
            det = np.prod(lam, axis=1).real
            hopf = _bialternate_sign(lam)
            for i in range(len(zb) - 1):
                if np.sign(det[i]) != np.sign(det[i + 1]) and det[i] != 0:
                    w = det[i] / (det[i] - det[i + 1])
                    candidates.append(("fold", bi, zb[i] + w * (zb[i + 1] - zb[i])))
                # a Hopf point or a neutral saddle lies between: told apart after refinement
                if hopf[i] * hopf[i + 1] < 0:
                    a, b = _hopf_margin(lam[i]), _hopf_margin(lam[i + 1])
                    w = a / (a - b) if a * b < 0 else 0.5
                    candidates.append(("hopf", bi, zb[i] + w * (zb[i + 1] - zb[i])))
        special = []
        for kind in ("fold", "hopf"):
            group = [c for c in candidates if c[0] == kind]
            if not group:
                continue
            guess = np.stack([c[2] for c in group]).astype(np.float32)
            z, ok = self._solve(kind, names, guess, ctx, _REFINE_ITERS)
            near = np.linalg.norm(z - guess, axis=1) < 10 * float(ctx["h"])
            z = np.where((ok & near)[:, None], z, guess)
            jac = self._jacobians_at(names, z, ctx)
            seen: list[np.ndarray] = []
            for (_, bi, _), zi, ji in zip(group, z, jac, strict=True):
                if any(np.max(np.abs(zi - q)) < 1e-4 for q in seen):
                    continue  # two crossings refined to one point
                seen.append(zi)
                state = dict(zip(self.states, map(float, zi[:n].astype(np.float64) * scale), strict=True))
                p = lo + float(zi[-1]) * span
                if kind == "fold":
                    special.append(SpecialPoint("fold", p, state, bi))
                    continue
                lam = np.linalg.eigvals(ji.astype(np.float64))
                pair = lam[np.abs(lam.imag) > 0]
                if not len(pair):
                    continue  # a neutral saddle (real eigenvalues lambda and -lambda): no oscillation
                nearest = pair[np.argmin(np.abs(pair.real))]
                if abs(nearest.real) > 1e-3 * abs(nearest.imag):
                    continue
                omega = float(abs(nearest.imag))
                l1 = self._lyapunov({**values, self.param: np.float32(p)}, zi[:n] * scale, ji, omega)
                special.append(
                    SpecialPoint("hopf", p, state, bi, frequency_hz=omega / (2 * np.pi) * 1000.0, lyapunov=l1)
                )
        return branches, special

    def _jacobians_at(self, names: tuple[str, ...], z: np.ndarray, ctx: Mapping[str, Any]) -> np.ndarray:
        batch = _pad(len(z))
        zp = np.concatenate([z, np.repeat(z[-1:], batch - len(z), 0)]).astype(np.float32)
        return np.asarray(self._programs.jacobians(names, batch, signature(ctx["values"]))(zp, ctx))[: len(z)]

    def _lyapunov(self, values: Mapping[str, Any], x: np.ndarray, jac: np.ndarray, omega: float) -> float:
        """First Lyapunov coefficient at a Hopf point (Kuznetsov, *Elements of Applied Bifurcation
        Theory*, eq. 3.20), from the model's second and third derivatives by ``jax.jvp``."""
        a = jac.astype(np.complex128)
        lam, vr = np.linalg.eig(a)
        q = vr[:, np.argmin(np.abs(lam - 1j * omega))]
        lam_t, vl = np.linalg.eig(a.T)
        p = vl[:, np.argmin(np.abs(lam_t + 1j * omega))]
        p = p / np.conj(np.vdot(p, q))  # <p, q> = conj(p) . q = 1
        forms = self._programs.forms(signature(values))
        x = np.asarray(x, np.float32)

        def multilinear(*args: np.ndarray) -> np.ndarray:
            """B(args) or C(args) for complex arguments, by expanding into real directions."""
            terms = list(itertools.product(*[((v.real, 1.0), (v.imag, 1j)) for v in args]))
            dirs = [np.stack([t[i][0] for t in terms]).astype(np.float32) for i in range(len(args))]
            coef = np.array([np.prod([t[i][1] for i in range(len(args))]) for t in terms])
            if len(args) == 2:
                out = np.asarray(forms(values, x, dirs[0], dirs[1], dirs[0], dirs[0], dirs[0])[0])
            else:
                out = np.asarray(forms(values, x, dirs[0], dirs[0], dirs[0], dirs[1], dirs[2])[1])
            return (coef[:, None] * out.astype(np.float64)).sum(axis=0)

        qb = np.conj(q)
        c = multilinear(q, q, qb)
        r = np.linalg.solve(a, multilinear(q, qb))
        s = np.linalg.solve(2j * omega * np.eye(len(x)) - a, multilinear(q, q))
        total = np.vdot(p, c) - 2 * np.vdot(p, multilinear(q, r)) + np.vdot(p, multilinear(qb, s))
        return float(total.real / (2 * omega))

    def _cycles(
        self,
        values: Mapping[str, np.ndarray],
        prange: tuple[float, float],
        final: np.ndarray,
        scale: np.ndarray,
        count: int,
        cycle_time: Any,
    ) -> tuple[np.ndarray, dict[str, tuple[np.ndarray, np.ndarray]]]:
        """Extent of :attr:`variable` along the range, in minmax sweeps of the engine started from
        the attractors reached at the low and at the high end of the range."""
        grid = np.linspace(prange[0], prange[1], count, dtype=np.float32)
        if count == 0:
            return grid, {}
        if self._sim is None:
            self._sim = CachedSimulator(self.spec.name, cache=_SIMULATIONS)
        duration = cycle_time if cycle_time is not None else 2 * self.spec.duration
        fixed = {k: v for k, v in values.items() if k != self.param}
        out = {}
        for name, node in (("up", 0), ("down", 2)):
            # nudged off the end state: a run started exactly on an unstable equilibrium never leaves it
            init = {
                s: float(final[node, i] + 1e-3 * scale[i])
                for i, s in enumerate(self.states)
                if np.isfinite(final[node, i])
            }
            sw = self._sim.sweep(
                {self.param: grid},
                duration=duration,
                params=fixed,
                init=init,
                transient=duration / 2,
                monitor=self.variable,
                metric="minmax",
            )
            vals = np.asarray(sw.values, dtype=np.float64).reshape(count, 2)
            mn, mx = vals[:, 0], vals[:, 1]
            flat = (mx - mn) <= 1e-3 * max(
                float(np.nanmax(np.abs(vals))) if np.isfinite(vals).any() else 1.0, 1e-9
            )
            out[name] = (np.where(flat, np.nan, mn), np.where(flat, np.nan, mx))
        return grid.astype(np.float64), out

    # ------------------------------------------------------------------ codim-2

    def curves(
        self,
        diagram: BifurcationDiagram,
        second: str,
        second_range: Sequence[float] | None = None,
        *,
        points: int = 200,
    ) -> list[Curve]:
        """Fold and Hopf curves in the plane of :attr:`param` and ``second``, continued from the
        special points of ``diagram`` (which was computed at the current value of ``second``).

        Parameters
        ----------
        diagram : BifurcationDiagram
        second : str
            The second parameter (vertical axis).
        second_range : (float, float), optional
            Its range (default: its slider range).
        points : int
            Continuation steps across the plane, about.

        Returns
        -------
        list of Curve
        """
        if second == self.param:
            raise ValueError(f"the second parameter must differ from {self.param!r}")
        srange = self.param_range(second_range, second)
        points = check_count(points, "points", 10, 2000)
        n = len(self.states)
        values = self.plane.param_values({**diagram.params, self.param: diagram.param_range[0]})
        s_now = float(values[second])
        if not srange[0] <= s_now <= srange[1]:
            raise ValueError(f"{second} = {s_now:g} lies outside its range {srange}")
        names = (self.param, second)
        _, scale, _ = self._explore(values, diagram.param_range)
        ctx = self._context(values, names, [diagram.param_range, srange], scale, 1.0 / points)
        out = []
        for kind in ("fold", "hopf"):
            pts = [sp for sp in diagram.special if sp.kind == kind]
            if not pts:
                continue
            starts = np.stack(
                [
                    np.concatenate(
                        [
                            np.array([sp.state[s] for s in self.states]) / scale,
                            [
                                (sp.param - diagram.param_range[0])
                                / (diagram.param_range[1] - diagram.param_range[0]),
                                (s_now - srange[0]) / (srange[1] - srange[0]),
                            ],
                        ]
                    )
                    for sp in pts
                ]
            ).astype(np.float32)
            up = np.zeros(n + 2, np.float32)
            up[-1] = 1.0
            both = np.concatenate([starts, starts])
            dirs = np.concatenate([np.repeat(up[None], len(pts), 0), np.repeat(-up[None], len(pts), 0)])
            traced = self._trace(kind, names, both, dirs, ctx, 3 * points)
            for i in range(len(pts)):
                z = np.concatenate([traced[len(pts) + i][::-1], traced[i][1:]])
                pv = np.stack(
                    [
                        diagram.param_range[0] + z[:, n] * (diagram.param_range[1] - diagram.param_range[0]),
                        srange[0] + z[:, n + 1] * (srange[1] - srange[0]),
                    ],
                    axis=1,
                ).astype(np.float64)
                if kind == "hopf":
                    jac = self._jacobians_at(names, z, ctx)
                    lam = np.linalg.eigvals(jac.astype(np.float64))
                    oscillating = np.any(
                        np.abs(lam.imag) > 1e-6 * np.max(np.abs(lam), axis=1, keepdims=True), axis=1
                    )
                    pv[~oscillating] = np.nan
                out.append(Curve(kind, names, pv))
        return _unique_curves(out)

    def regions(
        self,
        diagram: BifurcationDiagram,
        second: str,
        second_range: Sequence[float] | None = None,
        *,
        grid: tuple[int, int] = (24, 16),
    ) -> Regions:
        """The number of equilibria and of stable ones on a grid of the (:attr:`param`, ``second``)
        plane, by the brute-force Newton search of :meth:`equilibria` at every grid point (one
        vmapped program): the regions that the fold and Hopf curves of :meth:`curves` bound.

        Parameters
        ----------
        diagram : BifurcationDiagram
            Gives the other parameters' values and the range of :attr:`param`.
        second : str
        second_range : (float, float), optional
        grid : (int, int)
            Points along :attr:`param` and along ``second`` (3 to 100 each).

        Returns
        -------
        Regions
        """
        if second == self.param:
            raise ValueError(f"the second parameter must differ from {self.param!r}")
        srange = self.param_range(second_range, second)
        n1, n2 = (check_count(g, "grid size", 3, 100) for g in grid)
        n = len(self.states)
        values = self.plane.param_values({**diagram.params, self.param: diagram.param_range[0]})
        names = (self.param, second)
        # seeds from runs across the plane: at the low end, the middle and the high end of ``second``
        runs = [self._explore({**values, second: np.float32(v)}, diagram.param_range)
                for v in (srange[0], 0.5 * (srange[0] + srange[1]), srange[1])]
        traj = np.concatenate([r[0] for r in runs], axis=1)
        scale = np.max([r[1] for r in runs], axis=0)
        ctx = self._context(values, names, [diagram.param_range, srange], scale, 0.01)
        seeds = self._seeds(traj, scale, diagram.param_range, 1)[:, :n]
        u1, u2 = np.linspace(0.0, 1.0, n1, dtype=np.float32), np.linspace(0.0, 1.0, n2, dtype=np.float32)
        g2, g1 = np.meshgrid(u2, u1, indexing="ij")
        pts = np.stack([g1.ravel(), g2.ravel()], axis=1)
        z0 = np.concatenate(
            [np.tile(seeds, (len(pts), 1)), np.repeat(pts, len(seeds), axis=0)], axis=1
        ).astype(np.float32)
        z, ok = self._solve("eq", names, z0, ctx, _SEED_ITERS)
        z, ok = z.reshape(len(pts), len(seeds), -1), ok.reshape(len(pts), len(seeds))
        found = [_distinct(z[i][ok[i]], 1e-3) for i in range(len(pts))]
        count = np.array([len(f) for f in found])
        flat = np.concatenate([f for f in found if len(f)]) if count.any() else np.zeros((0, n + 2))
        stable_each = np.zeros(len(flat), bool)
        if len(flat):
            lam = np.linalg.eigvals(self._jacobians_at(names, flat, ctx).astype(np.float64))
            stable_each = np.all(lam.real < 0, axis=1)
        stable = np.add.reduceat(stable_each, np.r_[0, np.cumsum(count)[:-1]]) if len(flat) else count * 0
        stable = np.where(count > 0, stable, 0)
        lo1, hi1 = diagram.param_range
        return Regions(
            params=names,
            first=lo1 + u1.astype(np.float64) * (hi1 - lo1),
            second=srange[0] + u2.astype(np.float64) * (srange[1] - srange[0]),
            count=count.reshape(n2, n1),
            stable=stable.reshape(n2, n1),
        )


def _bialternate_sign(lam: np.ndarray) -> np.ndarray:
    """Sign of the determinant of the bialternate product at each point, ``prod_{i<j} (lambda_i +
    lambda_j)`` from the eigenvalues ``lam`` (shape ``(k, n)``): it changes where a complex pair
    crosses the imaginary axis (or two real eigenvalues sum to zero)."""
    i, j = np.triu_indices(lam.shape[1], 1)
    sums = lam[:, i] + lam[:, j]
    unit = np.where(sums == 0, 0.0, sums / np.where(sums == 0, 1.0, np.abs(sums)))
    return np.sign(np.prod(unit, axis=1).real)


def _hopf_margin(lam: np.ndarray) -> float:
    """Real part of the complex eigenvalue nearest the imaginary axis."""
    c = lam[np.abs(lam.imag) > 0]
    return float(c.real[np.argmin(np.abs(c.real))]) if len(c) else 0.0


def _distinct(z: np.ndarray, tol: float) -> np.ndarray:
    """Rows of ``z`` with near-duplicates (within ``tol`` in every coordinate) dropped."""
    kept: list[np.ndarray] = []
    for row in z:
        if not any(np.all(np.abs(row - k) <= tol) for k in kept):
            kept.append(row)
    return np.stack(kept) if kept else np.zeros((0,) + z.shape[1:], z.dtype)


def _unique_curves(curves: list[Curve]) -> list[Curve]:
    """Drop a curve that retraces an earlier one of the same kind (two special points of one
    diagram can lie on one codim-2 curve)."""
    kept: list[Curve] = []
    for c in curves:
        pts = c.values[np.all(np.isfinite(c.values), axis=1)]
        same = False
        for k in kept:
            other = k.values[np.all(np.isfinite(k.values), axis=1)]
            if k.kind == c.kind and len(pts) and len(other):
                span = np.ptp(np.concatenate([pts, other]), axis=0) + 1e-12
                d = np.min(np.linalg.norm((pts[:, None] - other[None]) / span, axis=2), axis=1)
                same = np.median(d) < 0.01
            if same:
                break
        if not same:
            kept.append(c)
    return kept
