"""The Panel fitting explorer: widgets drive the fit, the loss equals the engine's, bad input is refused."""

import threading

import numpy as np
import pytest
from attacks import claiming
from bokeh.document import Document
from progress import start_and_wait_running
from ticks import run_next_ticks

from brainmass_widgets import CachedFitter
from brainmass_widgets.panel import FitExplorer, ModelExplorer, create_app
from brainmass_widgets.panel import _fit as panel_fit


def _click(button):
    button.clicks += 1


def _fit(e, timeout=300):
    _click(e._run_button)
    assert e.wait(timeout), e.status
    return e.status


def _upload(e, name, data):
    e._file.param.update(filename=name, value=data)


def _buttons(e):
    """Whether Fit, Stop and "Use these parameters" are disabled."""
    return e._run_button.disabled, e._stop_button.disabled, e._use_button.disabled


def test_fit_button_fills_the_loss_with_the_engine_history():
    e = FitExplorer("HopfStep", n_steps=40, lr=0.05)
    assert len(e.sources["loss"].data["loss"]) == 0
    assert e.result is None and e.status.kind == "idle"  # nothing runs before Fit
    assert e.controls["fit"].value == ["a", "w"] and set(e.initial_sliders) == {"a", "w"}
    assert e.initial_sliders["a"].css_classes == ["bmw-fit-initial-a"]
    assert all(s.row.visible for s in e.truth_sliders.values()) and not e._fc_row.visible
    assert "measured by a gradient fit" in e._memory.value
    opts = e.controller.options
    assert _fit(e).kind == "done", e.status
    fitter = CachedFitter("HopfStep", fit=opts["fit"], duration=opts["duration"],
                          sample_every=opts["sample_every"])
    out = fitter.fit(fitter.predict(opts["truth"]), initial=opts["initial"], lr=opts["lr"], n_steps=40)
    loss = np.asarray(e.sources["loss"].data["loss"], dtype=float)
    assert len(loss) == 40
    np.testing.assert_allclose(loss, out.history, rtol=1e-5)
    np.testing.assert_allclose(e.sources["paths"].data["a"], out.path["a"], rtol=1e-5)
    prediction = e.sources["fit"].data["prediction"]
    np.testing.assert_allclose(prediction, out.prediction[:, 0], rtol=1e-4, atol=1e-6)
    assert e.best_params["a"] == pytest.approx(out.best_params["a"], rel=1e-5)
    assert "for_loop" in e._memory.value and "MiB" in e._memory.value
    e._code_card.collapsed = False
    assert "Fitter" in e._code.value
    e.controller.close()


def test_learning_rate_and_starting_values_reuse_the_compiled_step(xla_compiles):
    e = FitExplorer("HopfStep", n_steps=20)
    assert _fit(e).kind == "done", e.status
    first = np.asarray(e.sources["loss"].data["loss"], dtype=float)
    compiles = e.controller.fitter.cache_info()["compiles"]
    xla = xla_compiles.count
    e.controls["lr"].value = 0.2
    assert e.controller.options["lr"] == 0.2 and e.lr == 0.2 and not e.notice
    e.initial_sliders["a"].value = 0.1
    assert e.controller.options["initial"]["a"] == 0.1
    assert _fit(e).kind == "done", e.status
    assert e.controller.fitter.cache_info()["compiles"] == compiles
    assert xla_compiles.count == xla
    again = np.asarray(e.sources["loss"].data["loss"], dtype=float)
    assert len(again) == 20 and not np.allclose(again, first)
    e.controller.close()


