"""Phase-plane analysis of a catalogue model: derivative field, nullclines and fixed points.

Derivatives come from the model itself. One ``update`` of a freshly built model is traced with
every state set to grid values; the integrator calls it makes (``brainstate.nn.exp_euler_step``,
or ``braintools.quad.ode_euler_step`` for models with a selectable ``method``, which is switched
to ``"euler"`` for the trace) hand over the model's own right-hand side, which is recorded instead
of re-typing any equation. The grid is one population of ``nx * ny`` independent nodes, so the
whole field is one compiled call per grid shape; parameters are traced arguments, so a slider
move reuses it.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import brainstate
import braintools
import brainunit as u
import contourpy
import jax
import jax.numpy as jnp
import numpy as np

from ._adapters import get_state
from ._catalog import ModelSpec, catalog, model_spec
from ._compile import CompileCache
from ._request import signature
from ._units import canon, one_line

__all__ = ["FixedPoint", "PhaseField", "PhasePlane", "STABILITY_LABELS", "check_count", "check_range",
           "classify", "planar_models", "zero_level"]

STABILITY_LABELS = ("stable node", "unstable node", "stable focus", "unstable focus", "saddle", "center")

# axes shown first where the first two state variables make a flat plane (Jansen-Rit's dM/dt is
# its held velocity Mv)
_DEFAULT_AXES = {"JansenRitStep": ("M", "Mv")}
_PATCH_LOCK = threading.Lock()
_PROGRAMS = CompileCache(64)


@contextmanager
def _recording() -> Iterator[list[tuple[Any, Any]]]:
    """Record ``(state value, its time derivative)`` for every integrator call made by this thread
    inside the block (other threads pass through untouched)."""
    calls: list[tuple[Any, Any]] = []
    owner = threading.get_ident()
    with _PATCH_LOCK:
        exp_euler = brainstate.nn.exp_euler_step
        euler = braintools.quad.ode_euler_step

        def exp_euler_rec(fn, x, *args, **kwargs):
            if threading.get_ident() == owner:
                calls.append((x, fn(x, *args, **kwargs)))
            return exp_euler(fn, x, *args, **kwargs)

        def euler_rec(fn, y, t, *args, **kwargs):
            if threading.get_ident() == owner:
                d = fn(y, t, *args, **kwargs)
                pairs = zip(y, d, strict=True) if isinstance(y, tuple | list) else [(y, d)]
                calls.extend(pairs)
            return euler(fn, y, t, *args, **kwargs)

        brainstate.nn.exp_euler_step = exp_euler_rec
        braintools.quad.ode_euler_step = euler_rec
        try:
            yield calls
        finally:
            brainstate.nn.exp_euler_step = exp_euler
            braintools.quad.ode_euler_step = euler


def _per_ms(d: Any, unit: Any) -> jax.Array:
    """A time derivative as a magnitude in (state unit) per ms."""
    q = d * u.ms
    if unit is None:
        return jnp.asarray(u.maybe_decimal(q))
    return u.get_magnitude(q.in_unit(unit))


@dataclass(frozen=True)
class PhaseField:
    """The derivative on a grid of the plane.

    Attributes
    ----------
    x, y : str
        State variables on the horizontal and vertical axes.
    xs, ys : numpy.ndarray
        Grid coordinates, shapes ``(nx,)`` and ``(ny,)``.
    dx, dy : numpy.ndarray
        ``d x / dt`` and ``d y / dt`` in state units per ms, shape ``(ny, nx)``.
    """

    x: str
    y: str
    xs: np.ndarray
    ys: np.ndarray
    dx: np.ndarray
    dy: np.ndarray


@dataclass(frozen=True)
class FixedPoint:
    """A point of the plane where both derivatives vanish.

    Attributes
    ----------
    state : dict
        Values of the two axis variables (state units).
    stability : str
        One of :data:`STABILITY_LABELS`.
    eigenvalues : tuple of complex
        Eigenvalues of the 2 x 2 Jacobian there, in 1/ms.
    """

    state: dict[str, float]
    stability: str
    eigenvalues: tuple[complex, complex]


def classify(eigenvalues: Sequence[complex], tol: float = 1e-9) -> str:
    """Stability label of a planar fixed point from its two Jacobian eigenvalues.

    Parameters
    ----------
    eigenvalues : sequence of two complex
    tol : float
        Relative size below which a real or imaginary part counts as zero.

    Returns
    -------
    str
        One of :data:`STABILITY_LABELS`.
    """
    lam = np.asarray(eigenvalues, dtype=complex)
    scale = max(float(np.max(np.abs(lam))), 1e-300)
    re = np.where(np.abs(lam.real) < tol * scale, 0.0, lam.real)
    if np.all(np.abs(lam.imag) > tol * scale):
        if re[0] == 0:
            return "center"
        return "stable focus" if re[0] < 0 else "unstable focus"
    if re[0] * re[1] < 0:
        return "saddle"
    return "stable node" if np.all(re <= 0) else "unstable node"


def zero_level(xs: np.ndarray, ys: np.ndarray, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The zero level of ``f`` on a grid as polylines, NaN-separated for one Bokeh line.

    The contours come from contourpy, which decides a cell with four sign changes (a saddle of the
    interpolated surface) from the cell's centre value, so two branches passing through one cell
    stay apart. Non-finite values of ``f`` leave their cells out.

    Parameters
    ----------
    xs, ys : numpy.ndarray
        Grid coordinates, ``(nx,)`` and ``(ny,)``.
    f : numpy.ndarray
        Values, ``(ny, nx)``.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        x and y of the polylines' points, consecutive polylines separated by a NaN; empty where
        ``f`` does not change sign.
    """
    f = np.asarray(f, dtype=np.float64)
    gen = contourpy.contour_generator(np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64),
                                      np.ma.masked_invalid(f), line_type=contourpy.LineType.ChunkCombinedNan)
    (points,) = gen.lines(0.0)[0]
    if points is None:
        return np.zeros(0), np.zeros(0)
    return points[:, 0].copy(), points[:, 1].copy()


