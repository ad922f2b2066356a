"""The ipywidgets network explorer: sliders rerun the network, uploads are checked, sweeps load points."""

import datetime
import io

import brainunit as u
import numpy as np
from progress import start_and_wait_running

from brainmass_widgets.ipywidgets import NetworkExplorer


def _npy(array):
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def _upload(e, name, data):
    e._upload.value = ({"name": name, "type": "", "size": len(data), "content": memoryview(data),
                        "last_modified": datetime.datetime.now(datetime.UTC)},)


def _buttons(e):
    """Whether Run sweep and Cancel are disabled."""
    return e._run_sweep.disabled, e._cancel.disabled


def _fc_of_result(e):
    """The FC matrix of the latest run, computed here from the monitored trace."""
    n_tr = int(round(e.controller.options["transient"].to_decimal(u.ms) / 0.1))
    trace = np.asarray(u.get_magnitude(e.result["x"]))[n_tr:]
    return np.nan_to_num(np.corrcoef(trace.T)).ravel()


def test_k_slider_reruns_and_noise_rebuilds_the_sliders():
    e = NetworkExplorer("HopfStep", duration=600.0)
    assert e.wait(180) and e.status.kind == "done", e.status
    first = np.array(e.sources["fc"].data["value"])
    assert len(first) == 64
    np.testing.assert_allclose(first, _fc_of_result(e), atol=1e-6)
    labels = {n: s.description for n, s in e.sliders.items()}
    assert labels["k"] == "k" and labels["noise_tau"] == "noise_tau [ms]"
    assert "bmw-param-k" in e.sliders["k"]._dom_classes
    e.sliders["k"].value = 1.5
    assert e.wait(60) and e.status.kind == "done", e.status
    assert e.controller.params["k"] == 1.5
    moved = np.array(e.sources["fc"].data["value"])
    assert not np.allclose(moved, first)
    np.testing.assert_allclose(moved, _fc_of_result(e), atol=1e-6)
    e.controls["noise"].value = False
    assert set(e.sliders) == {"a", "w", "beta", "k"}
    assert e.sliders["k"].value == 1.5
    e.controls["speed"].value = 0.0
    assert e.controller.options["speed"] is None
    e.controls["duration"].value = -5.0
    assert "duration" in e._status.value and e.controls["duration"].value == 600.0
    e.close()


def test_uploads_are_checked_and_a_good_one_replaces_the_connectome():
    e = NetworkExplorer("HopfStep", duration=300.0)
    assert e.wait(180)
    example = np.array(e.sources["connectivity"].data["value"])
    before = e.controller.network
    _upload(e, "bad.npy", _npy(np.ones((3, 4))))
    assert "square" in e._status.value and "bmw-error" in e._status.value
    assert e.controller.network is before and e._upload.value == ()
    _upload(e, "nan.csv", b"0,1\n1,nan\n")
    assert "finite" in e._status.value
    assert e.controller.network is before
    np.testing.assert_array_equal(e.sources["connectivity"].data["value"], example)
    weights = np.random.default_rng(1).uniform(0, 1, (4, 4))
    buf = io.BytesIO()
    np.savez(buf, weights=weights, labels=np.array(["A", "B", "C", "D"]))
    _upload(e, "four.npz", buf.getvalue())
    assert e.wait(180) and e.status.kind == "done", e.status
    np.testing.assert_array_equal(e.sources["connectivity"].data["value"], weights.ravel())
    assert len(e.sources["fc"].data["value"]) == 16
    assert "four.npz, 4 regions" in e._connectome.value
    assert e.controls["speed"].disabled and e.controls["speed"].value == 0.0
    e._example.click()
    assert e.wait(180)
    np.testing.assert_array_equal(e.sources["connectivity"].data["value"], example)
    assert "bundled example, 8 regions" in e._connectome.value
    e.close()


def test_sweep_fills_and_a_pick_loads_the_value():
    e = NetworkExplorer("HopfStep", duration=300.0)
    assert e.wait(180)
    e.controls["points"].value = 4
    e.controls["to"].value = 1.5
    assert e.controller.options["sweep"] == ("k", 0.0, 1.5, 4)
    e._run_sweep.click()
    assert e.wait(300) and e.status.kind == "done", e.status
    data = e.sources["coupling_sweep"].data
    np.testing.assert_allclose(data["x"], [0.0, 0.5, 1.0, 1.5])
    assert np.isfinite(data["fc"]).all() and np.isfinite(data["sync"]).all()
    assert e.sweep_result.shape == (4, 2)
    assert e.pick(2) == {"k": 1.0}
    assert e.wait(60)
    assert e.controller.params["k"] == 1.0 and e.sliders["k"].value == 1.0
    # A node parameter as the sweep axis spans its slider range; a node without it sweeps k again.
    e.controls["sweep"].value = "a"
    spec = e.controller.simulator.adapter.params["a"]
    assert e.controller.options["sweep"][:3] == ("a", spec.low, spec.high)
    e.controls["node"].value = "VanDerPolStep"
    assert e.controller.options["sweep"][0] == "k" and e.controls["sweep"].value == "k"
    assert [v for _, v in e.controls["coupled_var"].options] == ["x", "y"]
    assert set(e.sliders) == {"mu", "noise_sigma", "noise_tau", "k"}
    e.close()


def test_cancel_is_enabled_only_while_the_coupling_sweep_runs():
    e = NetworkExplorer("HopfStep", duration=300.0, sweep=("k", 0.0, 1.0, 16))
    assert _buttons(e) == (False, True)  # the first run has started: not Cancel's to stop
    assert e.wait(180) and e.status.kind == "done", e.status
    shown = []
    e.controller.on_status(lambda st: shown.append((st.kind, *_buttons(e))))
    e.sliders["k"].value = 0.8
    assert e.wait(60) and e.status.kind == "done", e.status
    assert shown and all(s[1:] == (False, True) for s in shown), shown
    shown.clear()
    e._run_sweep.click()
    assert e.wait(300) and e.status.kind == "done", e.status
    assert ("running", True, False) in shown, shown
    assert _buttons(e) == (False, True)
    e.configure(sweep=("k", 0.0, 1.0, 256))
    assert e.wait(60)  # the run the change started
    start_and_wait_running(e.controller, e._run_sweep.click)
    assert _buttons(e) == (True, False)
    e._cancel.click()
    assert e.wait(120) and e.status.kind == "cancelled", e.status
    assert _buttons(e) == (False, True)
    e.close()