def test_bad_input_is_refused_with_a_message_and_the_explorer_still_fits():
    e = FitExplorer("HopfStep", n_steps=20)
    e.controls["lr"].value = 0.0
    assert "learning rate" in e.notice and e._notice.visible
    assert e.controls["lr"].value == 0.05 and e.controller.options["lr"] == 0.05
    e.controls["n_steps"].value = 0
    assert "n_steps" in e.notice and e.controls["n_steps"].value == 20
    samples = e.controller.fitter.samples
    _upload(e, "nan.csv", ("0.1\n" * (samples - 1) + "nan\n").encode())
    assert "nan.csv" in e.notice and e._notice.visible
    assert e.controller.options["target"] == "synthetic" and e.controls["target"].value == "synthetic"
    _upload(e, "short.csv", b"0.1\n0.2\n")
    assert "short.csv" in e.notice and f"({samples}, 1)" in e.notice
    assert _fit(e).kind == "done", e.status
    assert len(e.sources["loss"].data["loss"]) == 20 and not e._notice.visible
    _upload(e, "good.csv", "\n".join(f"{v:.6f}" for v in np.sin(np.arange(samples) / 5)).encode())
    assert not e._notice.visible, e.notice
    assert e.controller.options["target"] == "custom"
    assert not any(s.row.visible for s in e.truth_sliders.values())
    e.controller.close()


def test_a_served_target_upload_is_read_off_the_event_loop(monkeypatch):
    e = FitExplorer("HopfStep", n_steps=20)
    doc = Document()
    e._doc, e._page_ready = doc, True
    readers = []
    read = panel_fit.load_target

    def watched(data, name):
        readers.append(threading.current_thread())
        return read(data, name=name)

    monkeypatch.setattr(panel_fit, "load_target", watched)
    _upload(e, "huge.npy", claiming((100_000, 100_000)))
    assert e.notice == ""
    run_next_ticks(doc)
    assert readers and readers[0] is not threading.main_thread()
    assert e.notice == ("huge.npy: shape (100000, 100000) of float64 is 80,000,000,000 bytes; at most "
                        "67,108,864 are allowed")
    assert e.status.kind == "error" and e.controller.options["target"] == "synthetic"
    samples = e.controller.fitter.samples
    _upload(e, "good.csv", "\n".join(f"{v:.6f}" for v in np.sin(np.arange(samples) / 5)).encode())
    assert e.controller.options["target"] == "synthetic"
    run_next_ticks(doc)
    assert e.notice == "" and e.controller.options["target"] == "custom"
    assert len(readers) == 2 and readers[1] is not threading.main_thread()
    e.controller.close()


def test_fit_is_disabled_while_fitting_stop_only_then_and_use_once_a_fit_has_ended():
    e = FitExplorer("HopfStep", n_steps=5)
    assert _buttons(e) == (False, True, True)
    shown = []
    e.controller.on_status(lambda st: shown.append((st.kind, *_buttons(e))))
    for _ in range(2):  # the second fit has a result to use, but not while it runs
        assert _fit(e).kind == "done", e.status
        assert ("running", True, False, True) in shown, shown
        assert _buttons(e) == (False, True, False)
        shown.clear()
    e.controls["lr"].value = 0.02
    assert _buttons(e) == (False, True, False)
    e.controller.close()


def test_stop_ends_a_long_fit_early_and_keeps_the_best_parameters():
    e = FitExplorer("HopfStep", n_steps=2000)
    start_and_wait_running(e.controller, lambda: _click(e._run_button))
    assert _buttons(e) == (True, False, True)
    e._stop_button.clicks += 1
    assert e.wait(120), e.status
    assert e.status.kind == "cancelled", e.status
    assert _buttons(e) == (False, True, False)
    assert e.result.stopped and 0 < e.result.n_steps < 2000
    assert set(e.result.best_params) == {"a", "w"}
    assert e.best_params["a"] == e.result.best_params["a"]
    e.controller.close()


def test_use_these_parameters_sets_the_linked_model_explorer():
    m = ModelExplorer("HopfStep", autorun=False)
    e = FitExplorer("HopfStep", n_steps=20, explorer=m)
    assert _fit(e).kind == "done", e.status
    best = e.best_params
    e._use_button.clicks += 1
    for name in ("a", "w"):
        assert float(np.mean(m.controller.params[name])) == pytest.approx(best[name], rel=1e-6)
        assert m.sliders[name].value == pytest.approx(best[name], rel=1e-6)
    e.controls["model"].value = "StuartLandauStep"
    assert e.controller.options["model"] == "StuartLandauStep" and not e.notice
    e._use_button.clicks += 1
    assert m.controller.spec.name == "StuartLandauStep"
    assert float(np.mean(m.controller.params["a"])) == pytest.approx(e.best_params["a"], rel=1e-6)
    e.controller.close()
    m.controller.close()


