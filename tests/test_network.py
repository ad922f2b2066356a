"""Networks: equal to plain brainmass.Network + Simulator, FC and synchrony, connectome input."""

import io

import brainmass
import brainstate
import brainunit as u
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.signal
from attacks import BOMB_BYTES, claiming, lying_npz, peak_bytes, pickled_npy, zip_bomb

import brainmass_widgets as bw
from brainmass_widgets._code import network_script
from brainmass_widgets._network import MAX_UPLOAD_BYTES, order_parameter


def mag(x):
    return np.asarray(u.get_magnitude(x))


def plain_hopf_network(k, a, sigma, speed, seed, duration):
    """The same network written by hand with brainmass only."""
    conn = brainmass.datasets.load_dataset("example_connectome")
    brainstate.environ.set(dt=0.1 * u.ms)
    node = brainmass.HopfStep(8, a=a, w=0.2, beta=1.0,
                              noise_x=brainmass.OUProcess(8, sigma=sigma, tau=10.0 * u.ms),
                              noise_y=brainmass.OUProcess(8, sigma=sigma, tau=10.0 * u.ms))
    net = brainmass.Network(node, conn=conn.weights, distance=conn.distances, speed=speed * u.mm / u.ms,
                            coupled_var="x", k=k)
    brainstate.random.seed(seed)
    brainstate.nn.init_all_states(net)
    net.node.x.value = u.math.full_like(net.node.x.value, 0.5)
    out = brainmass.Simulator(net, dt=0.1 * u.ms).run(duration, monitors={"x": lambda m: m.node.x.value},
                                                      init_states=False)
    return mag(out["x"])


