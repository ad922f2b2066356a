"""Sweeps on several JAX devices and on a Dask cluster, and saved sweeps."""

import io
import os
import signal
import subprocess
import sys
import textwrap
import time

import brainunit as u
import numpy as np
import pytest

import brainmass_widgets as bw
from brainmass_widgets import _scaleout

KW = dict(duration=150 * u.ms, params={"w": 0.3}, init={"x": 0.5}, transient=50 * u.ms, metric="amplitude")
GRID = {"a": np.linspace(-0.5, 1.0, 13), "w": np.linspace(0.1, 1.0, 7)}


@pytest.fixture(scope="module")
def local():
    return bw.CachedSimulator("HopfStep").sweep(GRID, **KW)


def test_sharded_sweep_on_four_forced_cpu_devices_equals_the_single_device_one():
    script = textwrap.dedent("""
        import brainunit as u, jax, numpy as np
        import brainmass_widgets as bw
        assert len(jax.devices()) == 4, jax.devices()
        sim = bw.CachedSimulator("HopfStep")
        kw = dict(duration=150 * u.ms, init={"x": 0.5}, transient=50 * u.ms)
        grid = {"a": np.linspace(-0.5, 1.0, 13), "w": np.linspace(0.1, 1.0, 7)}
        one = sim.sweep(grid, chunk_size=6, **kw)
        four = sim.sweep(grid, chunk_size=6, devices="all", **kw)
        np.testing.assert_allclose(four.values, one.values, rtol=2e-6, atol=1e-7)
        assert four.values.shape == (13, 7) and four.executor == "4 CPU devices", four.executor
        # blocks of 6 are rounded up to 8 (a multiple of 4), each split 2 points per device
        progs = [p for key, p in sim._cache._entries.items() if key[4] == "sweep" and key[-1]]
        assert len(progs) == 1 and [k[5] for k in sim._cache._entries if k[4] == "sweep" and k[-1]] == [8]
        compiled, = progs[0].executables()
        spans = {len(s.device_set) for s in jax.tree.leaves(compiled.input_shardings[0][1])}
        assert spans == {4}, compiled.input_shardings
        two = sim.sweep(grid, devices=2, **kw)
        np.testing.assert_allclose(two.values, one.values, rtol=2e-6, atol=1e-7)
        try:
            sim.sweep(grid, devices=5, **kw)
        except ValueError as exc:
            assert "devices=5" in str(exc) and "4 JAX device" in str(exc), exc
        else:
            raise AssertionError("devices=5 accepted")
        c = bw.SweepController("HopfStep", axes={"a": (-0.5, 1.0, 9)}, executor="devices")
        assert set(c.executors) == {"local", "devices"}
        c.run(); c.wait(120)
        assert c.status.kind == "done" and "on 4 CPU devices" in c.status.message, c.status
        print("sharded OK")
    """)
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0 and "sharded OK" in out.stdout, out.stderr[-4000:]


def test_a_worker_keeps_its_most_recently_used_simulators(monkeypatch):
    """Capacity 2: simulators 1 and 2 built, 1 used again, 3 built: 2 is dropped, 1 kept."""
    monkeypatch.setattr(_scaleout, "_WORKER_SIMS", bw.CompileCache(maxsize=2))
    blobs = {k: _scaleout.pack(("HopfStep", {"dt": k * 0.01 * u.ms})) for k in (1, 2, 3)}
    first = {k: _scaleout._worker_sim(blobs[k]) for k in (1, 2)}
    assert _scaleout._worker_sim(blobs[1]) is first[1]
    _scaleout._worker_sim(blobs[3])
    assert _scaleout._worker_sim(blobs[1]) is first[1]
    assert _scaleout._worker_sim(blobs[2]) is not first[2]


def test_devices_argument_is_validated():
    sim = bw.CachedSimulator("HopfStep")
    with pytest.raises(ValueError, match="'everything'"):
        sim.sweep(GRID, devices="everything", **KW)
    with pytest.raises(ValueError, match="devices=3 but this process has 1"):
        sim.sweep(GRID, devices=3, **KW)
    one = sim.sweep(GRID, devices=1, **KW)
    assert one.executor == "1 CPU device"


def test_dask_sweep_equals_the_local_one_and_workers_reuse_their_programs(dask_client, local):
    sim = bw.CachedSimulator("HopfStep")
    seen = []
    res = sim.sweep(GRID, client=dask_client, chunk_size=8, on_chunk=lambda d, t, r: seen.append(
        (d, int(np.isfinite(r.values).sum()))), **KW)
    np.testing.assert_allclose(res.values, local.values, rtol=2e-6, atol=1e-7)
    assert res.done == res.total == 91 and not res.cancelled
    assert res.executor.startswith("Dask cluster at tcp://127.0.0.1:") and "(2 workers)" in res.executor
    assert [d for d, _ in seen] == sorted(d for d, _ in seen) and seen[-1][0] == 91 and len(seen) == 12
    assert all(d == finite for d, finite in seen)
    assert 1 <= res.compiles <= 2
    again = sim.sweep({k: v + 0.01 for k, v in GRID.items()}, client=dask_client, chunk_size=8, **KW)
    assert again.compiles == 0
    ref = bw.CachedSimulator("HopfStep").sweep({k: v + 0.01 for k, v in GRID.items()}, **KW)
    np.testing.assert_allclose(again.values, ref.values, rtol=2e-6, atol=1e-7)


