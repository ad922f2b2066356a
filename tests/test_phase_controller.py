"""The phase-plane controller: sources from the engine, taps launch trajectories, bad input."""

import threading

import brainunit as u
import numpy as np
import pytest

import brainmass_widgets as bw
from brainmass_widgets._controller import ENGINE_LOCK
from brainmass_widgets._phase import PhasePlane
from brainmass_widgets._phase_controller import PhasePlaneController


def mag(x):
    return np.asarray(u.get_magnitude(x))


def test_sources_are_named_and_hold_the_plane():
    c = PhasePlaneController("HopfStep", params={"a": -0.2}, x_range=(-1, 1), y_range=(-1, 1), grid=60,
                             arrows=10)
    assert c.wait(120)
    for name in ("field", "nullclines", "fixed_points", "trajectories", "timeseries"):
        assert c.sources[name].name == name
    assert len(c.sources["field"].data["x0"]) == 100
    assert c.sources["fixed_points"].data["stability"] == ["stable focus"]
    assert c.sources["fixed_points"].data["legend"] == ["fixed point: stable focus"]
    plane = c.figures["plane"]
    drawn = {r.data_source.name: r.glyph for r in plane.renderers if hasattr(r, "data_source")}
    assert drawn["trajectories"].line_color not in set(c.sources["nullclines"].data["color"])
    assert [getattr(i.label, "value", None) or i.label.field for i in plane.legend[0].items] == [
        "label", "trajectory", "legend"]
    ref = PhasePlane("HopfStep")
    field = ref.field((-1, 1), (-1, 1), 60, params={"a": -0.2})
    for got, want in zip(c.sources["nullclines"].data["xs"], ref.nullclines(field).values(), strict=True):
        np.testing.assert_allclose(got, want[0], equal_nan=True)
    c.set(a=0.3)
    assert c.wait(60)
    assert [fp.stability for fp in c.fixed_points] == ["unstable focus"]
    assert c.status.kind == "done" and "unstable focus" in c.status.message


def test_a_tap_launches_a_trajectory_that_streams_into_the_plane():
    c = PhasePlaneController("HopfStep", params={"a": 0.3}, duration=150.0)
    assert c.wait(120)
    c.sources["click"].data = {"x": [0.1], "y": [-0.2], "at": [1.0]}
    c.sources["click"].data = {"x": [0.1], "y": [-0.2], "at": [1.0]}  # the same tap, echoed
    assert c.wait(120)
    assert len(c.sources["trajectories"].data["xs"]) == 1
    ref = bw.CachedSimulator("HopfStep").run(150 * u.ms, params={"a": 0.3}, init={"x": 0.1, "y": -0.2},
                                             monitors=["x", "y"])
    (xs,), (ys,) = c.sources["trajectories"].data["xs"], c.sources["trajectories"].data["ys"]
    assert xs[0] == pytest.approx(0.1) and ys[0] == pytest.approx(-0.2)
    np.testing.assert_allclose(xs[1:], mag(ref["x"])[:, 0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(c.sources["timeseries"].data["y"], mag(ref["y"])[:, 0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(c.sources["timeseries"].data["t"], mag(ref["ts"] / u.ms), rtol=1e-6)
    c.launch(-0.5, 0.5)
    assert c.wait(120)
    assert len(c.sources["trajectories"].data["xs"]) == 2
    c.clear()
    assert c.wait(10)
    assert c.sources["trajectories"].data["xs"] == []


def test_code_reproduces_the_latest_trajectory_with_noise():
    c = PhasePlaneController("FitzHughNagumoStep", noise=["V"], seed=3, duration=50.0,
                             params={"noise_sigma": 0.05})
    assert c.wait(120)
    c.launch(0.5, 0.2)
    assert c.wait(120)
    assert "brainmass_widgets" not in c.code()
    namespace = {}
    exec(c.code(), namespace)
    for s in ("V", "w"):
        np.testing.assert_allclose(mag(namespace["result"][s]), mag(c.result[s]), rtol=1e-4, atol=1e-5)
    quiet = bw.CachedSimulator("FitzHughNagumoStep").run(50 * u.ms, init={"V": 0.5, "w": 0.2}, monitors=["V"])
    assert not np.allclose(mag(quiet["V"]), mag(c.result["V"]))


def test_more_than_two_states_get_held_values_and_axes_can_change():
    c = PhasePlaneController("JansenRitStep")
    assert (c.options["x"], c.options["y"]) == ("M", "Mv")
    assert set(c.options["held"]) == {"E", "I", "Ev", "Iv"}
    assert c.wait(120)
    c.configure(x="E", y="Ev")
    assert set(c.options["held"]) == {"M", "I", "Mv", "Iv"}
    c.hold(M=5.0)
    assert c.wait(120)
    assert c.options["held"]["M"] == 5.0
    assert c.figures["plane"].xaxis.axis_label == "E [mV]"


def test_bad_input_is_refused_and_nothing_changes():
    c = PhasePlaneController("HopfStep", autorun=False)
    before = c.options
    with pytest.raises(ValueError, match="one state variable"):
        c.configure(model="LinearStep")
    with pytest.raises(ValueError, match="'z' is not a state variable of HopfStep"):
        c.configure(x="z")
    with pytest.raises(ValueError, match="range of 'y'"):
        c.configure(y_range=(1.0, float("nan")))
    with pytest.raises(ValueError, match="unknown parameter 'mu'"):
        c.set(mu=1.0)
    with pytest.raises(ValueError, match="noise on 'q' is not available"):
        c.configure(noise=["q"])
    with pytest.raises(ValueError, match="grid must be an integer"):
        c.configure(grid=5000)
    with pytest.raises(ValueError, match="finite"):
        c.launch(float("inf"), 0.0)
    assert c.options == before
    assert c.status.kind == "error"


def test_before_a_tap_the_time_series_spans_the_trajectory_length():
    c = bw.PhasePlaneController("HopfStep", duration=150.0)
    extent = c.figures["timeseries"].select_one({"name": "extent"}).data_source
    assert list(extent.data["x"]) == [0.0, 150.0]
    c.close()


def test_a_phase_plane_of_values_seen_before_is_built_without_waiting_for_a_computing_one():
    """A controller is built where its front end runs (the served app's event loop); the range
    run behind its first view is kept per model and values, so a second controller of the same
    view is built while another phase plane holds the engine's lock, instead of waiting for it."""
    first = PhasePlaneController("FitzHughNagumoStep", autorun=False, params={"alpha": 0.69})
    held, release = threading.Event(), threading.Event()

    def computing():
        with ENGINE_LOCK:
            held.set()
            release.wait(60)

    plane = threading.Thread(target=computing)
    plane.start()
    assert held.wait(10)
    built = []
    builder = threading.Thread(target=lambda: built.append(
        PhasePlaneController("FitzHughNagumoStep", autorun=False, params={"alpha": 0.69})))
    builder.start()
    try:
        builder.join(20)
        assert built, "the second controller waited for the engine's lock"
    finally:
        release.set()
        plane.join(60)
        builder.join(60)
    assert built[0].state_ranges == first.state_ranges
    other = PhasePlaneController("FitzHughNagumoStep", autorun=False, params={"alpha": 1.5})
    plain = bw.CachedSimulator("FitzHughNagumoStep").run(bw.model_spec("FitzHughNagumoStep").duration,
                                                        params={"alpha": 1.5}, monitors=["V", "w"])
    v = mag(plain["V"]).ravel()
    low, high = other.state_ranges["V"]
    assert low < v.min() and v.max() < high and other.state_ranges != first.state_ranges
    for c in (first, built[0], other):
        c.close()
