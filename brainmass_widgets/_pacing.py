"""Pacing of the served app's page and tab builds, so that pages already open keep their turns on
the server's event loop."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

__all__ = ["BuildPacer", "build_pacer"]


class BuildPacer:
    """Spread the builds of pages' sessions and tabs' explorers over time, across all of a
    server's sessions.

    Every session of a served app shares one event loop. Building a page's session, or a tab's
    explorer and its Bokeh models, holds that loop for 0.1-0.9 s, so ten pages opening every tab at
    once would put many seconds of building in front of a connected page's slider. Each build
    therefore books a start: at once when the loop had no build in the last ``gap`` seconds and
    none is booked, otherwise after the builds already booked, each followed by ``gap`` seconds
    left to other work (a slider's run and its plot updates). A page request waits for its turn;
    a tab says that it will be built until its turn.

    Parameters
    ----------
    gap : float
        Seconds of the loop left to other work after each build; ``0`` turns pacing off (every
        build starts at once).
    estimate : float
        Seconds a build is expected to hold the loop until one has been measured; then a running
        mean of the measured builds.
    clock : callable
        Monotonic seconds (``time.monotonic``).
    """

    def __init__(self, gap: float = 0.5, estimate: float = 0.3,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not estimate >= 0:
            raise ValueError(f"estimate must be >= 0 seconds; got {estimate!r}")
        self.gap = gap
        self._estimate = estimate
        self._clock = clock
        self._free = -math.inf
        self._lock = threading.Lock()

    @property
    def gap(self) -> float:
        """Seconds of the loop left to other work after each build (``--tab-build-gap``)."""
        return self._gap

    @gap.setter
    def gap(self, seconds: float) -> None:
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 <= seconds <= 60:
            raise ValueError(f"the gap after a tab build must be 0 to 60 seconds; got {seconds!r}")
        self._gap = float(seconds)

    @property
    def estimate(self) -> float:
        """Seconds a build is expected to hold the loop."""
        return self._estimate

    def book(self, limit: float = math.inf) -> float | None:
        """Book the next free start for a build, unless it is more than ``limit`` seconds away.

        Returns
        -------
        float or None
            Seconds to wait before starting it (``0.0``: start now); ``None`` when that would be
            more than ``limit``, and nothing is booked.
        """
        if self._gap == 0:
            return 0.0
        with self._lock:
            now = self._clock()
            start = max(now, self._free)
            if start - now > limit:
                return None
            self._free = start + self._estimate + self.gap
            return start - now

    def done(self, seconds: float) -> None:
        """Record a build that has just ended after holding the loop ``seconds``: the estimate
        follows it, and no later booking starts within ``gap`` of its end."""
        with self._lock:
            self._estimate = 0.7 * self._estimate + 0.3 * seconds
            self._free = max(self._free, self._clock() + self.gap)


_PACER = BuildPacer()


def build_pacer() -> BuildPacer:
    """The pacer the served app books its page and tab builds with (``--tab-build-gap``)."""
    return _PACER
