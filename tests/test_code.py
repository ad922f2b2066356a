"""Scripts from "Copy as code" run in plain brainmass and reproduce the engine's numbers."""

import brainunit as u
import numpy as np
import pytest

import brainmass_widgets as bw
from brainmass_widgets._code import run_script, unit_code
from brainmass_widgets._sweep_controller import SweepController


def mag(x):
    return np.asarray(u.get_magnitude(x))


def execute(source):
    namespace = {}
    exec(compile(source, "<copied code>", "exec"), namespace)
    return namespace["result"]


def test_unit_code_round_trips_every_catalogue_unit():
    units = {p.unit for s in bw.catalog() for p in s.params.values()} | {
        un for s in bw.catalog() for un in s.noise_units.values()}
    units.discard(None)
    assert len(units) >= 5
    for unit in units:
        assert eval(unit_code(unit), {"u": u}) == unit, unit


def test_unit_code_names_an_unknown_part():
    class Odd:
        def __str__(self):
            return "furlong / fortnight"

    with pytest.raises(ValueError, match="furlong"):
        unit_code(Odd())


@pytest.mark.parametrize("spec", bw.catalog(), ids=lambda s: s.name)
def test_script_equals_engine_for_every_model(spec):
    noise = tuple(spec.noise_args)[:1]
    sim = bw.CachedSimulator(spec.name, in_size=2, noise=noise)
    params = {k: float(np.asarray(v)) for k, v in sim.adapter.defaults().items()}
    if noise:
        params["noise_sigma"] = 0.02
    duration, transient = spec.dt * 200, spec.dt * 10
    ours = sim.run(duration, params=params, monitors=spec.states, seed=3, transient=transient)
    source = run_script(spec, in_size=2, dt=spec.dt, duration=duration, params=params, noise=noise,
                        init=dict(spec.init), monitors=spec.states, transient=transient, seed=3)
    assert "brainmass_widgets" not in source
    ref = execute(source)
    for m in spec.states:
        assert mag(ref[m]).shape == mag(ours[m]).shape
        np.testing.assert_allclose(mag(ref[m]), mag(ours[m]), rtol=1e-4, atol=1e-5, err_msg=m)


def test_script_with_region_values_batch_and_sampling():
    spec = bw.model_spec("HopfStep")
    sim = bw.CachedSimulator("HopfStep", in_size=3, noise=True)
    params = {"a": np.array([-0.2, 0.3, 0.8]), "w": 0.3, "beta": 1.0, "noise_sigma": 0.05, "noise_tau": 5.0}
    kw = dict(monitors=("x", "y"), transient=2 * u.ms, sample_every=3, batch_size=4, seed=11)
    ours = sim.run(30 * u.ms, params=params, init={"x": 0.4}, **kw)
    source = run_script(spec, in_size=3, dt=spec.dt, duration=30 * u.ms, params=params, noise=("x", "y"),
                        init={"x": 0.4}, **kw)
    assert "np.array([-0.2" in source
    ref = execute(source)
    for m in ("x", "y"):
        np.testing.assert_allclose(mag(ref[m]), mag(ours[m]), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("metric", ["amplitude", "frequency", "minmax", "std"])
def test_sweep_script_equals_the_sweep(metric):
    c = SweepController("HopfStep", axes={"a": (-0.5, 1.5, 3), "w": (0.2, 0.6, 2)}, metric=metric,
                        duration=60.0)
    c.run()
    assert c.wait(120)
    assert c.status.kind == "done", c.status
    np.testing.assert_allclose(execute(c.code()), c.result.values, rtol=1e-3, atol=1e-5)


def test_copied_values_read_as_typed():
    c = bw.ModelController("HopfStep")
    c.set(a=-0.09999999999999998, w=0.1 + 0.2)
    code = c.code()
    assert "a=-0.1,\n" in code and "w=0.3,\n" in code
    assert "99999" not in code and "00000" not in code
    script = run_script(bw.model_spec("HopfStep"), in_size=2, dt=0.1 * u.ms, duration=1 * u.ms,
                        params={"a": np.array([[0.1 + 0.2], [float("nan")]]), "w": 0.2, "beta": 1.0},
                        noise=(), init={},
                        monitors=("x",), transient=None, sample_every=None, batch_size=None, seed=0)
    assert "np.array([[0.3], [float('nan')]])" in script
