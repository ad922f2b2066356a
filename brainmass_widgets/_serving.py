"""What the served app lets through, decided before any route runs.

Panel and Bokeh serve routes of their own beside the app: ``/components/<module>/...`` imports the
module its URL names (before any login check), ``/autoload.js`` and ``/metadata`` build or
describe sessions. :func:`guard` puts one check in front of the server's routing: a request
reaches a handler only when its path is one the app needs, its query is short, and (for a page)
the server and the visitor's address have room for another session; a form posted from another
site is refused, and login attempts are counted per address. Everything else is answered at once
with a short page that says why, without building a session, importing or running anything.
Cookies the server sets are ``SameSite=Lax`` (and ``Secure`` over https), and the login form
carries a token its page set (:data:`LOGIN_TOKEN`): a login posted without it is refused before
the password is looked at.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bokeh.server.views.doc_handler import DocHandler
from tornado.httputil import HTTPServerRequest
from tornado.web import Application, RequestHandler

from ._pacing import build_pacer

__all__ = ["LOGIN_TOKEN", "VISITOR_COOKIE", "AccessPolicy", "Gate", "SessionRegistry", "guard",
           "PAGE_WAIT_S", "session_registry", "visitor_folder"]


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
    max_logins_per_minute : int
        Login attempts (POSTs of the login form) of one client address in any minute.
    """

    max_sessions: int | None = 64
    max_client_sessions: int | None = 8
    max_query_value: int = 200
    max_query: int = 4096
    max_logins_per_minute: int = 10

    def __post_init__(self) -> None:
        for name in ("max_sessions", "max_client_sessions", "max_query_value", "max_query",
                     "max_logins_per_minute"):
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


class Gate:
    """Decides, from a request's line and headers alone, whether it reaches the app.

    Parameters
    ----------
    policy : AccessPolicy
    registry : SessionRegistry
    prefix : str
        The URL prefix every route lives under (``""`` or ``"/a/b"``).
    extra_routes : tuple of str
        Further exact paths served besides the page, its websocket, the static files and the
        favicon (``"brainmass-status"``, ``"login"``, ``"logout"``).
    login : str
        The login form's path below ``prefix``: POSTs to it are counted per address.
    """

    def __init__(self, policy: AccessPolicy, registry: SessionRegistry, prefix: str = "",
                 extra_routes: tuple[str, ...] = (), login: str = "login"):
        self.policy = policy
        self.registry = registry
        names = "|".join(re.escape(p.strip("/")) for p in ("ws", "favicon.ico", *extra_routes))
        self._paths = re.compile(rf"{re.escape(prefix)}(?:/|/(?:{names})|/static/[^?#]*)")
        self._pages = {prefix + "/", prefix or "/"}
        self._login = f"{prefix}/{login}"
        self._lock = threading.Lock()
        self._logins: dict[str, deque[float]] = {}

    def refusal(self, request: HTTPServerRequest) -> tuple[int, str] | None:
        """Why ``request`` is refused, as ``(HTTP status, reason)``, or ``None`` to let it through
        (a page request that passes reserves its session's place in the registry)."""
        policy, path = self.policy, request.path
        if not self._paths.fullmatch(path):
            return 404, f"{path[:80]!r} is not served here"
        if len(request.query) > policy.max_query:
            return 414, (f"the URL query has {len(request.query):,} characters; at most "
                         f"{policy.max_query:,} are allowed")
        origin = request.headers.get("Origin")
        if request.method not in ("GET", "HEAD", "OPTIONS") and origin is not None \
                and urlsplit(origin).netloc != request.host:
            return 403, f"a form sent from {origin[:80]!r} to this server is refused"
        client = request.remote_ip or ""
        if path == self._login and request.method == "POST":
            return self._count_login(client)
        if path not in self._pages:
            return None
        for key, values in request.query_arguments.items():
            for value in values:
                if len(value) > policy.max_query_value:
                    return 400, (f"the URL value of {key[:40]!r} has {len(value):,} characters; at most "
                                 f"{policy.max_query_value} are allowed")
        if request.method != "GET":
            return None
        registry = self.registry
        if policy.max_sessions is not None and registry.count() >= policy.max_sessions:
            return 503, (f"the server is full: {registry.count():,} sessions are open and it allows "
                         f"{policy.max_sessions:,} (--max-sessions); try again in a minute")
        if policy.max_client_sessions is not None and registry.count(client) >= policy.max_client_sessions:
            return 429, (f"your address has {registry.count(client):,} open sessions, the most this "
                         f"server allows (--max-client-sessions {policy.max_client_sessions}); close a "
                         f"tab and reload")
        registry.reserve(client)
        return None

    def _count_login(self, client: str) -> tuple[int, str] | None:
        now = time.monotonic()
        with self._lock:
            recent = self._logins.setdefault(client, deque())
            while recent and recent[0] <= now - 60:
                recent.popleft()
            if len(recent) >= self.policy.max_logins_per_minute:
                wait = 60 - (now - recent[0])
                return 429, (f"{len(recent)} login attempts from your address in the last minute, the most "
                             f"this server allows; try again in {wait:.0f} s")
            recent.append(now)
        return None


