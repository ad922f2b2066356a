"""Resource limits an operator sets for a shared server, and the fair pool computations share.

A library user has no limits by default; ``brainmass-widgets serve`` sets :meth:`Limits.served`
(or the values given on its command line) with :func:`set_limits`. Controllers check a request
against the current limits before computing anything and refuse it with a message naming the
limit, its command-line option and what was asked.

Besides one bound per number (steps, regions, points, runs), two bound a request as a whole, as
the product of its numbers: :attr:`Limits.max_request_mb` (the memory it holds) and
:attr:`Limits.max_request_work` (the region-steps it integrates). The memory a request holds is an
upper estimate made before computing, from what the controllers record, at 4 bytes (float32) per
value:

- a run, a noise ensemble, a network run or a trajectory: the recorded steps kept, plus the steps
  one compiled program records at once (the whole run, or one streamed chunk), x regions x runs
  (batch) x monitored states; a network run adds its FC and order parameter, computed in float64
  on the steps after the transient (two float64 copies: 4 values per step and region);
- a sweep: one block of points, each recording its whole run of the monitored state, times
  :data:`SWEEP_COPIES` (the trace and the metric's working copies), plus the kept result;
- a gradient fit: the activations the backward pass keeps, :data:`GRAD_VALUES` values per step
  and region for each ``loop`` (measured with XLA's memory analysis of the compiled step).

The work of a request is its integration steps x regions x runs, times the points of a sweep or
the loss evaluations of a fit (a gradient step counts once).

Every computation of every explorer in the process takes a slot of one :class:`ComputePool`
first. Slots go to interactive computations (a slider's run, a trajectory) before background ones
(sweeps, fits), in arrival order within each, and a sweep gives its slot back between blocks, so
one visitor's long sweep cannot starve another visitor's slider.
"""

from __future__ import annotations

import itertools
import math
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["GRAD_VALUES", "SWEEP_COPIES", "VALUE_BYTES", "ComputePool", "Limits", "compute_pool", "limits",
           "check_count", "physical_memory", "set_limits"]

#: Bytes of one recorded value (float32).
VALUE_BYTES = 4
#: Values a compiled sweep holds per recorded step, region and point of a block: the monitored trace
#: and the metric's working copies (XLA's memory analysis of a network block computing mean FC and
#: order parameter measures 4.9 to 5.5).
SWEEP_COPIES = 5
#: Values the backward pass of a gradient fit keeps per integration step and region, by ``loop``
#: (XLA's memory analysis of the compiled step: 84-102 bytes per step and region for a node model,
#: 153 for a network, with ``for_loop``; 17-31 bytes with ``checkpointed``).
GRAD_VALUES = {"for_loop": 40, "checkpointed": 8}
#: The served work bound, in region-steps: at the 5e6 .. 3e7 region-steps per second one CPU core
#: integrates (measured: HopfStep with noise, from 64 regions x 16 runs to 512 x 256), 1 to 7 minutes.
_SERVED_WORK = 2_000_000_000
_FALLBACK_MEMORY = 8 * 2**30

_Term = Sequence[tuple[int, str]]


