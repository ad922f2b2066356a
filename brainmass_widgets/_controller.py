"""Explorer state, a latest-wins worker thread, and the updates of the Bokeh sources.

A controller is what a front end drives: it holds the state of one explorer, validates every
change before accepting it, computes on its own thread (a newer request supersedes an older one
at its next chunk boundary), and writes results into Bokeh sources through a ``dispatch``
function supplied by the front end -- a direct call under a lock for ipywidgets, a next-tick
callback of the session's document for Panel. It knows Bokeh sources, never widgets.
"""

from __future__ import annotations

import atexit
import dataclasses
import os
import sys
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext, suppress
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import brainunit as u
import jax
import jax.numpy as jnp
import numpy as np

from . import _plots, _scaleout
from ._catalog import ModelSpec, model_spec
from ._code import run_script, sweep_script
from ._engine import STATE_LOCK, CachedSimulator, CompileCache, SimResult, SweepResult, compile_notice
from ._limits import Slot, check_count, compute_pool, limits
from ._metrics import resolve_metric

__all__ = ["ModelController", "Session", "Status", "SweepController", "shared_cache"]

_CACHE = CompileCache(256)
_ENGINE_LOCK = STATE_LOCK
"""Work that traces brainstate code outside the engine's programs (the phase plane, network
builds) holds the engine's state lock throughout."""

Dispatch = Callable[[Callable[[], None]], None]


def shared_cache() -> CompileCache:
    """The compile cache shared by every explorer in this process (it holds no user state)."""
    return _CACHE


@dataclass(frozen=True)
class Status:
    """What an explorer is doing, for a status line.

    Attributes
    ----------
    kind : str
        ``"idle"``, ``"compiling"``, ``"running"``, ``"done"``, ``"diverged"``, ``"cancelled"`` or
        ``"error"``.
    message : str
        One line for people.
    progress : float
        Fraction of the current computation done, 0 to 1.
    elapsed : float or None
        Seconds since the computation started.
    step : int or None
        For ``"diverged"``: the first integration step holding NaN/inf.
    """

    kind: str = "idle"
    message: str = ""
    progress: float = 0.0
    elapsed: float | None = None
    step: int | None = None

    @property
    def busy(self) -> bool:
        """Whether a computation is under way (compiling or running): what Cancel and Stop act on."""
        return self.kind in ("compiling", "running")


# ----------------------------------------------------------------------------- worker


class _Token:
    """Handed to a job: tells it whether a newer request (or a cancel) has superseded it."""

    def __init__(self, worker: _Worker, generation: int):
        self._worker = worker
        self.generation = generation

    @property
    def superseded(self) -> bool:
        return self._worker.generation != self.generation