def test_fitted_parameters_and_a_network_fit_draw_both_fc_matrices():
    e = FitExplorer("HopfStep", n_steps=5)
    e.controls["fit"].value = ["w"]
    assert e.controller.options["fit"] == ("w",) and not e.notice
    assert set(e.initial_sliders) == set(e.truth_sliders) == {"w"}
    e.controls["fit"].value = []
    assert "at least one" in e.notice and e.controls["fit"].value == ["w"]
    e.controls["network"].value = True
    assert e.controller.options["network"] and "k" in e.controls["fit"].options
    assert "k" in e.controller.options["fit"] and e._fc_row.visible and e.controls["region"].visible
    e.controls["target"].value = "example_signal"
    assert e.controller.options["target"] == "example_signal"
    assert not any(s.row.visible for s in e.truth_sliders.values())
    assert _fit(e, 600).kind == "done", e.status
    assert len(e.sources["loss"].data["loss"]) == 5
    assert len(e.sources["fc_pred"].data["value"]) == len(e.sources["fc_target"].data["value"]) == 64
    e.controls["region"].value = 99
    assert "region" in e.notice and e.controls["region"].value == 0
    e.controller.close()


def test_app_has_a_fit_tab_linked_to_the_model_and_network_tabs():
    app = create_app()
    assert app.explorers["model"].wait(120)
    assert app.tabs._names[4:] == ["Fit", "Bifurcation"]
    app.tabs.active = 4
    fit = app.explorers["fit"]
    assert isinstance(fit, FitExplorer) and fit._explorer is app.explorers["model"]
    assert fit.controller.options["model"] == "HopfStep" and fit.result is None
    fit.controls["network"].value = True
    assert fit._explorer is None  # the Network tab is not open yet
    app.tabs.active = 3
    network = app.explorers["network"]
    assert fit._explorer is network
    assert fit._use_button.disabled  # nothing fitted yet: the starting values are sent
    fit.use_parameters()
    assert not fit.notice, fit.notice
    assert network.controller.params["k"] == pytest.approx(fit.best_params["k"], rel=1e-6)
    assert network.wait(300)
    for name in ("model", "network", "fit"):
        app.explorers[name].controller.close()


def test_objective_weights_make_a_weighted_loss_and_an_all_zero_one_is_refused():
    e = FitExplorer(n_steps=3)
    e.controls["weight_cosine_sim"].value = 0.5
    assert e.controller.options["objective"] == {"timeseries_rmse": 1.0, "cosine_sim": 0.5}
    assert e.controls["objective"].value == "weighted: 1 timeseries_rmse + 0.5 cosine_sim"
    e._run_button.clicks += 1
    assert e.wait(120)
    fitter = CachedFitter("HopfStep", fit=("a", "w"), duration=200.0, sample_every=10,
                          objective={"timeseries_rmse": 1.0, "cosine_sim": 0.5})
    out = fitter.fit(e.controller.target_data(), initial=e.controller.options["initial"], n_steps=3)
    np.testing.assert_allclose(e.sources["loss"].data["loss"], out.history, rtol=1e-5)
    e.controls["weight_timeseries_rmse"].value = 0.0
    assert e.controller.options["objective"] == {"cosine_sim": 0.5}
    e.controls["weight_cosine_sim"].value = 0.0
    assert "at least one objective weight must be &gt; 0" in e._notice.value
    assert e.controls["weight_cosine_sim"].value == 0.5
    e.controls["objective"].value = "fc_rmse"
    assert e.objective_weights() == {"timeseries_rmse": 0.0, "fc_corr": 0.0, "fc_rmse": 1.0,
                                     "cosine_sim": 0.0}
