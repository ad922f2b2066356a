"""Command line: ``brainmass-widgets serve`` starts the app; ``brainmass-widgets demo`` prints a sweep."""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import threading
import time
from collections.abc import Mapping
from importlib.metadata import version
from pathlib import Path
from typing import Any

import brainunit as u
import numpy as np

from ._engine import CachedSimulator
from ._extras import MissingExtra, import_extra
from ._limits import Limits
from ._serving import AccessPolicy, Gate, guard, session_registry

__all__ = ["main"]


def demo(model: str = "HopfStep", points: int = 8) -> str:
    """Sweep HopfStep's bifurcation parameter ``a`` as in brainmass's batching recipe.

    Parameters
    ----------
    model : str
        Only ``"HopfStep"`` is swept by the demo.
    points : int
        Grid points between a = 0.1 and a = 1.5.

    Returns
    -------
    str
        A table of amplitude per ``a``, then the timing of the compiled sweep and of a warm re-run.
    """
    sim = CachedSimulator(model, in_size=1, dt=0.1 * u.ms)
    a_values = np.linspace(0.1, 1.5, points)
    kw = dict(duration=150 * u.ms, params={"w": 0.3}, init={"x": 0.5}, transient=50 * u.ms,
              monitor="x", metric="amplitude")
    t0 = time.perf_counter()
    sw = sim.sweep({"a": a_values}, **kw)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    sim.sweep({"a": a_values + 0.01}, **kw)
    warm = time.perf_counter() - t0
    lines = [f"{model}: amplitude (sqrt(2) x RMS of x after 50 ms) vs a", "     a   amplitude"]
    lines += [f"  {a:4.2f}   {v:9.3f}" for a, v in zip(a_values, sw.values, strict=True)]
    lines.append(f"first sweep (compiles) {first * 1e3:8.1f} ms; new values, cached {warm * 1e3:6.1f} ms")
    return "\n".join(lines)


def enable_jax_cache(path: str | os.PathLike, max_mb: int | None = 1024) -> Path:
    """Keep compiled programs on disk so a restarted server skips compiling (even small ones).

    Parameters
    ----------
    path : str or path-like
        Cache folder (created if missing).
    max_mb : int or None
        Size the folder may reach, in MiB: past it the least recently used programs are deleted
        (``None``: no bound). A server whose visitors change the run length compiles a program
        per length, about 20 KB each.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ValueError
        When ``path`` is a file or cannot be created, or ``max_mb`` is not a positive integer.
    """
    import jax

    if max_mb is not None and (isinstance(max_mb, bool) or not isinstance(max_mb, int) or max_mb < 1):
        raise ValueError(f"the JAX cache size must be None or an integer >= 1 MiB; got {max_mb!r}")
    folder = Path(path).expanduser()
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"the JAX cache {str(folder)!r} is a file, not a folder: name a folder (created if "
                         f"missing) or pass --no-jax-cache")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"cannot create the JAX cache folder {str(folder)!r}: {exc.strerror}") from exc
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    jax.config.update("jax_compilation_cache_max_size", -1 if max_mb is None else max_mb * 2**20)
    return folder


def connect_dask(address: str, timeout: float = 10.0) -> Any:
    """A ``dask.distributed.Client`` of the scheduler at ``address``.

    Raises
    ------
    ValueError
        Naming the address, when no scheduler answers there within ``timeout`` seconds.
    """
    Client = import_extra("distributed", "dask", "serve --dask").Client
    try:
        return Client(address, timeout=timeout)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ValueError(f"cannot reach the Dask scheduler at {address!r}: {exc}") from exc


_LOCAL = {"localhost", "127.0.0.1", "::1"}