def physical_memory() -> int:
    """Bytes of physical memory of this machine (8 GiB where the system does not tell)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return _FALLBACK_MEMORY


@dataclass(frozen=True)
class Limits:
    """Largest requests a server accepts (``None``: no limit).

    Attributes
    ----------
    max_steps : int or None
        Integration steps (duration / dt) of one run, one streamed run, one trajectory or one
        sweep point (``--max-steps``).
    max_regions : int or None
        Regions (``in_size``, or a connectome's size) of one model (``--max-regions``).
    max_grid_points : int or None
        Points of one sweep (``--max-grid-points``).
    max_batch : int or None
        Trajectories of one noise ensemble (``--max-batch``).
    max_session_jobs : int or None
        Computations one session (browser tab) runs at once; a newer one stops the oldest
        (``--max-session-jobs``).
    max_client_jobs : int or None
        Computations all the sessions of one client (address) run at once; a newer one stops the
        oldest (``--max-client-jobs``): more tabs do not get around ``max_session_jobs``.
    max_request_mb : int or None
        MiB one request (a run, a sweep, a trajectory, a fit) may hold, by the estimate of this
        module's introduction (``--max-request-mb``).
    max_request_work : int or None
        Region-steps one request may integrate: steps x regions x runs, x the points of a sweep,
        x the loss evaluations of a fit (``--max-request-work``).
    """

    max_steps: int | None = None
    max_regions: int | None = None
    max_grid_points: int | None = None
    max_batch: int | None = None
    max_session_jobs: int | None = None
    max_client_jobs: int | None = None
    max_request_mb: int | None = None
    max_request_work: int | None = None

    @classmethod
    def served(cls) -> Limits:
        """The defaults of ``brainmass-widgets serve``: generous for teaching and exploring, small
        enough that one request cannot hold the server for long or exhaust its memory.

        A request may hold a quarter of the machine's physical memory: the estimate counts what
        the explorer records and keeps, not XLA's other temporaries, the Bokeh copies sent to the
        browser or the Python process itself, so a request at the bound leaves room for those
        and for a second one running beside it. The work bound, 2e9 region-steps, is 1 to 7 minutes
        of one core (measured with HopfStep, from 64 regions x 16 runs to 512 x 256).
        """
        return cls(max_steps=2_000_000, max_regions=512, max_grid_points=65_536, max_batch=256,
                   max_session_jobs=1, max_client_jobs=2,
                   max_request_mb=max(1, physical_memory() // 4 // 2**20), max_request_work=_SERVED_WORK)

    def __post_init__(self) -> None:
        for name in ("max_steps", "max_regions", "max_grid_points", "max_batch", "max_session_jobs",
                     "max_client_jobs", "max_request_mb", "max_request_work"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be None or an integer >= 1; got {value!r}")

    def _check(self, name: str, option: str, asked: int, request: str) -> None:
        limit = getattr(self, name)
        if limit is not None and asked > limit:
            raise ValueError(f"{request}; this server allows at most {limit:,} ({option})")

    def check_steps(self, steps: int, what: str = "the run") -> None:
        """``ValueError`` if ``steps`` integration steps exceed ``max_steps``."""
        self._check("max_steps", "--max-steps", steps, f"{what} needs {steps:,} integration steps")

    def check_regions(self, regions: int) -> None:
        """``ValueError`` if ``regions`` exceed ``max_regions``."""
        self._check("max_regions", "--max-regions", regions, f"the model has {regions:,} regions")

    def check_grid(self, points: int) -> None:
        """``ValueError`` if a sweep of ``points`` exceeds ``max_grid_points``."""
        self._check("max_grid_points", "--max-grid-points", points, f"the sweep has {points:,} grid points")

    def check_batch(self, batch: int) -> None:
        """``ValueError`` if an ensemble of ``batch`` exceeds ``max_batch``."""
        self._check("max_batch", "--max-batch", batch, f"the ensemble has {batch:,} runs (batch)")

    def check_memory(self, what: str, *terms: _Term) -> None:
        """``ValueError`` if a request holding the sum of ``terms`` exceeds ``max_request_mb``.

        Parameters
        ----------
        what : str
            The request, as the message names it (``"a run of 2000 ms at dt = 0.1 ms"``).
        *terms : sequence of (int, str)
            Each a product of counts, each count with its label (``(20_000, "steps")``), of
            values of :data:`VALUE_BYTES` bytes.
        """
        limit = self.max_request_mb
        if limit is None:
            return
        size = sum(_product(term) for term in terms) * VALUE_BYTES
        if size > limit * 2**20:
            held = " + ".join(f"{_factors(term)} x {VALUE_BYTES} bytes" for term in terms)
            raise ValueError(f"{what} holds {held} = {_bytes(size)}; this server allows at most "
                             f"{_bytes(limit * 2**20)} per request (--max-request-mb)")

    def check_work(self, what: str, term: _Term) -> None:
        """``ValueError`` if a request integrating the product of ``term`` region-steps exceeds
        ``max_request_work``.

        Parameters
        ----------
        what : str
            The request, as the message names it.
        term : sequence of (int, str)
            Counts with their labels: steps, regions, runs, points, evaluations.
        """
        limit = self.max_request_work
        work = _product(term)
        if limit is not None and work > limit:
            raise ValueError(f"{what} integrates {_factors(term)} = {work:,} region-steps; this server "
                             f"allows at most {limit:,} per request (--max-request-work)")

    def check_sweep(self, what: str, points: int, steps: int, regions: int, block: int) -> None:
        """``ValueError`` if a sweep exceeds ``max_request_mb`` or ``max_request_work``.

        Parameters
        ----------
        what : str
            The sweep, as the message names it.
        points : int
            Grid points.
        steps : int
            Integration steps of each point's run (the transient included).
        regions : int
            Regions of the model.
        block : int
            Points one compiled program runs at once; each records its whole run of the
            monitored state, :data:`SWEEP_COPIES` values per step and region with the metric's
            copies. The kept result has at most 2 values per point and region.
        """
        self.check_memory(what, ((block, "points per block"), (steps, "steps"), (regions, "regions"),
                                 (SWEEP_COPIES, "copies")),
                          ((points, "points"), (regions, "regions"), (2, "values")))
        self.check_work(what, ((points, "points"), (steps, "steps"), (regions, "regions")))


def check_count(value: Any, name: str) -> int:
    """``value`` as an ``int``, or a ``ValueError`` naming ``name`` and the value unless it is an
    integer >= 1 (a size or a count: regions, runs, points, steps)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1; got {value!r}")
    return int(value)


def _product(term: _Term) -> int:
    return math.prod(int(n) for n, _ in term)


def _factors(term: _Term) -> str:
    return " x ".join(f"{int(n):,} {label}" for n, label in term)


def _bytes(n: int) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:,.1f} {unit}"
    return f"{n} bytes"