class _Worker:
    """One daemon thread that runs only the latest submitted job (inside ``owner``'s session)."""

    def __init__(self, name: str, owner: _Base | None = None):
        self._name = name
        self._owner = owner
        self._cond = threading.Condition()
        self._pending: tuple[Callable, _Token] | None = None
        self._busy = False
        self._closed = False
        self._thread: threading.Thread | None = None
        self.generation = 0
        self.started = 0

    def submit(self, job: Callable[[_Token], None]) -> _Token:
        with self._cond:
            if self._closed or _STOPPING.is_set():
                raise RuntimeError("this explorer is closed")
            self.generation += 1
            token = _Token(self, self.generation)
            self._pending = (job, token)
            self._busy = True
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
                with _LIVE_LOCK:
                    _LIVE.add(self)
                self._thread.start()
            self._cond.notify_all()
            return token

    def cancel(self) -> None:
        with self._cond:
            self.generation += 1
            self._pending = None

    def stop(self, token: _Token) -> bool:
        """Supersede ``token``'s job if it is still the latest (a newer pending job is kept);
        ``True`` if it was stopped."""
        with self._cond:
            if self.generation != token.generation:
                return False
            self.generation += 1
            return True

    def close(self) -> None:
        with self._cond:
            self.generation += 1
            self._pending = None
            self._closed = True
            self._cond.notify_all()

    def wait(self, timeout: float | None) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: not self._busy, timeout)

    def join(self, timeout: float | None) -> bool:
        """Wait for the thread of a closed worker to end; ``False`` if it still runs after ``timeout``."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self._thread is None or not self._thread.is_alive()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while self._pending is None:
                    self._busy = False
                    self._cond.notify_all()
                    if self._closed:
                        return
                    self._cond.wait()
                job, token = self._pending
                self._pending = None
                self.started += 1
            session = self._owner.session if self._owner is not None else None
            if session is None:
                job(token)
                continue
            session.begin(self._owner, token)
            try:
                job(token)
            finally:
                session.end(token)


# ----------------------------------------------------------------------------- stopping the process

_LIVE: weakref.WeakSet[_Worker] = weakref.WeakSet()
"""Every worker whose thread has started (its running thread keeps it alive; a closed one is let go)."""
_LIVE_LOCK = threading.Lock()
_STOPPING = threading.Event()
_EXIT_WAIT = 30.0
"""Seconds the process waits, when it ends, for computations to reach their next chunk boundary.
A chunk of a served request (bounded by the limits) or a compile takes seconds; 30 s stays within
what service managers allow a stopping process (systemd 90 s)."""
_EXIT_NOTICE = 2.0


def _alive() -> list[_Worker]:
    """The registered workers whose thread is still running."""
    with _LIVE_LOCK:
        workers = list(_LIVE)
    return [w for w in workers if not w.join(0)]


def stop_all(timeout: float = _EXIT_WAIT) -> None:
    """Stop every explorer's computation in this process before it ends (run at interpreter exit).

    Every worker is closed, so each running job stops at its next chunk boundary: a compiled call
    in progress finishes its chunk, a sweep writes its autosave marked cancelled. Then the worker
    threads are joined, so that none is inside JAX when the interpreter finalises (a daemon
    thread torn down inside XLA aborts the process). No explorer computes afterwards.

    The hook runs through ``threading._register_atexit``: before non-daemon threads are joined and
    before every ``atexit`` handler, among them JAX's own, which clears its backends (a thread
    still computing on them would crash).

    Parameters
    ----------
    timeout : float
        Seconds to wait for all threads together; after 2 s a line on stderr says what is awaited.
        Threads still inside a compiled call after that (or when a second Ctrl-C interrupts the
        wait) cannot be stopped and would abort the interpreter's finalisation: the process then
        ends at once with status 1 (``os._exit``: later exit handlers do not run), after saying so.
    """
    _STOPPING.set()
    with _LIVE_LOCK:
        workers = list(_LIVE)
    for worker in workers:
        worker.close()
    deadline = time.monotonic() + timeout
    with suppress(KeyboardInterrupt):  # a second Ctrl-C ends the wait
        for worker in workers:
            worker.join(min(_EXIT_NOTICE, max(0.0, deadline - time.monotonic())))
        left = _alive()
        if left:
            print(f"brainmass-widgets: waiting up to {timeout:g} s for {len(left)} computation(s) to "
                  f"finish their current chunk or compile", file=sys.stderr, flush=True)
        for worker in left:
            worker.join(max(0.0, deadline - time.monotonic()))
    left = _alive()
    if left:
        print(f"brainmass-widgets: {len(left)} computation(s) still inside a compiled step; ending the "
              f"process without them", file=sys.stderr, flush=True)
        sys.stdout.flush()
        os._exit(1)


# CPython's hook before threads are joined (what concurrent.futures uses); plain atexit elsewhere.
getattr(threading, "_register_atexit", atexit.register)(stop_all)


class Session:
    """The explorers of one visitor (a browser tab of the served app).

    At most ``limits().max_session_jobs`` of their computations run at once, and at most
    ``limits().max_client_jobs`` of all the sessions of one ``client`` (the visitor's address):
    starting one more stops the oldest still running (latest wins), whose status says so. Give
    the same ``Session`` to every controller of the visitor (``session=``).

    Parameters
    ----------
    client : str, optional
        Who the visitor is, for the per-client bound (the served app gives the client address).
    """

    _clients_lock = threading.Lock()
    _clients: dict[str, list[tuple[_Base, _Token]]] = {}

    def __init__(self, client: str | None = None) -> None:
        self._lock = threading.Lock()
        self._running: list[tuple[_Base, _Token]] = []
        self.client = client

    @property
    def running(self) -> int:
        """Computations of this session running now."""
        with self._lock:
            return len(self._running)

    def begin(self, owner: _Base, token: _Token) -> None:
        """Record that ``owner`` starts the job of ``token``, stopping the oldest running ones
        beyond the limits."""
        allowed = limits()
        with self._lock:
            self._running.append((owner, token))
            stale = [(*job, "this session") for job in _beyond(self._running, allowed.max_session_jobs)]
        if self.client is not None:
            with Session._clients_lock:
                jobs = Session._clients.setdefault(self.client, [])
                jobs.append((owner, token))
                stale += [(*job, "another tab from your address (--max-client-jobs)")
                          for job in _beyond(jobs, allowed.max_client_jobs)]
        for other, old, whose in stale:
            other._preempt(old, whose)

    def end(self, token: _Token) -> None:
        """Record that the job of ``token`` has returned."""
        with self._lock:
            self._running = [(o, t) for o, t in self._running if t is not token]
        if self.client is not None:
            with Session._clients_lock:
                jobs = [(o, t) for o, t in Session._clients.get(self.client, ()) if t is not token]
                if jobs:
                    Session._clients[self.client] = jobs
                else:
                    Session._clients.pop(self.client, None)


def _beyond(jobs: list[tuple[_Base, _Token]], limit: int | None) -> list[tuple[_Base, _Token]]:
    """Remove and return the oldest of ``jobs`` beyond ``limit``."""
    stale = jobs[: max(0, len(jobs) - limit)] if limit is not None else []
    del jobs[: len(stale)]
    return stale


class _Base:
    """Status, dispatch and waiting shared by the controllers."""

    def __init__(self, dispatch: Dispatch | None, name: str, session: Session | None = None):
        if session is not None and not isinstance(session, Session):
            raise ValueError(f"session must be a brainmass_widgets.Session; got {session!r}")
        self.session = session
        self._doc_lock = threading.RLock()
        self._dispatch = dispatch or self._direct
        self._worker = _Worker(name, self)
        self._workers = [self._worker]
        self._status = Status()
        self._status_listeners: list[Callable[[Status], None]] = []
        self._pending_updates = 0
        self._posted = 0
        self._newest: dict[str, int] = {}
        self._updates_cond = threading.Condition()

    def _direct(self, fn: Callable[[], None]) -> None:
        with self._doc_lock:
            fn()

    def _post(self, fn: Callable[[], None], token: _Token | None = None, latest: str | None = None) -> None:
        """Apply ``fn`` to the document through ``dispatch``; dropped if ``token`` is superseded,
        or if a later update of the same ``latest`` kind was posted before this one was applied
        (a progress line, a sweep's cumulative draw: only the newest is worth sending)."""
        with self._updates_cond:
            self._pending_updates += 1
            self._posted += 1
            number = self._posted
            if latest is not None:
                self._newest[latest] = number

        def apply() -> None:
            try:
                if (token is None or not token.superseded) and (
                        latest is None or self._newest.get(latest) == number):
                    fn()
            finally:
                with self._updates_cond:
                    self._pending_updates -= 1
                    self._updates_cond.notify_all()

        self._dispatch(apply)

    @property
    def status(self) -> Status:
        """The latest :class:`Status`."""
        return self._status

    def on_status(self, callback: Callable[[Status], None]) -> None:
        """Call ``callback(status)`` (through ``dispatch``) on every status change."""
        self._status_listeners.append(callback)

    def _set_status(self, status: Status, token: _Token | None = None) -> None:
        if token is not None and token.superseded:
            return
        self._status = status
        listeners = list(self._status_listeners)
        if listeners:
            progress = status.kind in ("compiling", "running")
            self._post(lambda: [cb(status) for cb in listeners], token, "status" if progress else None)

    def _fail(self, exc: Exception) -> ValueError:
        self._set_status(Status("error", str(exc)))
        return exc if isinstance(exc, ValueError) else ValueError(str(exc))

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the current computation and its plot updates have finished.

        Returns
        -------
        bool
            ``False`` if ``timeout`` seconds passed first.
        """
        deadline = None if timeout is None else time.monotonic() + timeout

        def left() -> float | None:
            return None if deadline is None else max(0.0, deadline - time.monotonic())

        if not all(worker.wait(left()) for worker in self._workers):
            return False
        with self._updates_cond:
            return self._updates_cond.wait_for(lambda: self._pending_updates == 0, left())

    def _second_worker(self, name: str) -> _Worker:
        """Another latest-wins worker (work that must not cancel the main job's), waited for by
        :meth:`wait` and stopped by :meth:`close`."""
        worker = _Worker(name, self)
        self._workers.append(worker)
        return worker

    def _preempt(self, token: _Token, whose: str = "this session") -> None:
        """Stop the computation of ``token``: a newer one of ``whose`` starts."""
        if token._worker.stop(token):
            self._set_status(Status("cancelled", f"stopped: a newer computation of {whose} took over"))

    def close(self) -> None:
        """Stop computing; a running job stops at its next chunk boundary."""
        for worker in self._workers:
            worker.close()

    @property
    def computations(self) -> int:
        """How many requests the worker has started computing (not how many were submitted)."""
        return self._worker.started


class _Stateful(_Base):
    """A controller whose state is one validated dict (with ``"sim"`` and ``"params"``) and whose
    front ends listen for accepted changes; ``_OPTION_NAMES`` lists what :attr:`options` shows."""

    _OPTION_NAMES: tuple[str, ...] = ()

    def __init__(self, dispatch: Dispatch | None, name: str, session: Session | None = None):
        super().__init__(dispatch, name, session)
        self._state: dict[str, Any] = {}
        self._result: SimResult | None = None
        self._state_listeners: list[Callable[[], None]] = []

    @property
    def simulator(self) -> CachedSimulator:
        """The engine for the current structure (model, regions, dt, noise)."""
        return self._state["sim"]

    @property
    def params(self) -> dict[str, Any]:
        """Current parameter values, in catalogue units."""
        return dict(self._state["params"])

    @property
    def options(self) -> dict[str, Any]:
        """The current state, as keywords accepted by ``configure``."""
        return {k: self._state[k] for k in self._OPTION_NAMES}

    @property
    def result(self) -> SimResult | None:
        """The latest finished run (as ``brainmass.Simulator.run`` returns it), or ``None``."""
        return self._result

    def on_state(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` after every accepted change (front ends refresh their controls)."""
        self._state_listeners.append(callback)

    def _change(self, **new: Any) -> None:
        """Validate ``new`` against the state (a bad value raises, names it, and changes nothing),
        commit it, and recompute when ``autorun`` is on. For controllers that define
        ``_validate(new, old) -> state``, ``_commit(old_state)`` and ``run()``."""
        try:
            state = self._validate(new, self._state)
        except Exception as exc:
            raise self._fail(exc) from None
        old, self._state = self._state, state
        self._commit(old)
        if self.autorun:
            self.run()


# ----------------------------------------------------------------------------- helpers


def _mag(x: Any) -> np.ndarray:
    return np.asarray(u.get_magnitude(x))


def _col(x: np.ndarray) -> np.ndarray:
    """A plot column: contiguous float32 (the engine's precision; half the bytes of float64)."""
    return np.ascontiguousarray(x, dtype=np.float32)


def _replace(source: Any, data: dict[str, np.ndarray]) -> None:
    """Give ``source`` new columns, sending only those that changed when the time axis is the
    same (a parameter change re-sends the traces, not ``t``)."""
    old = source.data
    same_t = ("t" in data and set(old) == set(data) and len(old["t"]) == len(data["t"])
              and np.array_equal(np.asarray(old["t"]), data["t"]))
    if same_t:
        source.data.update({k: v for k, v in data.items() if k != "t"})
    else:
        source.data = data


def _quantity(value: Any, unit: Any, what: str) -> Any:
    """A time option as a quantity: numbers are read in ``unit``."""
    if value is None or isinstance(value, u.Quantity):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise ValueError(f"{what} must be a time such as 100 * u.ms or a number of ms; got {value!r}")
    return float(value) * unit


def _regions(data: np.ndarray, batched: bool) -> np.ndarray:
    """``(time, [batch,] *regions)`` as ``(time, [batch,] n_regions)``."""
    lead = 2 if batched else 1
    return data.reshape(data.shape[:lead] + (-1,))


def _join(pieces: Sequence[SimResult]) -> SimResult:
    keys = pieces[0].keys()
    data = {k: u.math.concatenate([p[k] for p in pieces], axis=0) for k in keys}
    last = pieces[-1]
    return SimResult(data, last.diverged, last.done, last.total)


def _compute(token: _Token, background: bool = False) -> AbstractContextManager[Slot]:
    """A slot of the process's compute pool for ``token``'s work (given up while waiting if the
    token is superseded: the slot's ``held`` is then ``False``); ``background`` work (sweeps,
    fits) waits behind interactive work."""
    return compute_pool().slot(lambda: token.superseded, background)


def _pieces(stream: Iterator[SimResult], notice: Callable[[], None], token: _Token) -> Iterator[SimResult]:
    """The pieces of a streamed run, each computed in its own compute-pool slot (with ``notice``
    called on a compile), until the run ends or ``token`` is superseded."""
    while True:
        with _compute(token) as slot:
            if not slot.held:
                return
            with compile_notice(notice):
                piece = next(stream, None)
        if piece is None or token.superseded:
            return
        yield piece


def _ms_text(value: Any) -> str:
    """A time quantity as ``"12.5 ms"``."""
    return f"{float(value.to_decimal(u.ms)):g} ms"


def _in_size(value: Any) -> int | tuple[int, ...]:
    """``in_size`` as an integer >= 1 or a tuple of them, or a ``ValueError`` naming the value."""
    if isinstance(value, tuple | list):
        if not value or not all(not isinstance(v, bool) and isinstance(v, int | np.integer) and v >= 1
                                for v in value):
            raise ValueError(f"in_size must be an integer >= 1 or a tuple of them; got {value!r}")
        return tuple(int(v) for v in value)
    return check_count(value, "in_size")


def _fmt_ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms" if seconds < 10 else f"{seconds:.1f} s"


_OPTIONS = ("model", "in_size", "dt", "duration", "transient", "monitors", "noise", "seed",
            "batch_size", "regions", "sample_every", "phase", "init")


# ----------------------------------------------------------------------------- model controller


def _noise_option(model: str, noise: Any) -> bool | str | tuple[str, ...]:
    """The ``noise`` of :class:`CachedSimulator` for a controller's ``noise`` option: ``None`` and
    ``True`` give the catalogue's default noisy states (``True``: every state, where it names none)."""
    if noise is None or noise is True:
        return model_spec(model).default_noise or bool(noise)
    if isinstance(noise, str):
        return noise
    if isinstance(noise, (list, tuple)):
        return tuple(noise) or False
    return bool(noise)


class ModelController(_Stateful):
    """State and computation of one model explorer.

    Parameters
    ----------
    model : str, default "HopfStep"
        Catalogue name.
    params : dict, optional
        Parameter values (catalogue units); the rest take their defaults.
    in_size : int or tuple of int, default 1
        Number (shape) of regions.
    dt, duration, transient : brainunit.Quantity or float (ms), optional
        Step, run length and unrecorded lead (catalogue defaults; no transient).
    monitors : sequence of str, optional
        Recorded and plotted states (default: the model's default monitor).
    noise : bool, str or sequence of str, optional
        Ornstein-Uhlenbeck noise (adds ``noise_sigma``, ``noise_tau``). ``None`` (the default): the
        model's default view, noise on the catalogue's ``ModelSpec.default_noise`` states (none for
        most models) with its ``default_noise_params``; ``True``: those states too, or every state
        that takes noise where the catalogue names none; ``False``: none; names: those states.
        Switching ``model`` resets it to ``None`` unless given too.
    seed : int, default 0
        RNG seed.
    batch_size : int, optional
        A noise ensemble: the trajectory shows the mean of ``batch_size`` runs with a ± std band
        (``None`` or 0: a single run).
    regions : int, default 4
        How many regions are drawn (all are computed).
    sample_every : int, optional
        Record every k-th step.
    phase : (str, str), optional
        The states on the phase portrait (default: the first two).
    init : dict, optional
        Initial value per state (catalogue defaults otherwise).
    stream_steps : int, default 20000
        Runs longer than this many steps stream in chunks of ``chunk_steps`` steps.
    chunk_steps : int, default 5000
        Steps per streamed chunk.
    rollover : int, optional
        Samples kept in the streamed plots (default: the whole run, at most 200,000).
    session : Session, optional
        The visitor's :class:`Session` (the served app gives each browser tab one): at most
        ``limits().max_session_jobs`` of its computations run at once, the newest winning.
    dispatch : callable, optional
        ``dispatch(fn)`` applies ``fn`` where the Bokeh document may be changed; a direct call
        under a lock by default.
    autorun : bool, default True
        Compute at once and after every accepted change.
    """

    _OPTION_NAMES = _OPTIONS

    def __init__(self, model: str = "HopfStep", *, params: Mapping[str, Any] | None = None,
                 in_size: Any = 1, dt: Any = None, duration: Any = None, transient: Any = None,
                 monitors: Sequence[str] | None = None, noise: bool | str | Sequence[str] | None = None,
                 seed: int = 0, batch_size: int | None = None, regions: int = 4,
                 sample_every: int | None = None, phase: Sequence[str] | None = None,
                 init: Mapping[str, Any] | None = None,
                 stream_steps: int = 20000, chunk_steps: int = 5000, rollover: int | None = None,
                 dispatch: Dispatch | None = None, autorun: bool = True, session: Session | None = None):
        super().__init__(dispatch, "brainmass-widgets model", session)
        self.stream_steps = int(stream_steps)
        self.chunk_steps = int(chunk_steps)
        self.rollover = rollover
        self.autorun = autorun
        self.figures: dict[str, Any] = {}
        self.sources: dict[str, Any] = {}
        for name, factory in (("trajectory", _plots.trajectory_figure), ("phase", _plots.phase_figure),
                              ("spectrum", _plots.spectrum_figure)):
            self.figures[name], self.sources[name] = factory()
        for name, column in (("trajectory", "t"), ("phase", "u"), ("spectrum", "f")):
            _plots.await_data(self.figures[name], self.sources[name], column, "Waiting for the first run",
                              y=(0.1, 1.0) if name == "spectrum" else (0.0, 1.0))
        self._lines: tuple = ()
        self._band = False
        self._commit(self._validate(dict(model=model, params=dict(params or {}), in_size=in_size, dt=dt,
                                         duration=duration, transient=transient, monitors=monitors,
                                         noise=noise, seed=seed, batch_size=batch_size, regions=regions,
                                         sample_every=sample_every, phase=phase, init=init), {}))

    # ------------------------------------------------------------------ state

    @property
    def spec(self) -> ModelSpec:
        """The catalogue entry of the current model."""
        return self._state["sim"].spec

    @property
    def lines(self) -> tuple[str, ...]:
        """The trajectory columns drawn, ``"<state>[<region>]"``."""
        return self._lines

    def _validate(self, new: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
        state = {**old, **new}
        model_changed = old.get("model") != state["model"]
        if model_changed:
            for key in ("params", "monitors", "phase", "init"):
                if key not in new:
                    state[key] = None
        dt = _quantity(state["dt"], u.ms, "dt")
        if model_changed and "dt" not in new:
            dt = None
        noise = None if model_changed and "noise" not in new else state["noise"]
        noise = _noise_option(state["model"], noise)
        state["in_size"] = _in_size(state["in_size"])
        sim = CachedSimulator(state["model"], in_size=state["in_size"], dt=dt, noise=noise, cache=_CACHE)
        spec = sim.spec
        state["dt"] = sim.dt
        duration = state["duration"]
        if duration is None or (model_changed and "duration" not in new):
            duration = spec.duration
        state["duration"] = _quantity(duration, u.ms, "duration")
        transient = _quantity(state["transient"], u.ms, "transient")
        zero = transient is not None and float(transient.to_decimal(u.ms)) == 0
        state["transient"] = None if zero else transient
        state["batch_size"] = state["batch_size"] or None
        state["noise"] = noise
        params = {k: v for k, v in (state["params"] or {}).items() if k in sim.param_names}
        defaults = sim._model.defaults()
        if sim._model.noisy and set(sim._model.noisy) <= set(spec.default_noise):
            defaults.update({k: v for k, v in spec.default_noise_params.items() if k in defaults})
        state["params"] = {**defaults, **params}
        sim._params(state["params"])
        monitors = sim._monitors(state["monitors"])
        phase = tuple(state["phase"] or (spec.states[:2] if len(spec.states) > 1 else spec.states * 2))
        if len(phase) != 2 or not all(s in spec.states for s in phase):
            raise ValueError(f"phase must name two states of {spec.name}; valid: "
                             f"{', '.join(spec.states)}; got {state['phase']!r}")
        state["phase"] = phase
        state["monitors"] = monitors
        state["init"] = dict(spec.init if state["init"] is None else state["init"])
        sim._init(state["init"])
        n_steps, n_tr, k = sim._timing(state["duration"], state["transient"], state["sample_every"])
        sim._batch(state["batch_size"])
        sim._seed(state["seed"])
        allowed = limits()
        what = f"a run of {_ms_text(state['duration'])} at dt = {_ms_text(sim.dt)}"
        allowed.check_steps(n_steps, what)
        n_regions = int(np.prod(np.atleast_1d(state["in_size"])))
        allowed.check_regions(n_regions)
        if state["batch_size"]:
            allowed.check_batch(int(state["batch_size"]))
        kept = len(range(n_tr, n_steps, k))
        at_once = n_steps if n_steps <= self.stream_steps else min(self.chunk_steps, n_steps)
        size = ((n_regions, "regions"), (state["batch_size"] or 1, "runs"))
        recorded = len(dict.fromkeys(monitors + phase))
        allowed.check_memory(what, ((kept + at_once, f"steps ({kept:,} kept + {at_once:,} recorded at once)"),
                                    *size, (recorded, "monitors")))
        allowed.check_work(what, ((n_steps, "steps"), *size))
        regions = state["regions"]
        if isinstance(regions, bool) or not isinstance(regions, int | np.integer) or regions < 1:
            raise ValueError(f"regions must be an integer >= 1; got {regions!r}")
        state["sim"] = sim
        return state

    def _commit(self, state: dict[str, Any]) -> None:
        first_commit = not self._state
        self._state = state
        n_regions = int(np.prod(np.atleast_1d(state["in_size"])))
        shown = range(min(state["regions"], n_regions))
        lines = tuple(f"{m}[{r}]" for m in state["monitors"] for r in shown)
        band = bool(state["batch_size"])
        spec = state["sim"].spec
        changed = (lines, band) != (self._lines, self._band)
        self._lines, self._band = lines, band
        first = state["monitors"][0]
        unit = spec.state_units.get(first)
        y_label = ", ".join(state["monitors"]) + (f" [{unit}]" if unit is not None else "")
        p1, p2 = state["phase"]
        spectrum_title = self._spectrum_title(spec, first)

        def relabel() -> None:
            if changed:
                _plots.set_lines(self.figures["trajectory"], self.sources["trajectory"], "t", lines, band)
                _plots.set_lines(self.figures["spectrum"], self.sources["spectrum"], "f",
                                 [n for n in lines if n.startswith(first + "[")])
            self.figures["trajectory"].yaxis.axis_label = y_label
            self.figures["trajectory"].title.text = f"{spec.name}: trajectory"
            self.figures["phase"].title.text = _plots.phase_title(spec.name, p1, p2)
            self.figures["phase"].xaxis.axis_label = self._axis_label(p1, spec)
            self.figures["phase"].yaxis.axis_label = self._axis_label(p2, spec)
            spectrum = self.figures["spectrum"]
            spectrum.yaxis.axis_label = _plots.psd_label(unit)
            if not spectrum.title.text.startswith(spectrum_title + ":"):
                spectrum.title.text = spectrum_title  # the peak is added when the spectrum is drawn

        if first_commit:
            relabel()
        else:
            self._post(relabel)
        for cb in list(self._state_listeners):
            cb()
        if self.autorun:
            self.run()

    @staticmethod
    def _spectrum_title(spec: ModelSpec, monitor: str) -> str:
        """The spectrum's title, to which :func:`_plots.show_spectrum` adds the peak."""
        return f"{spec.name}: power spectral density of {monitor}"

    @staticmethod
    def _axis_label(state: str, spec: ModelSpec) -> str:
        unit = spec.state_units.get(state)
        return state if unit is None else f"{state} [{unit}]"

    def set(self, **params: Any) -> None:
        """Change parameter values and recompute (nothing recompiles).

        Raises
        ------
        ValueError
            Naming the bad parameter or value; the explorer keeps its previous values and goes on
            working, and its status shows the message.
        """
        try:
            merged = {**self._state["params"], **params}
            self._state["sim"]._params(merged)
        except Exception as exc:
            raise self._fail(exc) from exc
        self._state = {**self._state, "params": merged}
        for cb in list(self._state_listeners):
            cb()
        if self.autorun:
            self.run()

    def configure(self, **options: Any) -> None:
        """Change run options (any of ``model``, ``in_size``, ``dt``, ``duration``, ``transient``,
        ``monitors``, ``noise``, ``seed``, ``batch_size``, ``regions``, ``sample_every``, ``phase``,
        ``init``) and recompute. Switching ``model`` resets parameters, monitors and initial values
        to the new model's defaults unless given too.

        Raises
        ------
        ValueError
            Naming the bad option or value; nothing changes.
        """
        unknown = [k for k in options if k not in _OPTIONS and k != "params"]
        if unknown:
            raise self._fail(ValueError(f"unknown option {unknown[0]!r}; valid: {', '.join(_OPTIONS)}"))
        try:
            state = self._validate(options, self._state)
        except Exception as exc:
            raise self._fail(exc) from exc
        self._commit(state)

    # ------------------------------------------------------------------ computing

    def run(self) -> None:
        """Compute the current state on the worker thread (superseding any computation running)."""
        state = dict(self._state)
        self._worker.submit(lambda token: self._job(state, token))

    def _run_kwargs(self, state: Mapping[str, Any]) -> dict[str, Any]:
        monitors = tuple(dict.fromkeys(state["monitors"] + state["phase"]))
        return dict(params=state["params"], monitors=monitors, init=state["init"],
                    transient=state["transient"], sample_every=state["sample_every"],
                    batch_size=state["batch_size"], seed=state["seed"])

    def _job(self, state: dict[str, Any], token: _Token) -> None:
        sim: CachedSimulator = state["sim"]
        kwargs = self._run_kwargs(state)
        t0 = time.perf_counter()
        n_total, n_tr, k = sim._timing(state["duration"], state["transient"], state["sample_every"])
        keep = self.rollover or min(200_000, (n_total - n_tr) // k)

        def notice() -> None:
            self._set_status(Status("compiling", f"compiling {sim.spec.name} for a new shape "
                                                 f"(first use; later changes reuse it)", 0.0), token)

        try:
            if n_total <= self.stream_steps:
                with _compute(token) as slot:
                    if not slot.held:
                        return
                    with compile_notice(notice):
                        res = sim.run(state["duration"], **kwargs)
                if token.superseded:
                    return
                self._post_draw(state, res, True, keep, token)
            else:
                self._set_status(Status("running", f"running {n_total:,} steps", 0.0, 0.0), token)
                stream = sim.stream(state["duration"], chunk=self.chunk_steps * sim.dt, **kwargs)
                pieces = []
                first = True
                for piece in _pieces(stream, notice, token):
                    pieces.append(piece)
                    if len(piece["ts"]):
                        self._post_draw(state, piece, first, keep, token)
                        first = False
                    self._set_status(Status("running", f"running: {piece.done:,} of {n_total:,} steps",
                                            piece.done / piece.total, time.perf_counter() - t0), token)
                if token.superseded:
                    return
                res = _join(pieces)
        except Exception as exc:
            self._set_status(Status("error", f"{type(exc).__name__}: {exc}"), token)
            return
        elapsed = time.perf_counter() - t0
        self._result = res
        self._post(lambda: self._draw_spectrum(state, res), token)
        if res.diverged is not None:
            t_bad = float((res.diverged + 1) * sim.dt / u.ms)
            self._set_status(Status("diverged", f"diverged: NaN/inf from step {res.diverged:,} "
                                                f"(t = {t_bad:g} ms); try a smaller dt or other values",
                                    1.0, elapsed, res.diverged), token)
        else:
            self._set_status(Status("done", f"done in {_fmt_ms(elapsed)} ({n_total:,} steps)", 1.0,
                                    elapsed), token)

    def _columns(self, state: Mapping[str, Any], res: Mapping[str, Any]) -> tuple[dict, dict]:
        batched = bool(state["batch_size"])
        data = {"t": np.ascontiguousarray(_mag(res["ts"] / u.ms), dtype=np.float64)}
        shown = {}
        for m in state["monitors"]:
            arr = _regions(_mag(res[m]), batched)
            shown[m] = arr
        for name in self._lines:
            m, r = name[:-1].split("[")
            arr = shown[m]
            if batched:
                mean, std = arr[:, :, int(r)].mean(axis=1), arr[:, :, int(r)].std(axis=1)
                lo, hi = _plots.line_columns(name)
                data[name], data[lo], data[hi] = _col(mean), _col(mean - std), _col(mean + std)
            else:
                data[name] = _col(arr[:, int(r)])
        p1, p2 = state["phase"]
        phase = {}
        for col, s in (("u", p1), ("v", p2)):
            arr = _regions(_mag(res[s]), batched)
            phase[col] = _col(arr.mean(axis=1)[:, 0] if batched else arr[:, 0])
        return data, phase

    def _post_draw(self, state: Mapping[str, Any], res: Mapping[str, Any], replace: bool, keep: int,
                   token: _Token) -> None:
        """Post the trajectory, then the phase portrait, as separate updates, so a front end that
        applies one per event-loop tick sends the trajectory before serialising the phase."""
        data, phase = self._columns(state, res)
        for name, columns in (("trajectory", data), ("phase", phase)):
            source = self.sources[name]
            if replace:
                self._post(lambda src=source, cols=columns: _replace(src, cols), token)
            else:
                self._post(lambda src=source, cols=columns: _plots.stream_lines(src, cols, keep), token)

    def _draw_spectrum(self, state: Mapping[str, Any], res: Mapping[str, Any]) -> None:
        batched = bool(state["batch_size"])
        first = state["monitors"][0]
        arr = _regions(_mag(res[first]), batched)
        if batched:
            arr = arr.mean(axis=1)
        sample_s = float((state["sim"].dt * (state["sample_every"] or 1)) / u.second)
        shown = {name: int(name[len(first) + 1:-1]) for name in self._lines if name.startswith(first + "[")}
        segment = _plots.spectrum_segment(arr[:, list(shown.values())])
        freq, psds = np.zeros(0), {}
        for name, region in shown.items():
            freq, psd = _plots.power_spectrum(arr[:, region], sample_s, segment)
            psds[name] = _col(psd)
        if psds:
            _plots.show_spectrum(self.figures["spectrum"], self.sources["spectrum"], freq, psds,
                                 self._spectrum_title(state["sim"].spec, first),
                                 _plots.trend_frequency(segment, sample_s))

    # ------------------------------------------------------------------ code

    def code(self) -> str:
        """A plain-brainmass script reproducing the current run; it leaves the output in ``result``.

        The script imports only brainmass, brainstate, brainunit (and numpy for per-region
        values); its ``result`` equals :attr:`result` once the current computation has finished.
        """
        state = self._state
        sim: CachedSimulator = state["sim"]
        kw = self._run_kwargs(state)
        return run_script(sim.spec, in_size=state["in_size"], dt=sim.dt, duration=state["duration"],
                          params=state["params"], noise=sim._model.noisy, init=state["init"],
                          monitors=kw["monitors"], transient=state["transient"],
                          sample_every=state["sample_every"], batch_size=state["batch_size"],
                          seed=state["seed"])


# ----------------------------------------------------------------------------- sweep controller


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


class SweepController(_Base):
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
        Grid points per compiled block (default: chosen by the engine); the plot fills block by block.
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

    def __init__(self, model: str = "HopfStep", *, axes: Mapping[str, Sequence[float]] | None = None,
                 params: Mapping[str, Any] | None = None, metric: str = "amplitude",
                 monitor: str | None = None, duration: Any = None, transient: Any = None,
                 init: Mapping[str, Any] | None = None, seed: int = 0, chunk_size: int | None = None,
                 executor: str = "local", client: Any = None, autosave: str | os.PathLike | None = None,
                 autosave_keep: int | None = 20, autosave_mb: float | None = 256,
                 dispatch: Dispatch | None = None, session: Session | None = None):
        super().__init__(dispatch, "brainmass-widgets sweep", session)
        if client is not None:
            _scaleout.check_client(client)
        self._client = client
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
        self._state: dict[str, Any] = {}
        self.configure(model=model, axes=axes, params=params or {}, metric=metric, monitor=monitor,
                       duration=duration, transient=transient, init=init, seed=seed, chunk_size=chunk_size,
                       executor=executor)
        for name in ("sweep", "heatmap"):
            self.sources[name].selected.on_change("indices", self._on_select(name))

    @property
    def result(self) -> SweepResult | None:
        """The latest sweep (partial while running; ``cancelled`` if it was stopped)."""
        return self._result

    @property
    def options(self) -> dict[str, Any]:
        """The current sweep settings."""
        return {k: v for k, v in self._state.items() if k != "sim"}

    @property
    def simulator(self) -> CachedSimulator:
        """The engine used for the sweep."""
        return self._state["sim"]

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
        valid = ("model", "axes", "params", "metric", "monitor", "duration", "transient", "init", "seed",
                 "chunk_size", "executor")
        unknown = [k for k in options if k not in valid]
        try:
            if unknown:
                raise ValueError(f"unknown option {unknown[0]!r}; valid: {', '.join(valid)}")
            state = {**self._state, **options}
            if state.get("model") != self._state.get("model"):
                for key in ("axes", "params", "monitor", "init", "duration", "transient"):
                    if key not in options:
                        state[key] = None
            sim = CachedSimulator(state["model"], cache=_CACHE)
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
            sim._params(state["params"], skip=tuple(clean))
            if state["metric"] not in ("amplitude", "minmax", "frequency", "mean", "std"):
                raise ValueError(f"unknown metric {state['metric']!r}; valid: amplitude, minmax, frequency, "
                                 f"mean, std")
            state["monitor"] = sim._monitors(state["monitor"])[0]
            state["duration"] = _quantity(state["duration"], u.ms, "duration") or spec.duration
            transient = _quantity(state["transient"], u.ms, "transient")
            state["transient"] = transient if transient is not None else state["duration"] / 4
            state["init"] = dict(spec.init if state["init"] is None else state["init"])
            sim._init(state["init"])
            n_steps = sim._timing(state["duration"], state["transient"], None)[0]
            sim._seed(state["seed"])
            allowed = limits()
            points = int(np.prod([n for _, _, n in clean.values()]))
            allowed.check_grid(points)
            allowed.check_steps(n_steps, f"each point's run of {_ms_text(state['duration'])} at dt = "
                                         f"{_ms_text(sim.dt)}")
            regions = int(np.prod(np.atleast_1d(sim.in_size)))
            allowed.check_sweep(f"a sweep of {points:,} points of {_ms_text(state['duration'])} at dt = "
                                f"{_ms_text(sim.dt)}", points, n_steps, regions,
                                sim._block_size(points, n_steps, state["chunk_size"]))
            if state["executor"] not in self._executor_keys():
                available = self.executors
                raise ValueError(f"executor {state['executor']!r} is not available here; available: "
                                 + "; ".join(f"{k!r} ({v})" for k, v in available.items()))
            state["sim"] = sim
        except Exception as exc:
            raise self._fail(exc) from exc
        self._state = state
        self._post(lambda: self._label(state))

    def code(self) -> str:
        """A plain-brainmass loop over the grid computing the same metric; it leaves the grid of
        values in ``result`` (equal to ``self.result.values``). Slow by design: one fresh
        ``brainmass.Simulator`` run per point, as one would write it without this toolkit."""
        st = self._state
        params = {**st["sim"]._model.defaults(), **st["params"]}
        params = {k: v for k, v in params.items() if k not in st["axes"]}
        return sweep_script(st["sim"].spec, axes=st["axes"], metric=st["metric"], monitor=st["monitor"],
                            dt=st["sim"].dt, duration=st["duration"], params=params, init=st["init"],
                            transient=st["transient"], seed=st["seed"])

    def run(self) -> None:
        """Start the sweep on the worker thread (a running sweep is superseded)."""
        state = dict(self._state)
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
            raise self._fail(ValueError("nothing to save yet: run a sweep first"))
        try:
            res.save(file)
        except OSError as exc:
            raise self._fail(ValueError(f"cannot write {file}: {exc}")) from exc
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
            raise self._fail(ValueError(f"no saved sweep named {name!r}; saved: "
                                        f"{', '.join(self.saved_sweeps()) or 'none'}"))
        return self.load(self._autosave / name)

    def _keeper(self, state: Mapping[str, Any]) -> Callable[[SweepResult, bool], None]:
        """Writes a sweep's (partial) result to its autosave file, at most every 2 s unless final."""
        if self._autosave is None:
            return lambda res, final: None
        stamp = time.strftime("%Y%m%d-%H%M%S")
        target = self._autosave / f"{state['sim'].spec.name}-{stamp}-{uuid.uuid4().hex[:6]}.npz"
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
            raise self._fail(exc) from exc
        if not hasattr(res, "shown"):
            banded = dataclasses.replace(res, values=self._band(res.values, res.metric, len(axes)))
            res = self._unband(banded, res.metric)
        self._result = res
        state = dict(self._state)
        grid = {k: v.astype(float) for k, v in res.axes.items()}
        self._post(lambda: self._draw(state, grid, None))
        self._post(lambda: self._draw(state, grid, res))
        self._set_status(Status("done", f"opened a sweep of {res.done:,} of {res.total:,} points "
                                        f"({res.metric} of {res.monitor})", res.done / max(res.total, 1)))
        return res

    def _on_select(self, name: str) -> Callable:
        def handler(attr: str, old: Any, new: Any) -> None:
            if not new:
                return
            data = self.sources[name].data
            i = new[0]
            names = list(self._state["axes"])
            picked = {names[0]: float(data["x"][i])}
            if name == "heatmap" and len(names) > 1:
                picked[names[1]] = float(data["y"][i])
            for cb in list(self._pick_listeners):
                cb(picked)

        return handler

    def pick(self, index: int) -> dict[str, float]:
        """Select grid point ``index`` of the current plot as a tap would, and return its values."""
        name = "sweep" if len(self._state["axes"]) == 1 else "heatmap"
        picked: dict[str, float] = {}
        self.on_pick(picked.update)
        try:
            self.sources[name].selected.indices = [int(index)]
        finally:
            self._pick_listeners.remove(picked.update)
        return picked

    def _job(self, state: dict[str, Any], token: _Token) -> None:
        sim: CachedSimulator = state["sim"]
        grid = {n: np.linspace(lo, hi, k) for n, (lo, hi, k) in state["axes"].items()}
        sample_s = float(sim.dt / u.second)
        metric = _banded(state["metric"], sample_s)
        total = int(np.prod([v.size for v in grid.values()]))
        t0 = time.perf_counter()
        self._post(lambda: self._draw(state, grid, None), token)

        def notice() -> None:
            self._set_status(Status("compiling", f"compiling the sweep program ({total:,} points)", 0.0),
                             token)

        slot: Slot | None = None
        keep = self._keeper(state)

        def on_chunk(done: int, total_: int, partial: SweepResult) -> bool:
            if token.superseded:
                return False
            self._result = self._unband(partial, state["metric"])
            snapshot = self._result
            keep(snapshot, False)
            self._post(lambda: self._draw(state, grid, snapshot), token, "sweep")
            self._set_status(Status("running", f"sweep: {done:,} of {total_:,} points", done / total_,
                                    time.perf_counter() - t0), token)
            if slot is not None and not slot.pause(lambda: token.superseded):
                return False
            return not token.superseded

        self._set_status(Status("running", f"sweep: 0 of {total:,} points", 0.0, 0.0), token)
        where = {"local": {}, "devices": {"devices": "all"},
                 "dask": {"client": self._client}}[state["executor"]]
        try:
            with nullcontext() if "client" in where else _compute(token, background=True) as slot:
                if slot is not None and not slot.held:
                    return
                with compile_notice(notice):
                    res = sim.sweep(grid, duration=state["duration"], params=state["params"],
                                    init=state["init"], transient=state["transient"],
                                    monitor=state["monitor"], metric=metric, on_chunk=on_chunk,
                                    chunk_size=state["chunk_size"], seed=state["seed"], **where)
                keep(self._unband(res, state["metric"]), True)
        except Exception as exc:
            self._set_status(Status("error", f"{type(exc).__name__}: {exc}"), token)
            return
        elapsed = time.perf_counter() - t0
        if res.cancelled:
            if token.generation != self._cancelled:
                return
            self._result = self._unband(res, state["metric"])
            self._set_status(Status("cancelled", f"cancelled after {res.done:,} of {res.total:,} points",
                                    res.done / res.total, elapsed))
            return
        self._result = self._unband(res, state["metric"])
        n_bad = int(res.diverged.sum())
        note = f"; {n_bad} points diverged (NaN)" if n_bad else ""
        on = "" if state["executor"] == "local" else f" on {res.executor}"
        kept = f"; saved as {self.autosaved.name}" if self._autosave is not None else ""
        self._set_status(Status("done", f"swept {total:,} points in {_fmt_ms(elapsed)}{on}{note}{kept}", 1.0,
                                elapsed),
                         token)

    @staticmethod
    def _band(values: np.ndarray, metric: str, n_axes: int) -> np.ndarray:
        """An engine result's values as the (shown, min, max) band of :func:`_banded`."""
        if metric == "minmax":
            lo, hi = np.take(values, 0, axis=n_axes), np.take(values, 1, axis=n_axes)
            return np.stack([hi, lo, hi], axis=n_axes)
        return np.stack([values] * 3, axis=n_axes)

    @staticmethod
    def _unband(res: SweepResult, metric: str) -> SweepResult:
        """Split the banded values into ``values`` (the metric) plus ``lo`` / ``hi`` attributes."""
        n_axes = len(res.axes)
        band = np.moveaxis(res.values, n_axes, 0)
        region_axes = tuple(range(n_axes, band.ndim - 1))

        def mean_regions(a: np.ndarray) -> np.ndarray:
            return a.mean(axis=region_axes) if region_axes else a

        out = dataclasses.replace(res, values=band[0], metric=metric)
        out.lo = mean_regions(band[1])
        out.hi = mean_regions(band[2])
        out.shown = mean_regions(band[0])
        return out

    def _label(self, state: Mapping[str, Any]) -> None:
        """Titles, axis labels and legend of the figures; a sweep with ``state`` fills the curve
        (one parameter) or the heatmap (two), and both titles name the model."""
        names = list(state["axes"])
        spec = state["sim"].spec
        metric = state["metric"]
        gaps = metric == "frequency"
        curve, heatmap = self.figures["sweep"], self.figures["heatmap"]
        curve.title.text = f"{spec.name}: {metric} vs {names[0]}" + (
            " (gaps: no oscillation)" if gaps else "")
        heatmap.title.text = (f"{spec.name}: {metric} of {state['monitor']} over "
                              + (" and ".join(names) if len(names) == 2 else "two parameters")
                              + (" (grey: no oscillation)" if gaps else ""))
        if len(names) == 1:
            curve.xaxis.axis_label = spec.params[names[0]].label
            unit = "Hz" if gaps else spec.state_units.get(state["monitor"])
            curve.yaxis.axis_label = f"{metric} of {state['monitor']}" + (
                f" [{unit}]" if unit is not None else "")
            shown = "max" if metric == "minmax" else metric
            _plots.name_sweep_metric(curve, f"{shown} of {state['monitor']}")
            _plots.set_extent(curve, x=state["axes"][names[0]][:2])
            return
        _plots.set_grid_ranges(heatmap, state["axes"][names[0]], state["axes"][names[1]])
        heatmap.xaxis.axis_label = spec.params[names[0]].label
        heatmap.yaxis.axis_label = spec.params[names[1]].label

    def _draw(self, state: Mapping[str, Any], grid: Mapping[str, np.ndarray],
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
        xx, yy = np.meshgrid(a, b, indexing="ij")
        w = (a[1] - a[0]) if a.size > 1 else 1.0
        h = (b[1] - b[0]) if b.size > 1 else 1.0
        if res is None:
            value = np.full(xx.size, np.nan)
        else:
            value = (res.hi - res.lo) if state["metric"] == "minmax" else res.shown
            value = np.asarray(value, dtype=float).reshape(-1)
            finite = value[np.isfinite(value)]
            if finite.size:
                self._mapper.low, self._mapper.high = float(finite.min()), float(finite.max())
            _plots.patch_changed(self.sources["heatmap"], {"value": value})
            return
        self.sources["heatmap"].data = {"x": xx.reshape(-1), "y": yy.reshape(-1), "w": np.full(xx.size, w),
                                        "h": np.full(xx.size, h), "value": value}
