"""Operator limits, the fair compute pool and per-session latest-wins, without a server."""

import gc
import re
import threading
import time
import weakref

import brainunit as u
import numpy as np
import pytest
from progress import start_and_wait_running

import brainmass_widgets as bw
from brainmass_widgets import ComputePool, Limits, Session
from brainmass_widgets._limits import physical_memory


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


def test_interactive_computations_go_before_background_ones_that_came_first():
    pool = ComputePool(1)
    order = []
    holder = pool.slot(background=True)
    held = holder.__enter__()
    threads = []
    for i, background in enumerate([True, True, False, False]):
        t = threading.Thread(target=lambda i=i, b=background: (pool.acquire(background=b), order.append(i),
                                                                pool.release(background=b)))
        t.start()
        threads.append(t)
        while pool.waiting < i + 1:
            time.sleep(0.005)
    assert held.pause()  # a sweep between blocks: both sliders, then the waiting sweeps, then it
    assert order == [2, 3, 0, 1]
    holder.__exit__(None, None, None)
    for t in threads:
        t.join(5)
    assert pool.running == 0 and pool.waiting == 0


def test_background_work_leaves_a_slot_for_interactive_work():
    pool = ComputePool(3)
    assert pool.acquire(background=True) and pool.acquire(background=True)
    third = []
    t = threading.Thread(target=lambda: third.append(pool.acquire(background=True)))
    t.start()
    time.sleep(0.2)
    assert third == [] and pool.running == 2 and pool.waiting == 1  # the third sweep waits
    assert pool.acquire()  # a slider's run does not
    pool.release()
    pool.release(background=True)
    t.join(5)
    assert third == [True] and pool.running == 2
    pool.release(background=True)
    pool.release(background=True)
    assert pool.running == 0


def test_more_tabs_of_one_client_do_not_get_around_the_job_limit(limited):
    limited(max_session_jobs=1, max_client_jobs=2)
    tabs = [Session("10.0.0.7") for _ in range(3)]
    sweeps = [bw.SweepController("HopfStep", axes={"a": (-0.5, 1.5, 256)}, duration=2000.0, chunk_size=4,
                                 session=tab) for tab in tabs]
    elsewhere = bw.SweepController("HopfStep", axes={"a": (-0.5, 1.5, 256)}, duration=2000.0, chunk_size=4,
                                   session=Session("10.0.0.8"))
    for sweep in [*sweeps, elsewhere]:
        start_and_wait_running(sweep)
    oldest = sweeps[0]
    assert oldest.wait(60) and oldest.status.kind == "cancelled"
    assert "a newer computation of another tab from your address (--max-client-jobs) took over" in \
        oldest.status.message
    assert [s.status.kind for s in (*sweeps[1:], elsewhere)] == ["running"] * 3
    for sweep in [*sweeps, elsewhere]:
        sweep.cancel()
        assert sweep.wait(60)
    assert all(tab.running == 0 for tab in tabs)


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



def test_request_limits_are_validated_and_their_messages_name_the_product_and_the_option():
    with pytest.raises(ValueError, match="max_request_mb must be None or an integer >= 1; got 0"):
        Limits(max_request_mb=0)
    lim = Limits(max_request_mb=1, max_request_work=1000)
    lim.check_memory("a request", ((2**18, "steps"),))
    with pytest.raises(ValueError, match=r"^a request holds 262,145 steps x 4 bytes = 1.0 MiB; this server "
                                         r"allows at most 1.0 MiB per request \(--max-request-mb\)$"):
        lim.check_memory("a request", ((2**18 + 1, "steps"),))
    with pytest.raises(ValueError, match=r"^a sweep integrates 11 points x 100 steps x 1 regions = 1,100 "
                                         r"region-steps; this server allows at most 1,000 per request "
                                         r"\(--max-request-work\)$"):
        lim.check_work("a sweep", ((11, "points"), (100, "steps"), (1, "regions")))
    lim.check_work("a sweep", ((10, "points"), (100, "steps")))
    Limits().check_memory("a request", ((10**12, "steps"), (10**6, "regions")))
    Limits().check_work("a request", ((10**12, "steps"), (10**6, "regions")))


