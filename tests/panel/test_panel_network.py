"""The Panel network explorer: typed state and widgets drive the network; uploads are checked."""

import io
import threading

import brainunit as u
import numpy as np
from attacks import BOMB_BYTES, zip_bomb
from bokeh.document import Document
from progress import start_and_wait_running
from ticks import run_next_ticks

from brainmass_widgets.panel import NetworkExplorer


def _npy(array):
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def _upload(e, name, data):
    e._file.param.update(filename=name, value=data)


def _click(button):
    button.clicks += 1


def _buttons(e):
    """Whether Run sweep and Cancel are disabled."""
    return e._run_sweep.disabled, e._cancel.disabled


def _fc_of_result(e):
    """The FC matrix of the latest run, computed here from the monitored trace."""
    n_tr = int(round(e.controller.options["transient"].to_decimal(u.ms) / 0.1))
    trace = np.asarray(u.get_magnitude(e.result["x"]))[n_tr:]
    return np.nan_to_num(np.corrcoef(trace.T)).ravel()


def test_param_state_and_k_slider_rerun_the_network():
    e = NetworkExplorer("HopfStep", duration=600.0)
    assert e.wait(180) and e.status.kind == "done", e.status
    first = np.array(e.sources["fc"].data["value"])
    assert len(first) == 64
    assert e.sliders["k"].css_classes == ["bmw-param-k"] and e.sliders["noise_tau"].label == "noise_tau [ms]"
    e.sliders["k"].value = 1.5
    assert e.wait(60) and e.status.kind == "done", e.status
    assert e.controller.params["k"] == 1.5 and e.values["k"] == 1.5
    moved = np.array(e.sources["fc"].data["value"])
    assert not np.allclose(moved, first)
    np.testing.assert_allclose(moved, _fc_of_result(e), atol=1e-6)
    e.param.update(values={**e.values, "k": 0.8})
    assert e.wait(60)
    assert e.controller.params["k"] == 0.8 and e.sliders["k"].value == 0.8
    e.noise = False
    assert set(e.sliders) == {"a", "w", "beta", "k"} and e.controls["noise"].value is False
    e.speed = None
    assert e.controller.options["speed"] is None and e.controls["speed"].value == 0.0
    e.controls["speed"].value = 3.0
    assert e.controller.options["speed"] == 3.0 and e.speed == 3.0
    e.controls["coupling"].value = "additive"
    assert e.coupling == "additive" and e.controller.network.coupling == "additive"
    e.controls["duration"].value = -5.0
    assert "duration" in e.notice and e._notice.visible
    assert e.duration == 600.0 and e.controls["duration"].value == 600.0
    e.controller.close()


def test_uploads_are_checked_and_a_good_one_replaces_the_connectome():
    e = NetworkExplorer("HopfStep", duration=300.0)
    assert e.wait(180)
    example = np.array(e.sources["connectivity"].data["value"])
    before = e.controller.network
    _upload(e, "bad.npy", _npy(np.ones((3, 4))))
    assert "bad.npy: weights must be a square" in e.notice and e._notice.visible
    assert e.controller.network is before
    _upload(e, "nan.csv", b"0,1\n1,nan\n")
    assert "finite" in e.notice
    assert e.controller.network is before
    np.testing.assert_array_equal(e.sources["connectivity"].data["value"], example)
    weights = np.random.default_rng(2).uniform(0, 1, (5, 5))
    buf = io.BytesIO()
    np.savez(buf, weights=weights)
    _upload(e, "five.npz", buf.getvalue())
    assert not e._notice.visible
    assert e.wait(180) and e.status.kind == "done", e.status
    np.testing.assert_array_equal(e.sources["connectivity"].data["value"], weights.ravel())
    assert len(e.sources["fc"].data["value"]) == 25
    assert "five.npz, 5 regions" in e._connectome.value
    assert e.speed is None and e.controls["speed"].disabled
    e._example.clicks += 1
    assert e.wait(180)
    np.testing.assert_array_equal(e.sources["connectivity"].data["value"], example)
    e.controller.close()


