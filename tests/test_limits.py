"""Operator limits, the fair compute pool and per-session latest-wins, without a server."""

import gc
import threading
import time
import weakref

import brainunit as u
import numpy as np
import pytest
from progress import start_and_wait_running

import brainmass_widgets as bw
from brainmass_widgets import ComputePool, Limits, Session


@pytest.fixture
def limited():
    """Put limits in force for one test, lifting them afterwards."""

    def put(**kw):
        bw.set_limits(Limits(**kw))

    yield put
    bw.set_limits(Limits())


def test_limits_are_validated_and_name_the_limit_and_the_request():
    with pytest.raises(ValueError, match="max_steps must be None or an integer >= 1; got 0"):
        Limits(max_steps=0)
    lim = Limits(max_steps=1000, max_grid_points=10)
    lim.check_steps(1000)
    with pytest.raises(ValueError, match=r"the run needs 1,001 integration steps; this server allows at most "
                                         r"1,000 \(--max-steps\)"):
        lim.check_steps(1001)
    with pytest.raises(ValueError, match=r"the sweep has 11 grid points; .* 10 \(--max-grid-points\)"):
        lim.check_grid(11)
    Limits().check_steps(10**12)
    assert Limits.served().max_session_jobs == 1


def test_controllers_refuse_requests_over_the_limits_and_keep_their_state(limited):
    limited(max_steps=20_000, max_regions=8, max_grid_points=100, max_batch=4)
    m = bw.ModelController("HopfStep", autorun=False)
    with pytest.raises(ValueError, match=r"a run of 3000 ms at dt = 0.1 ms needs 30,000 integration steps; "
                                         r"this server allows at most 20,000 \(--max-steps\)"):
        m.configure(duration=3000.0)
    assert m.status.kind == "error" and "--max-steps" in m.status.message
    assert float(m.options["duration"].to_decimal(u.ms)) == 200.0
    with pytest.raises(ValueError, match="the model has 16 regions"):
        m.configure(in_size=16)
    with pytest.raises(ValueError, match=r"the ensemble has 5 runs \(batch\)"):
        m.configure(batch_size=5)
    m.configure(duration=1000.0, in_size=8, batch_size=4)
    s = bw.SweepController("HopfStep")
    with pytest.raises(ValueError, match=r"the sweep has 200 grid points; this server allows at most 100"):
        s.configure(axes={"a": (0.0, 1.0, 20), "w": (0.1, 1.0, 10)})
    with pytest.raises(ValueError, match="each point's run of 5000 ms"):
        s.configure(duration=5000.0)
    p = bw.PhasePlaneController("HopfStep", autorun=False)
    with pytest.raises(ValueError, match="a trajectory of 2500 ms"):
        p.configure(duration=2500.0)
    n = bw.NetworkController("HopfStep", autorun=False)
    with pytest.raises(ValueError, match="the model has 9 regions"):
        n.configure(connectome=np.ones((9, 9)) - np.eye(9))
    with pytest.raises(ValueError, match="the sweep has 101 grid points"):
        n.configure(sweep=("k", 0.0, 1.0, 101))


def test_the_pool_admits_in_arrival_order_and_a_paused_slot_lets_waiters_go_first():
    pool = ComputePool(1)
    order = []
    first = pool.slot()
    held = first.__enter__()
    threads = []
    for i in range(4):
        t = threading.Thread(target=lambda i=i: (pool.acquire(), order.append(i), pool.release()))
        t.start()
        threads.append(t)
        while pool.waiting < i + 1:
            time.sleep(0.005)
    assert held.pause() and order == [0, 1, 2, 3]
    first.__exit__(None, None, None)
    for t in threads:
        t.join(5)
    assert pool.running == 0 and pool.waiting == 0


def test_a_waiting_computation_gives_up_when_superseded():
    pool = ComputePool(1)
    pool.acquire()
    gone = threading.Event()
    result = []
    t = threading.Thread(target=lambda: result.append(pool.acquire(gone.is_set)))
    t.start()
    time.sleep(0.1)
    gone.set()
    t.join(5)
    pool.release()
    assert result == [False] and pool.running == 0 and pool.waiting == 0
    with pytest.raises(ValueError, match="slots must be an integer >= 1"):
        ComputePool(0)


def test_a_session_runs_one_computation_and_the_newest_wins(limited):
    limited(max_session_jobs=1)
    session = Session()
    sweep = bw.SweepController("HopfStep", axes={"a": (-0.5, 1.5, 256)}, duration=2000.0, chunk_size=4,
                               session=session)
    model = bw.ModelController("HopfStep", session=session, autorun=False)
    start_and_wait_running(sweep)
    model.set(a=0.4)
    model.run()
    assert model.wait(120) and sweep.wait(120)
    assert model.status.kind == "done"
    assert sweep.status.kind == "cancelled" and "a newer computation of this session" in sweep.status.message
    assert sweep.result.done < 256 and session.running == 0
    other = bw.SweepController("HopfStep", axes={"a": (-0.5, 1.5, 8)}, duration=100.0, session=Session())
    other.run()
    model.set(a=0.5)
    model.run()
    assert other.wait(120) and other.status.kind == "done"


def test_one_sessions_long_sweep_does_not_starve_another_sessions_run():
    pool = bw.compute_pool()
    slots = pool.slots
    pool.resize(1)
    try:
        sweep = bw.SweepController("HopfStep", axes={"a": (-0.5, 1.5, 512)}, duration=5000.0, chunk_size=4,
                                   session=Session())
        model = bw.ModelController("HopfStep", session=Session(), autorun=False)
        model.set(a=0.3)
        model.run()
        assert model.wait(120)
        start_and_wait_running(sweep)
        t0 = time.perf_counter()
        model.set(a=0.35)
        model.run()
        assert model.wait(60)
        waited = time.perf_counter() - t0
        assert model.status.kind == "done" and sweep.status.kind == "running", (model.status, sweep.status)
        assert sweep.result.done < 512
        sweep.cancel()
        assert sweep.wait(60)
        per_block = sweep.status.elapsed / max(1, sweep.result.done // 4)
        assert waited < 10 * per_block + 1.0, (waited, per_block)
    finally:
        pool.resize(slots)


def test_the_compile_cache_stays_bounded_under_many_distinct_shapes():
    cache = bw.CompileCache(maxsize=4)
    sim = bw.CachedSimulator("HopfStep", cache=cache)
    sim.run(1.0 * u.ms)
    first = weakref.ref(next(iter(cache._entries.values())))
    for n in range(2, 32):
        sim.run(n * 0.1 * u.ms)
        assert cache.info()["entries"] <= 4
    gc.collect()
    assert first() is None, "an evicted program is still referenced"
    assert cache.info()["compiles"] == 31


def test_an_uploaded_sweep_file_over_the_size_limit_is_refused_unread():
    c = bw.SweepController("HopfStep")
    with pytest.raises(ValueError, match=r"the file has 67,108,865 bytes; at most 67,108,864 are accepted"):
        c.load(bytes(64 * 2**20 + 1))
    assert c.status.kind == "error"