def test_the_served_request_bounds_derive_from_the_machines_memory(monkeypatch):
    served = Limits.served()
    assert served.max_request_mb == physical_memory() // 4 // 2**20 > 0
    assert served.max_request_work == 2_000_000_000
    sizes = {"SC_PAGE_SIZE": 4096, "SC_PHYS_PAGES": 2**20}
    monkeypatch.setattr("os.sysconf", sizes.__getitem__)
    assert physical_memory() == 4 * 2**30 and Limits.served().max_request_mb == 1024


def test_a_large_noise_ensemble_passes_each_limit_but_not_the_request_memory(limited):
    per_number = dict(max_steps=2_000_000, max_regions=512, max_batch=256)
    limited(**per_number)
    m = bw.ModelController("HopfStep", autorun=False)
    m.configure(noise=True, batch_size=256, in_size=512)
    m.configure(duration=2000.0)
    limited(**per_number, max_request_mb=6 * 1024)
    m = bw.ModelController("HopfStep", noise=True, batch_size=256, in_size=512)
    assert m.wait(300) and m.computations == 1 and m.status.kind == "done"
    asked = (r"^a run of 2000 ms at dt = 0.1 ms holds 40,000 steps \(20,000 kept \+ 20,000 recorded at "
             r"once\) x 512 regions x 256 runs x 2 monitors x 4 bytes = 39.1 GiB; ")
    with pytest.raises(ValueError, match=asked + r"this server allows at most 6.0 GiB per request "
                                                 r"\(--max-request-mb\)$"):
        m.configure(duration=2000.0)
    assert m.computations == 1 and m.status.kind == "error" and "--max-request-mb" in m.status.message
    assert float(m.options["duration"].to_decimal(u.ms)) == 200.0


def test_a_run_under_the_request_bounds_computes_what_the_engine_computes(limited):
    limited(max_request_mb=1, max_request_work=4000 * 4 * 3)
    m = bw.ModelController("HopfStep", in_size=4, batch_size=3, noise=True, duration=400.0, seed=7)
    assert m.wait(120) and m.status.kind == "done" and m.computations == 1
    plain = bw.CachedSimulator("HopfStep", in_size=4, noise=True).run(
        400.0 * u.ms, monitors=["x", "y"], batch_size=3, seed=7)
    np.testing.assert_array_equal(np.asarray(m.result["x"]), np.asarray(plain["x"]))
    with pytest.raises(ValueError, match=r"integrates 4,001 steps x 4 regions x 3 runs = 48,012 region-"):
        m.configure(duration=400.1)
    assert m.computations == 1


@pytest.mark.parametrize("in_size", [-1, 0, 2.5, True, (2, 0), ()])
def test_in_size_must_be_a_positive_integer_or_a_tuple_of_them(in_size):
    m = bw.ModelController("HopfStep", autorun=False)
    asked = re.escape(repr(in_size))
    with pytest.raises(ValueError, match=r"in_size must be an integer >= 1.*; got " + asked):
        m.configure(in_size=in_size)
    assert m.options["in_size"] == 1 and m.status.kind == "error"
    m.configure(in_size=(2, 3))
    assert m.options["in_size"] == (2, 3)