PAGE_WAIT_S = 30.0
"""The longest a page request waits for its turn to be built (half the time its session's place is
reserved, :class:`SessionRegistry`); one that would wait longer is answered 503 at once."""

VISITOR_COOKIE = "bmw-visitor"
"""The cookie that tells one browser's visits apart (a random token, set on its first page)."""


def _strict_cookies(handler: type[RequestHandler]) -> type[RequestHandler]:
    """``handler`` whose cookies are ``SameSite=Lax`` unless it says otherwise (and ``Secure`` over
    https), which Panel's login handler does not set; a page handler also gives a browser without
    one its :data:`VISITOR_COOKIE`, visible to the session built from the same request, and builds
    a page's session in its turn (:func:`~brainmass_widgets._pacing.build_pacer`)."""

    def set_cookie(self: RequestHandler, name: str, value: str | bytes, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("samesite", "Lax")
        kwargs.setdefault("secure", self.request.protocol == "https" or None)
        handler.set_cookie(self, name, value, *args, **kwargs)

    async def prepare(self: RequestHandler) -> None:
        if not self.get_cookie(VISITOR_COOKIE):
            token = secrets.token_hex(16)
            self.set_cookie(VISITOR_COOKIE, token, httponly=True, expires_days=365)
            self.request.cookies[VISITOR_COOKIE] = token
        if self.request.method == "GET":
            # The page's session is built in its turn among tab and page builds (BuildPacer), but
            # within the time its place in the registry is held.
            wait = build_pacer().book(limit=PAGE_WAIT_S)
            if wait is None:
                self.set_status(503)
                self.set_header("Content-Type", "text/plain; charset=utf-8")
                self.set_header("Retry-After", "30")
                self.finish(f"brainmass-widgets: the server is busy: pages are being built in turn and "
                            f"this one would wait more than {PAGE_WAIT_S:.0f} s; try again in a minute\n")
                return
            if wait > 0:
                await asyncio.sleep(wait)
            self._bmw_built = time.perf_counter()
        await handler.prepare(self)

    def on_finish(self: RequestHandler) -> None:
        built = getattr(self, "_bmw_built", None)
        if built is not None:
            build_pacer().done(time.perf_counter() - built)
        handler.on_finish(self)

    members: dict[str, Any] = {"set_cookie": set_cookie, "__doc__": handler.__doc__}
    if issubclass(handler, DocHandler):
        members.update(prepare=prepare, on_finish=on_finish)
    return type(handler.__name__, (handler,), members)


LOGIN_TOKEN = "bmw-login"
"""The name of the login form's token, as a hidden field of the form and as a cookie: each GET of
the login page sets a new random token in both, the cookie signed with the server's cookie secret
and kept for the login path only; a POST of the form is refused (403) unless it carries the token
of its own browser's cookie, less than a day old. A page of another site can neither read the
token nor set the cookie, so it cannot post a login (a forged login would put a visitor's work
under the forger's account)."""

_TOKEN_DAYS = 1.0
"""Days a login page's token stays good."""


class _TokenForm:
    """A login page template whose form gets a hidden :data:`LOGIN_TOKEN` field holding ``token``."""

    def __init__(self, template: Any, token: str) -> None:
        self._template = template
        self._field = f'<input type="hidden" name="{LOGIN_TOKEN}" value="{token}">'

    def render(self, **values: Any) -> str:
        page = self._template.render(**values)
        return re.sub(r"<form\b[^>]*>", lambda form: form.group(0) + self._field, page, count=1)


def _login_form(handler: type[RequestHandler]) -> type[RequestHandler]:
    """``handler`` (Panel's login page, a ``BasicLoginHandler``) whose GET puts a new
    :data:`LOGIN_TOKEN` in its form and a cookie, and whose POST is refused with 403 and a one-line
    reason, before the password is checked, unless the form's token is the cookie's; a token
    serves one POST (a failed login's page sets the next)."""

    def get(self: RequestHandler) -> Any:
        token = secrets.token_urlsafe(32)
        self.set_signed_cookie(LOGIN_TOKEN, token, expires_days=None, httponly=True, path=self.request.path)
        self.set_header("Cache-Control", "no-store")
        self._login_template = _TokenForm(self._login_template, token)
        return handler.get(self)

    def post(self: RequestHandler) -> Any:
        sent = self.get_body_argument(LOGIN_TOKEN, "")
        kept = self.get_signed_cookie(LOGIN_TOKEN, max_age_days=_TOKEN_DAYS)
        self.clear_cookie(LOGIN_TOKEN, path=self.request.path)
        if not sent:
            why = "the login form was sent without its token; open the login page and log in there"
        elif kept is None or not hmac.compare_digest(sent.encode(), kept):
            why = ("the login form's token does not match the one its page gave this browser (an old "
                   "or a forged form); reload the login page and log in again")
        else:
            return handler.post(self)
        self.set_status(403)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(f"brainmass-widgets: {why}\n")
        return None

    return type(handler.__name__, (handler,), {"get": get, "post": post, "__doc__": handler.__doc__})


def visitor_folder(root: str | os.PathLike, user: str | None, cookies: Mapping[str, str]) -> Path | None:
    """The folder of one visitor's files below ``root``: named by a hash of the logged-in
    ``user``, else of the browser's :data:`VISITOR_COOKIE` (``None`` when there is neither).

    Parameters
    ----------
    root : str or path-like
        The folder shared by all visitors (``--sweep-dir``).
    user : str or None
        The logged-in user.
    cookies : mapping
        The cookies of the request that opened the session.
    """
    key = f"user:{user}" if user else (f"visitor:{cookies[VISITOR_COOKIE]}" if cookies.get(VISITOR_COOKIE)
                                      else None)
    if key is None:
        return None
    return Path(root) / hashlib.sha256(key.encode()).hexdigest()[:16]


def guard(app: Application, gate: Gate) -> None:
    """Put ``gate`` in front of ``app``'s routing, make the cookies it sets strict, and give its
    login form (if any) a :data:`LOGIN_TOKEN`.

    Parameters
    ----------
    app : tornado.web.Application
        The Bokeh server's application (``server._tornado``).
    gate : Gate
    """
    from panel.auth import BasicLoginHandler

    route = app.find_handler

    def find_handler(request: HTTPServerRequest, **kwargs: Any) -> Any:
        refused = gate.refusal(request)
        if refused is not None:
            status, reason = refused
            return app.get_handler_delegate(request, _Refusal, {"status": status, "reason": reason})
        return route(request, **kwargs)

    app.find_handler = find_handler
    for rule in app.wildcard_router.rules:
        if isinstance(rule.target, type) and issubclass(rule.target, RequestHandler):
            target = rule.target
            if issubclass(target, BasicLoginHandler):
                target = _login_form(target)
            rule.target = _strict_cookies(target)
