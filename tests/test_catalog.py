import brainmass
import brainunit as u
import numpy as np
import pytest

import brainmass_widgets as bw

NAMES = [m.name for m in brainmass.list_models() if not m.name.startswith("HORN")]


def test_catalog_covers_every_node_model():
    assert [s.name for s in bw.catalog()] == NAMES
    assert "KuramotoNetwork" in NAMES


@pytest.mark.parametrize("name", NAMES)
def test_param_specs_are_complete(name):
    spec = bw.model_spec(name)
    assert spec.params, name
    for p in spec.params.values():
        assert p.low <= p.default <= p.high
        assert 0 < p.step <= p.high - p.low
        assert p.doc and p.doc.endswith(".")
        assert p.unit is None or isinstance(p.unit, u.Unit)
        assert p.label.startswith(p.name)
    assert spec.default_monitor in spec.states
    assert spec.monitors == spec.states
    assert u.get_unit(spec.dt).has_same_dim(u.ms) and spec.duration > spec.dt


def test_param_defaults_are_the_constructors_unless_documented():
    import inspect

    for spec in bw.catalog():
        sig = inspect.signature(spec.model_class.__init__)
        for p in spec.params.values():
            if p.role != "param":
                continue
            d = sig.parameters[p.name].default
            d = float(d.mantissa) if isinstance(d, u.Quantity) else float(d)
            if d != p.default:
                assert p.name in spec.notes, (spec.name, p.name)


def test_units_come_from_the_constructor():
    spec = bw.model_spec("FitzHughNagumoStep")
    assert spec.params["tau"].unit == u.ms and spec.params["tau"].label == "tau [ms]"
    assert bw.model_spec("JansenRitStep").params["be"].unit == u.Hz
    assert bw.model_spec("HopfStep").params["a"].unit is None


def test_hopf_range_crosses_the_bifurcation():
    a = bw.model_spec("HopfStep").params["a"]
    assert a.low < 0 < a.high


def test_doc_is_taken_from_the_docstring():
    assert bw.model_spec("HopfStep").params["a"].doc.startswith("Bifurcation parameter")


def test_unknown_model_lists_valid_names():
    with pytest.raises(ValueError, match="HopfStep.*JansenRitStep"):
        bw.model_spec("Hopf")


@pytest.mark.parametrize("name", NAMES)
def test_every_model_runs_finite_and_not_constant_at_its_defaults(name):
    spec = bw.model_spec(name)
    res = bw.CachedSimulator(name).run(spec.duration)
    x = np.asarray(u.get_magnitude(res[spec.default_monitor]))
    assert res.diverged is None
    assert np.all(np.isfinite(x))
    assert np.ptp(x) > 1e-3 * max(1.0, np.abs(x).max()), f"{name} is flat at its defaults"


def test_lorenz_diverges_at_the_generic_dt_and_is_flagged():
    res = bw.CachedSimulator("LorenzStep", dt=0.1 * u.ms).run(200 * u.ms)
    x = np.asarray(res["x"])
    assert res.diverged is not None
    assert not np.all(np.isfinite(x[res.diverged]))
    assert np.all(np.isfinite(x[: res.diverged]))


def test_threshold_linear_inhibitory_rate_grows_as_the_note_warns():
    # The docstring's tau_I dI/dt = -I + beta_I [I_inp]+ would decay I(0) = 0.1 towards 0 with
    # I_inp = 0; brainmass 0.1.1 integrates the opposite sign, so I grows as I(0) exp(t / tau_I).
    spec = bw.model_spec("ThresholdLinearStep")
    assert "opposite sign" in spec.notes and "brainmass 0.1.1" in spec.notes
    res = bw.CachedSimulator("ThresholdLinearStep").run(20 * u.ms, monitors=["I"], init={"I": 0.1})
    t = np.asarray(u.get_magnitude(res["ts"].to(u.second)))
    i = np.asarray(u.get_magnitude(res["I"]))[:, 0]
    docstring = 0.1 * np.exp(-t / 0.01)
    assert i[-1] > 5 * i[0] and i[-1] > 10 * docstring[-1]
    np.testing.assert_allclose(i, 0.1 * np.exp(t / 0.01), rtol=1e-3)
