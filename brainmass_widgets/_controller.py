"""Explorer state, a latest-wins worker thread, and the updates of the Bokeh sources.

A controller is what a front end drives: it holds the state of one explorer, validates every
change before accepting it, computes on its own thread (a newer request supersedes an older one
at its next chunk boundary), and writes results into Bokeh sources through a ``dispatch``
function supplied by the front end -- a direct call under a lock for ipywidgets, a next-tick
callback of the session's document for Panel. It knows Bokeh sources, never widgets.

This module holds what the controllers share: the worker, sessions, stopping at exit, the base
classes and small helpers; each explorer's controller is in a module of its own.
"""

from __future__ import annotations

import atexit
import dataclasses
import logging
import os
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, suppress
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar, cast, get_args

import brainunit as u
import numpy as np

from ._compile import STATE_LOCK, CompileCache, compile_notice
from ._engine import CachedSimulator
from ._limits import Slot, check_count, compute_pool, limits
from ._results import SimResult

_LOG = logging.getLogger(__name__)

__all__ = ["STATUS_KINDS", "Session", "Status", "StatusKind", "shared_cache"]

CACHE = CompileCache(256)
ENGINE_LOCK = STATE_LOCK
"""Work that traces brainstate code outside the engine's programs (the phase plane, network
builds) holds the engine's state lock throughout."""

Dispatch = Callable[[Callable[[], None]], None]


def shared_cache() -> CompileCache:
    """The compile cache shared by every explorer in this process (it holds no user state)."""
    return CACHE


#: What an explorer can be doing.
StatusKind = Literal["idle", "compiling", "running", "done", "diverged", "cancelled", "error"]
STATUS_KINDS: tuple[str, ...] = get_args(StatusKind)


@dataclass(frozen=True)
class Status:
    """What an explorer is doing, for a status line.

    Attributes
    ----------
    kind : StatusKind
        ``"idle"``, ``"compiling"``, ``"running"``, ``"done"``, ``"diverged"``, ``"cancelled"`` or
        ``"error"`` (:data:`STATUS_KINDS`); any other is refused.
    message : str
        One line for people.
    progress : float
        Fraction of the current computation done, 0 to 1.
    elapsed : float or None
        Seconds since the computation started.
    step : int or None
        For ``"diverged"``: the first integration step holding NaN/inf.
    """

    kind: StatusKind = "idle"
    message: str = ""
    progress: float = 0.0
    elapsed: float | None = None
    step: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in STATUS_KINDS:
            raise ValueError(f"unknown status kind {self.kind!r}; valid: {', '.join(STATUS_KINDS)}")

    @property
    def busy(self) -> bool:
        """Whether a computation is under way (compiling or running): what Cancel and Stop act on."""
        return self.kind in ("compiling", "running")


# ----------------------------------------------------------------------------- worker


class Token:
    """Handed to a job: tells it whether a newer request (or a cancel) has superseded it."""

    def __init__(self, worker: Worker, generation: int):
        self._worker = worker
        self.generation = generation

    @property
    def superseded(self) -> bool:
        return self._worker.generation != self.generation


class Worker:
    """One daemon thread that runs only the latest submitted job (inside ``owner``'s session)."""

    def __init__(self, name: str, owner: ControllerBase | None = None):
        self._name = name
        self._owner = owner
        self._cond = threading.Condition()
        self._pending: tuple[Callable, Token] | None = None
        self._busy = False
        self._closed = False
        self._thread: threading.Thread | None = None
        self.generation = 0
        self.started = 0

    @property
    def closed(self) -> bool:
        """Whether the worker was closed: it takes no more jobs."""
        return self._closed

    def submit(self, job: Callable[[Token], None]) -> Token:
        with self._cond:
            if self._closed or _STOPPING.is_set():
                raise RuntimeError("this explorer is closed")
            self.generation += 1
            token = Token(self, self.generation)
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

    def stop(self, token: Token) -> bool:
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
                self._call(job, token)
                continue
            session.begin(self._owner, token)
            try:
                self._call(job, token)
            finally:
                session.end(token)

    def _call(self, job: Callable[[Token], None], token: Token) -> None:
        """Run ``job``; an error it lets out (a plot update that raised, say) becomes the owner's
        error status instead of ending the thread, so that later jobs still run and ``wait``
        returns."""
        try:
            job(token)
        except Exception as exc:
            _LOG.exception("%s: the computation raised", self._name)
            if self._owner is not None:
                self._owner.fail(exc)