def check_port(address: str, port: int) -> None:
    """``ValueError`` in one line, before anything is compiled, when ``port`` cannot be bound on
    ``address`` (another server holds it); port 0 picks a free one and is always available."""
    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(address, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ValueError(f"cannot serve on {address!r}: {exc.strerror}") from None
    for family, kind, proto, _, where in infos:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(where)
            except OSError as exc:
                raise ValueError(f"port {port} on {address} is in use ({exc.strerror}): choose another "
                                 f"with --port, e.g. --port {port + 1 if port < 65535 else port - 1}, "
                                 f"or --port 0 for a free one") from None


def serve(model: str = "HopfStep", port: int = 5006, address: str = "localhost", show: bool = False,
          allow_origin: list[str] | None = None, jax_cache: str | None = None,
          jax_cache_mb: int | None = 1024, prefix: str | None = None, dask_scheduler: str | None = None,
          limits: Limits | None = None,
          workers: int | None = None, session_expiry: float = 15.0, basic_auth: str | None = None,
          cookie_secret: str | None = None, oauth: Mapping[str, Any] | None = None,
          max_message_mb: int = 64, sweep_dir: str | None = None, sweep_keep: int | None = 20,
          sweep_quota_mb: int | None = 256, access: AccessPolicy | None = None,
          tab_build_gap: float = 0.5) -> None:
    """Serve the app at ``http://<address>:<port>/<prefix>/`` until interrupted; operators read
    ``/brainmass-status`` (open sessions, running and waiting computations, limits) as JSON.

    Parameters
    ----------
    model : str
        The model shown first (a URL query ``?model=...`` overrides it per visitor).
    port : int
        TCP port (0 picks a free one).
    address : str
        Interface to bind: this machine only by default; any other address needs ``allow_origin``.
    show : bool
        Open a browser tab.
    allow_origin : list of str, optional
        Extra websocket origins (``host:port``) allowed to open sessions.
    jax_cache : str, optional
        Folder of the persistent JAX compilation cache; ``None`` disables it.
    jax_cache_mb : int or None
        Size the cache folder may reach (least recently used programs go first); ``None``: no bound.
    prefix : str, optional
        URL path prefix of every route (``/user/x/panel`` serves the app at ``/user/x/panel/``),
        for a server behind a proxy that forwards the full path; ``None`` serves at ``/``.
    dask_scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:8786``): the Sweep tab then offers to
        run sweeps on its cluster.
    limits : Limits, optional
        Largest requests accepted (default :meth:`Limits.served`).
    workers : int, optional
        Computations run at once, all sessions together (default: the CPU cores).
    session_expiry : float
        Seconds after its browser went away that a session is closed, its work cancelled and its
        memory released.
    basic_auth : str, optional
        A password, or a JSON file of ``{"user": "password"}``: visitors log in first.
    cookie_secret : str, optional
        Secret signing the login cookies (default: random at each start).
    oauth : dict, optional
        Panel's OAuth options (``oauth_provider``, ``oauth_key``, ``oauth_secret``,
        ``oauth_redirect_uri``, ``oauth_encryption_key``, ...), passed through.
    max_message_mb : int
        Largest websocket message (uploads included), in MiB: the page refuses, with a notice, a
        file too large to fit one in base64, before sending it.
    sweep_dir : str, optional
        Folder where the Sweep tab saves every sweep as it fills, a subfolder per logged-in user
        (else per browser); the tab lists the visitor's own to reopen.
    sweep_keep, sweep_quota_mb : int or None
        Files and MiB each visitor's subfolder keeps (the oldest deleted first); ``None``: no bound.
    access : AccessPolicy, optional
        Open sessions allowed in all and per client address, and URL query lengths (default
        :class:`AccessPolicy`). Only the app's own routes are served: Panel's and Bokeh's others
        (``/components/...``, ``/autoload.js``, ``/metadata``) answer 404 without running anything.
    tab_build_gap : float
        Seconds, 0 to 60, the server leaves to open pages after building a page's session or a
        tab's explorer, all sessions together: pages and tabs that many visitors open at once are
        built in turn, and a waiting tab says when it will be built (``0``: each is built at once).

    Raises
    ------
    ValueError
        When the Dask scheduler cannot be reached, or the address is beyond this machine and no
        origin is allowed.
    """
    import panel as pn

    from ._catalog import model_spec
    from ._limits import compute_pool, set_limits
    from ._pacing import build_pacer
    from .panel._upload import set_message_limit
    from .panel.app import TITLE, StatusHandler, create_app, warm

    model_spec(model)
    build_pacer().gap = tab_build_gap
    check_port(address, port)
    if address not in _LOCAL and not allow_origin:
        raise ValueError(f"serving on {address!r} reaches beyond this machine: name who may connect with "
                         f"--allow-websocket-origin HOST:PORT")
    set_limits(limits if limits is not None else Limits.served())
    set_message_limit(max_message_mb)
    if workers is not None:
        compute_pool().resize(workers)
    if jax_cache:
        enable_jax_cache(jax_cache, jax_cache_mb)
    client = connect_dask(dask_scheduler) if dask_scheduler else None
    warm(model)
    origins = [f"localhost:{port}", f"127.0.0.1:{port}", *(allow_origin or [])]

    def app():
        return create_app(model, client=client, sweep_dir=sweep_dir, sweep_keep=sweep_keep,
                          sweep_quota_mb=sweep_quota_mb)

    auth: dict[str, Any] = dict(oauth or {})
    if basic_auth or auth.get("oauth_provider"):
        auth["cookie_secret"] = cookie_secret or secrets.token_hex(32)
    if basic_auth:
        auth["basic_auth"] = basic_auth
    prefix = "/" + prefix.strip("/") if prefix and prefix.strip("/") else ""
    expiry_ms = int(session_expiry * 1000)
    server = pn.serve({"/": app}, port=port, address=address, show=show, start=False, title=TITLE,
                      allow_websocket_origin=origins if port else None, print_url=False,
                      prefix=prefix, unused_session_lifetime_milliseconds=expiry_ms,
                      check_unused_sessions_milliseconds=max(500, expiry_ms // 2),
                      websocket_max_message_size=max_message_mb * 2**20,
                      extra_patterns=[(r"/brainmass-status", StatusHandler)], **auth)
    guard(server._tornado, Gate(access or AccessPolicy(), session_registry(), prefix,
                                extra_routes=("brainmass-status", "login", "logout")))
    server.io_loop.asyncio_loop.set_exception_handler(_quiet_when_visitors_leave)
    print(f"brainmass-widgets: serving {model} at http://{address}:{server.port}{prefix}/", flush=True)
    server.start()
    _run_until_stopped(server)


def _run_until_stopped(server: Any) -> None:
    """Run ``server``'s event loop until SIGINT (Ctrl-C) or SIGTERM, then stop cleanly.

    The loop stops, the server closes its port, every session's computation is cancelled at its
    next chunk boundary (a sweep writes its autosave) and its thread joined; then ``stopped`` is
    printed and the command exits 0. A second Ctrl-C while computations finish ends at once (status 1).
    """
    from ._controller import stop_all

    loop = server.io_loop.asyncio_loop
    signals = (signal.SIGINT, signal.SIGTERM) if threading.current_thread() is threading.main_thread() else ()
    for sig in signals:
        loop.add_signal_handler(sig, server.io_loop.stop)
    server.io_loop.start()
    for sig in signals:
        loop.remove_signal_handler(sig)
    server.stop()
    stop_all()
    print("brainmass-widgets: stopped", flush=True)


def _quiet_when_visitors_leave(loop: Any, context: dict[str, Any]) -> None:
    """The event loop's error handler: an update still being written to a websocket whose browser
    has gone (a closed tab) is expected, not an error; anything else is reported as usual."""
    from tornado.iostream import StreamClosedError
    from tornado.websocket import WebSocketClosedError

    if isinstance(context.get("exception"), WebSocketClosedError | StreamClosedError):
        return
    loop.default_exception_handler(context)


def _limit(value: int) -> int | None:
    return None if value == 0 else value


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``brainmass-widgets`` command."""
    parser = argparse.ArgumentParser(prog="brainmass-widgets", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {version('brainmass-widgets')}")
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="serve the app (Model, Sweep, Phase plane, Network, Fit and "
                                          "Bifurcation tabs) "
                                          "at http://localhost:5006/")
    s.add_argument("--port", type=int, default=5006, help="port (default 5006; 0 picks a free one)")
    s.add_argument("--address", default="localhost",
                   help="interface to bind (default localhost); beyond it, add --basic-auth: the origin "
                        "list stops other web pages, not a script that sends no Origin header")
    s.add_argument("--show", action="store_true", help="open a browser tab")
    s.add_argument("--model", default="HopfStep", help="model shown first (default HopfStep)")
    s.add_argument("--allow-websocket-origin", action="append", default=[], metavar="HOST:PORT",
                   help="also accept sessions from pages of this origin (repeatable); needed beyond "
                        "localhost. It binds browsers only: a client sending no Origin is accepted")
    s.add_argument("--jax-cache", default="~/.cache/brainmass-widgets/jax", metavar="DIR",
                   help="persistent JAX compilation cache (default ~/.cache/brainmass-widgets/jax)")
    s.add_argument("--no-jax-cache", action="store_true", help="compile afresh at every start")
    s.add_argument("--jax-cache-mb", type=int, default=1024, metavar="MIB",
                   help="size the JAX cache may reach; the least recently used programs go first "
                        "(default 1024; 0 lifts it)")
    s.add_argument("--prefix", default=None, metavar="PATH",
                   help="URL prefix of the app (e.g. /user/x/panel), for a proxy that keeps the path")
    s.add_argument("--dask-scheduler", default=None, metavar="ADDRESS",
                   help="Dask scheduler (tcp://host:8786) the Sweep tab may run sweeps on")
    s.add_argument("--sweep-dir", default=None, metavar="DIR",
                   help="save every sweep there as it fills, a subfolder per user or browser; the "
                        "Sweep tab lists the visitor's own to reopen")
    s.add_argument("--sweep-keep", type=int, default=20, metavar="N",
                   help="files each visitor's subfolder keeps, the oldest deleted first "
                        "(default 20; 0 lifts it)")
    s.add_argument("--sweep-quota-mb", type=int, default=256, metavar="MIB",
                   help="MiB each visitor's subfolder keeps, the oldest deleted first "
                        "(default 256; 0 lifts it)")
    served = Limits.served()
    limits_group = s.add_argument_group("limits (0 lifts one)")
    for flag, name, what in (("--max-steps", "max_steps", "integration steps per run or sweep point"),
                             ("--max-regions", "max_regions", "regions of one model or connectome"),
                             ("--max-grid-points", "max_grid_points", "points of one sweep"),
                             ("--max-batch", "max_batch", "runs of one noise ensemble"),
                             ("--max-session-jobs", "max_session_jobs",
                              "computations one session runs at once (newest wins)"),
                             ("--max-client-jobs", "max_client_jobs",
                              "computations all sessions of one client address run at once (newest wins)"),
                             ("--max-request-mb", "max_request_mb",
                              "MiB one run, sweep or fit may hold (a quarter of this machine's memory)"),
                             ("--max-request-work", "max_request_work",
                              "region-steps one run, sweep or fit may integrate")):
        limits_group.add_argument(flag, type=int, default=getattr(served, name), metavar="N",
                                  help=f"{what} (default {getattr(served, name):,})")
    limits_group.add_argument("--workers", type=int, default=None, metavar="N",
                              help="computations at once, all sessions together (default: CPU cores)")
    limits_group.add_argument("--session-expiry", type=float, default=15.0, metavar="SECONDS",
                              help="close a session this long after its browser went away (default 15)")
    limits_group.add_argument("--max-sessions", type=int, default=AccessPolicy.max_sessions, metavar="N",
                              help=f"open sessions (browser tabs), all visitors together "
                                   f"(default {AccessPolicy.max_sessions})")
    limits_group.add_argument("--max-client-sessions", type=int, default=AccessPolicy.max_client_sessions,
                              metavar="N", help=f"open sessions of one client address (default "
                                                f"{AccessPolicy.max_client_sessions}; lift it behind a "
                                                f"proxy that hides visitors' addresses)")
    limits_group.add_argument("--tab-build-gap", type=float, default=0.5, metavar="SECONDS",
                              help="time left to open pages after each page or tab build, all visitors "
                                   "together: pages and tabs opened at once are built in turn (default "
                                   "0.5; 0 to 60)")
    limits_group.add_argument("--max-message-mb", type=int, default=64, metavar="MIB",
                              help="largest websocket message, uploads included (default 64)")
    access = s.add_argument_group("access")
    access.add_argument("--basic-auth", default=None, metavar="PASSWORD_OR_FILE",
                        help="require a login: a password, or a JSON file of {user: password}")
    access.add_argument("--cookie-secret", default=None, metavar="SECRET",
                        help="secret signing login cookies (default: random at each start)")
    for flag in ("provider", "key", "secret", "redirect-uri", "encryption-key"):
        access.add_argument(f"--oauth-{flag}", default=None, help=f"Panel's --oauth-{flag}, passed through")
    d = sub.add_parser("demo", help="print an amplitude-vs-a sweep of HopfStep and its timing")
    d.add_argument("--points", type=int, default=8, help="grid points (default 8)")
    args = parser.parse_args(argv)
    if args.command == "demo":
        if args.points < 1:
            parser.error(f"--points must be >= 1, got {args.points}")
        print(demo(points=args.points))
    elif args.command == "serve":
        if not 0 <= args.port <= 65535:
            parser.error(f"--port must be in 0 .. 65535, got {args.port}")
        try:
            from ._catalog import model_spec

            model_spec(args.model)
        except (KeyError, ValueError) as exc:
            parser.error(str(exc))
        try:
            limits = Limits(max_steps=_limit(args.max_steps), max_regions=_limit(args.max_regions),
                            max_grid_points=_limit(args.max_grid_points), max_batch=_limit(args.max_batch),
                            max_session_jobs=_limit(args.max_session_jobs),
                            max_client_jobs=_limit(args.max_client_jobs),
                            max_request_mb=_limit(args.max_request_mb),
                            max_request_work=_limit(args.max_request_work))
            if args.workers is not None and args.workers < 1:
                raise ValueError(f"--workers must be >= 1, got {args.workers}")
            if not 0 <= args.tab_build_gap <= 60:
                raise ValueError(f"--tab-build-gap must be 0 to 60 seconds, got {args.tab_build_gap:g}")
            if not args.session_expiry > 0 or args.max_message_mb < 1:
                raise ValueError("--session-expiry must be > 0 and --max-message-mb >= 1")
            oauth = {f"oauth_{k}": getattr(args, f"oauth_{k}") for k in
                     ("provider", "key", "secret", "redirect_uri", "encryption_key")
                     if getattr(args, f"oauth_{k}") is not None}
            serve(model=args.model, port=args.port, address=args.address, show=args.show,
                  allow_origin=args.allow_websocket_origin,
                  jax_cache=None if args.no_jax_cache else args.jax_cache,
                  jax_cache_mb=_limit(args.jax_cache_mb), prefix=args.prefix,
                  dask_scheduler=args.dask_scheduler, limits=limits, workers=args.workers,
                  session_expiry=args.session_expiry, basic_auth=args.basic_auth,
                  cookie_secret=args.cookie_secret, oauth=oauth, max_message_mb=args.max_message_mb,
                  sweep_dir=args.sweep_dir, sweep_keep=_limit(args.sweep_keep),
                  sweep_quota_mb=_limit(args.sweep_quota_mb),
                  access=AccessPolicy(max_sessions=_limit(args.max_sessions),
                                      max_client_sessions=_limit(args.max_client_sessions)),
                  tab_build_gap=args.tab_build_gap)
        except (ValueError, MissingExtra) as exc:
            parser.error(str(exc))


if __name__ == "__main__":
    main()
