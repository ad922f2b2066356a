"""State and computation of the bifurcation explorer, shared by both front ends."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._bifurcation import Bifurcation, BifurcationDiagram, Curve, Regions
from ._code import bifurcation_script
from ._compile import compile_notice
from ._controller import (
    CACHE,
    ENGINE_LOCK,
    Dispatch,
    Session,
    SimulatingController,
    Status,
    compute_slot,
    fields_of,
    fmt_ms,
)
from ._engine import CachedSimulator
from ._phase import check_count
from ._plots import BIFURCATION_COLORS, bifurcation_figures, region_color, set_extent

__all__ = ["BifurcationController", "BifurcationState"]

_OPTIONS = (
    "model",
    "param",
    "variable",
    "param_range",
    "params",
    "second",
    "second_range",
    "points",
    "cycles",
)


def _segments(x: np.ndarray, y: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The runs of a branch where ``keep`` holds, as one NaN-separated line (each run joined to
    the next point, so stable and unstable parts meet)."""
    xs, ys = [], []
    idx = np.nonzero(keep)[0]
    if not len(idx):
        return np.zeros(0), np.zeros(0)
    runs = np.split(idx, np.nonzero(np.diff(idx) > 1)[0] + 1)
    for run in runs:
        stop = min(run[-1] + 2, len(x))
        xs += [x[run[0] : stop], [np.nan]]
        ys += [y[run[0] : stop], [np.nan]]
    return np.concatenate(xs), np.concatenate(ys)


def _region_columns(regions: Regions | None) -> dict[str, Any]:
    """One rectangle per grid point of :class:`Regions`, coloured by its count of equilibria."""
    if regions is None:
        return {"x": [], "y": [], "width": [], "height": [], "label": [], "color": []}
    gx, gy = np.meshgrid(regions.first, regions.second)
    labels = regions.labels().ravel()
    dx = float(np.diff(regions.first[:2])[0])
    dy = float(np.diff(regions.second[:2])[0])
    return {"x": gx.ravel(), "y": gy.ravel(), "width": np.full(gx.size, dx), "height": np.full(gx.size, dy),
            "label": list(labels), "color": [region_color(c, st) for c, st in
                                             zip(regions.count.ravel(), regions.stable.ravel(), strict=True)]}


@dataclass(frozen=True)
class BifurcationState:
    """A bifurcation explorer's validated settings (each is described at
    :class:`BifurcationController`); ``bif`` and ``sim`` are the engines for the model, parameter
    and variable."""

    model: str
    param: str
    variable: str
    param_range: tuple[float, float]
    params: dict[str, Any]
    second: str | None
    second_range: tuple[float, float] | None
    points: int
    cycles: int
    bif: Bifurcation
    sim: CachedSimulator