class PhasePlane:
    """Derivative field, nullclines and fixed points of a catalogue model in a plane of two of its
    state variables, the others held at given values.

    Parameters
    ----------
    model : str
        A catalogue model with at least two state variables.
    x, y : str, optional
        State variables on the axes (default: the first two; ``M``, ``Mv`` for Jansen-Rit).

    Examples
    --------
    >>> pp = PhasePlane("HopfStep")
    >>> fps = pp.fixed_points((-1, 1), (-1, 1), params={"a": -0.2})
    >>> [fp.stability for fp in fps]
    ['stable focus']
    """

    def __init__(self, model: str = "HopfStep", *, x: str | None = None, y: str | None = None):
        self.spec: ModelSpec = model_spec(model)
        states = self.spec.states
        if len(states) < 2:
            raise ValueError(
                f"{self.spec.name} has one state variable ({one_line(states)}); a phase plane needs "
                "at least two. Models with two or more: "
                + one_line(s.name for s in planar_models())
            )
        default = _DEFAULT_AXES.get(self.spec.name, states[:2])
        self.x, self.y = self._axes(x or default[0], y or default[1])
        # every state is set explicitly, so random initialisers (which would need brainstate's RNG
        # inside autodiff and loops) are replaced by zeros
        ctor = inspect.signature(self.spec.model_class.__init__).parameters
        self._zero_init = {
            f"init_{s}": braintools.init.Constant(0.0 if unit is None else 0.0 * unit)
            for s, unit in self.spec.state_units.items() if f"init_{s}" in ctor
        }

    def _axes(self, x: str, y: str) -> tuple[str, str]:
        for name in (x, y):
            if name not in self.spec.states:
                raise ValueError(f"{name!r} is not a state variable of {self.spec.name}; "
                                 f"valid: {one_line(self.spec.states)}")
        if x == y:
            raise ValueError(f"the two axes must be different state variables; got {x!r} twice")
        return x, y

    def set_axes(self, x: str, y: str) -> None:
        """Choose the state variables on the horizontal and vertical axes."""
        self.x, self.y = self._axes(x, y)

    @property
    def states(self) -> tuple[str, ...]:
        """All state variables of the model."""
        return self.spec.states

    @property
    def held_states(self) -> tuple[str, ...]:
        """The state variables that are not on an axis (held fixed)."""
        return tuple(s for s in self.spec.states if s not in (self.x, self.y))

    def default_held(self) -> dict[str, float]:
        """Held values used when none are given: the model's initial values, else 0."""
        return {s: float(self.spec.init.get(s, 0.0)) for s in self.held_states}

    # ------------------------------------------------------------------ compiled kernels

    def param_values(self, params: Mapping[str, Any] | None) -> dict[str, np.ndarray]:
        """Every parameter as a float32 magnitude in its unit: the defaults updated by ``params``.

        ``ValueError`` names an unknown parameter or a value that is not a finite number."""
        values = {k: p.default for k, p in self.spec.params.items()}
        for k, v in (params or {}).items():
            if k not in self.spec.params:
                raise ValueError(f"unknown parameter {k!r} for {self.spec.name}; "
                                 f"valid: {one_line(self.spec.params)}")
            values[k] = v
        return {k: canon(k, v, self.spec.params[k].unit) for k, v in values.items()}

    def held_values(self, held: Mapping[str, Any] | None) -> dict[str, float]:
        """Values of the held states: the defaults, updated by ``held``; ``ValueError`` names a state
        that cannot be held or a value that is not finite."""
        out = self.default_held()
        for k, v in (held or {}).items():
            if k not in out:
                raise ValueError(f"{k!r} cannot be held for {self.spec.name} with axes "
                                 f"{self.x!r}, {self.y!r}; held state variables: "
                                 f"{one_line(out) or 'none'}")
            v = float(v)
            if not np.isfinite(v):
                raise ValueError(f"held value of {k!r} must be finite; got {v!r}")
            out[k] = v
        return out

    def traced_derivative(self, values: Mapping[str, Any], states: Mapping[str, Any]) -> dict[str, Any]:
        """Per-ms derivatives of every state at ``states``, traceable by JAX.

        Parameters
        ----------
        values : Mapping[str, array_like]
            Every parameter's magnitude (as from :meth:`param_values`); may be traced.
        states : Mapping[str, array_like]
            Every state variable, same-shape 1-D arrays (one entry per point), in state units.

        Returns
        -------
        dict
            ``{state: d state / dt}`` as magnitudes in state units per ms.
        """
        spec = self.spec
        n = next(iter(states.values())).shape[0]
        model, inputs = spec.build(n, values, **self._zero_init), spec.inputs(values)
        with brainstate.environ.context(dt=spec.dt, i=0, t=0.0 * u.ms):
            brainstate.nn.init_all_states(model)
            mags = {}
            for name in spec.states:
                st = get_state(model, name)
                unit = spec.state_units.get(name)
                mag = jnp.broadcast_to(states[name], u.get_magnitude(st.value).shape)
                st.value = mag if unit is None else mag * unit
                mags[name] = st.value
            if hasattr(model, "derivative") and isinstance(getattr(model, "method", None), str):
                model.method = "euler"
            with _recording() as calls:
                model.update(**inputs)
        out = {}
        for name, val in mags.items():
            mant = u.get_mantissa(val)
            for x, d in calls:
                if x is val or u.get_mantissa(x) is mant:
                    out[name] = _per_ms(d, spec.state_units.get(name))
                    break
            else:
                raise ValueError(f"{spec.name}.update does not expose a derivative of {name!r}")
        return out

    def _key(self, kind: str, *rest: Any) -> tuple:
        return (self.spec.model_class, kind) + rest

    def _derivative_program(self, n: int, sig: tuple) -> Callable:
        def make() -> Callable:
            return jax.jit(lambda values, states: self.traced_derivative(values, states))

        return _PROGRAMS.get(self._key("derivative", n, sig), make)

    def derivative(self, states: Mapping[str, Any], params: Mapping[str, Any] | None = None
                   ) -> dict[str, np.ndarray]:
        """The model's time derivatives at given states.

        Parameters
        ----------
        states : Mapping[str, array_like]
            A value (or 1-D array of values, one per point) for every state variable, in state
            units.
        params : Mapping[str, Any], optional
            Parameter values (defaults otherwise).

        Returns
        -------
        dict
            ``{state: d state / dt}`` in state units per ms, one value per point.
        """
        missing = [s for s in self.spec.states if s not in states]
        if missing:
            raise ValueError(f"a value for every state variable is needed; missing: {one_line(missing)}")
        arrs = {s: np.atleast_1d(np.asarray(states[s], dtype=np.float32)) for s in self.spec.states}
        n = max(a.shape[0] for a in arrs.values())
        arrs = {s: np.broadcast_to(a, (n,)).copy() for s, a in arrs.items()}
        values = self.param_values(params)
        out = self._derivative_program(n, signature(values))(values, arrs)
        return {k: np.asarray(v) for k, v in out.items()}

    def _grid(self, x_range: Sequence[float], y_range: Sequence[float], n: Any
              ) -> tuple[np.ndarray, np.ndarray]:
        nx, ny = (n, n) if np.isscalar(n) else n
        for name, rng in ((self.x, x_range), (self.y, y_range)):
            lo, hi = (float(v) for v in rng)
            if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
                raise ValueError(f"range of {name!r} must be two finite numbers, low < high; "
                                 f"got {tuple(rng)!r}")
        for k in (nx, ny):
            if int(k) != k or not 3 <= k <= 1000:
                raise ValueError(f"grid size must be an integer from 3 to 1000; got {k!r}")
        return (np.linspace(*map(float, x_range), int(nx), dtype=np.float32),
                np.linspace(*map(float, y_range), int(ny), dtype=np.float32))

    def field(self, x_range: Sequence[float], y_range: Sequence[float], n: int | tuple[int, int] = 100, *,
              params: Mapping[str, Any] | None = None, held: Mapping[str, Any] | None = None) -> PhaseField:
        """The derivative of the two axis variables on an ``nx x ny`` grid, in one compiled call.

        Parameters
        ----------
        x_range, y_range : (float, float)
            Axis ranges in state units.
        n : int or (int, int)
            Grid points per axis.
        params : Mapping[str, Any], optional
        held : Mapping[str, float], optional
            Values of the state variables not on an axis.

        Returns
        -------
        PhaseField
        """
        xs, ys = self._grid(x_range, y_range, n)
        X, Y = np.meshgrid(xs, ys)
        states = {s: np.full(X.size, v, np.float32) for s, v in self.held_values(held).items()}
        states[self.x], states[self.y] = X.ravel(), Y.ravel()
        d = self.derivative(states, params)
        return PhaseField(self.x, self.y, xs, ys, d[self.x].reshape(X.shape), d[self.y].reshape(X.shape))

    def nullclines(self, field: PhaseField) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Zero levels of each axis variable's derivative.

        Returns
        -------
        dict
            ``{state: (xs, ys)}``, NaN-separated polylines (see :func:`zero_level`).
        """
        return {field.x: zero_level(field.xs, field.ys, field.dx),
                field.y: zero_level(field.xs, field.ys, field.dy)}

    def _newton_program(self, n: int, sig: tuple, iters: int) -> Callable:
        def make() -> Callable:
            x_name, y_name, held_names = self.x, self.y, self.held_states

            def rhs(values, held, p):
                """Derivative of the two axis variables at one point ``p`` (shape ``(2,)``)."""
                states = {x_name: p[:1], y_name: p[1:]}
                states.update({h: jnp.reshape(held[h], (1,)) for h in held_names})
                d = self.traced_derivative(values, states)
                return jnp.concatenate([d[x_name], d[y_name]])

            def newton(values, held, seed, scale):
                f = lambda q: rhs(values, held, q)  # noqa: E731
                jacobian = jax.jacfwd(f)

                def body(_, p):
                    jac = jacobian(p)
                    det = jnp.linalg.det(jac)
                    ok = jnp.abs(det) > 1e-30
                    step = jnp.linalg.solve(jnp.where(ok, jac, jnp.eye(2)), f(p))
                    step = jnp.where(ok, step, 0.0)
                    # damped: never jump further than half the plane in one iteration
                    size = jnp.max(jnp.abs(step) / scale)
                    return p - step * jnp.minimum(1.0, 0.5 / jnp.maximum(size, 1e-30))

                p = jax.lax.fori_loop(0, iters, body, seed)
                return p, f(p), jacobian(p)

            solve = jax.vmap(newton, in_axes=(None, None, 0, None))

            return jax.jit(solve)

        return _PROGRAMS.get(self._key("newton", self.x, self.y, n, sig, iters), make)

    def fixed_points(self, x_range: Sequence[float], y_range: Sequence[float], *,
                     params: Mapping[str, Any] | None = None, held: Mapping[str, Any] | None = None,
                     seeds: int = 12, iters: int = 40) -> list[FixedPoint]:
        """Fixed points inside the ranges, from a vmapped Newton solve started on a grid of seeds.

        Solutions are de-duplicated (closer than 0.1 % of the ranges) and classified by the
        eigenvalues of the Jacobian of the two axis derivatives (``jax.jacfwd`` through
        the model). For models with more than two state variables these are the points of the
        plane where both nullclines cross, with the other variables held.

        Parameters
        ----------
        x_range, y_range : (float, float)
        params : Mapping[str, Any], optional
        held : Mapping[str, float], optional
        seeds : int
            Seeds per axis (``seeds ** 2`` starts).
        iters : int
            Newton iterations.

        Returns
        -------
        list of FixedPoint
            Sorted by the x value.
        """
        xs, ys = self._grid(x_range, y_range, seeds)
        X, Y = np.meshgrid(xs, ys)
        start = np.stack([X.ravel(), Y.ravel()], axis=1).astype(np.float32)
        span = np.array([xs[-1] - xs[0], ys[-1] - ys[0]], dtype=np.float32)
        values, held_v = self.param_values(params), self.held_values(held)
        held_arr = {k: np.float32(v) for k, v in held_v.items()}
        prog = self._newton_program(start.shape[0], signature(values), iters)
        p, fval, jac = (np.asarray(a, dtype=np.float64) for a in prog(values, held_arr, start, span))
        # residual relative to how fast the plane moves: the typical |f| at the seeds
        f0 = self.derivative({**{k: np.full(len(start), v) for k, v in held_v.items()},
                              self.x: start[:, 0], self.y: start[:, 1]}, params)
        typical = np.array([np.median(np.abs(f0[self.x])), np.median(np.abs(f0[self.y]))]) + 1e-12
        good = np.all(np.isfinite(p), axis=1) & np.all(np.abs(fval) < 1e-4 * typical + 1e-7, axis=1)
        lo = np.array([xs[0], ys[0]]) - 1e-6 * span
        hi = np.array([xs[-1], ys[-1]]) + 1e-6 * span
        good &= np.all((p >= lo) & (p <= hi), axis=1)
        found: list[FixedPoint] = []
        kept: list[np.ndarray] = []
        for i in np.nonzero(good)[0]:
            if any(np.all(np.abs(p[i] - q) < 1e-3 * span) for q in kept):
                continue
            kept.append(p[i])
            lam = np.linalg.eigvals(jac[i])
            lam = tuple(sorted((complex(v) for v in lam), key=lambda z: (z.real, z.imag)))
            found.append(FixedPoint({self.x: float(p[i, 0]), self.y: float(p[i, 1])}, classify(lam), lam))
        return sorted(found, key=lambda fp: fp.state[self.x])


def check_count(value: Any, what: str, low: int, high: int) -> int:
    """``value`` as an int if it is an integer from ``low`` to ``high``; else ``ValueError``
    naming ``what``, the value and the allowed range."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or not low <= value <= high:
        raise ValueError(f"{what} must be an integer from {low} to {high}; got {value!r}")
    return int(value)


def check_range(value: Any, name: str) -> tuple[float, float]:
    """``value`` as a ``(low, high)`` pair of finite floats with low < high; else ``ValueError``
    naming ``name`` and the value."""
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"range of {name!r} must be (low, high); got {value!r}") from None
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ValueError(f"range of {name!r} must be two finite numbers with low < high; got {value!r}")
    return lo, hi


def planar_models() -> list[ModelSpec]:
    """Catalogue models with at least two state variables (those a phase plane can show)."""
    return [s for s in catalog() if len(s.states) >= 2]

