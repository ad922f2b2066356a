"""Sweep executors side by side: one process, a Dask LocalCluster, and forced CPU devices.

Run: ``python benchmarks/bench_scaleout.py [--points N] [--duration MS] [--chunk N]``. The grid is
``N x N`` (default 64 x 64 = 4,096 simulations) of global coupling ``k`` (0 .. 1) x the Hopf
bifurcation parameter ``a`` (-0.5 .. 0.5) of brainmass's bundled 8-region example connectome with
a ``HopfStep`` node per region (``w = 0.3``), diffusive coupling on ``x`` with conduction delays
distance / 5 m/s, ``dt = 0.1 ms``; every point is reduced to the amplitude of each region (8
values). The same grid runs on:

* this process: ``CachedSimulator.sweep`` (one compiled vmap program, blocks of ``--chunk``);
* ``client=``: a ``distributed.LocalCluster`` of 2 worker processes, one thread each, on
  loopback (cluster start-up timed separately);
* ``devices="all"``: a child process started with
  ``XLA_FLAGS=--xla_force_host_platform_device_count=4``, each block sharded over 4 CPU devices.

Each is timed cold (first sweep: compiles, and for Dask the workers' imports) and warm (the same
grid shifted by 1e-3, programs reused), and its values are compared with the single process's
(max abs difference). On a 2-core machine the three share the same two cores, so little gain is
expected: the table says what each executor costs and that the results agree.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import warnings

import brainunit as u
import numpy as np

warnings.filterwarnings("ignore")


def grid(points: int, shift: float = 0.0) -> dict[str, np.ndarray]:
    return {"k": np.linspace(0.0, 1.0, points) + shift, "a": np.linspace(-0.5, 0.5, points) + shift}


def timed_sweeps(points: int, duration: float, chunk: int, **where) -> dict:
    """Cold and warm sweep times (s) and the warm values."""
    import brainmass_widgets as bw

    sim = bw.CachedSimulator(bw.NetworkModel("HopfStep"))
    kw = dict(duration=duration * u.ms, transient=duration / 4 * u.ms, params={"w": 0.3}, chunk_size=chunk,
              **where)
    t0 = time.perf_counter()
    cold = sim.sweep(grid(points), **kw)
    t_cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    warm = sim.sweep(grid(points, 1e-3), **kw)
    t_warm = time.perf_counter() - t0
    return {"cold": t_cold, "warm": t_warm, "values": warm.values, "executor": warm.executor,
            "compiles": cold.compiles}


def devices_child(points: int, duration: float, chunk: int) -> None:
    out = timed_sweeps(points, duration, chunk, devices="all")
    np.save(os.environ["BENCH_OUT"], out.pop("values"))
    print(json.dumps(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--points", type=int, default=64, help="points per axis (default 64)")
    parser.add_argument("--duration", type=float, default=500.0, help="ms per simulation (default 500)")
    parser.add_argument("--chunk", type=int, default=256, help="grid points per block (default 256)")
    parser.add_argument("--devices-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.devices_child:
        devices_child(args.points, args.duration, args.chunk)
        return

    import jax
    from distributed import Client, LocalCluster

    print(f"backend: {jax.default_backend()}, devices: {jax.devices()}, cores: {os.cpu_count()}")
    print(f"grid {args.points} x {args.points} = {args.points ** 2:,} simulations of {args.duration:g} ms "
          f"(8-region delayed Hopf network), blocks of {args.chunk}")
    rows = []
    local = timed_sweeps(args.points, args.duration, args.chunk)
    rows.append(("this process", local, 0.0))

    t0 = time.perf_counter()
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address=":0")
    client = Client(cluster)
    startup = time.perf_counter() - t0
    try:
        rows.append(("Dask LocalCluster, 2 workers", timed_sweeps(args.points, args.duration, args.chunk,
                                                                   client=client), startup))
    finally:
        client.close()
        cluster.close()

    out_path = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"bench_scaleout_{os.getpid()}.npy")
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4", "BENCH_OUT": out_path}
    t0 = time.perf_counter()
    child = subprocess.run([sys.executable, __file__, "--devices-child", "--points", str(args.points),
                            "--duration", str(args.duration), "--chunk", str(args.chunk)],
                           env=env, capture_output=True, text=True, check=True)
    child_total = time.perf_counter() - t0
    devices = json.loads(child.stdout.strip().splitlines()[-1])
    devices["values"] = np.load(out_path)
    os.remove(out_path)
    rows.append(("4 forced CPU devices (child process)", devices,
                 child_total - devices["cold"] - devices["warm"]))

    print("\n| executor | start-up s | cold sweep s | warm sweep s | warm ms / simulation | "
          "warm vs this process | max abs diff vs this process |")
    print("|---|---|---|---|---|---|---|")
    n = args.points ** 2
    for name, r, start in rows:
        diff = float(np.nanmax(np.abs(r["values"] - local["values"])))
        print(f"| {name} | {start:.1f} | {r['cold']:.1f} | {r['warm']:.1f} | "
              f"{r['warm'] / n * 1e3:.2f} | {r['warm'] / local['warm']:.2f}x | {diff:.1e} |")


if __name__ == "__main__":
    main()
