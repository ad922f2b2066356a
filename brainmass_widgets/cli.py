"""Command line: ``brainmass-widgets serve`` starts the app; ``brainmass-widgets demo`` prints a sweep."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

import brainunit as u
import numpy as np

from ._engine import CachedSimulator

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


def enable_jax_cache(path: str | os.PathLike) -> Path:
    """Keep compiled programs on disk so a restarted server skips compiling (even small ones).

    Parameters
    ----------
    path : str or path-like
        Cache folder (created if missing).

    Returns
    -------
    pathlib.Path
    """
    import jax

    folder = Path(path).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return folder


def connect_dask(address: str, timeout: float = 10.0) -> Any:
    """A ``dask.distributed.Client`` of the scheduler at ``address``.

    Raises
    ------
    ValueError
        Naming the address, when no scheduler answers there within ``timeout`` seconds.
    """
    from distributed import Client

    try:
        return Client(address, timeout=timeout)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ValueError(f"cannot reach the Dask scheduler at {address!r}: {exc}") from exc


def serve(model: str = "HopfStep", port: int = 5006, address: str = "localhost", show: bool = False,
          allow_origin: list[str] | None = None, jax_cache: str | None = None,
          prefix: str | None = None, dask_scheduler: str | None = None) -> None:
    """Serve the app at ``http://<address>:<port>/<prefix>/`` until interrupted.

    Parameters
    ----------
    model : str
        The model shown first (a URL query ``?model=...`` overrides it per visitor).
    port : int
        TCP port (0 picks a free one).
    address : str
        Interface to bind; ``localhost`` unless ``allow_origin`` names who may connect from elsewhere.
    show : bool
        Open a browser tab.
    allow_origin : list of str, optional
        Extra websocket origins (``host:port``) allowed to open sessions.
    jax_cache : str, optional
        Folder of the persistent JAX compilation cache; ``None`` disables it.
    prefix : str, optional
        URL path prefix of every route (``/user/x/panel`` serves the app at ``/user/x/panel/``),
        for a server behind a proxy that forwards the full path; ``None`` serves at ``/``.
    dask_scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:8786``): the Sweep tab then offers to
        run sweeps on its cluster.

    Raises
    ------
    ValueError
        When the Dask scheduler cannot be reached.
    """
    import panel as pn

    from ._catalog import model_spec
    from .panel.app import TITLE, create_app, warm

    model_spec(model)
    if jax_cache:
        enable_jax_cache(jax_cache)
    client = connect_dask(dask_scheduler) if dask_scheduler else None
    warm(model)
    origins = [f"localhost:{port}", f"127.0.0.1:{port}", *(allow_origin or [])]

    def app():
        return create_app(model, client=client)

    prefix = "/" + prefix.strip("/") if prefix and prefix.strip("/") else ""
    server = pn.serve({"/": app}, port=port, address=address, show=show, start=False, title=TITLE,
                      allow_websocket_origin=origins if port else None, print_url=False,
                      prefix=prefix)
    print(f"brainmass-widgets: serving {model} at http://{address}:{server.port}{prefix}/", flush=True)
    server.start()
    server.io_loop.start()


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``brainmass-widgets`` command."""
    parser = argparse.ArgumentParser(prog="brainmass-widgets", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="serve the app (Model and Sweep tabs) at http://localhost:5006/")
    s.add_argument("--port", type=int, default=5006, help="port (default 5006; 0 picks a free one)")
    s.add_argument("--address", default="localhost", help="interface to bind (default localhost)")
    s.add_argument("--show", action="store_true", help="open a browser tab")
    s.add_argument("--model", default="HopfStep", help="model shown first (default HopfStep)")
    s.add_argument("--allow-websocket-origin", action="append", default=[], metavar="HOST:PORT",
                   help="also accept sessions from this origin (repeatable); needed beyond localhost")
    s.add_argument("--jax-cache", default="~/.cache/brainmass-widgets/jax", metavar="DIR",
                   help="persistent JAX compilation cache (default ~/.cache/brainmass-widgets/jax)")
    s.add_argument("--no-jax-cache", action="store_true", help="compile afresh at every start")
    s.add_argument("--prefix", default=None, metavar="PATH",
                   help="URL prefix of the app (e.g. /user/x/panel), for a proxy that keeps the path")
    s.add_argument("--dask-scheduler", default=None, metavar="ADDRESS",
                   help="Dask scheduler (tcp://host:8786) the Sweep tab may run sweeps on")
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
            serve(model=args.model, port=args.port, address=args.address, show=args.show,
                  allow_origin=args.allow_websocket_origin,
                  jax_cache=None if args.no_jax_cache else args.jax_cache, prefix=args.prefix,
                  dask_scheduler=args.dask_scheduler)
        except ValueError as exc:
            parser.error(str(exc))


if __name__ == "__main__":
    main()