def test_dask_sweep_of_a_network_with_a_closure_metric_equals_the_local_one(dask_client):
    net = bw.NetworkModel("HopfStep")
    sim = bw.CachedSimulator(net)
    scale = 2.0

    def doubled_std(trace):
        return scale * trace.std(axis=0)

    grid = {"k": np.linspace(0.0, 1.0, 4), "a": np.array([-0.2, 0.3])}
    kw = dict(duration=200 * u.ms, transient=50 * u.ms, metric=doubled_std)
    ref = sim.sweep(grid, **kw)
    res = sim.sweep(grid, client=dask_client, chunk_size=2, **kw)
    assert res.values.shape == (4, 2, 8)
    np.testing.assert_allclose(res.values, ref.values, rtol=1e-5, atol=1e-6)
    again = sim.sweep(grid, client=dask_client, chunk_size=2, **kw)
    assert again.compiles == 0


def test_a_worker_killed_mid_sweep_still_gives_the_complete_ordered_result(dask_client, local):
    sim = bw.CachedSimulator("HopfStep")
    sim.sweep(GRID, client=dask_client, chunk_size=4, **KW)
    pids = dask_client.run(os.getpid)
    killed = []

    def kill_one(done, total, partial):
        if not killed:
            pid = next(iter(pids.values()))
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    res = sim.sweep(GRID, client=dask_client, chunk_size=4, on_chunk=kill_one, **KW)
    assert killed
    assert res.done == res.total and not res.cancelled
    np.testing.assert_allclose(res.values, local.values, rtol=2e-6, atol=1e-7)
    dask_client.wait_for_workers(2, timeout=120)


def test_cancel_cancels_the_pending_dask_tasks(dask_client):
    sim = bw.CachedSimulator("HopfStep")
    grid = {"a": np.linspace(-0.5, 1.0, 256)}
    res = sim.sweep(grid, client=dask_client, chunk_size=4, duration=2000 * u.ms,
                    on_chunk=lambda d, t, r: False)
    assert res.cancelled and res.done == 4 and np.isnan(res.values).sum() == 252

    def ours(dask_scheduler):
        return [str(k) for k in dask_scheduler.tasks if str(k).startswith("brainmass-sweep")]

    deadline = time.monotonic() + 30
    while dask_client.run_on_scheduler(ours) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert dask_client.run_on_scheduler(ours) == []


def test_client_and_devices_are_validated(dask_client):
    sim = bw.CachedSimulator("HopfStep")
    with pytest.raises(ValueError, match="client must be a dask.distributed.Client"):
        sim.sweep(GRID, client="tcp://127.0.0.1:8786", **KW)
    with pytest.raises(ValueError, match="not both"):
        sim.sweep(GRID, client=dask_client, devices="all", **KW)


def test_saved_sweep_reopens_with_axes_metadata_and_the_nan_of_a_cancelled_sweep(tmp_path):
    sim = bw.CachedSimulator("HopfStep", in_size=2)
    res = sim.sweep(GRID, chunk_size=16, on_chunk=lambda d, t, r: d < 32, **KW)
    assert res.cancelled and res.done == 32
    path = tmp_path / "sweep.npz"
    res.save(path)
    back = bw.SweepResult.load(path)
    np.testing.assert_array_equal(back.values, res.values)
    assert np.isnan(back.values).sum() == (91 - 32) * 2
    for name in GRID:
        np.testing.assert_array_equal(back.axes[name], res.axes[name])
    assert (back.model, back.metric, back.monitor, back.unit, back.done, back.total, back.cancelled) == (
        "HopfStep", "amplitude", "x", None, 32, 91, True)
    np.testing.assert_array_equal(back.diverged, res.diverged)


def test_loading_refuses_files_that_are_not_saved_sweeps(tmp_path):
    bad = tmp_path / "object.npz"
    np.savez(bad, values=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="not a saved sweep"):
        bw.SweepResult.load(bad)
    with pytest.raises(ValueError, match="not a saved sweep"):
        bw.SweepResult.load(io.BytesIO(b"not a zip file"))
    other = tmp_path / "other.npz"
    np.savez(other, values=np.zeros(3))
    with pytest.raises(ValueError, match="not a saved sweep"):
        bw.SweepResult.load(other)
