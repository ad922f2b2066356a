import brainmass
import brainstate
import braintools
import brainunit as u
import jax
import numpy as np
import pytest

import brainmass_widgets as bw

DT = 0.1 * u.ms


def plain(model, duration, monitors, dt=DT, seed=None, inputs=None, **kw):
    """The same run through plain brainmass."""
    if seed is not None:
        brainstate.random.seed(seed)
    return brainmass.Simulator(model, dt=dt).run(duration, monitors=monitors, inputs=inputs, **kw)


def mag(x):
    return np.asarray(u.get_magnitude(x))


def assert_same(ours, ref, monitors):
    assert set(ours) == set(ref)
    for m in [*monitors, "ts"]:
        assert np.shape(ours[m]) == np.shape(ref[m]), m
        assert u.get_unit(ours[m]) == u.get_unit(ref[m]), m
        np.testing.assert_allclose(mag(ours[m]), mag(ref[m]), rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- equals brainmass


def test_hopf_equals_plain_brainmass():
    sim = bw.CachedSimulator("HopfStep", in_size=3, dt=DT)
    ours = sim.run(30 * u.ms, params={"a": 0.25, "w": 0.3}, monitors=["x", "y"], init={"x": 0.5})
    node = brainmass.HopfStep(3, a=0.25, w=0.3, init_x=braintools.init.Constant(0.5))
    assert_same(ours, plain(node, 30 * u.ms, ["x", "y"]), ["x", "y"])
    assert ours.diverged is None


def test_quantity_params_and_drive_equal_plain_brainmass():
    sim = bw.CachedSimulator("JansenRitStep", dt=DT)
    ours = sim.run(200 * u.ms, params={"Ae": 3.5 * u.mV, "be": 0.09 / u.ms, "E_inp": 180.0},
                   monitors=["E", "I"], transient=20 * u.ms, sample_every=4)
    node = brainmass.JansenRitStep(1, Ae=3.5 * u.mV, be=90 * u.Hz)
    ref = plain(node, 200 * u.ms, ["E", "I"], inputs=lambda i, t: (0 * u.mV, 180 * u.Hz),
                transient=20 * u.ms, sample_every=4)
    assert_same(ours, ref, ["E", "I"])
    assert u.get_unit(ours["E"]) == u.mV


@pytest.mark.parametrize("name,params", [
    ("WilsonCowanStep", {"wEE": 14.0, "rE_inp": 2.0}),
    ("FitzHughNagumoStep", {"tau": 15.0, "epsilon": 0.4}),
    ("VanDerPolStep", {"mu": 2.0}),
    ("WongWangExcInhStep", {"J_N": 0.2}),
])
def test_catalogue_models_equal_plain_brainmass(name, params):
    spec = bw.model_spec(name)
    sim = bw.CachedSimulator(name)
    ours = sim.run(50 * u.ms, params=params, monitors=list(spec.states), seed=3)
    values = {**{p.name: p.default for p in spec.params.values()}, **params}
    kwargs = {k: spec.params[k].quantity(v) for k, v in values.items() if spec.params[k].role == "param"}
    drive = {k: spec.params[k].quantity(v) for k, v in values.items() if spec.params[k].role == "input"}
    node = spec.model_class(1, **kwargs)
    ref = plain(node, 50 * u.ms, list(spec.states), dt=spec.dt, seed=3,
                inputs=(lambda i, t: tuple(drive.values())) if drive else None)
    assert_same(ours, ref, spec.states)


def test_new_parameter_values_are_not_stale():
    sim = bw.CachedSimulator("HopfStep", dt=DT)
    amps = []
    for a in (0.1, 1.0):
        res = sim.run(100 * u.ms, params={"a": a, "w": 0.3}, transient=50 * u.ms)
        node = brainmass.HopfStep(1, a=a, w=0.3, init_x=braintools.init.Constant(0.5))
        ref = plain(node, 100 * u.ms, ["x"], transient=50 * u.ms)
        np.testing.assert_allclose(mag(res["x"]), mag(ref["x"]), rtol=1e-5, atol=1e-6)
        amps.append(np.abs(mag(res["x"])).max())
    assert amps[1] > 2 * amps[0]
    assert sim.cache_info()["compiles"] == 1


def test_batch_size_equals_plain_brainmass():
    sim = bw.CachedSimulator("VanDerPolStep", in_size=2, dt=DT)
    ours = sim.run(20 * u.ms, batch_size=4, seed=5)
    ref = plain(brainmass.VanDerPolStep(2), 20 * u.ms, ["x"], seed=5, batch_size=4)
    assert ours["x"].shape == (200, 4, 2)
    assert_same(ours, ref, ["x"])


def test_factory_model_equals_catalogue_model():
    def factory(a=0.25, w=0.2):
        return brainmass.HopfStep(2, a=a, w=w, init_x=braintools.init.Constant(0.5))

    sim = bw.CachedSimulator(factory, dt=DT)
    assert sim.states == ("x", "y")
    ours = sim.run(20 * u.ms, params={"a": 0.4})
    ref = bw.CachedSimulator("HopfStep", in_size=2, dt=DT).run(20 * u.ms, params={"a": 0.4})
    np.testing.assert_allclose(mag(ours["x"]), mag(ref["x"]), rtol=1e-6)


def test_model_class_resolves_to_its_catalogue_spec():
    sim = bw.CachedSimulator(brainmass.HopfStep, dt=DT)
    assert sim.spec is bw.model_spec("HopfStep")


# ----------------------------------------------------------------------------- RNG


def test_noise_seed_reproduces_plain_brainmass_and_differs_by_seed():
    sim = bw.CachedSimulator("HopfStep", in_size=4, dt=DT, noise="x")
    p = {"a": 0.1, "noise_sigma": 0.1, "noise_tau": 10.0}
    runs = {s: mag(sim.run(50 * u.ms, params=p, seed=s)["x"]) for s in (0, 7)}
    node = brainmass.HopfStep(4, a=0.1, init_x=braintools.init.Constant(0.5),
                              noise_x=brainmass.OUProcess(4, sigma=0.1, tau=10 * u.ms))
    ref = mag(plain(node, 50 * u.ms, ["x"], seed=7)["x"])
    np.testing.assert_allclose(runs[7], ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(runs[7], mag(sim.run(50 * u.ms, params=p, seed=7)["x"]))
    assert np.abs(runs[0] - runs[7]).max() > 1e-3


def test_random_initial_state_follows_the_seed():
    sim = bw.CachedSimulator("StuartLandauStep", in_size=5)
    a, b = (mag(sim.run(1 * u.ms, seed=s)["x"])[0] for s in (1, 2))
    assert np.abs(a - b).max() > 0
    brainstate.random.seed(2)
    ref = plain(brainmass.StuartLandauStep(5), 1 * u.ms, ["x"], seed=2)
    np.testing.assert_allclose(b, mag(ref["x"])[0], rtol=1e-6)


# ----------------------------------------------------------------------------- no recompiles


def test_mixed_value_types_never_recompile(xla_compiles):
    sim = bw.CachedSimulator("FitzHughNagumoStep", dt=DT)
    sim.run(20 * u.ms)
    before, xla_before = sim.cache_info()["compiles"], xla_compiles.count
    kinds = [float, int, np.float64, np.float32, np.asarray, lambda v: v * u.ms]
    for i in range(60):
        conv = kinds[i % len(kinds)]
        res = sim.run(20 * u.ms, params={"tau": conv(10 + i), "epsilon": 0.3 + 0.01 * i})
        jax.block_until_ready(res["V"])
    assert sim.cache_info()["compiles"] == before
    assert xla_compiles.count == xla_before
    assert sim.cache_info()["hits"] >= 60


def test_quantity_in_another_unit_equals_the_same_value():
    sim = bw.CachedSimulator("FitzHughNagumoStep")
    a = sim.run(50 * u.ms, params={"tau": 0.015 * u.second})
    b = sim.run(50 * u.ms, params={"tau": 15.0})
    np.testing.assert_allclose(mag(a["V"]), mag(b["V"]), rtol=1e-6)


def test_per_region_parameter_arrays():
    sim = bw.CachedSimulator("HopfStep", in_size=3, dt=DT)
    res = sim.run(100 * u.ms, params={"a": np.array([-0.5, 0.2, 1.0])}, transient=50 * u.ms)
    amp = np.abs(mag(res["x"])).max(axis=0)
    assert amp[0] < 0.1 < amp[1] < amp[2]


def test_cache_is_bounded_lru():
    """Capacity 2: 1 and 2 in, 1 used again, 3 in: the least recently used (2) goes, 1 stays. A
    first-in-first-out cache would drop 1 instead, one emptied when full would keep only 3."""
    cache = bw.CompileCache(2)
    made = []

    def get(key):
        def make():
            made.append(key)
            return key

        return cache.get((key,), make)

    for key in (1, 2, 1, 3):
        get(key)
    assert made == [1, 2, 3]
    assert get(1) == 1 and made == [1, 2, 3]
    assert get(3) == 3 and made == [1, 2, 3]
    get(2)
    assert made == [1, 2, 3, 2]
    assert cache.info() == {"compiles": 4, "hits": 3, "entries": 2, "maxsize": 2}


def test_simulator_cache_size_bounds_its_programs_lru():
    sim = bw.CachedSimulator("HopfStep", dt=DT, cache_size=2)
    for ms in (1, 2, 1, 3, 1, 2):
        sim.run(ms * u.ms)
    assert sim.cache_info() == {"compiles": 4, "hits": 2, "entries": 2, "maxsize": 2}


def test_shared_cache_between_simulators():
    cache = bw.CompileCache(8)
    for _ in range(2):
        bw.CachedSimulator("HopfStep", dt=DT, cache=cache).run(5 * u.ms)
    assert cache.info()["compiles"] == 1 and cache.info()["hits"] == 1


# ----------------------------------------------------------------------------- stream


def test_stream_pieces_join_to_run_with_one_compile_per_chunk_shape():
    sim = bw.CachedSimulator("HopfStep", in_size=2, dt=DT, noise=True)
    kw = dict(params={"a": 0.3, "noise_sigma": 0.05}, monitors=["x", "y"], transient=7 * u.ms,
              sample_every=3, seed=11)
    full = sim.run(250 * u.ms, **kw)
    before = sim.cache_info()["compiles"]
    pieces = list(sim.stream(250 * u.ms, chunk=20 * u.ms, **kw))
    assert len(pieces) == 13 and pieces[-1].done == pieces[-1].total == 2500
    for m in ("x", "y", "ts"):
        joined = np.concatenate([mag(p[m]) for p in pieces])
        np.testing.assert_allclose(joined, mag(full[m]), rtol=1e-5, atol=1e-6)
    assert sim.cache_info()["compiles"] - before == 3  # init, 200-step chunk, 100-step remainder
    list(sim.stream(500 * u.ms, chunk=20 * u.ms, **kw))
    assert sim.cache_info()["compiles"] - before == 3


def test_stream_flags_divergence():
    sim = bw.CachedSimulator("LorenzStep", dt=0.1 * u.ms)
    pieces = list(sim.stream(50 * u.ms, chunk=1 * u.ms))
    first_bad = sim.run(50 * u.ms).diverged
    assert first_bad == 15
    assert [p.diverged for p in pieces[:3]] == [None, 15, 15] and pieces[-1].diverged == 15


# ----------------------------------------------------------------------------- sweep

RECIPE = [0.329, 0.561, 0.721, 0.849, 0.958, 1.055, 1.142, 1.223]


def recipe_sweep(sim, a_values, **kw):
    return sim.sweep({"a": a_values}, duration=150 * u.ms, params={"w": 0.3}, init={"x": 0.5},
                     transient=50 * u.ms, monitor="x", **kw)


def test_sweep_reproduces_the_recipe_table():
    sw = recipe_sweep(bw.CachedSimulator("HopfStep", in_size=1, dt=DT), np.linspace(0.1, 1.5, 8),
                      metric="amplitude")
    assert sw.values.shape == (8,)
    assert [f"{v:.3f}" for v in sw.values] == [f"{v:.3f}" for v in RECIPE]
    assert list(sw.axes) == ["a"] and sw.done == sw.total == 8 and not sw.diverged.any()


def test_sweep_point_equals_single_run():
    sim = bw.CachedSimulator("HopfStep", in_size=1, dt=DT)
    sw = recipe_sweep(sim, np.array([0.4]), metric="std")
    res = sim.run(150 * u.ms, params={"a": 0.4, "w": 0.3}, init={"x": 0.5}, transient=50 * u.ms)
    assert sw.values[0] == pytest.approx(float(np.std(mag(res["x"]))), rel=1e-5)


def test_two_axis_sweep_is_grid_shaped():
    sim = bw.CachedSimulator("HopfStep", dt=DT)
    a, w = np.linspace(-0.5, 1.0, 6), np.linspace(0.1, 0.5, 5)
    sw = sim.sweep({"a": a, "w": w}, duration=100 * u.ms, transient=50 * u.ms, metric="amplitude")
    assert sw.values.shape == (6, 5)
    res = sim.run(100 * u.ms, params={"a": a[4], "w": w[2]}, transient=50 * u.ms)
    assert sw.values[4, 2] == pytest.approx(float(np.sqrt(2 * np.mean(mag(res["x"]) ** 2))), rel=1e-5)
    assert sw.values[0].max() < 0.1 < sw.values[-1].min()


def test_sweep_values_per_region():
    sim = bw.CachedSimulator("HopfStep", in_size=3, dt=DT)
    sw = sim.sweep({"a": [0.2, 0.8]}, duration=100 * u.ms, transient=50 * u.ms,
                   params={"w": np.array([0.1, 0.2, 0.3])}, metric="frequency")
    assert sw.values.shape == (2, 3) and sw.unit == u.Hz
    expected = np.array([0.1, 0.2, 0.3]) / (2 * np.pi) * 1000
    np.testing.assert_allclose(sw.values[0], expected, atol=1000 / 50 / 2 + 1e-6)


def test_frequency_sweep_of_jansen_rit_is_nan_at_rest_and_alpha_when_it_rings():
    sim = bw.CachedSimulator("JansenRitStep")
    sw = sim.sweep({"E_inp": [50.0, 75.0, 100.0, 220.0]}, duration=2000 * u.ms, transient=1000 * u.ms,
                   monitor="E", metric="frequency")
    rest = sim.run(2000 * u.ms, params={"E_inp": 75.0}, monitors=["E"], transient=1000 * u.ms)
    assert np.ptp(mag(rest["E"])) < 1e-5 * np.abs(mag(rest["E"])).max()
    assert np.isnan(sw.values[:3]).all()
    assert 8.0 <= sw.values[3] <= 12.0


def test_minmax_branches_and_callable_metric():
    sim = bw.CachedSimulator("HopfStep", dt=DT)
    a = np.array([-0.5, 0.5])
    mm = recipe_sweep(sim, a, metric="minmax").values
    assert mm.shape == (2, 2)
    assert abs(mm[0]).max() < 0.05 and mm[1, 0] < -0.6 and mm[1, 1] > 0.6

    def peak(x):
        return x.max(axis=0)

    custom = recipe_sweep(sim, a, metric=peak)
    np.testing.assert_allclose(custom.values, mm[:, 1], rtol=1e-6)


def test_sweep_axis_in_quantities():
    sim = bw.CachedSimulator("FitzHughNagumoStep")
    sw = sim.sweep({"tau": np.array([10.0, 20.0]) * u.ms}, duration=100 * u.ms, metric="mean")
    sw_s = sim.sweep({"tau": np.array([0.01, 0.02]) * u.second}, duration=100 * u.ms, metric="mean")
    np.testing.assert_allclose(sw.values, sw_s.values, rtol=1e-6)
    np.testing.assert_allclose(sw.axes["tau"], [10.0, 20.0])


def test_sweep_progress_and_cancel():
    sim = bw.CachedSimulator("HopfStep", dt=DT)
    calls = []

    def on_chunk(done, total, partial):
        calls.append((done, total, int(np.isfinite(partial.values).sum())))
        return done < 8

    sw = recipe_sweep(sim, np.linspace(0.1, 1.5, 20), metric="amplitude", chunk_size=4, on_chunk=on_chunk)
    assert calls == [(4, 20, 4), (8, 20, 8)]
    assert sw.cancelled and sw.done == 8
    assert np.isnan(sw.values[8:]).all() and np.isfinite(sw.values[:8]).all()


def test_padded_block_shapes_are_reused():
    sim = bw.CachedSimulator("HopfStep", dt=DT)
    recipe_sweep(sim, np.linspace(0.1, 1.5, 5))
    before = sim.cache_info()["compiles"]
    sw = recipe_sweep(sim, np.linspace(0.1, 1.5, 7))
    assert sim.cache_info()["compiles"] == before and sw.values.shape == (7,)
    assert sw.compiles == 0
    assert recipe_sweep(sim, np.linspace(0.1, 1.5, 9)).compiles == 1


def test_sweep_flags_diverged_points():
    sim = bw.CachedSimulator("LorenzStep", dt=0.1 * u.ms)
    sw = sim.sweep({"rho": [0.5, 28.0]}, duration=20 * u.ms, metric="mean")
    assert list(sw.diverged) == [False, True]


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("call,match", [
    (lambda s: s.run(10 * u.ms, params={"alpha": 1.0}), r"unknown parameter 'alpha'.*valid: a, w, beta"),
    (lambda s: s.run(10 * u.ms, monitors=["z"]), r"unknown monitor 'z'.*valid: x, y"),
    (lambda s: s.run(10 * u.ms, init={"q": 1.0}), r"unknown state 'q'.*valid: x, y"),
    (lambda s: s.run(10 * u.ms, params={"a": float("nan")}), r"parameter 'a' must be finite"),
    (lambda s: s.run(10 * u.ms, params={"a": np.inf}), r"parameter 'a' must be finite"),
    (lambda s: s.run(10 * u.ms, params={"a": 1e39}), r"parameter 'a' must be finite"),
    (lambda s: s.run(10 * u.ms, params={"a": np.float64(-1e39)}), r"parameter 'a' must be finite"),
    (lambda s: s.run(10 * u.ms, params={"a": 10**400}), r"parameter 'a' must be finite and within float32"),
    (lambda s: s.run(10 * u.ms, params={"a": True}), r"parameter 'a' must be a number"),
    (lambda s: s.run(10 * u.ms, params={"a": 2 * u.mV}), r"parameter 'a' must be a number"),
    (lambda s: s.run(10 * u.ms, params={"a": "0.3"}), r"parameter 'a' must be a number"),
    (lambda s: s.run(10.05 * u.ms), r"not a whole number of steps"),
    (lambda s: s.run(10.0), r"duration must be a time such as 100 ms"),
    (lambda s: s.run(10 * u.ms, transient=10 * u.ms), r"transient"),
    (lambda s: s.run(10 * u.ms, sample_every=0), r"sample_every"),
    (lambda s: s.run(10 * u.ms, seed=-1), r"seed"),
    (lambda s: s.run(10 * u.ms, params={"a": np.ones(3)}), r"parameter 'a' has shape \(3,\)"),
    (lambda s: s.sweep({"k": [1.0]}, duration=10 * u.ms), r"unknown parameter 'k'"),
    (lambda s: s.sweep({"a": [1.0]}, duration=10 * u.ms, metric="power"), r"unknown metric 'power'"),
    (lambda s: s.sweep({}, duration=10 * u.ms), r"one or two parameter names"),
    (lambda s: s.stream(10 * u.ms, chunk=0.05 * u.ms), r"chunk .* not a whole number"),
])
def test_bad_input_names_the_bad_value(call, match):
    sim = bw.CachedSimulator("HopfStep", in_size=2, dt=DT)
    with pytest.raises(ValueError, match=match):
        call(sim)


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="unknown model 'Nope'"):
        bw.CachedSimulator("Nope")
    with pytest.raises(ValueError, match="dt must be a positive time"):
        bw.CachedSimulator("HopfStep", dt=2 * u.mV)
    with pytest.raises(ValueError, match="noise on 'z' is not available.*x, y"):
        bw.CachedSimulator("HopfStep", noise=["z"])
    with pytest.raises(ValueError, match="dt is required"):
        bw.CachedSimulator(lambda: brainmass.HopfStep(1))


def test_partial_sweep_results_are_snapshots():
    sim = bw.CachedSimulator("HopfStep", dt=DT)
    partials = []
    sim.sweep({"a": np.linspace(0.1, 1.0, 8)}, duration=20 * u.ms, chunk_size=4,
              on_chunk=lambda done, total, part: partials.append(part))
    assert np.isnan(partials[0].values[4:]).all()
    assert np.isfinite(partials[1].values).all()


# ----------------------------------------------------------------------------- compiled calls


def test_returned_times_are_the_callers_own():
    sim = bw.CachedSimulator("HopfStep", dt=DT)
    first = sim.run(5 * u.ms)
    ts = u.get_magnitude(first["ts"])
    ts[:] = -1.0
    np.testing.assert_allclose(mag(sim.run(5 * u.ms)["ts"]), np.arange(1, 51) * 0.1, rtol=1e-6)


def test_executable_packs_host_arguments_and_computes_the_same():
    from brainmass_widgets._compile import Executable

    def program(params, extra, key, device):
        return params["a"] * 2 + params["b"].sum() + extra.sum(), key + 1, device * params["c"]

    params = {"a": np.array(1.5, np.float32), "b": np.arange(3, dtype=np.float32),
              "c": np.arange(4, dtype=np.float32).reshape(2, 2)}
    args = (params, np.ones(5, np.float32), np.array([7, 9], np.uint32), jax.numpy.full((2, 2), 3.0))
    exe = Executable(program)
    out = exe(*args)
    expect = program(*args)
    for got, want in zip(out, expect, strict=True):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
    compiled, = exe.executables()
    # state values, one packed float32 vector of 1 + 3 + 4 + 5 values, the uint32 key, the device array
    flat_in = jax.tree.leaves(compiled.in_avals)
    assert [a.shape for a in flat_in if a.dtype == np.float32 and a.ndim == 1] == [(13,)], flat_in
    params["b"] = np.full(3, 10.0, np.float32)
    np.testing.assert_allclose(np.asarray(exe(*args)[0]), 3.0 + 30.0 + 5.0)
    # device arrays where numpy arrays were (a program's outputs fed back) reuse the executable
    params.update(a=jax.numpy.float32(2.0), b=jax.numpy.full(3, 1.0, np.float32))
    np.testing.assert_allclose(np.asarray(exe(*args)[0]), 4.0 + 3.0 + 5.0)
    assert len(exe.executables()) == 1


def test_programs_that_seed_their_own_rng_leave_the_global_one_alone():
    from brainmass_widgets._compile import Executable

    def seeded(key):
        with brainstate.random.seed_context(key):
            return brainstate.random.rand(3)

    def drawing(scale):
        return brainstate.random.rand(3) * scale

    def global_key():
        return np.asarray(jax.random.key_data(brainstate.random.DEFAULT.value))

    exe = Executable(seeded)
    before = global_key()
    a, b = exe(np.array([0, 1], np.uint32)), exe(np.array([0, 1], np.uint32))
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert not np.array_equal(np.asarray(a), np.asarray(exe(np.array([0, 2], np.uint32))))
    np.testing.assert_array_equal(global_key(), before)

    # a program that draws from brainstate's RNG advances it, as brainstate's own jit does
    exe = Executable(drawing)
    first, second = exe(np.float32(1.0)), exe(np.float32(1.0))
    assert not np.array_equal(np.asarray(first), np.asarray(second))
    assert not np.array_equal(global_key(), before)


def test_remembered_run_lengths_still_refuse_what_they_refused():
    sim = bw.CachedSimulator("HopfStep", dt=DT)
    assert len(sim.run(10 * u.ms, transient=20, sample_every=2)["x"]) == 40
    assert len(sim.run(10 * u.ms, transient=2 * u.ms, sample_every=2)["x"]) == 40
    with pytest.raises(ValueError, match="sample_every"):
        sim.run(10 * u.ms, transient=20, sample_every=True)
    with pytest.raises(ValueError, match="transient"):
        sim.run(10 * u.ms, transient=20.0, sample_every=2)
    assert len(sim.run(10.0 * u.ms)["x"]) == 100
    assert len(sim.run(1 * u.second / 100)["x"]) == 100
