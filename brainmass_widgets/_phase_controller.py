"""State and computation of the phase-plane explorer, shared by both front ends."""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import brainunit as u
import numpy as np

from ._code import run_script
from ._compile import compile_notice
from ._controller import (
    CACHE,
    ENGINE_LOCK,
    Dispatch,
    Session,
    SimulatingController,
    Status,
    as_quantity,
    compute_slot,
    fields_of,
    fmt_ms,
    join_pieces,
    ms_text,
    stream_pieces,
)
from ._engine import CachedSimulator
from ._limits import limits
from ._phase import FixedPoint, PhasePlane, check_count, check_range
from ._plots import (
    NULLCLINE_COLORS,
    STABILITY_COLORS,
    await_data,
    phase_plane_figure,
    set_extent,
    set_lines,
    stream_lines,
)
from ._units import magnitude

__all__ = ["PhasePlaneController", "PhaseState"]

#: A trajectory streams in this many chunks.
_TRAJECTORY_CHUNKS = 8
_OPTIONS = ("model", "x", "y", "params", "held", "x_range", "y_range", "grid", "arrows", "duration",
            "noise", "seed")




def _visited_ranges(model: str, states: tuple[str, ...],
                    params: Mapping[str, Any]) -> dict[str, tuple[float, float]]:
    """Per state variable of ``states``, the padded range a noise-free run of ``model`` visits."""
    quiet = CachedSimulator(model, cache=CACHE)
    with ENGINE_LOCK:
        res = quiet.run(quiet.spec.duration, params=dict(params), monitors=list(states))
    return {s: _padded(magnitude(res[s]).ravel()) for s in states}


@functools.lru_cache(maxsize=64)
def _kept_ranges(model: str, states: tuple[str, ...],
                 params: tuple[tuple[str, float], ...]) -> dict[str, tuple[float, float]]:
    """:func:`_visited_ranges` for scalar parameter values, kept (callers copy the dict)."""
    return _visited_ranges(model, states, dict(params))


def _padded(trace: np.ndarray) -> tuple[float, float]:
    """A plot range around the values a trace visits."""
    trace = trace[np.isfinite(trace)]
    if trace.size == 0:
        return -1.0, 1.0
    lo, hi = float(trace.min()), float(trace.max())
    centre, half = (lo + hi) / 2, (hi - lo) / 2
    half = max(half * 1.3, 0.1 * max(abs(centre), 1.0))
    return centre - half, centre + half


@dataclass(frozen=True)
class PhaseState:
    """A phase-plane explorer's validated settings (each is described at
    :class:`PhasePlaneController`); ``ranges`` are the padded ranges a default run visits, ``plane``
    and ``sim`` the engines for the model."""

    model: str
    x: str
    y: str
    params: dict[str, Any]
    held: dict[str, float]
    x_range: tuple[float, float]
    y_range: tuple[float, float]
    grid: int
    arrows: int
    duration: Any
    noise: tuple[str, ...]
    seed: int
    ranges: dict[str, tuple[float, float]]
    plane: PhasePlane
    sim: CachedSimulator