def test_network_run_equals_plain_brainmass_network_and_simulator():
    net = bw.NetworkModel("HopfStep", speed=4.0, noise=True)
    sim = bw.CachedSimulator(net)
    res = sim.run(80 * u.ms, params={"k": 0.7, "a": -0.1, "noise_sigma": 0.03}, seed=5)
    ref = plain_hopf_network(k=0.7, a=-0.1, sigma=0.03, speed=4.0, seed=5, duration=80 * u.ms)
    assert res["x"].shape == (800, 8)
    np.testing.assert_allclose(mag(res["x"]), ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("node, params, speed", [
    ("WilsonCowanStep", {"k": 0.3}, None),
    ("JansenRitStep", {"k": 0.1}, 3.0),
    ("FitzHughNagumoStep", {"k": 0.2}, 5.0),
])
def test_network_script_reproduces_the_run_with_drives(node, params, speed):
    net = bw.NetworkModel(node, speed=speed)
    sim = bw.CachedSimulator(net)
    res = sim.run(40 * u.ms, params=params, seed=2, monitors=[net.coupled_var])
    script = network_script(net, dt=sim.dt, duration=40 * u.ms, params={**sim.adapter.defaults(), **params},
                            init=dict(net.spec.init), monitors=(net.coupled_var,), seed=2, example=True)
    assert "brainmass_widgets" not in script
    namespace = {}
    exec(script, namespace)
    np.testing.assert_allclose(mag(namespace["result"][net.coupled_var]), mag(res[net.coupled_var]),
                               rtol=1e-5, atol=1e-5)


def test_uncoupled_regions_are_independent_and_fc_rises_with_k():
    sim = bw.CachedSimulator(bw.NetworkModel("HopfStep", speed=5.0, noise=True))
    sw = sim.sweep({"k": [0.0, 0.5, 1.0, 2.0]}, duration=2000 * u.ms, transient=200 * u.ms,
                   params={"a": -0.05, "noise_sigma": 0.02}, metric="fc")
    fc = sw.values
    assert abs(fc[0]) < 0.1
    assert fc[0] < fc[1] < fc[2] < fc[3]
    # the sweep's metric is the mean off-diagonal Pearson r of the same run
    res = sim.run(2000 * u.ms, params={"k": 1.0, "a": -0.05, "noise_sigma": 0.02})
    c = np.corrcoef(mag(res["x"])[2000:].T)
    assert fc[2] == pytest.approx(c[~np.eye(8, dtype=bool)].mean(), abs=1e-4)


def test_initial_state_puts_hopf_regions_at_independent_phases():
    net = bw.NetworkModel("HopfStep")
    start = net.initial_state(7)
    np.testing.assert_allclose(np.hypot(start["x"], start["y"]), 0.5, atol=1e-4)  # the catalogue's radius
    assert len(np.unique(np.round(np.arctan2(start["y"], start["x"]), 3))) == net.n
    np.testing.assert_array_equal(net.initial_state(7)["y"], start["y"])
    assert not np.allclose(net.initial_state(8)["x"], start["x"])
    # random starts alone, without noise or coupling, decorrelate limit cycles (a > 0): the mean FC is
    # that of fixed phase lags, (N R^2 - 1) / (N - 1), 0 on average; identical starts give 1
    res = bw.CachedSimulator(net).run(500 * u.ms, params={"k": 0.0, "a": 0.25}, init=start,
                                      transient=100 * u.ms)
    c = np.corrcoef(mag(res["x"]).T)
    assert abs(c[~np.eye(8, dtype=bool)].mean()) < 0.3
    assert bw.NetworkModel("WilsonCowanStep").initial_state(7) == dict(bw.model_spec("WilsonCowanStep").init)
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        net.initial_state(-1)


def test_order_parameter():
    t = np.linspace(0, 1, 2000, endpoint=False)
    same = np.stack([np.sin(2 * np.pi * 10 * t)] * 4, axis=1)
    assert np.median(order_parameter(same)) == pytest.approx(1.0, abs=1e-6)
    # two pairs in anti-phase cancel
    anti = np.stack([np.sin(2 * np.pi * 10 * t), np.sin(2 * np.pi * 10 * t + np.pi)] * 2, axis=1)
    assert np.median(order_parameter(anti)) < 1e-3
    rng = np.random.default_rng(0)
    assert np.mean(order_parameter(rng.standard_normal((4000, 50)))) < 0.25


def test_order_parameter_of_a_quarter_period_lag():
    """sin and cos: phases pi/2 apart at every instant, R = |1 + i| / 2 = cos(pi/4) throughout (a
    phase read from the sign of x alone would flip between 0 and 1)."""
    t = np.linspace(0, 1, 2000, endpoint=False)
    lag = np.stack([np.sin(2 * np.pi * 10 * t), np.cos(2 * np.pi * 10 * t)], axis=1)
    phase = np.angle(scipy.signal.hilbert(lag - lag.mean(axis=0), axis=0))
    ref = np.abs(np.mean(np.exp(1j * phase), axis=1))
    np.testing.assert_allclose(ref, np.cos(np.pi / 4), atol=1e-6)
    np.testing.assert_allclose(order_parameter(lag), ref, atol=1e-6)
    np.testing.assert_allclose(np.asarray(order_parameter(jnp.asarray(lag))), ref, atol=1e-5)


def test_parameter_changes_reuse_the_program_and_speed_is_structural():
    cache = bw.CompileCache(16)
    sim = bw.CachedSimulator(bw.NetworkModel("HopfStep", speed=5.0), cache=cache)
    sim.run(20 * u.ms, params={"k": 0.1})
    compiles = cache.info()["compiles"]
    for k in (0.2, 1, np.float64(1.5)):
        sim.run(20 * u.ms, params={"k": k, "a": 0.1})
    assert cache.info()["compiles"] == compiles
    bw.CachedSimulator(bw.NetworkModel("HopfStep", speed=2.0), cache=cache).run(20 * u.ms)
    assert cache.info()["compiles"] == compiles + 1


def test_connectome_files_and_arrays():
    rng = np.random.default_rng(1)
    w = rng.uniform(0, 1, (5, 5))
    buf = io.BytesIO()
    np.savez(buf, weights=w, distances=10 * w, labels=np.array(list("abcde")))
    c = bw.load_connectome(buf.getvalue(), filename="mine.npz")
    np.testing.assert_array_equal(c.weights, w)
    assert c.labels == tuple("abcde") and c.distances.shape == (5, 5)
    c = bw.load_connectome(b"A,B,C\n0,1,2\n1,0,3\n2,3,0\n", filename="w.csv")
    assert c.labels == ("A", "B", "C") and c.weights[1, 2] == 3
    npy = io.BytesIO()
    np.save(npy, w)
    assert bw.load_connectome(npy.getvalue(), filename="w.npy").n == 5
    res = bw.CachedSimulator(bw.NetworkModel("HopfStep", connectome=c, speed=None)).run(10 * u.ms)
    assert res["x"].shape == (100, 3)


@pytest.mark.parametrize("source, kwargs, message", [
    (np.ones((3, 4)), {}, r"square \(N, N\).*\(3, 4\)"),
    (np.array([[0, np.nan], [1, 0]]), {}, r"weights must be finite; entry \(0, 1\) is nan"),
    (-np.ones((3, 3)), {}, r"non-negative; entry \(0, 0\) is -1.0"),
    (np.ones((3, 3)), {"labels": ["a", "b"]}, "2 labels for 3 regions"),
    (np.ones((3, 3)), {"distances": np.ones((2, 2))}, r"distances must have the shape of the weights"),
    (b"a,b\n1,x\n2,3", {"filename": "w.csv"}, "every row after the header must hold numbers only"),
    (b"junk", {"filename": "w.txt"}, r"must be .npz, .npy or .csv; got 'w.txt'"),
    (b"junk", {"filename": "w.npy"}, r"w.npy is not a .npy array \(no NumPy magic string\)"),
    (pickled_npy(), {"filename": "p.npy"}, r"p.npy holds Python objects \(dtype object\)"),
    (np.array([[0, 1j], [1j, 0]]), {}, "weights must be real numbers; got complex values .* imaginary part"),
    (np.ones((2, 2)), {"distances": np.ones((2, 2)) + 0j}, "distances must be real numbers; got complex"),
    (np.array([["0", "1"], ["1", "0"]]), {}, "weights must be numbers; got dtype <U1"),
    (b"0" * (21 * 2**20), {"filename": "big.npy"}, "21.0 MiB; the limit is 20 MiB"),
])
def test_bad_connectomes_are_refused_with_the_reason(source, kwargs, message):
    with pytest.raises(ValueError, match=message):
        bw.load_connectome(source, **kwargs)


def _npy(array):
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def test_complex_connectome_files_are_refused_not_cut_to_their_real_part():
    with pytest.raises(ValueError, match="weights must be real numbers; got complex values"):
        bw.load_connectome(_npy(np.ones((3, 3)) * (1 + 1j)), filename="c.npy")
    buf = io.BytesIO()
    np.savez(buf, weights=np.ones((3, 3)), distances=np.ones((3, 3), dtype=np.complex64))
    with pytest.raises(ValueError, match=r"distances must be real numbers; got complex values \(dtype c"):
        bw.load_connectome(buf.getvalue(), filename="c.npz")


@pytest.mark.parametrize("make, filename, message", [
    (zip_bomb, "c.npz", f"c.npz: member 'weights.npy' unpacks to {BOMB_BYTES + 128:,} bytes; at most "
                        "20,971,520 are allowed"),
    (lambda: claiming((100_000, 100_000)), "c.npy",
     "c.npy: shape (100000, 100000) of float64 is 80,000,000,000 bytes; at most 20,971,520 are allowed"),
    (lambda: claiming((31_623, 31_623)), "c.npy",
     "c.npy: shape (31623, 31623) of float64 is 8,000,113,032 bytes; at most 20,971,520 are allowed"),
    (lambda: lying_npz((1000, 1000)), "c.npz",
     "c.npz: member 'weights.npy': the header claims shape (1000, 1000) of float64 (8,000,000 bytes) but the "
     "file holds 64"),
])
@pytest.mark.parametrize("as_path", [False, True])
def test_connectome_bombs_are_refused_from_their_headers(make, filename, message, as_path, tmp_path):
    data = make()
    if as_path:
        (tmp_path / filename).write_bytes(data)
        source, kwargs = tmp_path / filename, {}
    else:
        source, kwargs = data, {"filename": filename}
    peak, error = peak_bytes(lambda: bw.load_connectome(source, **kwargs))
    assert isinstance(error, ValueError) and str(error).startswith(message), error
    assert peak < 5 * 2**20


def test_a_csv_connectome_is_read_up_to_the_limit(tmp_path):
    path = tmp_path / "big.csv"
    path.write_bytes(b"0," * (MAX_UPLOAD_BYTES // 2 + 1))
    peak, error = peak_bytes(lambda: bw.load_connectome(path))
    assert str(error) == "big.csv: the file has more than 20,971,520 bytes; at most 20,971,520 are allowed"
    assert peak < 25 * 2**20


def test_bad_network_options_name_the_value():
    with pytest.raises(ValueError, match="'q' is not a state variable of HopfStep"):
        bw.NetworkModel("HopfStep", coupled_var="q")
    with pytest.raises(ValueError, match="coupling must be one of"):
        bw.NetworkModel("HopfStep", coupling="magnetic")
    with pytest.raises(ValueError, match="speed must be a positive number"):
        bw.NetworkModel("HopfStep", speed=-1.0)
    with pytest.raises(ValueError, match="KuramotoNetwork is a network itself"):
        bw.NetworkModel("KuramotoNetwork")