def test_sweep_fills_and_a_pick_loads_the_value():
    e = NetworkExplorer("HopfStep", duration=300.0)
    assert e.wait(180)
    e.controls["points"].value = 3
    e.controls["to"].value = 1.0
    assert e.controller.options["sweep"] == ("k", 0.0, 1.0, 3)
    e._run_sweep.clicks += 1
    assert e.wait(300) and e.status.kind == "done", e.status
    data = e.sources["coupling_sweep"].data
    np.testing.assert_allclose(data["x"], [0.0, 0.5, 1.0])
    assert np.isfinite(data["fc"]).all() and np.isfinite(data["sync"]).all()
    assert e.pick(1) == {"k": 0.5}
    assert e.wait(60)
    assert e.values["k"] == 0.5 and e.sliders["k"].value == 0.5
    e.controls["sweep"].value = "noise_sigma"
    assert e.controller.options["sweep"][0] == "noise_sigma"
    e.noise = False
    assert e.controller.options["sweep"][0] == "k" and e.controls["sweep"].value == "k"
    e.controller.close()


def test_a_served_upload_is_read_off_the_event_loop_and_applied_on_the_document(monkeypatch):
    e = NetworkExplorer("HopfStep", autorun=False)
    doc = Document()
    e._doc, e._page_ready = doc, True
    readers = []
    read = NetworkExplorer.read_connectome

    def watched(data, filename):
        readers.append(threading.current_thread())
        return read(data, filename)

    monkeypatch.setattr(NetworkExplorer, "read_connectome", staticmethod(watched))
    before = e.controller.network
    _upload(e, "bomb.npz", zip_bomb())
    assert e.notice == "" and e.controller.network is before
    run_next_ticks(doc)
    assert readers and readers[-1] is not threading.main_thread()
    assert e.notice == (f"bomb.npz: member 'weights.npy' unpacks to {BOMB_BYTES + 128:,} bytes; at most "
                        "20,971,520 are allowed")
    assert e.status.kind == "error" and e.controller.network is before and e._file.value is None
    weights = np.random.default_rng(3).uniform(0, 1, (5, 5))
    buf = io.BytesIO()
    np.savez(buf, weights=weights)
    _upload(e, "five.npz", buf.getvalue())
    assert e.controller.network.n == 8
    run_next_ticks(doc)
    assert readers[-1] is not threading.main_thread() and e.notice == ""
    np.testing.assert_array_equal(e.controller.network.connectome.weights, weights)
    assert "five.npz, 5 regions" in e._connectome.value
    e.controller.close()


def test_a_sweep_over_the_request_bounds_is_a_notice_not_an_exception():
    import brainmass_widgets as bw

    e = NetworkExplorer("HopfStep", duration=300.0)
    assert e.wait(180)
    before = bw.limits()
    bw.set_limits(bw.Limits(max_request_work=1_000))
    try:
        e._run_sweep.clicks += 1
        assert "region-steps; this server allows at most 1,000 per request (--max-request-work)" in e.notice
        assert e.sources["coupling_sweep"].data["x"] == [] or not np.isfinite(
            np.asarray(e.sources["coupling_sweep"].data.get("fc", []), float)).any()
    finally:
        bw.set_limits(before)
        e.controller.close()


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
    _click(e._run_sweep)
    assert e.wait(300) and e.status.kind == "done", e.status
    assert ("running", True, False) in shown, shown
    assert _buttons(e) == (False, True)
    e.configure(sweep=("k", 0.0, 1.0, 256))
    assert e.wait(60)  # the run the change started
    start_and_wait_running(e.controller, lambda: _click(e._run_sweep))
    assert _buttons(e) == (True, False)
    _click(e._cancel)
    assert e.wait(120) and e.status.kind == "cancelled", e.status
    assert _buttons(e) == (False, True)
    e.controller.close()
