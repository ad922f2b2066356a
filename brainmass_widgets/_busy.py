"""Whether a controller's worker has work, for the buttons that act on it (Fit and Stop, Run sweep and
Cancel), shared by both front ends."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._controller import ControllerBase, Worker

__all__ = ["BusyWatch"]


class BusyWatch:
    """Calls ``show(busy)`` whenever one worker of a controller may have started or ended its work.

    ``busy`` is whether the worker holds a job, queued or computing: what Stop or Cancel acts on.
    It is shown at once, on every status of the controller, on :meth:`update` (a front end calls
    it after submitting work), and once more when the worker has gone idle. That last one is what
    a status cannot tell: a job's final status arrives while the job still runs, a status may
    come from other work of the controller, and a job cancelled before it starts ends without one.
    So while the worker is busy a watcher thread waits for it to go idle, then shows the state
    through the controller's dispatch (onto the session's document when served).

    Parameters
    ----------
    controller : ControllerBase
        The explorer's controller.
    worker : Worker
        The worker followed: a fit's, or a network explorer's coupling sweep (not its live run).
    show : callable
        ``show(busy)`` sets the buttons; called where the document may be changed.
    """

    def __init__(self, controller: ControllerBase, worker: Worker, show: Callable[[bool], None]):
        self._controller = controller
        self._worker = worker
        self._show = show
        self._cond = threading.Condition()
        self._watching = False
        self._posting = 0
        controller.on_status(lambda _status: self.update())
        self.update()

    @property
    def busy(self) -> bool:
        """Whether the worker holds a job, queued or computing."""
        return not self._worker.wait(0)

    def update(self) -> None:
        """Show the worker's state now; while it is busy, show it again once it is idle."""
        busy = self.busy
        self._show(busy)
        if not busy:
            return
        with self._cond:
            if self._watching:
                return
            self._watching = True
        threading.Thread(target=self._until_idle, name="brainmass-busy-watch", daemon=True).start()

    def _until_idle(self) -> None:
        self._worker.wait(None)
        with self._cond:
            self._watching = False
            self._posting += 1
        try:
            if not self._worker.closed:
                self._controller.post(self.update)
        finally:
            with self._cond:
                self._posting -= 1
                self._cond.notify_all()

    def wait(self, wait: Callable[[float | None], bool], timeout: float | None = None) -> bool:
        """Call ``wait(timeout)`` (an explorer's wait for its computations and plot updates), then
        wait until the state the worker was left in is shown.

        Parameters
        ----------
        wait : callable
            ``wait(timeout) -> bool``, ``False`` on timeout.
        timeout : float, optional
            Seconds for all of it (``None``: no limit).

        Returns
        -------
        bool
            ``False`` if ``timeout`` seconds passed first.
        """
        deadline = None if timeout is None else time.monotonic() + timeout

        def left() -> float | None:
            return None if deadline is None else max(0.0, deadline - time.monotonic())

        if not wait(timeout):
            return False
        with self._cond:
            if not self._cond.wait_for(lambda: not self._watching and not self._posting, left()):
                return False
        return wait(left())