def test_a_network_coupling_sweep_is_refused_by_its_block_memory_before_computing(limited):
    per_number = dict(max_steps=2_000_000, max_regions=512, max_grid_points=65_536)
    limited(**per_number)
    weights = np.random.default_rng(0).random((256, 256))
    np.fill_diagonal(weights, 0.0)
    n = bw.NetworkController("HopfStep", connectome=weights, duration=20_000.0, sweep=("k", 0.0, 1.0, 8),
                             autorun=False)
    limited(**per_number, max_request_mb=6 * 1024)
    block = r"8 points per block x 200,000 steps x 256 regions x 5 copies x 4 bytes"
    kept = r"8 points x 256 regions x 2 values x 4 bytes = 7.6 GiB"
    with pytest.raises(ValueError, match=r"^a sweep of k over 8 points of 20000 ms at dt = 0.1 ms holds "
                                         + block + r" \+ " + kept):
        n.sweep()
    assert n.status.kind == "error" and "--max-request-mb" in n.status.message
    assert n.wait(10) and n.sweep_result is None and n.computations == 0
    limited(max_request_work=10**8)
    with pytest.raises(ValueError, match=r"integrates 8 points x 200,000 steps x 256 regions = 409,600,000"):
        n.sweep()
    limited(max_request_work=10**7)
    with pytest.raises(ValueError, match=r"a network run of 20000 ms at dt = 0.1 ms integrates 200,000 steps "
                                         r"x 256 regions = 51,200,000 region-steps"):
        n.configure(seed=1)
    assert n.computations == 0


def test_a_small_network_sweep_under_the_bounds_runs(limited):
    limited(max_request_mb=64, max_request_work=8 * 1000 * 8)
    n = bw.NetworkController("HopfStep", duration=100.0, transient=20.0, sweep=("k", 0.0, 1.0, 8),
                             autorun=False)
    n.sweep()
    assert n.wait(120) and n.status.kind == "done", n.status
    assert np.isfinite(n.sweep_result).all()
    limited(max_request_work=8 * 1000 * 8 - 1)
    with pytest.raises(ValueError, match="--max-request-work"):
        n.sweep()


def test_sweeps_trajectories_and_fits_are_refused_by_their_request_bounds(limited):
    limited(max_request_work=10**8)
    s = bw.SweepController("HopfStep", axes={"a": (0.0, 1.0, 1000)})
    s.configure(duration=10_000.0)
    with pytest.raises(ValueError, match=r"a sweep of 1,000 points of 10001 ms at dt = 0.1 ms integrates "
                                         r"1,000 points x 100,010 steps x 1 regions = 100,010,000 region-"):
        s.configure(duration=10_001.0)
    limited(max_request_mb=1)
    with pytest.raises(ValueError, match=r"holds 256 points per block x 2,000 steps x 1 regions x 5 "
                                         r"copies x 4 bytes \+ 1,000 points x 1 regions x 2 values x 4 "
                                         r"bytes = 9.8 MiB"):
        s.configure(duration=200.0, chunk_size=256)
    s.configure(duration=200.0, chunk_size=16)
    p = bw.PhasePlaneController("HopfStep", autorun=False)
    with pytest.raises(ValueError, match=r"a trajectory of 40000 ms at dt = 0.1 ms holds 450,000 steps "
                                         r"\(400,000 kept \+ 50,000 recorded at once\) x 2 monitors x 4 "):
        p.configure(duration=40_000.0)
    limited(max_request_work=10**8)
    f = bw.FitController("HopfStep", network=True)
    f.configure(n_steps=2000)
    with pytest.raises(ValueError, match=r"^a grad fit to a run of 500 ms at dt = 0.1 ms integrates 5,000 "
                                         r"steps x 8 regions x 10,000 gradient steps = 400,000,000 "
                                         r"region-steps; this server allows at most 100,000,000 per request"):
        f.configure(n_steps=10_000)
    with pytest.raises(ValueError, match=r"integrates 5,000 steps x 8 regions x 2,000 generations x 8 "
                                         r"candidates"):
        f.configure(backend="nevergrad")
    limited(max_request_mb=1)
    with pytest.raises(ValueError, match=r"holds 5,000 steps x 8 regions x 40 values kept for the gradient "
                                         r"\(for_loop\) x 4 bytes = 6.1 MiB"):
        f.configure(n_steps=10)
    assert f.computations == 0 and f.options["n_steps"] == 2000
