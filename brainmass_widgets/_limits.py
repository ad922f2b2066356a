"""Resource limits an operator sets for a shared server, and the fair pool computations share.

A library user has no limits by default; ``brainmass-widgets serve`` sets :meth:`Limits.served`
(or the values given on its command line) with :func:`set_limits`. Controllers check a request
against the current limits before computing anything and refuse it with a message naming the
limit, its command-line option and what was asked.

Every computation of every explorer in the process takes a slot of one :class:`ComputePool`
first. Slots are handed out in arrival order, and a sweep gives its slot back between blocks,
so one visitor's long sweep cannot starve another visitor's slider.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

__all__ = ["ComputePool", "Limits", "compute_pool", "limits", "set_limits"]


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
    """

    max_steps: int | None = None
    max_regions: int | None = None
    max_grid_points: int | None = None
    max_batch: int | None = None
    max_session_jobs: int | None = None

    @classmethod
    def served(cls) -> Limits:
        """The defaults of ``brainmass-widgets serve``: generous for teaching and exploring, small
        enough that one request cannot hold the server for long or exhaust its memory."""
        return cls(max_steps=2_000_000, max_regions=512, max_grid_points=65_536, max_batch=256,
                   max_session_jobs=1)

    def __post_init__(self) -> None:
        for name in ("max_steps", "max_regions", "max_grid_points", "max_batch", "max_session_jobs"):
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
    """At most ``slots`` computations at once, admitted in arrival order.

    Parameters
    ----------
    slots : int, optional
        Concurrent computations (default: the number of CPU cores).
    """

    def __init__(self, slots: int | None = None):
        self._cond = threading.Condition()
        self._queue: deque[object] = deque()
        self._running = 0
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

    def acquire(self, abandon: Callable[[], bool] = lambda: False) -> bool:
        """Wait for a slot, first come first served; ``False`` (no slot taken) if ``abandon()``
        turns true while waiting."""
        ticket = object()
        with self._cond:
            self._queue.append(ticket)
            try:
                while not (self._queue[0] is ticket and self._running < self._slots):
                    if abandon():
                        return False
                    self._cond.wait(0.05)
                self._running += 1
                return True
            finally:
                self._queue.remove(ticket)
                self._cond.notify_all()

    def release(self) -> None:
        """Give back a slot taken by :meth:`acquire`."""
        with self._cond:
            self._running -= 1
            self._cond.notify_all()

    @contextmanager
    def slot(self, abandon: Callable[[], bool] = lambda: False) -> Iterator[Slot]:
        """Hold a slot for the block (``slot.held`` is ``False`` if abandoned while waiting)."""
        held = Slot(self)
        held.held = self.acquire(abandon)
        try:
            yield held
        finally:
            if held.held:
                self.release()


class Slot:
    """A place in a :class:`ComputePool`, held or not."""

    def __init__(self, pool: ComputePool):
        self._pool = pool
        self.held = False

    def pause(self, abandon: Callable[[], bool] = lambda: False) -> bool:
        """Let whoever waits go first, then take a slot again (between a sweep's blocks);
        ``False`` if abandoned while waiting."""
        if self.held and self._pool.waiting:
            self._pool.release()
            self.held = False
            self.held = self._pool.acquire(abandon)
        return self.held


_POOL = ComputePool()


def compute_pool() -> ComputePool:
    """The pool every explorer of this process computes through."""
    return _POOL