class BifurcationController(SimulatingController[BifurcationState]):
    """A live bifurcation diagram: equilibrium branches (stable solid, unstable dashed), fold and
    Hopf points, limit-cycle extents, and optionally fold and Hopf curves in two parameters.

    Any parameter change (the second parameter's included) recomputes the whole diagram on the
    worker thread; the compiled programs are reused, so a slider move redraws in a fraction of a
    second. A tap on the diagram picks the nearest branch point: :attr:`picked` holds its
    parameter values and :meth:`on_pick` listeners (the app's Model and Phase plane tabs) receive
    them.

    Parameters
    ----------
    model : str
        A catalogue model with at least two state variables.
    param : str, optional
        Horizontal-axis parameter (default: the model's drive).
    variable : str, optional
        Vertical-axis state (default: the model's default monitor).
    param_range : (float, float), optional
        Range of ``param`` (default: its slider range).
    params : Mapping[str, Any], optional
        Values of the other parameters.
    second : str, optional
        A second parameter: its fold and Hopf curves are traced in the (``param``, ``second``)
        plane.
    second_range : (float, float), optional
        Range of ``second`` (default: its slider range).
    points : int, default 200
        Continuation steps across the range.
    cycles : int, default 40
        Parameter values of the limit-cycle sweeps (0: none).
    session, dispatch, autorun
        As for :class:`~brainmass_widgets.PhasePlaneController`.
    """

    _OPTION_NAMES = _OPTIONS

    def __init__(
        self,
        model: str = "HopfStep",
        *,
        param: str | None = None,
        variable: str | None = None,
        param_range: Sequence[float] | None = None,
        params: Mapping[str, Any] | None = None,
        second: str | None = None,
        second_range: Sequence[float] | None = None,
        points: int = 200,
        cycles: int = 40,
        dispatch: Dispatch | None = None,
        autorun: bool = True,
        session: Session | None = None,
    ):
        super().__init__(dispatch, "brainmass-bifurcation", session)
        self.figures, self.sources = bifurcation_figures()
        self._diagram: BifurcationDiagram | None = None
        self._curves: list[Curve] = []
        self._regions: Regions | None = None
        self._plane_cache: tuple[tuple, list[Curve], Regions] | None = None
        self._pick_listeners: list[Callable[[dict[str, float]], None]] = []
        self.picked: dict[str, float] | None = None
        self.autorun = False
        self._change(model=model, param=param, variable=variable, param_range=param_range, params=params,
                     second=second, second_range=second_range, points=points, cycles=cycles)
        self.sources["pick"].on_change("data", self._on_pick)
        self.autorun = autorun
        if autorun:
            self.run()

    # ------------------------------------------------------------------ state

    @property
    def bifurcation(self) -> Bifurcation:
        """The :class:`Bifurcation` (model, parameter, variable) in use."""
        return self._state.bif

    @property
    def spec(self) -> Any:
        """The :class:`~brainmass_widgets.ModelSpec` of the model."""
        return self._state.bif.spec

    @property
    def slider_params(self) -> tuple[str, ...]:
        """The parameters other than the horizontal one: those a slider moves, and those that can
        be the second parameter."""
        return tuple(n for n in self._state.params if n != self._state.param)

    @property
    def diagram(self) -> BifurcationDiagram | None:
        """The latest computed diagram."""
        return self._diagram

    @property
    def curves(self) -> list[Curve]:
        """The latest fold and Hopf curves (empty without a second parameter)."""
        return list(self._curves)

    @property
    def regions(self) -> Regions | None:
        """The latest count of equilibria on a grid of the two parameters (``None`` without a
        second parameter)."""
        return self._regions

    def _plane(self, bif: Bifurcation, diagram: BifurcationDiagram, state: BifurcationState
               ) -> tuple[list[Curve], Regions]:
        """Fold and Hopf curves and the regions between them. Neither depends on the second
        parameter's own value, so moving its slider reuses them (once curves were found)."""
        second = state.second
        key = (bif.spec.name, state.param, second, state.param_range, state.second_range,
               state.points, tuple((k, float(v)) for k, v in sorted(state.params.items())
                                      if k not in (state.param, second)))
        if self._plane_cache is not None and self._plane_cache[0] == key:
            return self._plane_cache[1], self._plane_cache[2]
        curves = bif.curves(diagram, second, state.second_range, points=state.points)
        regions = bif.regions(diagram, second, state.second_range)
        if curves:
            self._plane_cache = (key, curves, regions)
        return curves, regions

    def _validate(self, new: dict[str, Any], old: BifurcationState | None) -> BifurcationState:
        prev = fields_of(old)
        state = {**prev, **new}
        if prev.get("model") != state["model"]:
            for key in ("param", "variable", "param_range", "params", "second", "second_range"):
                if key not in new:
                    state[key] = None
        if prev.get("param") != state["param"] and "param_range" not in new:
            state["param_range"] = None
        if prev.get("second") != state["second"] and "second_range" not in new:
            state["second_range"] = None
        same = old is not None and (old.model, old.param, old.variable) == (
            state["model"], state["param"], state["variable"])
        # a parameter change keeps the Bifurcation: its simulators and programs stay warm
        bif = old.bif if same else Bifurcation(state["model"], state["param"], state["variable"])
        state["param"], state["variable"] = bif.param, bif.variable
        sim = CachedSimulator(state["model"], cache=CACHE)
        params = {k: v for k, v in (state["params"] or {}).items() if k in bif.spec.params}
        state["params"] = {**{k: p.default for k, p in bif.spec.params.items()}, **params}
        bif.plane.param_values(state["params"])
        state["param_range"] = bif.param_range(state["param_range"])
        if state["second"] == "":
            state["second"] = None
        if state["second"] is not None:
            if state["second"] == state["param"]:
                raise ValueError(f"the second parameter must differ from {state['param']!r}")
            state["second_range"] = bif.param_range(state["second_range"], state["second"])
        else:
            state["second_range"] = None
        state["points"] = check_count(state["points"], "points", 10, 2000)
        state["cycles"] = check_count(state["cycles"], "cycles", 0, 1000)
        state["bif"], state["sim"] = bif, sim
        return BifurcationState(**state)

    def _apply(self, old: BifurcationState | None) -> None:
        state = self._state
        bif = state.bif
        unit = bif.spec.params[state.param].unit
        vunit = bif.spec.state_units.get(state.variable)
        xlabel = state.param if unit is None else f"{state.param} [{unit}]"
        ylabel = state.variable if vunit is None else f"{state.variable} [{vunit}]"
        second = state.second
        s_unit = bif.spec.params[second].unit if second else None
        slabel = "" if not second else (second if s_unit is None else f"{second} [{s_unit}]")
        prange, srange = state.param_range, state.second_range

        def relabel() -> None:
            diagram, plane = self.figures["diagram"], self.figures["plane"]
            diagram.title.text = (
                f"{bif.spec.name}: equilibria and cycles of {state.variable} against "
                f"{state.param} (tap to pick a value)"
            )
            diagram.xaxis.axis_label, diagram.yaxis.axis_label = xlabel, ylabel
            plane.xaxis.axis_label, plane.yaxis.axis_label = xlabel, slabel
            plane.title.text = (
                f"{bif.spec.name}: fold and Hopf curves in {state.param} and {second}"
                if second
                else f"{bif.spec.name}: fold and Hopf curves (choose a second parameter)"
            )
            set_extent(diagram, x=prange)
            set_extent(plane, x=prange, y=srange or (0.0, 1.0))

        self.post(relabel)

    def configure(self, **options: Any) -> None:
        """Change any of ``model``, ``param``, ``variable``, ``param_range``, ``params``, ``second``,
        ``second_range``, ``points``, ``cycles``.

        Raises
        ------
        ValueError
            For an unknown option or a bad value; nothing changes.
        """
        super().configure(**options)

    # ------------------------------------------------------------------ computing

    def run(self) -> None:
        """Recompute the diagram (and the two-parameter curves, with a second parameter)."""
        state = self._state
        self._worker.submit(lambda token: self._job(state, token))

    def _job(self, state: BifurcationState, token: Any) -> None:
        bif: Bifurcation = state.bif
        others = {k: v for k, v in state.params.items() if k != state.param}

        def notice() -> None:
            self._set_status(
                Status(
                    "compiling",
                    f"compiling the {bif.spec.name} continuation programs "
                    "(first use; later changes reuse them)",
                ),
                token,
            )

        t0 = time.perf_counter()
        try:
            with compute_slot(token) as slot:
                if not slot.held:
                    return
                with ENGINE_LOCK, compile_notice(notice):
                    diagram = bif.diagram(
                        state.param_range, params=others, points=state.points, cycles=state.cycles
                    )
                    curves, regions = self._plane(bif, diagram, state) if state.second else ([], None)
        except Exception as exc:
            self._set_status(Status("error", f"{type(exc).__name__}: {exc}"), token)
            return
        if token.superseded:
            return
        columns = self._columns(diagram, curves, regions, state)

        def draw() -> None:
            for name, data in columns.items():
                self.sources[name].data = data

        self._diagram, self._curves, self._regions = diagram, curves, regions
        self.post(draw, token)
        elapsed = time.perf_counter() - t0
        found = (
            "; ".join(f"{sp.label} at {state.param} = {sp.param:.3g}" for sp in diagram.special)
            or "no fold or Hopf point"
        )
        self._set_status(Status("done", f"diagram in {fmt_ms(elapsed)}: {found}", 1.0, elapsed), token)

    @staticmethod
    def _columns(diagram: BifurcationDiagram, curves: list[Curve], regions: Regions | None,
                 state: BifurcationState) -> dict[str, dict]:
        col = diagram.states.index(diagram.variable)
        stable_x, stable_y, unstable_x, unstable_y = [], [], [], []
        for br in diagram.branches:
            y = br.states[:, col]
            sx, sy = _segments(br.param, y, br.stable)
            ux, uy = _segments(br.param, y, ~br.stable)
            stable_x.append(sx)
            stable_y.append(sy)
            unstable_x.append(ux)
            unstable_y.append(uy)

        def cat(parts: list[np.ndarray]) -> np.ndarray:
            return np.concatenate(parts) if parts else np.zeros(0)

        special = {
            "x": [sp.param for sp in diagram.special],
            "y": [sp.state[diagram.variable] for sp in diagram.special],
            "kind": ["fold" if sp.kind == "fold" else "Hopf" for sp in diagram.special],
            "label": [f"{sp.label} at {sp.param:.5g}" for sp in diagram.special],
            "color": [BIFURCATION_COLORS[sp.kind] for sp in diagram.special],
        }
        nan = np.full(len(diagram.cycle_param), np.nan)
        up, down = diagram.cycles.get("up", (nan, nan)), diagram.cycles.get("down", (nan, nan))
        cycles = {
            "x": diagram.cycle_param,
            "up_min": up[0],
            "up_max": up[1],
            "down_min": down[0],
            "down_max": down[1],
        }
        curve_cols = {
            "xs": [c.values[:, 0] for c in curves],
            "ys": [c.values[:, 1] for c in curves],
            "start": [float(c.values[np.isfinite(c.values[:, 0]), 0][0]) for c in curves],
            "color": [BIFURCATION_COLORS[c.kind] for c in curves],
            "label": [f"{'fold' if c.kind == 'fold' else 'Hopf'} curve" for c in curves],
        }
        here = (
            {"x": list(state.param_range), "y": [float(state.params[state.second])] * 2}
            if state.second
            else {"x": [], "y": []}
        )
        return {
            "stable": {"x": cat(stable_x), "y": cat(stable_y)},
            "unstable": {"x": cat(unstable_x), "y": cat(unstable_y)},
            "special": special,
            "cycles": cycles,
            "curves": curve_cols,
            "here": here,
            "regions": _region_columns(regions),
        }

    # ------------------------------------------------------------------ picking

    def on_pick(self, callback: Callable[[dict[str, float]], None]) -> None:
        """Call ``callback(params)`` when a tap picks a point of the diagram: ``params`` holds
        every parameter, the horizontal one at the picked value."""
        self._pick_listeners.append(callback)

    def _on_pick(self, attr: str, old: Any, new: Any) -> None:
        if not new.get("x"):
            return
        self.pick(float(new["x"][0]), float(new["y"][0]))

    def pick(self, x: float, y: float | None = None) -> dict[str, float] | None:
        """Choose the branch point nearest ``(x, y)`` (nearest in the parameter alone without
        ``y``): its parameter values go to :attr:`picked` and to the :meth:`on_pick` listeners.

        Returns
        -------
        dict or None
            The picked parameters, or ``None`` before a diagram exists.
        """
        diagram = self._diagram
        if diagram is None or not diagram.branches:
            return None
        col = diagram.states.index(diagram.variable)
        p = np.concatenate([br.param for br in diagram.branches])
        v = np.concatenate([br.states[:, col] for br in diagram.branches])
        span_p = max(diagram.param_range[1] - diagram.param_range[0], 1e-12)
        span_v = max(float(np.ptp(v)), 1e-12)
        dist = ((p - x) / span_p) ** 2 + (0.0 if y is None else ((v - y) / span_v) ** 2)
        value = float(p[int(np.argmin(dist))])
        value = min(max(value, diagram.param_range[0]), diagram.param_range[1])
        picked = {**{k: float(v) for k, v in self._state.params.items()}, diagram.param: value}
        self.picked = picked
        for callback in list(self._pick_listeners):
            callback(dict(picked))
        return picked

    def code(self) -> str:
        """A script that recomputes the diagram's fold and Hopf points with plain brainmass, JAX
        and scipy; executing it leaves ``(kind, value, equilibrium, frequency_hz)`` per point in
        ``found``."""
        if self._diagram is None:
            self.wait()
        return bifurcation_script(self.spec, self._diagram)
