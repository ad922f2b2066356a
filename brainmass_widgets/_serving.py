"""What the served app lets through, decided before any route runs.

Panel and Bokeh serve routes of their own beside the app: ``/components/<module>/...`` imports the
module its URL names (before any login check), ``/autoload.js`` and ``/metadata`` build or
describe sessions. :func:`guard` puts one check in front of the server's routing: a request
reaches a handler only when its path is one the app needs, its query is short, and (for a page)
the server and the visitor's address have room for another session. Everything else is answered
at once with a short page that says why, without building a session, importing or running
anything.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from typing import Any

from tornado.web import Application, RequestHandler

__all__ = ["AccessPolicy", "SessionRegistry", "guard", "session_registry"]


@dataclass(frozen=True)
class AccessPolicy:
    """Bounds on what one request may ask of the served app.

    Attributes
    ----------
    max_sessions : int or None
        Open sessions (browser tabs) of all visitors together (``--max-sessions``).
    max_client_sessions : int or None
        Open sessions of one client address (``--max-client-sessions``); behind a proxy that
        hides the visitors' addresses, every visitor has the proxy's: lift it there.
    max_query_value : int
        Characters of one URL query value of a page (the app's values are numbers and names).
    max_query : int
        Characters of a whole URL query, any route.
    """

    max_sessions: int | None = 64
    max_client_sessions: int | None = 8
    max_query_value: int = 200
    max_query: int = 4096

    def __post_init__(self) -> None:
        for name in ("max_sessions", "max_client_sessions", "max_query_value", "max_query"):
            value = getattr(self, name)
            optional = name in ("max_sessions", "max_client_sessions")
            if (value is None and optional) or (
                    isinstance(value, int) and not isinstance(value, bool) and value >= 1):
                continue
            allowed = "None or an integer >= 1" if optional else "an integer >= 1"
            raise ValueError(f"{name} must be {allowed}; got {value!r}")


class SessionRegistry:
    """The open sessions of the served app, by id, with the client address each came from.

    A page request that passes :func:`refusal` reserves a place for its address at once (the
    session itself is built later, in the request's coroutine); the session's :meth:`add` takes
    the reservation over, and one never taken over (a failed page build) lapses after
    ``reservation_s`` seconds. Concurrent requests thus cannot all pass a cap before any of them
    has built its session.
    """

    def __init__(self, reservation_s: float = 60.0) -> None:
        self._lock = threading.Lock()
        self._clients: dict[str, str] = {}
        self._reserved: dict[str, list[float]] = {}
        self._reservation_s = reservation_s

    def reserve(self, client: str) -> None:
        """Hold a place for a session of ``client`` that is being built."""
        with self._lock:
            self._reserved.setdefault(client, []).append(time.monotonic() + self._reservation_s)

    def add(self, session_id: str, client: str) -> None:
        """Record that ``client`` opened the session ``session_id`` (taking over a reservation)."""
        with self._lock:
            self._clients[session_id] = client
            held = self._reserved.get(client)
            if held:
                held.pop(0)

    def discard(self, session_id: str) -> None:
        """Forget ``session_id`` (closed, expired, or its page failed to build)."""
        with self._lock:
            self._clients.pop(session_id, None)

    def count(self, client: str | None = None) -> int:
        """Open and reserved sessions, of ``client`` only when given."""
        now = time.monotonic()
        with self._lock:
            for address in list(self._reserved):
                self._reserved[address] = [t for t in self._reserved[address] if t > now]
                if not self._reserved[address]:
                    del self._reserved[address]
            if client is None:
                return len(self._clients) + sum(len(v) for v in self._reserved.values())
            return (sum(1 for c in self._clients.values() if c == client)
                    + len(self._reserved.get(client, ())))


_REGISTRY = SessionRegistry()


def session_registry() -> SessionRegistry:
    """The registry the app's sessions enter when built and leave when destroyed."""
    return _REGISTRY


class _Refusal(RequestHandler):
    """Answers every method with ``status`` and a one-line page saying why."""

    def initialize(self, status: int, reason: str) -> None:
        self._answer = status
        self._why = reason

    def prepare(self) -> None:
        self.set_status(self._answer)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        if self._answer in (429, 503):
            self.set_header("Retry-After", "30")
        self.finish(f"brainmass-widgets: {self._why}\n")

    def check_xsrf_cookie(self) -> None:
        """A refusal changes nothing, so it needs no token."""


def _routes(prefix: str, extra: tuple[str, ...]) -> re.Pattern[str]:
    """The paths the app needs: its page, its websocket, Bokeh's and Panel's static files."""
    names = "|".join(re.escape(p.strip("/")) for p in ("ws", "favicon.ico", *extra))
    return re.compile(rf"{re.escape(prefix)}(?:/|/(?:{names})|/static/[^?#]*)")


def refusal(policy: AccessPolicy, registry: SessionRegistry, paths: re.Pattern[str], page: str,
            method: str, path: str, query: str, arguments: dict[str, list[bytes]],
            client: str) -> tuple[int, str] | None:
    """Why a request is refused, as ``(HTTP status, reason)``, or ``None`` to let it through.

    Parameters
    ----------
    policy : AccessPolicy
    registry : SessionRegistry
    paths : re.Pattern
        The paths served (matched whole).
    page : str
        The app's page path (``"/"`` or the prefix with a slash).
    method, path, query : str
        The request line, split.
    arguments : dict
        The parsed query.
    client : str
        The client's address.
    """
    if not paths.fullmatch(path):
        return 404, f"{path[:80]!r} is not served here"
    if len(query) > policy.max_query:
        return 414, (f"the URL query has {len(query):,} characters; at most {policy.max_query:,} are "
                     f"allowed")
    if path != page and path != page.rstrip("/"):
        return None
    for key, values in arguments.items():
        for value in values:
            if len(value) > policy.max_query_value:
                return 400, (f"the URL value of {key[:40]!r} has {len(value):,} characters; at most "
                             f"{policy.max_query_value} are allowed")
    if method != "GET":
        return None
    if policy.max_sessions is not None and registry.count() >= policy.max_sessions:
        return 503, (f"the server is full: {registry.count():,} sessions are open and it allows "
                     f"{policy.max_sessions:,} (--max-sessions); try again in a minute")
    if policy.max_client_sessions is not None and registry.count(client) >= policy.max_client_sessions:
        return 429, (f"your address has {registry.count(client):,} open sessions, the most this server "
                     f"allows (--max-client-sessions {policy.max_client_sessions}); close a tab and "
                     f"reload")
    registry.reserve(client)
    return None


def guard(app: Application, policy: AccessPolicy, prefix: str = "", extra_routes: tuple[str, ...] = (),
          registry: SessionRegistry | None = None) -> None:
    """Put :func:`refusal` in front of ``app``'s routing.

    Parameters
    ----------
    app : tornado.web.Application
        The Bokeh server's application (``server._tornado``).
    policy : AccessPolicy
    prefix : str
        The URL prefix every route lives under (``""`` or ``"/a/b"``).
    extra_routes : tuple of str
        Further exact paths served (``"brainmass-status"``, ``"login"``, ``"logout"``).
    registry : SessionRegistry, optional
        Default :func:`session_registry`.
    """
    registry = registry if registry is not None else _REGISTRY
    paths = _routes(prefix, extra_routes)
    page = prefix + "/"
    route = app.find_handler

    def find_handler(request: Any, **kwargs: Any) -> Any:
        refused = refusal(policy, registry, paths, page, request.method or "", request.path,
                          request.query, request.query_arguments, request.remote_ip or "")
        if refused is not None:
            status, reason = refused
            return app.get_handler_delegate(request, _Refusal, {"status": status, "reason": reason})
        return route(request, **kwargs)

    app.find_handler = find_handler
