"""Keep a served page's URL on the explorer's state."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["UrlFollower"]


class UrlFollower:
    """Write an explorer's state into the page's URL and make sure the page ends up showing it.

    Under load Panel can deliver two quick URL changes to a page in the wrong order, and the page
    keeps the older one. Worse, the page reports the URL it shows back into ``location.search``, so
    the server's own copy then agrees with the stale page. This class therefore keeps the query it
    last meant to show and compares the page's reported ``href`` against that: while they differ,
    it checks again every ``recheck_ms`` and sends the intended query again whenever no computation
    is running (a run's end sends the URL anyway).

    Parameters
    ----------
    location : panel.io.location.Location
        The session's location (``pn.state.location``).
    query : callable
        Returns the query string to show, starting with ``?``.
    busy : callable
        True while a computation runs.
    schedule : callable
        ``schedule(callback, delay_ms)`` runs ``callback`` once, later, on the session's event loop
        (``pn.state.curdoc.add_timeout_callback``).
    recheck_ms : int
        How long the page may take to show a URL before it is sent again.
    """

    def __init__(self, location: Any, query: Callable[[], str], busy: Callable[[], bool],
                 schedule: Callable[[Callable[[], None], int], Any], recheck_ms: int = 2000) -> None:
        self.location = location
        self.recheck_ms = recheck_ms
        self._query = query
        self._busy = busy
        self._schedule = schedule
        self._meant = location.search
        self._pending = False
        location.param.watch(lambda _: self._recheck(), "href")

    @property
    def behind(self) -> bool:
        """Whether the page shows a query other than the one last meant."""
        shown = parse_qs(urlsplit(self.location.href or "").query)
        return shown != parse_qs(self._meant.lstrip("?"))

    def follow(self) -> None:
        """Show the explorer's current state in the URL."""
        self._meant = self._query()
        if self.location.search != self._meant:
            self.location.search = self._meant
        self._recheck()

    def _recheck(self) -> None:
        if not self._pending and self.behind:
            self._pending = True
            self._schedule(self._resend, self.recheck_ms)

    def _resend(self) -> None:
        self._pending = False
        if self.behind and not self._busy():
            # The same text again would not be sent (the page may or may not have reported an
            # older URL back into ``search`` meanwhile): an empty trailing field alternates.
            meant = self._meant
            self.location.search = meant if self.location.search != meant else meant + "&"
        self._recheck()