# ----------------------------------------------------------------------------- stopping the process

_LIVE: weakref.WeakSet[Worker] = weakref.WeakSet()
"""Every worker whose thread has started (its running thread keeps it alive; a closed one is let go)."""
_LIVE_LOCK = threading.Lock()
_STOPPING = threading.Event()
_EXIT_WAIT = 30.0
"""Seconds the process waits, when it ends, for computations to reach their next chunk boundary.
A chunk of a served request (bounded by the limits) or a compile takes seconds; 30 s stays within
what service managers allow a stopping process (systemd 90 s)."""
_EXIT_NOTICE = 2.0


def _alive() -> list[Worker]:
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
    _clients: dict[str, list[tuple[ControllerBase, Token]]] = {}

    def __init__(self, client: str | None = None) -> None:
        self._lock = threading.Lock()
        self._running: list[tuple[ControllerBase, Token]] = []
        self.client = client

    @property
    def running(self) -> int:
        """Computations of this session running now."""
        with self._lock:
            return len(self._running)

    def begin(self, owner: ControllerBase, token: Token) -> None:
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

    def end(self, token: Token) -> None:
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


def _beyond(jobs: list[tuple[ControllerBase, Token]],
            limit: int | None) -> list[tuple[ControllerBase, Token]]:
    """Remove and return the oldest of ``jobs`` beyond ``limit``."""
    stale = jobs[: max(0, len(jobs) - limit)] if limit is not None else []
    del jobs[: len(stale)]
    return stale


