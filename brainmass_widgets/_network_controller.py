"""State and computation of the network explorer, shared by both front ends."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import brainunit as u
import jax.numpy as jnp
import numpy as np

from ._code import network_script
from ._compile import compile_notice
from ._controller import (
    CACHE,
    Dispatch,
    Session,
    SimulatingController,
    Status,
    Token,
    as_quantity,
    column,
    compute_slot,
    fields_of,
    fmt_ms,
    join_pieces,
    ms_text,
    stream_pieces,
)
from ._engine import CachedSimulator
from ._limits import limits
from ._metrics import fc, sync
from ._network import Connectome, NetworkModel, load_connectome, order_parameter
from ._plots import (
    await_data,
    matrix_ticks,
    network_figures,
    patch_changed,
    set_extent,
    set_lines,
    stream_lines,
)
from ._results import SimResult
from ._units import magnitude

__all__ = ["NetworkController", "NetworkState"]

_STRUCTURE = ("node", "connectome", "coupled_var", "coupling", "speed", "noise")
_OPTIONS = _STRUCTURE + ("params", "duration", "transient", "seed", "sweep")
_MAX_LINES = 16
#: Points of one compiled block of the coupling sweep.
_SWEEP_BLOCK = 8
#: The explorer's parameter defaults where they differ from the catalogue's (a single node's).
#: HopfStep: just below the Hopf bifurcation (a = -0.05; the catalogue's a = 0.25 is a limit cycle),
#: driven by the noise: the fluctuating regime of whole-brain Hopf models (Deco et al. 2017), where
#: uncoupled regions are independent (FC near 0) and FC grows with the coupling k.
_NODE_DEFAULTS: dict[str, dict[str, float]] = {"HopfStep": {"a": -0.05}}


def fc_and_sync(x: jnp.ndarray) -> jnp.ndarray:
    """Mean FC and mean order parameter of a ``(time, regions)`` trace, stacked (a sweep metric)."""
    return jnp.stack([fc(x, 1.0), sync(x, 1.0)])


@dataclass(frozen=True)
class NetworkState:
    """A network explorer's validated settings (each is described at :class:`NetworkController`);
    ``init`` is the initial state for ``seed``, ``net`` and ``sim`` the engines for the structure."""

    node: str
    connectome: Connectome
    coupled_var: str
    coupling: str
    speed: float | None
    noise: bool
    params: dict[str, Any]
    duration: Any
    transient: Any
    seed: int
    sweep: tuple[str, float, float, int]
    init: Any
    net: NetworkModel
    sim: CachedSimulator


class NetworkController(SimulatingController[NetworkState]):
    """State and computation of one network explorer.

    A change of a parameter (the node's, the global coupling ``k``, the noise) reruns the network
    with the cached program; a change of structure (node model, connectome, coupled variable,
    coupling kind, conduction speed, noise on/off) builds a new :class:`NetworkModel`. Each run
    streams the region time series and then draws the FC matrix of the run and the order parameter
    R(t). :meth:`sweep` fills mean FC and mean R against one parameter, block by block, on a second
    worker; a tap on a point loads its value.

    By default every HopfStep region sits just below the Hopf bifurcation (``a = -0.05``) and is
    driven by its own noise, and each region starts at an independent random phase drawn from
    ``seed`` (:meth:`~brainmass_widgets.NetworkModel.initial_state`): uncoupled regions
    (``k = 0``) are then uncorrelated (mean FC near 0) and FC rises with ``k``, as in
    whole-brain Hopf models.

    Parameters
    ----------
    node : str, default "HopfStep"
        Catalogue node model.
    connectome : Connectome, str or array_like, default "example"
        Anything :func:`~brainmass_widgets.load_connectome` accepts.
    coupled_var, coupling, speed, noise
        As for :class:`~brainmass_widgets.NetworkModel` (noise on by default: FC needs it).
    params : dict, optional
        Parameter values (the node's, ``k``, ``noise_sigma``, ``noise_tau``); the rest take the
        catalogue's defaults, except HopfStep's ``a``, -0.05 here (noise-driven, below the
        bifurcation).
    duration, transient : brainunit.Quantity or float (ms), optional
        Run length (default 2 s) and the lead left out of FC and R (default 200 ms).
    seed : int, default 0
        Seed of the noise and of the regions' random initial phases.
    sweep : (str, float, float, int), optional
        Swept parameter, from, to, points (default ``("k", 0, 2, 16)``).
    session : Session, optional
        The visitor's :class:`Session` (the served app gives each browser tab one): at most
        ``limits().max_session_jobs`` of its computations run at once, the newest winning.
    dispatch : callable, optional
        ``dispatch(fn)`` applies ``fn`` where the Bokeh document may be changed.
    autorun : bool, default True
    """

    _OPTION_NAMES = _OPTIONS

    def __init__(self, node: str = "HopfStep", *, connectome: Any = "example", coupled_var: str | None = None,
                 coupling: str = "diffusive", speed: float | None = 5.0, noise: bool = True,
                 params: Mapping[str, Any] | None = None, duration: Any = 2000.0, transient: Any = 200.0,
                 seed: int = 0, sweep: tuple | None = None, chunk_steps: int = 5000,
                 dispatch: Dispatch | None = None, autorun: bool = True, session: Session | None = None):
        super().__init__(dispatch, "brainmass-network", session)
        self.sweep_worker = self._second_worker("brainmass-network-sweep")
        self.figures, self.sources, self._mappers = network_figures()
        for name in ("regions", "order"):
            await_data(self.figures[name], self.sources[name], "t", "Waiting for the first run")
        self.chunk_steps = int(chunk_steps)
        self.autorun = False
        self._sweep_result: np.ndarray | None = None
        self._pick_listeners: list[Callable[[dict[str, float]], None]] = []
        self._change(node=node, connectome=connectome, coupled_var=coupled_var, coupling=coupling,
                     speed=speed, noise=noise, params=params, duration=duration, transient=transient,
                     seed=seed, sweep=sweep or ("k", 0.0, 2.0, 16))
        self.sources["coupling_sweep"].selected.on_change("indices", self._on_select)
        self.autorun = autorun
        if autorun:
            self.run()

    # ------------------------------------------------------------------ state

    @property
    def network(self) -> NetworkModel:
        """The :class:`NetworkModel` in use."""
        return self._state.net

    @property
    def spec(self) -> Any:
        """The node model's :class:`~brainmass_widgets.ModelSpec`."""
        return self._state.net.spec

    @property
    def sweep_result(self) -> np.ndarray | None:
        """The latest coupling sweep: ``(points, 2)`` mean FC and mean R (NaN where not computed)."""
        return self._sweep_result

    def _validate(self, new: dict[str, Any], old: NetworkState | None) -> NetworkState:
        prev = fields_of(old)
        state = {**prev, **new}
        if old is not None and old.node != state["node"]:
            for key in ("coupled_var", "params"):
                if key not in new:
                    state[key] = None
        state["connectome"] = load_connectome(state["connectome"])
        limits().check_regions(len(state["connectome"].labels))
        if old is None or any(prev[k] is not state[k] and prev[k] != state[k] for k in _STRUCTURE):
            net = NetworkModel(state["node"], connectome=state["connectome"],
                               coupled_var=state["coupled_var"], coupling=state["coupling"],
                               speed=state["speed"], noise=state["noise"])
            sim = CachedSimulator(net, cache=CACHE)
        else:
            net, sim = old.net, old.sim
        state["coupled_var"], state["speed"], state["noise"] = net.coupled_var, net.speed, net.noise
        params = {k: v for k, v in (state["params"] or {}).items() if k in sim.param_names}
        state["params"] = {**sim.adapter.defaults(), **_NODE_DEFAULTS.get(net.spec.name, {}), **params}
        sim.check_params(state["params"])
        state["duration"] = as_quantity(state["duration"], u.ms, "duration")
        state["transient"] = as_quantity(state["transient"], u.ms, "transient")
        n_steps, n_tr, _ = sim.steps(state["duration"], state["transient"], None)
        what = f"a network run of {ms_text(state['duration'])} at dt = {ms_text(sim.dt)}"
        limits().check_steps(n_steps, f"a run of {ms_text(state['duration'])} at dt = {ms_text(sim.dt)}")
        regions = (len(state["connectome"].labels), "regions")
        at_once = min(self.chunk_steps, n_steps)
        limits().check_memory(what, ((n_steps + at_once, f"steps ({n_steps:,} kept + {at_once:,} recorded "
                                                         "at once)"), regions, (1, "monitor")),
                              ((n_steps - n_tr, "steps after the transient"), regions,
                               (4, "values (FC and R in float64)")))
        limits().check_work(what, ((n_steps, "steps"), regions))
        sim.check_seed(state["seed"])
        state["init"] = net.initial_state(state["seed"])
        name, lo, hi, points = state["sweep"]
        if name not in sim.param_names and old is not None and "sweep" not in new:
            name, lo, hi = "k", 0.0, 2.0  # the swept parameter went with the node model or the noise
        if name not in sim.param_names:
            raise ValueError(f"unknown parameter {name!r} to sweep; valid: {', '.join(sim.param_names)}")
        lo, hi = float(lo), float(hi)
        if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
            raise ValueError(f"sweep range must be two finite numbers with from < to; got {lo!r}, {hi!r}")
        if isinstance(points, bool) or not isinstance(points, int | np.integer) or not 2 <= points <= 1024:
            raise ValueError(f"sweep points must be an integer from 2 to 1024; got {points!r}")
        limits().check_grid(int(points))
        state["sweep"] = (name, lo, hi, int(points))
        state["net"], state["sim"] = net, sim
        return NetworkState(**state)

    def _apply(self, old: NetworkState | None) -> None:
        state = self._state
        net: NetworkModel = state.net
        if old is None or old.net is not net:
            labels = list(net.connectome.labels[:_MAX_LINES])
            cells = self._cells(net.connectome.weights, net.connectome.labels)
            high = float(net.connectome.weights.max()) or 1.0
            unit = net.spec.state_units.get(net.coupled_var)

            def rebuild() -> None:
                set_lines(self.figures["regions"], self.sources["regions"], "t", labels)
                self.figures["regions"].yaxis.axis_label = net.coupled_var + (f" [{unit}]" if unit else "")
                name = f"{net.spec.name} network"
                for key, title in (("regions", f"{net.coupled_var} per region"),
                                   ("connectivity", "structural connectivity"),
                                   ("fc", "functional connectivity"),
                                   ("order", "synchrony, order parameter R(t)")):
                    self.figures[key].title.text = f"{name}: {title}"
                matrix_ticks(self.figures["connectivity"], net.connectome.labels)
                matrix_ticks(self.figures["fc"], net.connectome.labels)
                self._mappers["connectivity"].high = high
                self.sources["connectivity"].data = cells
                self.sources["fc"].data = {k: [] for k in cells}
                self.sources["order"].data = {"t": [], "R": []}

            self.post(rebuild)
        if old is None or old.sweep[0] != state.sweep[0] or old.net is not net:
            self._sweep_result = None
            label = state.sim.adapter.params[state.sweep[0]].label
            title = f"{net.spec.name} network: coupling sweep of {state.sweep[0]} (tap a point to load it)"
            self.post(lambda: self._clear_sweep(label, title))
        if old is None or old.sweep != state.sweep:
            low, high = state.sweep[1:3]
            self.post(lambda: set_extent(self.figures["coupling_sweep"], x=(low, high)))

    def _clear_sweep(self, label: str, title: str) -> None:
        self.sources["coupling_sweep"].data = {"x": [], "fc": [], "sync": []}
        self.figures["coupling_sweep"].xaxis.axis_label = label
        self.figures["coupling_sweep"].title.text = title

    @staticmethod
    def _cells(matrix: np.ndarray, labels: tuple[str, ...]) -> dict[str, Any]:
        n = matrix.shape[0]
        target, source = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
        return {"x": source.ravel(), "y": target.ravel(), "value": np.asarray(matrix, dtype=float).ravel(),
                "source": [labels[j] for j in source.ravel()], "target": [labels[i] for i in target.ravel()]}

    def configure(self, **options: Any) -> None:
        """Change any of ``node``, ``connectome``, ``coupled_var``, ``coupling``, ``speed``,
        ``noise``, ``params``, ``duration``, ``transient``, ``seed``, ``sweep``.

        A change (of node model or noise) that removes the swept parameter, ``sweep`` not given,
        sweeps ``k`` from 0 to 2 instead.

        Raises
        ------
        ValueError
            For an unknown option or a bad value (a connectome that is not square, holds NaN or
            negative weights, or whose labels do not match); nothing changes.
        """
        super().configure(**options)

    # ------------------------------------------------------------------ run

    def run(self) -> None:
        """Run the network with the current state (latest wins)."""
        state = self._state
        self._worker.submit(lambda token: self._job(state, token))

    def _job(self, state: NetworkState, token: Token) -> None:
        sim: CachedSimulator = state.sim
        net: NetworkModel = state.net
        var = net.coupled_var
        labels = list(net.connectome.labels[:_MAX_LINES])
        n_total, n_tr, _ = sim.steps(state.duration, state.transient, None)
        t0 = time.perf_counter()

        def notice() -> None:
            self._set_status(Status("compiling", f"compiling the {net.n}-region {net.spec.name} network "
                                                 "(first use of this structure)"), token)

        pieces: list[SimResult] = []
        try:
            stream = sim.stream(state.duration, chunk=self.chunk_steps * sim.dt, params=state.params,
                                monitors=[var], init=state.init, seed=state.seed)
            first = True
            for piece in stream_pieces(stream, notice, token):
                pieces.append(piece)
                data = {"t": np.ascontiguousarray(magnitude(piece["ts"] / u.ms), dtype=np.float64)}
                trace = magnitude(piece[var]).reshape(len(data["t"]), -1)
                data.update({label: column(trace[:, i]) for i, label in enumerate(labels)})
                self.post(self._stream_draw(data, first, n_total), token)
                first = False
                self._set_status(Status("running", f"running: {piece.done:,} of {n_total:,} steps",
                                        piece.done / piece.total, time.perf_counter() - t0), token)
        except Exception as exc:
            self._set_status(Status("error", f"{type(exc).__name__}: {exc}"), token)
            return
        if token.superseded or not pieces:
            return
        res = join_pieces(pieces)
        self._result = res
        elapsed = time.perf_counter() - t0
        if res.diverged is not None:
            self._set_status(Status("diverged", f"diverged: NaN/inf from step {res.diverged:,}; try a "
                                                "smaller k or dt", 1.0, elapsed, res.diverged), token)
            return
        trace = magnitude(res[var]).reshape(n_total, -1)[n_tr:]
        t = magnitude(res["ts"] / u.ms)[n_tr:]
        with np.errstate(invalid="ignore", divide="ignore"):
            matrix = np.corrcoef(trace.T)
        r = order_parameter(trace.astype(np.float64))
        cells = self._cells(np.nan_to_num(matrix), net.connectome.labels)
        step = max(1, len(t) // 4000)
        order = {"t": t[::step], "R": column(r[::step])}

        def draw() -> None:
            self.sources["fc"].data = cells
            self.sources["order"].data = order

        self.post(draw, token)
        off = matrix[~np.eye(len(matrix), dtype=bool)]
        self._set_status(Status("done", f"done in {fmt_ms(elapsed)} ({n_total:,} steps); mean FC "
                                        f"{np.nanmean(off):.3f}, mean R {r.mean():.3f}", 1.0, elapsed), token)

    def _stream_draw(self, data: dict[str, np.ndarray], first: bool, n_total: int) -> Callable[[], None]:
        def draw() -> None:
            src = self.sources["regions"]
            if first:
                src.data = data
            else:
                stream_lines(src, data, n_total)

        return draw

    # ------------------------------------------------------------------ sweep

    def sweep(self) -> None:
        """Fill mean FC and mean R against the swept parameter (``sweep`` option), block by block.

        Raises
        ------
        ValueError
            When the sweep exceeds the memory or work a request may take (``limits()``); nothing
            is computed.
        """
        state = self._state
        name, _, _, points = state.sweep
        n_steps = state.sim.steps(state.duration, state.transient, None)[0]
        try:
            limits().check_sweep(f"a sweep of {name} over {points:,} points of {ms_text(state.duration)} "
                                 f"at dt = {ms_text(state.sim.dt)}", points, n_steps, state.net.n,
                                 _SWEEP_BLOCK)
        except ValueError as exc:
            raise self.fail(exc) from None
        self.sweep_worker.submit(lambda token: self._sweep_job(state, token))

    def cancel_sweep(self) -> None:
        """Stop the running sweep after its current block."""
        self.sweep_worker.cancel()

    def _sweep_job(self, state: NetworkState, token: Token) -> None:
        sim: CachedSimulator = state.sim
        name, lo, hi, points = state.sweep
        grid = np.linspace(lo, hi, points)
        params = {k: v for k, v in state.params.items() if k != name}
        t0 = time.perf_counter()
        nan = np.full(points, np.nan)
        empty = {"x": grid, "fc": nan, "sync": nan.copy()}
        self.post(lambda: setattr(self.sources["coupling_sweep"], "data", empty), token)

        def notice() -> None:
            self._set_status(Status("compiling", f"compiling the sweep program ({points} points)"), token)

        def on_chunk(done: int, total: int, partial: Any) -> bool:
            values = np.array(partial.values, dtype=float)
            self._sweep_result = values
            data = {"fc": values[:, 0], "sync": values[:, 1]}
            self.post(lambda: patch_changed(self.sources["coupling_sweep"], data), token, "coupling_sweep")
            self._set_status(Status("running", f"sweep over {name}: {done} of {total} points", done / total,
                                    time.perf_counter() - t0), token)
            return slot.pause(lambda: token.superseded) and not token.superseded

        try:
            with compute_slot(token, background=True) as slot:
                if not slot.held:
                    return
                with compile_notice(notice):
                    res = sim.sweep({name: grid}, duration=state.duration, transient=state.transient,
                                    params=params, init=state.init, monitor=state.net.coupled_var,
                                    metric=fc_and_sync, seed=state.seed, on_chunk=on_chunk,
                                    chunk_size=_SWEEP_BLOCK)
        except Exception as exc:
            self._set_status(Status("error", f"{type(exc).__name__}: {exc}"), token)
            return
        elapsed = time.perf_counter() - t0
        if res.cancelled:
            self._set_status(Status("cancelled", f"sweep cancelled after {res.done} of {res.total} points",
                                    res.done / res.total, elapsed))
            return
        self._set_status(Status("done", f"swept {name} over {points} points in {fmt_ms(elapsed)}", 1.0,
                                elapsed), token)

    def on_pick(self, callback: Callable[[dict[str, float]], None]) -> None:
        """Call ``callback({name: value})`` when a sweep point is tapped (after it is loaded)."""
        self._pick_listeners.append(callback)

    def _on_select(self, attr: str, old: Any, new: Any) -> None:
        if not new:
            return
        name, lo, hi, points = self._state.sweep
        value = float(np.linspace(lo, hi, points)[int(new[-1])])
        self.set(**{name: value})
        for cb in list(self._pick_listeners):
            cb({name: value})

    def pick(self, index: int) -> dict[str, float]:
        """Load sweep point ``index`` as a tap would; returns its value."""
        picked: dict[str, float] = {}
        self.on_pick(picked.update)
        try:
            self.sources["coupling_sweep"].selected.indices = [int(index)]
        finally:
            self._pick_listeners.remove(picked.update)
        return picked

    # ------------------------------------------------------------------ common

    def code(self) -> str:
        """A plain-brainmass script (``brainmass.Network`` + ``Simulator``) reproducing the current
        run; it leaves the output in ``result``."""
        state = self._state
        net = state.net
        example = net.connectome.digest == example_digest()
        return network_script(net, dt=state.sim.dt, duration=state.duration, params=state.params,
                              init=state.init, monitors=(net.coupled_var,), seed=state.seed,
                              example=example)


@functools.lru_cache(maxsize=1)
def example_digest() -> str:
    return Connectome.example().digest
