"""State and computation of the sweep explorer, shared by both front ends.

A metric of one model over a grid of one or two parameters, computed in compiled blocks (in this
process, across the local JAX devices or on a Dask cluster) and drawn as a curve or a heatmap as
it fills; a sweep is autosaved as it runs, saved to a file and opened again.
"""

from __future__ import annotations

import dataclasses
import os
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import brainunit as u
import jax
import jax.numpy as jnp
import numpy as np

from . import _plots, _scaleout
from ._code import sweep_script
from ._compile import compile_notice
from ._controller import (
    CACHE,
    Dispatch,
    Session,
    StatefulController,
    Status,
    Token,
    as_quantity,
    compute_slot,
    fields_of,
    fmt_ms,
    ms_text,
)
from ._engine import CachedSimulator
from ._limits import Slot, check_count, limits
from ._metrics import resolve_metric
from ._results import SweepResult

__all__ = ["SweepController", "SweepState"]


def _max(trace: jnp.ndarray, sample_s: float) -> jnp.ndarray:
    return trace.max(axis=0)


@lru_cache(maxsize=32)
def _banded(metric: str, sample_s: float) -> Callable:
    """``metric`` together with the trace's min and max, as one traced function (cached: stable
    identity keeps the compiled sweep program reusable)."""
    fn = _max if metric == "minmax" else resolve_metric(metric)

    def banded(trace: jnp.ndarray) -> jnp.ndarray:
        return jnp.stack([fn(trace, sample_s), trace.min(axis=0), trace.max(axis=0)])

    banded.__name__ = metric
    return banded


@dataclass(frozen=True)
class SweepState:
    """A sweep explorer's validated settings (each is described at :class:`SweepController`);
    ``axes`` maps each swept parameter to ``(low, high, points)``, ``sim`` is the engine."""

    model: str
    axes: dict[str, tuple[float, float, int]]
    params: dict[str, Any]
    metric: str
    monitor: str
    duration: Any
    transient: Any
    init: dict[str, Any]
    seed: int
    chunk_size: int | None
    executor: str
    sim: CachedSimulator


_OPTIONS = tuple(f.name for f in dataclasses.fields(SweepState) if f.name != "sim")
#: The fewest points of a block bounded by ``block_work``: a narrower block costs nearly as much
#: time per step (the loop's overhead dominates).
_MIN_BLOCK = 16