class ControllerBase:
    """Status, dispatch and waiting shared by the controllers."""

    def __init__(self, dispatch: Dispatch | None, name: str, session: Session | None = None):
        if session is not None and not isinstance(session, Session):
            raise ValueError(f"session must be a brainmass_widgets.Session; got {session!r}")
        self.session = session
        self._doc_lock = threading.RLock()
        self._dispatch = dispatch or self._direct
        self._worker = Worker(name, self)
        self._workers = [self._worker]
        self._status = Status()
        self._status_listeners: list[Callable[[Status], None]] = []
        self._state_listeners: list[Callable[[], None]] = []
        self._pending_updates = 0
        self._posted = 0
        self._newest: dict[str, int] = {}
        self._updates_cond = threading.Condition()

    def on_state(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` after every accepted change of settings (front ends refresh their
        controls)."""
        self._state_listeners.append(callback)

    @property
    def document_lock(self) -> threading.RLock:
        """The lock under which plot updates change the document when the controller has no
        ``dispatch`` of its own (JupyterLab: they are applied on the computing thread). A front end
        that changes the document from another thread (the kernel's, applying an event from the
        page) holds it too, so that the two never change the document at the same time."""
        return self._doc_lock

    def _direct(self, fn: Callable[[], None]) -> None:
        with self._doc_lock:
            fn()

    def post(self, fn: Callable[[], None], token: Token | None = None, latest: str | None = None) -> None:
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

    def _set_status(self, status: Status, token: Token | None = None) -> None:
        if token is not None and token.superseded:
            return
        self._status = status
        listeners = list(self._status_listeners)
        if listeners:
            progress = status.kind in ("compiling", "running")
            self.post(lambda: [cb(status) for cb in listeners], token, "status" if progress else None)

    @property
    def worker(self) -> Worker:
        """The worker that runs the controller's main computation (its live run, sweep or fit)."""
        return self._worker

    def fail(self, exc: Exception) -> ValueError:
        """Show ``exc`` as the controller's error status and return it as a ``ValueError``
        (for a front end to raise where the bad value was given)."""
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

    def _second_worker(self, name: str) -> Worker:
        """Another latest-wins worker (work that must not cancel the main job's), waited for by
        :meth:`wait` and stopped by :meth:`close`."""
        worker = Worker(name, self)
        self._workers.append(worker)
        return worker

    def _preempt(self, token: Token, whose: str = "this session") -> None:
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


S = TypeVar("S")


def fields_of(state: Any) -> dict[str, Any]:
    """A state dataclass's fields as a dict (shallow; ``{}`` for ``None``): what ``_validate``
    merges a change into."""
    return {} if state is None else {f.name: getattr(state, f.name) for f in dataclasses.fields(state)}


def changed_fields(old: Any, new: Any) -> frozenset[str]:
    """The fields of state ``new`` that are not the very objects of ``old`` (every field when
    ``old`` is ``None``): a cheap, conservative test of what a change touched."""
    return frozenset(f.name for f in dataclasses.fields(new)
                     if old is None or getattr(old, f.name) is not getattr(new, f.name))


class StatefulController(ControllerBase, Generic[S]):
    """The one template of every explorer's controller.

    The state is a frozen dataclass ``S`` (one per explorer). Every change, from the constructor,
    ``set``, ``configure`` or a front end, goes through :meth:`_change` in four steps:

    1. ``_validate(changes, old) -> S``: the changes merged into ``old`` (``None`` the first
       time), checked and completed into a new state; a bad value raises a ``ValueError`` that
       names it, and nothing changes (the status shows the message);
    2. the new state replaces the old one;
    3. ``_apply(old)``: what follows from the new state besides a run (plot titles and axes,
       derived values) is updated;
    4. front ends are told (:meth:`on_state`), and :meth:`run` computes the state when
       ``autorun`` is on.

    A computation takes the state it was started with: states are never changed in place.
    ``_OPTION_NAMES`` lists the fields :attr:`options` shows.
    """

    _OPTION_NAMES: tuple[str, ...] = ()
    #: Options :meth:`configure` takes that :attr:`options` does not show.
    _ALSO_ACCEPTED: tuple[str, ...] = ()
    autorun: bool = True

    def __init__(self, dispatch: Dispatch | None, name: str, session: Session | None = None):
        super().__init__(dispatch, name, session)
        self._state: S = cast(S, None)

    @property
    def state(self) -> S:
        """The current validated settings: a frozen dataclass (:class:`ModelState`,
        :class:`SweepState`, ...) that no later change alters."""
        return self._state

    @property
    def options(self) -> dict[str, Any]:
        """The current state, as keywords accepted by ``configure``."""
        return {k: getattr(self._state, k) for k in self._OPTION_NAMES}

    def configure(self, **options: Any) -> None:
        """Change settings (the names of :attr:`options`) and recompute when ``autorun`` is on.

        Raises
        ------
        ValueError
            For an unknown option or a bad value, naming it; nothing changes.
        """
        unknown = [k for k in options if k not in self._OPTION_NAMES + self._ALSO_ACCEPTED]
        if unknown:
            valid = ", ".join(self._OPTION_NAMES)
            raise self.fail(ValueError(f"unknown option {unknown[0]!r}; valid: {valid}"))
        self._change(**options)

    def _change(self, **changes: Any) -> None:
        """Validate ``changes`` into a new state, apply it, tell the front ends, and run it when
        ``autorun`` is on (see the class docstring).

        Raises
        ------
        ValueError
            Naming the bad value; the state is unchanged.
        """
        try:
            state = self._validate(changes, self._state)
        except Exception as exc:
            raise self.fail(exc) from None
        old, self._state = self._state, state
        self._apply(old)
        for callback in list(self._state_listeners):
            callback()
        if self.autorun:
            self.run()

    def _validate(self, changes: dict[str, Any], old: S | None) -> S:
        raise NotImplementedError

    def _apply(self, old: S | None) -> None:
        """Update what follows from the new state ``self._state`` (``old`` is ``None`` the first
        time); nothing by default."""

    def run(self) -> None:
        raise NotImplementedError


class SimulatingController(StatefulController[S]):
    """A controller whose state holds a simulator (``sim``) and parameter values (``params``),
    and whose computation is a :class:`SimResult`."""

    def __init__(self, dispatch: Dispatch | None, name: str, session: Session | None = None):
        super().__init__(dispatch, name, session)
        self._result: SimResult | None = None

    @property
    def simulator(self) -> CachedSimulator:
        """The engine for the current structure (model, regions, dt, noise)."""
        return self._state.sim  # type: ignore[attr-defined]

    @property
    def params(self) -> dict[str, Any]:
        """Current parameter values, in catalogue units."""
        return dict(self._state.params)  # type: ignore[attr-defined]

    @property
    def result(self) -> SimResult | None:
        """The latest finished run (as ``brainmass.Simulator.run`` returns it), or ``None``."""
        return self._result

    def set(self, **params: Any) -> None:
        """Change parameter values (the others keep theirs) and recompute; nothing recompiles.

        Raises
        ------
        ValueError
            Naming the bad parameter or value and what is allowed; the explorer keeps its previous
            values and goes on working, and its status shows the message.
        """
        merged = {**self._state.params, **params}  # type: ignore[attr-defined]
        try:
            self._state.sim.check_params(merged)  # type: ignore[attr-defined]
        except Exception as exc:
            raise self.fail(exc) from None
        self._change(params=merged)


# ----------------------------------------------------------------------------- helpers


def column(x: np.ndarray) -> np.ndarray:
    """A plot column: contiguous float32 (the engine's precision; half the bytes of float64)."""
    return np.ascontiguousarray(x, dtype=np.float32)


def replace_data(source: Any, data: dict[str, np.ndarray]) -> None:
    """Give ``source`` new columns, sending only those that changed when the time axis is the
    same (a parameter change re-sends the traces, not ``t``)."""
    old = source.data
    same_t = ("t" in data and set(old) == set(data) and len(old["t"]) == len(data["t"])
              and np.array_equal(np.asarray(old["t"]), data["t"]))
    if same_t:
        source.data.update({k: v for k, v in data.items() if k != "t"})
    else:
        source.data = data


def as_quantity(value: Any, unit: Any, what: str) -> Any:
    """A time option as a quantity: numbers are read in ``unit``."""
    if value is None or isinstance(value, u.Quantity):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise ValueError(f"{what} must be a time such as 100 * u.ms or a number of ms; got {value!r}")
    return float(value) * unit


def per_region(data: np.ndarray, batched: bool) -> np.ndarray:
    """``(time, [batch,] *regions)`` as ``(time, [batch,] n_regions)``."""
    lead = 2 if batched else 1
    return data.reshape(data.shape[:lead] + (-1,))


def join_pieces(pieces: Sequence[SimResult]) -> SimResult:
    keys = pieces[0].keys()
    data = {k: u.math.concatenate([p[k] for p in pieces], axis=0) for k in keys}
    last = pieces[-1]
    return SimResult(data, last.diverged, last.done, last.total)


def compute_slot(token: Token, background: bool = False) -> AbstractContextManager[Slot]:
    """A slot of the process's compute pool for ``token``'s work (given up while waiting if the
    token is superseded: the slot's ``held`` is then ``False``); ``background`` work (sweeps,
    fits) waits behind interactive work."""
    return compute_pool().slot(lambda: token.superseded, background)


def stream_pieces(stream: Iterator[SimResult], notice: Callable[[], None],
                  token: Token) -> Iterator[SimResult]:
    """The pieces of a streamed run, each computed in its own compute-pool slot (with ``notice``
    called on a compile), until the run ends or ``token`` is superseded."""
    while True:
        with compute_slot(token) as slot:
            if not slot.held:
                return
            with compile_notice(notice):
                piece = next(stream, None)
        if piece is None or token.superseded:
            return
        yield piece


def ms_text(value: Any) -> str:
    """A time quantity as ``"12.5 ms"``."""
    return f"{float(value.to_decimal(u.ms)):g} ms"


def check_in_size(value: Any) -> int | tuple[int, ...]:
    """``in_size`` as an integer >= 1 or a tuple of them, or a ``ValueError`` naming the value."""
    if isinstance(value, tuple | list):
        if not value or not all(not isinstance(v, bool) and isinstance(v, int | np.integer) and v >= 1
                                for v in value):
            raise ValueError(f"in_size must be an integer >= 1 or a tuple of them; got {value!r}")
        return tuple(int(v) for v in value)
    return check_count(value, "in_size")


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms" if seconds < 10 else f"{seconds:.1f} s"
