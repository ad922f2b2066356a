"""Sweeps beyond one device and one process.

Two executors, both existing engines rather than anything home-made:

* ``devices``: the grid axis of each block is sharded across local JAX devices (GPUs, TPU
  cores, or CPU devices); XLA partitions the one compiled vmap program over them and the result
  is gathered in grid order.
* ``client``: each block of grid points becomes a ``dask.distributed`` task. A worker rebuilds the
  simulator once (from its pickled constructor arguments), keeps it with its compiled programs for
  the following blocks and sweeps, and returns the block's values; results are handed back as
  they finish. Cancelling cancels the pending futures; Dask reschedules the tasks of a worker that
  dies.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import cloudpickle
import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from ._compile import CompileCache
from ._extras import import_extra

_WORKER_SIMS = CompileCache(maxsize=16)
"""A Dask worker's simulators by their pickled description: the 16 most recently used are kept."""
_WORKER_METRICS: dict[bytes, Any] = {}
_WORKER_LOCK = threading.Lock()
_TASK_RETRIES = 3
_DEVICES_HELP = "devices must be None, 'all', a count or a list of jax devices"


def resolve_devices(devices: Any) -> tuple[Any, ...] | None:
    """The devices a sweep is sharded over: ``None`` (no sharding), ``"all"`` (every local JAX
    device), a count (the first ``n``) or a sequence of ``jax.Device``.

    Raises
    ------
    ValueError
        For anything else, or more devices than there are.
    """
    if devices is None:
        return None
    local = jax.local_devices()
    if isinstance(devices, str):
        if devices != "all":
            raise ValueError(f"{_DEVICES_HELP}; got {devices!r}")
        return tuple(local)
    if isinstance(devices, int | np.integer) and not isinstance(devices, bool):
        if not 1 <= devices <= len(local):
            raise ValueError(f"devices={devices} but this process has {len(local)} JAX device(s): {local}")
        return tuple(local[: int(devices)])
    if isinstance(devices, Sequence) and devices and all(isinstance(d, jax.Device) for d in devices):
        return tuple(devices)
    raise ValueError(f"{_DEVICES_HELP}; got {devices!r}")


def device_key(devices: tuple[Any, ...] | None) -> tuple:
    """The part of a compile-cache key that names the device set."""
    return () if devices is None else tuple((d.platform, d.id) for d in devices)


def shard(block_vals: Mapping[str, np.ndarray], keys: np.ndarray,
          devices: tuple[Any, ...]) -> tuple[dict[str, Any], Any]:
    """Place a block's per-point arguments split along their first axis over ``devices``."""
    sharding = NamedSharding(Mesh(np.array(devices), ("grid",)), PartitionSpec("grid"))
    return ({k: jax.device_put(v, sharding) for k, v in block_vals.items()},
            jax.device_put(keys, sharding))


def check_client(client: Any) -> None:
    """``ValueError`` unless ``client`` is a ``dask.distributed.Client``."""
    Client = import_extra("distributed", "dask", "a sweep on a Dask cluster").Client
    if not isinstance(client, Client):
        raise ValueError(f"client must be a dask.distributed.Client; got {client!r}")


def spread_block(block: int, total: int, client: Any) -> int:
    """A block size (a power of two, at most ``block``) giving every worker of ``client`` about
    two blocks of a ``total``-point grid, so the cluster is used, not one worker."""
    workers = max(1, len(client.scheduler_info(n_workers=-1).get("workers", {})))
    fair = 1 << max(0, int(np.log2(max(1, total // (2 * workers)))))
    return max(1, min(block, fair))


def label(devices: tuple[Any, ...] | None, client: Any) -> str:
    """Where a sweep runs, in words."""
    if client is not None:
        n = len(client.scheduler_info(n_workers=-1).get("workers", {}))
        return f"Dask cluster at {client.scheduler.address} ({n} worker{'s' if n != 1 else ''})"
    if devices is not None:
        return f"{len(devices)} {devices[0].platform.upper()} device{'s' if len(devices) != 1 else ''}"
    return "this process"


def pack(obj: Any) -> bytes:
    """``obj`` pickled by value (closures and locally defined factories included)."""
    return cloudpickle.dumps(obj)


def _worker_sim(sim_blob: bytes) -> Any:
    from ._engine import CachedSimulator

    def make() -> Any:
        model, kwargs = cloudpickle.loads(sim_blob)
        return CachedSimulator(model, **kwargs)

    return _WORKER_SIMS.get((sim_blob,), make)


def _worker_metric(metric: str | bytes) -> Any:
    if isinstance(metric, str):
        return metric
    with _WORKER_LOCK:
        if metric not in _WORKER_METRICS:
            _WORKER_METRICS[metric] = cloudpickle.loads(metric)
        return _WORKER_METRICS[metric]


def remote_block(sim_blob: bytes, metric: str | bytes, job: dict[str, Any],
                 block_vals: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, int]:
    """One block of a sweep, run on a Dask worker: ``(values, diverged, programs compiled)``.

    The simulator and a callable metric are unpickled once per worker and kept, so the stable
    identities keep the worker's compiled programs reusable across blocks and sweeps.
    """
    sim = _worker_sim(sim_blob)
    before = sim.cache_info()["compiles"]
    vals, bad = sim.sweep_block(block_vals, metric=_worker_metric(metric), devices=None, **job)
    return vals, bad, sim.cache_info()["compiles"] - before


def dask_blocks(client: Any, sim_blob: bytes, metric: str | bytes, job: dict[str, Any],
                blocks: Sequence[tuple[int, dict[str, np.ndarray]]]) -> Iterator[tuple[int, tuple]]:
    """Submit every block as a task and yield ``(start, (values, diverged, compiles))`` as each
    finishes. Closing the iterator early cancels the tasks not yet finished."""
    as_completed = import_extra("distributed", "dask", "a sweep on a Dask cluster").as_completed
    sweep_id = uuid.uuid4().hex[:12]
    futures = {}
    for i, (start, block_vals) in enumerate(blocks):
        fut = client.submit(remote_block, sim_blob, metric, job, block_vals, pure=False,
                            retries=_TASK_RETRIES, priority=-i, key=f"brainmass-sweep-{sweep_id}-{i}")
        futures[fut] = start
    try:
        for fut in as_completed(futures):
            yield futures[fut], fut.result()
    finally:
        pending = [f for f in futures if not f.done()]
        if pending:
            client.cancel(pending)