class SweepController(StatefulController[SweepState]):
    """State and computation of one sweep explorer: a metric over one or two parameters.

    Parameters
    ----------
    model : str, default "HopfStep"
        Catalogue name.
    axes : dict of str to (low, high, points), optional
        One or two swept parameters (default: the first parameter over its slider range, 32 points).
    params : dict, optional
        Values of the parameters not swept.
    metric : str, default "amplitude"
        ``"amplitude"``, ``"minmax"`` (the curve is the max), ``"frequency"``, ``"mean"``, ``"std"``.
    monitor : str, optional
        The state reduced (default: the model's default monitor).
    duration, transient : brainunit.Quantity or float (ms), optional
        Per-point run length (catalogue default) and unmeasured lead (default: a quarter).
    init : dict, optional
        Initial values.
    seed : int, default 0
        RNG seed (every point uses it).
    chunk_size : int, optional
        Grid points per compiled block (default: chosen by the engine, within ``block_work``); the
        plot fills block by block.
    block_work : int, optional
        Without ``chunk_size``: the most steps x points x regions one block may take, though at
        least 16 points (fewer cost nearly as much time each). A sweep gives the compute pool to
        interactive work between blocks, so this bounds how long a slider waits behind a sweep;
        the served app sets it. Default: no bound beyond the engine's memory budget.
    executor : str, default "local"
        Where the sweep runs: ``"local"`` (this process), ``"devices"`` (sharded across every local
        JAX device; offered when there are several) or ``"dask"`` (the ``client``'s cluster). See
        :attr:`executors`.
    client : dask.distributed.Client, optional
        A Dask cluster to offer as the ``"dask"`` executor.
    autosave : str or path-like, optional
        A folder: every sweep is written there as it fills (at most every 2 s, and when it ends,
        is cancelled, superseded or its session closes), so a closed tab loses nothing;
        :meth:`saved_sweeps` lists the files and :meth:`load_saved` shows one again.
    autosave_keep : int or None, default 20
        Files the folder keeps: after each write the oldest beyond this are deleted.
    autosave_mb : float or None, default 256
        MiB the folder's files may take: after each write the oldest are deleted until they fit.
    session : Session, optional
        The visitor's :class:`Session` (the served app gives each browser tab one): at most
        ``limits().max_session_jobs`` of its computations run at once, the newest winning.
    dispatch : callable, optional
        As for :class:`ModelController`.
    """

    _OPTION_NAMES = _OPTIONS
    #: A sweep computes only when asked (:meth:`run`).
    autorun = False
    #: Seconds between two draws of a running sweep and its progress line (its last block is always
    #: drawn): a browser redraws a whole heatmap for each, which for a large grid costs more than a
    #: fast block.
    draw_every = 0.2

    def __init__(self, model: str = "HopfStep", *, axes: Mapping[str, Sequence[float]] | None = None,
                 params: Mapping[str, Any] | None = None, metric: str = "amplitude",
                 monitor: str | None = None, duration: Any = None, transient: Any = None,
                 init: Mapping[str, Any] | None = None, seed: int = 0, chunk_size: int | None = None,
                 block_work: int | None = None, executor: str = "local", client: Any = None,
                 autosave: str | os.PathLike | None = None,
                 autosave_keep: int | None = 20, autosave_mb: float | None = 256,
                 dispatch: Dispatch | None = None, session: Session | None = None):
        super().__init__(dispatch, "brainmass-widgets sweep", session)
        if client is not None:
            _scaleout.check_client(client)
        self._client = client
        self.block_work = None if block_work is None else check_count(block_work, "block_work")
        self._autosave = Path(autosave) if autosave is not None else None
        if autosave_keep is not None:
            check_count(autosave_keep, "autosave_keep")
        if autosave_mb is not None and not (isinstance(autosave_mb, int | float) and autosave_mb > 0):
            raise ValueError(f"autosave_mb must be None or a number > 0; got {autosave_mb!r}")
        self._autosave_keep = autosave_keep
        self._autosave_bytes = None if autosave_mb is None else autosave_mb * 2**20
        if self._autosave is not None:
            self._autosave.mkdir(parents=True, exist_ok=True)
        self.autosaved: Path | None = None
        self.figures: dict[str, Any] = {}
        self.sources: dict[str, Any] = {}
        self.figures["sweep"], self.sources["sweep"] = _plots.sweep_figure()
        self.figures["heatmap"], self.sources["heatmap"], self._mapper = _plots.heatmap_figure()
        self._result: SweepResult | None = None
        self._cancelled = -1
        self._pick_listeners: list[Callable[[dict[str, float]], None]] = []
        self.configure(model=model, axes=axes, params=params or {}, metric=metric, monitor=monitor,
                       duration=duration, transient=transient, init=init, seed=seed, chunk_size=chunk_size,
                       executor=executor)
        self._cells: tuple[np.ndarray, np.ndarray] | None = None  # the heatmap's grid, as drawn
        self.sources["sweep"].selected.on_change("indices", self._on_select("sweep"))
        self.sources["heatmap"].selected.on_change("image_indices", self._on_select("heatmap"))

    @property
    def result(self) -> SweepResult | None:
        """The latest sweep (partial while running; ``cancelled`` if it was stopped)."""
        return self._result


    @property
    def simulator(self) -> CachedSimulator:
        """The engine used for the sweep."""
        return self._state.sim

    @property
    def executors(self) -> dict[str, str]:
        """The executors available here, each with its description: ``"local"`` always,
        ``"devices"`` when this process has several JAX devices, ``"dask"`` with a client."""
        labels = {"local": lambda: "this process",
                  "devices": lambda: _scaleout.label(tuple(jax.local_devices()), None),
                  "dask": lambda: _scaleout.label(None, self._client)}
        return {key: labels[key]() for key in self._executor_keys()}

    def _executor_keys(self) -> tuple[str, ...]:
        """The executors available, without asking a Dask scheduler for its workers."""
        return (("local",) + (("devices",) if jax.local_device_count() > 1 else ())
                + (("dask",) if self._client is not None else ()))

    def configure(self, **options: Any) -> None:
        """Change sweep settings (``model``, ``axes``, ``params``, ``metric``, ``monitor``,
        ``duration``, ``transient``, ``init``, ``seed``, ``chunk_size``, ``executor``). Nothing is
        computed until :meth:`run`.

        Raises
        ------
        ValueError
            Naming the bad setting or value; nothing changes.
        """
        super().configure(**options)

    def _validate(self, options: dict[str, Any], old: SweepState | None) -> SweepState:
        state = {**fields_of(old), **options}
        if old is None or old.model != state["model"]:
            for key in ("axes", "params", "monitor", "init", "duration", "transient"):
                if key not in options:
                    state[key] = None
        sim = CachedSimulator(state["model"], cache=CACHE)
        spec = sim.spec
        axes = state["axes"] or {next(iter(spec.params)): None}
        if not 1 <= len(axes) <= 2:
            raise ValueError(f"sweep one or two parameters; got {len(axes)}: {', '.join(axes)}")
        clean = {}
        for name, rng in axes.items():
            if name not in spec.params:
                raise ValueError(f"unknown parameter {name!r} for {spec.name}; valid: "
                                 f"{', '.join(spec.params)}")
            p = spec.params[name]
            low, high, n = rng if rng is not None else (p.low, p.high, 32)
            if isinstance(n, bool) or not isinstance(n, int | np.integer) or not 1 <= n <= 10_000:
                raise ValueError(f"points for {name!r} must be an integer in 1 .. 10000; got {n!r}")
            if not (np.isfinite(low) and np.isfinite(high)) or not low < high and n > 1:
                raise ValueError(f"range for {name!r} must have low < high; got {low!r} .. {high!r}")
            clean[name] = (float(low), float(high), int(n))
        state["axes"] = clean
        state["params"] = {k: v for k, v in (state["params"] or {}).items() if k not in clean}
        if state["metric"] not in ("amplitude", "minmax", "frequency", "mean", "std"):
            raise ValueError(f"unknown metric {state['metric']!r}; valid: amplitude, minmax, frequency, "
                             f"mean, std")
        state["duration"] = as_quantity(state["duration"], u.ms, "duration") or spec.duration
        transient = as_quantity(state["transient"], u.ms, "transient")
        state["transient"] = transient if transient is not None else state["duration"] / 4
        state["init"] = dict(spec.init if state["init"] is None else state["init"])
        request = sim.prepare(state["duration"], params=state["params"], skip=tuple(clean),
                              monitors=state["monitor"], init=state["init"], transient=state["transient"],
                              seed=state["seed"])
        state["monitor"] = request.monitors[0]
        n_steps = request.n_steps
        allowed = limits()
        points = int(np.prod([n for _, _, n in clean.values()]))
        allowed.check_grid(points)
        allowed.check_steps(n_steps, f"each point's run of {ms_text(state['duration'])} at dt = "
                                     f"{ms_text(sim.dt)}")
        regions = int(np.prod(np.atleast_1d(sim.in_size)))
        allowed.check_sweep(f"a sweep of {points:,} points of {ms_text(state['duration'])} at dt = "
                            f"{ms_text(sim.dt)}", points, n_steps, regions,
                            self.block_size(sim, points, n_steps, state["chunk_size"]))
        if state["executor"] not in self._executor_keys():
            available = self.executors
            raise ValueError(f"executor {state['executor']!r} is not available here; available: "
                             + "; ".join(f"{k!r} ({v})" for k, v in available.items()))
        state["sim"] = sim
        return SweepState(**state)

    def _apply(self, old: SweepState | None) -> None:
        state = self._state
        self.post(lambda: self._label(state))

    def block_size(self, sim: CachedSimulator, points: int, n_steps: int, chunk_size: int | None) -> int:
        """Grid points per compiled block of a sweep of ``points`` runs of ``n_steps`` steps:
        ``chunk_size`` when given, else the engine's choice bounded by :attr:`block_work`."""
        engine = sim.block_size(points, n_steps, chunk_size)
        if chunk_size is not None or self.block_work is None:
            return engine
        work = n_steps * int(np.prod(np.atleast_1d(sim.in_size)))
        by_work = 1 << int(np.log2(max(1, self.block_work // work)))
        return min(engine, max(_MIN_BLOCK, by_work))

    def code(self) -> str:
        """A plain-brainmass loop over the grid computing the same metric; it leaves the grid of
        values in ``result`` (equal to ``self.result.values``). Slow by design: one fresh
        ``brainmass.Simulator`` run per point, as one would write it without this toolkit."""
        st = self._state
        params = {**st.sim.adapter.defaults(), **st.params}
        params = {k: v for k, v in params.items() if k not in st.axes}
        return sweep_script(st.sim.spec, axes=st.axes, metric=st.metric, monitor=st.monitor,
                            dt=st.sim.dt, duration=st.duration, params=params, init=st.init,
                            transient=st.transient, seed=st.seed)

    def run(self) -> None:
        """Start the sweep on the worker thread (a running sweep is superseded)."""
        state = self._state
        self._worker.submit(lambda token: self._job(state, token))

    def cancel(self) -> None:
        """Stop the running sweep after its current block; the blocks already drawn stay."""
        self._cancelled = self._worker.generation
        self._worker.cancel()

    def on_pick(self, callback: Callable[[dict[str, float]], None]) -> None:
        """Call ``callback({param: value, ...})`` when a point or cell of the plot is tapped."""
        self._pick_listeners.append(callback)

    def save(self, file: Any) -> None:
        """Write the latest sweep (finished, partial or cancelled) to a ``.npz`` file: a path or a
        binary file object. :meth:`load` shows it again, here or in another session.

        Raises
        ------
        ValueError
            When there is no sweep yet.
        """
        res = self._result
        if res is None:
            raise self.fail(ValueError("nothing to save yet: run a sweep first"))
        try:
            res.save(file)
        except OSError as exc:
            raise self.fail(ValueError(f"cannot write {file}: {exc}")) from exc
        if isinstance(file, str | os.PathLike):
            message = f"saved the sweep ({res.done:,} of {res.total:,} points) to {file}"
            self._set_status(Status("done", message, 1.0))

    @property
    def autosave(self) -> Path | None:
        """The folder every sweep is saved to as it fills (``None``: not saved)."""
        return self._autosave

    def saved_sweeps(self) -> list[str]:
        """The files in the ``autosave`` folder, newest first (empty without one)."""
        if self._autosave is None:
            return []
        files = sorted(self._autosave.glob("*.npz"), key=lambda f: f.stat().st_mtime, reverse=True)
        return [f.name for f in files]

    def load_saved(self, name: str) -> SweepResult:
        """Show the autosaved sweep ``name`` (one of :meth:`saved_sweeps`; nothing else is read).

        Raises
        ------
        ValueError
            For a name that is not in the list.
        """
        if name not in self.saved_sweeps():
            raise self.fail(ValueError(f"no saved sweep named {name!r}; saved: "
                                        f"{', '.join(self.saved_sweeps()) or 'none'}"))
        return self.load(self._autosave / name)

    def _keeper(self, state: SweepState) -> Callable[[SweepResult, bool], None]:
        """Writes a sweep's (partial) result to its autosave file, at most every 2 s unless final."""
        if self._autosave is None:
            return lambda res, final: None
        stamp = time.strftime("%Y%m%d-%H%M%S")
        target = self._autosave / f"{state.sim.spec.name}-{stamp}-{uuid.uuid4().hex[:6]}.npz"
        last = [0.0]

        def keep(res: SweepResult, final: bool) -> None:
            now = time.monotonic()
            if not final and now - last[0] < 2.0:
                return
            last[0] = now
            part = target.with_suffix(".part")
            with open(part, "wb") as f:
                res.save(f)
            os.replace(part, target)
            self.autosaved = target
            self._prune(target)

        return keep

    def _prune(self, current: Path) -> None:
        """Delete the oldest autosaved files beyond ``autosave_keep`` files or ``autosave_mb``
        (never ``current``, the sweep being written)."""
        files = sorted(self._autosave.glob("*.npz"), key=lambda f: f.stat().st_mtime, reverse=True)
        files.sort(key=lambda f: f != current)
        total = 0
        for i, f in enumerate(files):
            total += f.stat().st_size
            over_count = self._autosave_keep is not None and i >= self._autosave_keep
            over_size = self._autosave_bytes is not None and total > self._autosave_bytes
            if f != current and (over_count or over_size):
                f.unlink(missing_ok=True)

    def load(self, file: Any) -> SweepResult:
        """Show a sweep written by :meth:`save` (a path, a binary file object, the file's bytes,
        or the :class:`SweepResult` read from one): the settings follow its model, axes, metric,
        monitor, duration, transient, fixed parameters, initial values and seed, and the plot
        shows its values. Nothing is computed.

        Raises
        ------
        ValueError
            When the file is not a saved sweep of a catalogue model, or holds or unpacks to more
            than 64 MiB (``MAX_SWEEP_BYTES``); nothing changes.
        """
        try:
            res = file if isinstance(file, SweepResult) else SweepResult.load(file)
            if not res.model:
                raise ValueError("the file holds a network or factory sweep; only catalogue models open here")
            axes = {k: (float(str(v[0])), float(str(v[-1])), int(v.size)) for k, v in res.axes.items()}
            shared = res.settings
            extra = {k: shared[k] for k in ("params", "init", "seed") if k in shared}
            extra.update({k: shared[f"{k}_ms"] for k in ("duration", "transient") if f"{k}_ms" in shared})
            self.configure(model=res.model, axes=axes, metric=res.metric, monitor=res.monitor, **extra)
        except Exception as exc:
            raise self.fail(exc) from exc
        if res.shown is None:
            banded = dataclasses.replace(res, values=self._band(res.values, res.metric, len(axes)))
            res = self._unband(banded, res.metric)
        self._result = res
        state = self._state
        grid = {k: v.astype(float) for k, v in res.axes.items()}
        self.post(lambda: self._draw(state, grid, None))
        self.post(lambda: self._draw(state, grid, res))
        self._set_status(Status("done", f"opened a sweep of {res.done:,} of {res.total:,} points "
                                        f"({res.metric} of {res.monitor})", res.done / max(res.total, 1)))
        return res

    def _on_select(self, name: str) -> Callable:
        def handler(attr: str, old: Any, new: Any) -> None:
            if not new:
                return
            names = list(self._state.axes)
            if name == "sweep":
                picked = {names[0]: float(self.sources[name].data["x"][new[0]])}
            else:
                if self._cells is None or len(names) < 2:
                    return
                i, j = new[0]["i"], new[0]["j"]
                a, b = self._cells
                picked = {names[0]: float(a[i]), names[1]: float(b[j])}
                _plots.outline_cell(self.figures["heatmap"], i * b.size + j)
            for cb in list(self._pick_listeners):
                cb(picked)

        return handler

    def pick(self, index: int) -> dict[str, float]:
        """Select grid point ``index`` of the current plot as a tap would, and return its values
        (on a heatmap, in grid order: the second parameter varies fastest)."""
        picked: dict[str, float] = {}
        self.on_pick(picked.update)
        try:
            if len(self._state.axes) == 1:
                self.sources["sweep"].selected.indices = [int(index)]
            elif self._cells is not None:
                n_a, n_b = self._cells[0].size, self._cells[1].size
                i, j = divmod(int(index), n_b)
                self.sources["heatmap"].selected.image_indices = [
                    {"index": 0, "i": i, "j": j, "flat_index": j * n_a + i}]
        finally:
            self._pick_listeners.remove(picked.update)
        return picked

    def _job(self, state: SweepState, token: Token) -> None:
        sim: CachedSimulator = state.sim
        grid = {n: np.linspace(lo, hi, k) for n, (lo, hi, k) in state.axes.items()}
        sample_s = float(sim.dt / u.second)
        metric = _banded(state.metric, sample_s)
        total = int(np.prod([v.size for v in grid.values()]))
        n_steps = sim.steps(state.duration, state.transient, None)[0]
        t0 = time.perf_counter()
        self.post(lambda: self._draw(state, grid, None), token)

        def notice() -> None:
            self._set_status(Status("compiling", f"compiling the sweep program ({total:,} points)", 0.0),
                             token)

        slot: Slot | None = None
        keep = self._keeper(state)
        drawn = [-np.inf]

        def draw(snapshot: SweepResult, guard: Token | None = token) -> None:
            drawn[0] = time.perf_counter()
            self.post(lambda: self._draw(state, grid, snapshot), guard, "sweep")

        def on_chunk(done: int, total_: int, partial: SweepResult) -> bool:
            if token.superseded:
                return False
            self._result = self._unband(partial, state.metric)
            snapshot = self._result
            keep(snapshot, False)
            if done == total_ or time.perf_counter() - drawn[0] >= self.draw_every:
                # the progress line goes with the draw: it names the points the plot shows, and a
                # browser is not sent (and does not lay out) a new line for every fast block
                draw(snapshot)
                self._set_status(Status("running", f"sweep: {done:,} of {total_:,} points", done / total_,
                                        time.perf_counter() - t0), token)
            if slot is not None and not slot.pause(lambda: token.superseded):
                return False
            return not token.superseded

        self._set_status(Status("running", f"sweep: 0 of {total:,} points", 0.0, 0.0), token)
        where = {"local": {}, "devices": {"devices": "all"},
                 "dask": {"client": self._client}}[state.executor]
        try:
            with nullcontext() if "client" in where else compute_slot(token, background=True) as slot:
                if slot is not None and not slot.held:
                    if token.generation == self._cancelled:  # cancelled while it waited for a slot
                        self._set_status(Status("cancelled", f"cancelled before it started (0 of {total:,} "
                                                             "points)"))
                    return
                with compile_notice(notice):
                    res = sim.sweep(grid, duration=state.duration, params=state.params,
                                    init=state.init, transient=state.transient,
                                    monitor=state.monitor, metric=metric, on_chunk=on_chunk,
                                    chunk_size=self.block_size(sim, total, n_steps, state.chunk_size),
                                    seed=state.seed, **where)
                keep(self._unband(res, state.metric), True)
        except Exception as exc:
            self._set_status(Status("error", f"{type(exc).__name__}: {exc}"), token)
            return
        elapsed = time.perf_counter() - t0
        if res.cancelled:
            if token.generation != self._cancelled:
                return
            self._result = self._unband(res, state.metric)
            draw(self._result, None)  # what was computed after the last draw (cancelling ends the token)
            self._set_status(Status("cancelled", f"cancelled after {res.done:,} of {res.total:,} points",
                                    res.done / res.total, elapsed))
            return
        self._result = self._unband(res, state.metric)
        n_bad = int(res.diverged.sum())
        note = f"; {n_bad} points diverged (NaN)" if n_bad else ""
        on = "" if state.executor == "local" else f" on {res.executor}"
        kept = f"; saved as {self.autosaved.name}" if self._autosave is not None else ""
        # cancelled after its last block: it is done, and says so (its token is superseded)
        self._set_status(Status("done", f"swept {total:,} points in {fmt_ms(elapsed)}{on}{note}{kept}", 1.0,
                                elapsed),
                         None if token.generation == self._cancelled else token)

    @staticmethod
    def _band(values: np.ndarray, metric: str, n_axes: int) -> np.ndarray:
        """An engine result's values as the (shown, min, max) band of :func:`_banded`."""
        if metric == "minmax":
            lo, hi = np.take(values, 0, axis=n_axes), np.take(values, 1, axis=n_axes)
            return np.stack([hi, lo, hi], axis=n_axes)
        return np.stack([values] * 3, axis=n_axes)

    @staticmethod
    def _unband(res: SweepResult, metric: str) -> SweepResult:
        """Split the banded values into ``values`` (the metric) plus the ``lo`` / ``hi`` / ``shown`` bands."""
        n_axes = len(res.axes)
        band = np.moveaxis(res.values, n_axes, 0)
        region_axes = tuple(range(n_axes, band.ndim - 1))

        def mean_regions(a: np.ndarray) -> np.ndarray:
            return a.mean(axis=region_axes) if region_axes else a

        return dataclasses.replace(res, values=band[0], metric=metric, lo=mean_regions(band[1]),
                                   hi=mean_regions(band[2]), shown=mean_regions(band[0]))

    def _label(self, state: SweepState) -> None:
        """Titles, axis labels and legend of the figures; a sweep with ``state`` fills the curve
        (one parameter) or the heatmap (two), which alone is shown, and both titles name the model."""
        names = list(state.axes)
        spec = state.sim.spec
        metric = state.metric
        gaps = metric == "frequency"
        curve, heatmap = self.figures["sweep"], self.figures["heatmap"]
        curve.visible, heatmap.visible = len(names) == 1, len(names) == 2
        curve.title.text = f"{spec.name}: {metric} vs {names[0]}" + (
            " (gaps: no oscillation)" if gaps else "")
        heatmap.title.text = (f"{spec.name}: {metric} of {state.monitor} over "
                              + (" and ".join(names) if len(names) == 2 else "two parameters")
                              + (" (grey: no oscillation)" if gaps else ""))
        if len(names) == 1:
            curve.xaxis.axis_label = spec.params[names[0]].label
            unit = "Hz" if gaps else spec.state_units.get(state.monitor)
            curve.yaxis.axis_label = f"{metric} of {state.monitor}" + (
                f" [{unit}]" if unit is not None else "")
            shown = "max" if metric == "minmax" else metric
            _plots.name_sweep_metric(curve, f"{shown} of {state.monitor}")
            _plots.set_extent(curve, x=state.axes[names[0]][:2])
            return
        _plots.set_grid_ranges(heatmap, state.axes[names[0]], state.axes[names[1]])
        heatmap.xaxis.axis_label = spec.params[names[0]].label
        heatmap.yaxis.axis_label = spec.params[names[1]].label
        shown = "max - min" if metric == "minmax" else metric
        _plots.label_heatmap(heatmap, names[0], names[1], f"{shown} of {state.monitor}")

    def _draw(self, state: SweepState, grid: Mapping[str, np.ndarray],
              res: SweepResult | None) -> None:
        names = list(grid)
        if len(names) == 1:
            x = grid[names[0]]
            nan = np.full(x.size, np.nan)
            if res is None:
                self.sources["sweep"].data = {"x": x, "y": nan, "lo": nan.copy(), "hi": nan.copy()}
                return
            _plots.patch_changed(self.sources["sweep"], {"y": res.shown, "lo": res.lo, "hi": res.hi})
            return
        a, b = grid[names[0]], grid[names[1]]
        if res is not None:
            value = (res.hi - res.lo) if state.metric == "minmax" else res.shown
            value = np.asarray(value, dtype=float).reshape(a.size, b.size)
            finite = value[np.isfinite(value)]
            if finite.size:
                self._mapper.low, self._mapper.high = float(finite.min()), float(finite.max())
            _plots.patch_heatmap(self.sources["heatmap"], value)
            return
        self._cells = (a, b)
        self.sources["heatmap"].selected.image_indices = []
        _plots.outline_cell(self.figures["heatmap"], None)
        self.sources["heatmap"].data = _plots.heatmap_image(a, b)
