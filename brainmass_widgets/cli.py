"""Command line: ``brainmass-widgets demo`` prints a parameter sweep computed by the engine."""

from __future__ import annotations

import argparse
import time

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


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``brainmass-widgets`` command."""
    parser = argparse.ArgumentParser(prog="brainmass-widgets", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="print an amplitude-vs-a sweep of HopfStep and its timing")
    d.add_argument("--points", type=int, default=8, help="grid points (default 8)")
    args = parser.parse_args(argv)
    if args.command == "demo":
        if args.points < 1:
            parser.error(f"--points must be >= 1, got {args.points}")
        print(demo(points=args.points))


if __name__ == "__main__":
    main()