class PhasePlaneController(SimulatingController[PhaseState]):
    """State and computation of one phase-plane explorer.

    A parameter, held value or range change recomputes the vector field, both nullclines and the
    fixed points (one compiled call per grid shape; the latest request wins). A tap on the plane
    (or :meth:`launch`) integrates the full model from that point on a second worker, streaming
    the trajectory into the plane and all state variables into the time-series figure;
    :attr:`result` is the latest finished trajectory.

    Parameters
    ----------
    model : str, default "HopfStep"
        Catalogue model with at least two state variables.
    x, y : str, optional
        State variables on the axes (default: the first two; ``M``, ``Mv`` for Jansen-Rit).
    params : dict, optional
        Parameter values (catalogue units).
    held : dict, optional
        Values of the state variables not on an axis (the model's initial values, else 0).
    x_range, y_range : (float, float), optional
        Axis ranges (default: the range a default run visits, padded).
    grid : int, default 100
        Field grid points per axis (nullclines and fixed-point residuals are computed on it).
    arrows : int, default 20
        Arrows per axis drawn from the field.
    duration : brainunit.Quantity or float (ms), optional
        Length of a launched trajectory (the catalogue duration).
    noise : sequence of str, default ()
        State variables receiving Ornstein-Uhlenbeck noise in launched trajectories (the field
        and fixed points are of the noise-free model).
    seed : int, default 0
        RNG seed of noisy trajectories.
    session : Session, optional
        The visitor's :class:`Session` (the served app gives each browser tab one): at most
        ``limits().max_session_jobs`` of its computations run at once, the newest winning.
    dispatch : callable, optional
        ``dispatch(fn)`` applies ``fn`` where the Bokeh document may be changed.
    autorun : bool, default True
        Compute the plane at once and after every accepted change.
    """

    _OPTION_NAMES = _OPTIONS

    def __init__(self, model: str = "HopfStep", *, x: str | None = None, y: str | None = None,
                 params: Mapping[str, Any] | None = None, held: Mapping[str, Any] | None = None,
                 x_range: Sequence[float] | None = None, y_range: Sequence[float] | None = None,
                 grid: int = 100, arrows: int = 20, duration: Any = None, noise: Sequence[str] = (),
                 seed: int = 0, dispatch: Dispatch | None = None, autorun: bool = True,
                 session: Session | None = None):
        super().__init__(dispatch, "brainmass-phase-plane", session)
        self._traj_worker = self._second_worker("brainmass-phase-trajectory")
        plane_fig, series_fig, self.sources = phase_plane_figure()
        self.figures = {"plane": plane_fig, "timeseries": series_fig}
        await_data(plane_fig, self.sources["field"], "x0", "Computing the vector field")
        self._fixed_points: list[FixedPoint] = []
        self._start: dict[str, float] | None = None
        self._last_tap: tuple[float, ...] = ()
        self.autorun = False
        self._change(model=model, x=x, y=y, params=params, held=held, x_range=x_range, y_range=y_range,
                     grid=grid, arrows=arrows, duration=duration, noise=tuple(noise), seed=seed)
        self.sources["click"].on_change("data", self._on_click)
        self.autorun = autorun
        if autorun:
            self.run()

    # ------------------------------------------------------------------ state

    @property
    def plane(self) -> PhasePlane:
        """The :class:`PhasePlane` (model and axes) in use."""
        return self._state.plane

    @property
    def spec(self) -> Any:
        """The :class:`~brainmass_widgets.ModelSpec` of the model."""
        return self._state.plane.spec

    @property
    def fixed_points(self) -> list[FixedPoint]:
        """Fixed points of the latest computed plane."""
        return list(self._fixed_points)

    def _validate(self, new: dict[str, Any], old: PhaseState | None) -> PhaseState:
        state = {**fields_of(old), **new}
        model_changed = old is None or old.model != state["model"]
        if model_changed:
            for key in ("x", "y", "params", "held", "x_range", "y_range", "duration", "noise"):
                if key not in new:
                    state[key] = None if key != "noise" else ()
        axes_changed = model_changed or (state["x"], state["y"]) != (old.x, old.y)
        if axes_changed:
            for key in ("held", "x_range", "y_range"):
                if key not in new:
                    state[key] = None
        plane = PhasePlane(state["model"], x=state["x"], y=state["y"])
        state["x"], state["y"] = plane.x, plane.y
        noise = tuple(state["noise"] or ())
        sim = CachedSimulator(state["model"], noise=noise or False, cache=CACHE)
        params = {k: v for k, v in (state["params"] or {}).items() if k in sim.param_names}
        state["params"] = {**sim.adapter.defaults(), **params}
        sim.check_params(state["params"])
        plane.param_values(self._model_params(state["params"], plane))
        state["noise"] = noise
        state["held"] = plane.held_values(state["held"])
        state["grid"] = check_count(state["grid"], "grid", 10, 400)
        state["arrows"] = check_count(state["arrows"], "arrows", 2, 60)
        duration = plane.spec.duration if state["duration"] is None else state["duration"]
        state["duration"] = as_quantity(duration, u.ms, "duration")
        n_steps = sim.steps(state["duration"], None, None)[0]
        what = f"a trajectory of {ms_text(state['duration'])} at dt = {ms_text(sim.dt)}"
        limits().check_steps(n_steps, what)
        at_once = max(n_steps // _TRAJECTORY_CHUNKS, 1)
        limits().check_memory(what, ((n_steps + at_once, f"steps ({n_steps:,} kept + {at_once:,} recorded at "
                                                         "once)"), (len(plane.states), "monitors")))
        limits().check_work(what, ((n_steps, "steps"), (1, "region")))
        sim.check_seed(state["seed"])
        if model_changed:
            state["ranges"] = self._auto_ranges(plane, state["params"])
        ranges = state["ranges"]
        state["x_range"] = state["x_range"] or ranges[plane.x]
        state["y_range"] = state["y_range"] or ranges[plane.y]
        state["x_range"] = check_range(state["x_range"], plane.x)
        state["y_range"] = check_range(state["y_range"], plane.y)
        state["plane"], state["sim"] = plane, sim
        return PhaseState(**state)

    @staticmethod
    def _model_params(params: Mapping[str, Any], plane: PhasePlane) -> dict[str, Any]:
        return {k: v for k, v in params.items() if k in plane.spec.params}

    @staticmethod
    def _auto_ranges(plane: PhasePlane, params: Mapping[str, Any]) -> dict[str, tuple[float, float]]:
        """Per state variable, the range a noise-free default run visits, padded: the first view
        shows the action, and held-value sliders span it.

        Kept per model and parameter values: a controller is built where its front end runs (the
        served app's event loop), and a run there would wait for any phase plane computing at
        the time (they hold the engine's lock), so a class opening the same tab computes it once.
        """
        params = PhasePlaneController._model_params(params, plane)
        try:
            key = tuple(sorted((k, float(v)) for k, v in params.items()))
        except (TypeError, ValueError):  # array-valued parameters: not kept
            return _visited_ranges(plane.spec.name, tuple(plane.states), params)
        return dict(_kept_ranges(plane.spec.name, tuple(plane.states), key))

    @property
    def state_ranges(self) -> dict[str, tuple[float, float]]:
        """Per state variable, the range a default run of the model visits (padded)."""
        return dict(self._state.ranges)

    def _apply(self, old: PhaseState | None) -> None:
        state = self._state
        if old is None or (old.model, old.x, old.y) != (state.model, state.x, state.y):
            plane = state.plane
            labels = {s: self._axis_label(s) for s in plane.states}

            def relabel() -> None:
                fig = self.figures["plane"]
                fig.title.text = (f"{plane.spec.name}: phase plane of {plane.x} and {plane.y} "
                                  "(tap to launch a trajectory)")
                fig.xaxis.axis_label, fig.yaxis.axis_label = labels[plane.x], labels[plane.y]
                self.figures["timeseries"].title.text = f"{plane.spec.name}: latest trajectory"
                self.figures["timeseries"].yaxis.axis_label = ", ".join(labels[s] for s in plane.states)
                self.sources["trajectories"].data = {"xs": [], "ys": []}
                set_lines(self.figures["timeseries"], self.sources["timeseries"], "t", list(plane.states))

            self.post(relabel)
        duration = float(u.get_magnitude(state.duration.to(u.ms)))
        if old is None or float(u.get_magnitude(old.duration.to(u.ms))) != duration:
            self.post(lambda: set_extent(self.figures["timeseries"], x=(0.0, duration)))

    def _axis_label(self, state: str) -> str:
        unit = self._state.plane.spec.state_units.get(state)
        return state if unit is None else f"{state} [{unit}]"

    def hold(self, **values: float) -> None:
        """Change the values at which the state variables not on an axis are held."""
        self._change(held={**self._state.held, **values})

    def configure(self, **options: Any) -> None:
        """Change any of ``model``, ``x``, ``y``, ``params``, ``held``, ``x_range``, ``y_range``,
        ``grid``, ``arrows``, ``duration``, ``noise``, ``seed``.

        Raises
        ------
        ValueError
            For an unknown option or a bad value; nothing changes.
        """
        super().configure(**options)

    # ------------------------------------------------------------------ plane

    def run(self) -> None:
        """Recompute the field, the nullclines and the fixed points."""
        state = self._state
        self._worker.submit(lambda token: self._plane_job(state, token))

    def _plane_job(self, state: PhaseState, token: Any) -> None:
        plane: PhasePlane = state.plane
        params = self._model_params(state.params, plane)
        xr, yr = state.x_range, state.y_range

        def notice() -> None:
            self._set_status(Status("compiling", f"compiling the {plane.spec.name} phase plane for a "
                                                 "new grid (first use; later changes reuse it)"), token)

        t0 = time.perf_counter()
        try:
            with compute_slot(token) as slot:
                if not slot.held:
                    return
                with ENGINE_LOCK, compile_notice(notice):
                    field = plane.field(xr, yr, state.grid, params=params, held=state.held)
                    fps = plane.fixed_points(xr, yr, params=params, held=state.held)
            nullclines = plane.nullclines(field)
        except Exception as exc:
            self._set_status(Status("error", f"{type(exc).__name__}: {exc}"), token)
            return
        if token.superseded:
            return
        arrows = self._arrows(field, state.arrows, xr, yr)
        nc = {"xs": [], "ys": [], "color": [], "label": []}
        for (name, (xs, ys)), color in zip(nullclines.items(), NULLCLINE_COLORS, strict=True):
            nc["xs"].append(xs)
            nc["ys"].append(ys)
            nc["color"].append(color)
            nc["label"].append(f"d{name}/dt = 0")
        points = {
            "x": [fp.state[plane.x] for fp in fps], "y": [fp.state[plane.y] for fp in fps],
            "stability": [fp.stability for fp in fps],
            "color": [STABILITY_COLORS[fp.stability] for fp in fps],
            "legend": [f"fixed point: {fp.stability}" for fp in fps],
            "eigenvalues": [", ".join(f"{z.real:.3g}{z.imag:+.3g}j" for z in fp.eigenvalues) for fp in fps],
        }

        def draw() -> None:
            self.sources["field"].data = arrows
            self.sources["nullclines"].data = nc
            self.sources["fixed_points"].data = points
            fig = self.figures["plane"]
            fig.x_range.start, fig.x_range.end = xr
            fig.y_range.start, fig.y_range.end = yr

        self._fixed_points = fps
        self.post(draw, token)
        elapsed = time.perf_counter() - t0
        kinds = ", ".join(fp.stability for fp in fps) or "none in view"
        self._set_status(Status("done", f"plane in {fmt_ms(elapsed)}; fixed points: {kinds}", 1.0,
                                elapsed), token)

    @staticmethod
    def _arrows(field: Any, n: int, xr: tuple, yr: tuple) -> dict[str, np.ndarray]:
        """``n x n`` arrows of equal screen length along the field's direction."""
        ix = np.unique(np.linspace(0, len(field.xs) - 1, n).round().astype(int))
        iy = np.unique(np.linspace(0, len(field.ys) - 1, n).round().astype(int))
        X, Y = np.meshgrid(field.xs[ix], field.ys[iy])
        span = np.array([xr[1] - xr[0], yr[1] - yr[0]])
        du = field.dx[np.ix_(iy, ix)] / span[0]
        dv = field.dy[np.ix_(iy, ix)] / span[1]
        norm = np.hypot(du, dv)
        norm = np.where(norm > 0, norm, 1.0)
        length = 0.6 / n
        x1 = X + du / norm * length * span[0]
        y1 = Y + dv / norm * length * span[1]
        return {"x0": X.ravel(), "y0": Y.ravel(), "x1": x1.ravel(), "y1": y1.ravel()}

    # ------------------------------------------------------------------ trajectories

    def _on_click(self, attr: str, old: Any, new: Any) -> None:
        # one tap can reach Python more than once (a notebook view echoes the change, a new view
        # is re-sent every source), so a tap is launched once, by its position and time
        tap = tuple(float(new[k][-1]) for k in ("x", "y", "at") if len(new.get(k, [])))
        if len(tap) == 3 and tap != self._last_tap:
            self._last_tap = tap
            self.launch(tap[0], tap[1])

    def launch(self, x0: float, y0: float) -> None:
        """Integrate the full model from ``(x0, y0)`` (other state variables at their held values);
        the trajectory is added to the plane as it is computed.

        Raises
        ------
        ValueError
            If a start value is not finite.
        """
        if not (np.isfinite(x0) and np.isfinite(y0)):
            raise self.fail(ValueError(f"a trajectory starts at finite values; got ({x0!r}, {y0!r})"))
        state = self._state
        start = {**state.held, state.x: float(x0), state.y: float(y0)}
        self._traj_worker.submit(lambda token: self._trajectory_job(state, start, token))

    def clear(self) -> None:
        """Remove every launched trajectory from the plane."""
        self._traj_worker.cancel()
        self.post(lambda: setattr(self.sources["trajectories"], "data", {"xs": [], "ys": []}))

    def _trajectory_job(self, state: PhaseState, start: dict[str, float], token: Any) -> None:
        sim: CachedSimulator = state.sim
        plane: PhasePlane = state.plane
        x, y = plane.x, plane.y
        n_total = sim.steps(state.duration, None, None)[0]
        chunk = max(n_total // _TRAJECTORY_CHUNKS, 1) * sim.dt
        row: list[int] = []

        def begin() -> None:
            src = self.sources["trajectories"]
            row.append(len(src.data["xs"]))
            src.stream({"xs": [np.array([start[x]])], "ys": [np.array([start[y]])]})
            set_lines(self.figures["timeseries"], self.sources["timeseries"], "t", list(plane.states))

        def notice() -> None:
            self._set_status(Status("compiling", f"compiling {plane.spec.name} trajectories (first use)"),
                             token)

        self.post(begin, token)
        t0 = time.perf_counter()
        pieces = []
        xs, ys = [np.array([start[x]])], [np.array([start[y]])]
        try:
            stream = sim.stream(state.duration, chunk=chunk, params=state.params,
                                monitors=list(plane.states), init=start, seed=state.seed)
            for piece in stream_pieces(stream, notice, token):
                pieces.append(piece)
                xs.append(magnitude(piece[x]).ravel())
                ys.append(magnitude(piece[y]).ravel())
                cols = {"t": magnitude(piece["ts"] / u.ms).astype(np.float64)}
                cols.update({s: magnitude(piece[s]).reshape(len(cols["t"]), -1)[:, 0] for s in plane.states})
                line_x, line_y = np.concatenate(xs), np.concatenate(ys)

                def grow(cols=cols, line_x=line_x, line_y=line_y) -> None:
                    src = self.sources["trajectories"]
                    src.patch({"xs": [(row[0], line_x)], "ys": [(row[0], line_y)]})
                    stream_lines(self.sources["timeseries"], cols)

                self.post(grow, token)
                self._set_status(Status("running", f"trajectory from ({start[x]:.3g}, {start[y]:.3g}): "
                                                   f"{piece.done:,} of {n_total:,} steps",
                                        piece.done / piece.total, time.perf_counter() - t0), token)
        except Exception as exc:
            self._set_status(Status("error", f"{type(exc).__name__}: {exc}"), token)
            return
        if token.superseded or not pieces:
            return
        res = join_pieces(pieces)
        self._result, self._start = res, start
        elapsed = time.perf_counter() - t0
        if res.diverged is not None:
            self._set_status(Status("diverged", f"trajectory diverged: NaN/inf from step {res.diverged:,}; "
                                                "try a start closer to the fixed points", 1.0, elapsed,
                                    res.diverged), token)
        else:
            self._set_status(Status("done", f"trajectory from ({start[x]:.3g}, {start[y]:.3g}) in "
                                            f"{fmt_ms(elapsed)} ({n_total:,} steps)", 1.0, elapsed), token)

    # ------------------------------------------------------------------ common

    def code(self) -> str:
        """A plain-brainmass script running the latest trajectory (or one from the model's initial
        values); it leaves ``Simulator.run``'s output in ``result``."""
        state = self._state
        plane, sim = state.plane, state.sim
        start = self._start or {**state.held, **{s: float(plane.spec.init.get(s, 0.0))
                                                    for s in (plane.x, plane.y)}}
        return run_script(plane.spec, in_size=1, dt=sim.dt, duration=state.duration,
                          params=state.params, noise=sim.adapter.noisy, init=start,
                          monitors=tuple(plane.states), seed=state.seed)