_LIMITS = Limits()


def limits() -> Limits:
    """The limits in force in this process."""
    return _LIMITS


def set_limits(new: Limits) -> None:
    """Put ``new`` in force for every explorer of this process (``Limits()`` lifts them all)."""
    global _LIMITS
    if not isinstance(new, Limits):
        raise ValueError(f"expected a Limits; got {new!r}")
    _LIMITS = new


class ComputePool:
    """At most ``slots`` computations at once: interactive ones first, then background ones (long
    sweeps and fits), each kind in arrival order. Background computations hold at most
    ``slots - 1`` slots (one when there is one), so a slider's run finds a slot free even while
    sweeps run.

    Parameters
    ----------
    slots : int, optional
        Concurrent computations (default: the number of CPU cores).
    """

    def __init__(self, slots: int | None = None):
        self._cond = threading.Condition()
        self._queue: list[tuple[bool, int]] = []
        self._arrivals = itertools.count()
        self._running = 0
        self._background = 0
        self.resize((os.cpu_count() or 1) if slots is None else slots)

    @property
    def slots(self) -> int:
        """Computations allowed at once."""
        return self._slots

    @property
    def running(self) -> int:
        """Computations holding a slot now."""
        return self._running

    @property
    def waiting(self) -> int:
        """Computations queued for a slot."""
        return len(self._queue)

    def resize(self, slots: int) -> None:
        """Change the number of slots (computations already running keep theirs)."""
        if isinstance(slots, bool) or not isinstance(slots, int) or slots < 1:
            raise ValueError(f"slots must be an integer >= 1; got {slots!r}")
        with self._cond:
            self._slots = slots
            self._cond.notify_all()

    def acquire(self, abandon: Callable[[], bool] = lambda: False, background: bool = False) -> bool:
        """Wait for a slot, interactive computations before ``background`` ones and first come
        first served within each; ``False`` (no slot taken) if ``abandon()`` turns true while
        waiting."""
        ticket = (background, next(self._arrivals))
        with self._cond:
            self._queue.append(ticket)
            try:
                while not (min(self._queue) == ticket and self._running < self._slots
                           and (not background or self._background < max(1, self._slots - 1))):
                    if abandon():
                        return False
                    self._cond.wait(0.05)
                self._running += 1
                self._background += background
                return True
            finally:
                self._queue.remove(ticket)
                self._cond.notify_all()

    def release(self, background: bool = False) -> None:
        """Give back a slot taken by :meth:`acquire` (with the same ``background``)."""
        with self._cond:
            self._running -= 1
            self._background -= background
            self._cond.notify_all()

    @contextmanager
    def slot(self, abandon: Callable[[], bool] = lambda: False, background: bool = False) -> Iterator[Slot]:
        """Hold a slot for the block (``slot.held`` is ``False`` if abandoned while waiting)."""
        held = Slot(self, background)
        held.held = self.acquire(abandon, background)
        try:
            yield held
        finally:
            if held.held:
                self.release(background)


class Slot:
    """A place in a :class:`ComputePool`, held or not, of an interactive or a background
    computation."""

    def __init__(self, pool: ComputePool, background: bool = False):
        self._pool = pool
        self._background = background
        self.held = False

    def pause(self, abandon: Callable[[], bool] = lambda: False) -> bool:
        """Let whoever waits go first, then take a slot again (between a sweep's blocks);
        ``False`` if abandoned while waiting."""
        if self.held and self._pool.waiting:
            self._pool.release(self._background)
            self.held = False
            self.held = self._pool.acquire(abandon, self._background)
        return self.held


_POOL = ComputePool()


def compute_pool() -> ComputePool:
    """The pool every explorer of this process computes through."""
    return _POOL
