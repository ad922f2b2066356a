"""The ipywidgets fitting explorer: Fit fills the loss as the engine computes it, bad input is
refused, Stop keeps the best values and "Use these parameters" sends them on."""

import datetime

import numpy as np
from progress import start_and_wait_running

from brainmass_widgets import CachedFitter
from brainmass_widgets.ipywidgets import FitExplorer, ModelExplorer


def _upload(e, name, data):
    e._upload.value = ({"name": name, "type": "", "size": len(data), "content": memoryview(data),
                        "last_modified": datetime.datetime.now(datetime.UTC)},)


def test_nothing_runs_until_fit_and_the_loss_equals_the_engine_history():
    e = FitExplorer("HopfStep", fit=("a", "w"), n_steps=40)
    assert set(e.fit_checkboxes) == {"a", "w", "beta"}
    assert [n for n, b in e.fit_checkboxes.items() if b.value] == ["a", "w"]
    a = e.initial_sliders["a"]
    assert (a.min, a.max) == e.controller.fitter.bounds["a"] and a.description == "a"
    assert e.status.kind == "idle" and len(e.sources["loss"].data["loss"]) == 0
    e.initial_sliders["a"].value = 0.3
    e.controls["lr"].value = 0.08
    assert e.status.kind == "idle" and len(e.sources["loss"].data["loss"]) == 0
    opts = e.controller.options
    assert opts["initial"]["a"] == 0.3 and opts["lr"] == 0.08
    e._run.click()
    assert e.wait(180) and e.status.kind == "done", e.status
    fitter = CachedFitter("HopfStep", fit=("a", "w"), duration=opts["duration"], sample_every=10)
    direct = fitter.fit(fitter.predict(opts["truth"]), initial=opts["initial"], lr=0.08, n_steps=40)
    loss = e.sources["loss"].data["loss"]
    assert len(loss) == 40
    np.testing.assert_allclose(loss, direct.history, rtol=1e-5)
    np.testing.assert_allclose(e.sources["paths"].data["a"], direct.path["a"], rtol=1e-5)
    assert "for_loop" in e._memory.value and "MiB" in e._memory.value
    assert not e._fc_row.visible
    e.close()


def test_a_new_learning_rate_fits_again_without_compiling():
    e = FitExplorer("HopfStep", fit=("a", "w"), n_steps=20)
    e._run.click()
    assert e.wait(180) and e.status.kind == "done", e.status
    first = list(e.sources["loss"].data["loss"])
    compiles = e.controller.fitter.cache_info()["compiles"]
    e.controls["lr"].value = 0.02
    e._run.click()
    assert e.wait(120) and e.status.kind == "done", e.status
    assert e.controller.fitter.cache_info()["compiles"] == compiles
    second = e.sources["loss"].data["loss"]
    assert len(second) == 20 and not np.allclose(second[1:], first[1:])
    e.close()


def test_bad_input_shows_a_message_reverts_and_a_later_fit_works():
    e = FitExplorer("HopfStep", fit=("a", "w"), n_steps=20)
    e.controls["lr"].value = 0.0
    assert "learning rate" in e._status.value and "bmw-error" in e._status.value
    assert e.controls["lr"].value == 0.05 and e.controller.options["lr"] == 0.05
    rows = ["0.1"] * e.controller.fitter.samples
    rows[3] = "nan"
    _upload(e, "broken.csv", "\n".join(rows).encode())
    assert "broken.csv" in e._status.value and "bmw-error" in e._status.value
    assert "shaped" not in e._status.value
    assert e.controller.options["target"] == "synthetic" and e._upload.value == ()
    e.controls["target"].value = "custom"
    assert "no custom target" in e._status.value and e.controls["target"].value == "synthetic"
    e.fit_checkboxes["a"].value = False
    assert e.controller.options["fit"] == ("w",) and set(e.initial_sliders) == {"w"}
    e.fit_checkboxes["w"].value = False
    assert "select at least one parameter" in e._status.value
    assert e.fit_checkboxes["w"].value and e.controller.options["fit"] == ("w",)
    rows[3] = "0.2"
    _upload(e, "fixed.csv", "\n".join(rows).encode())
    assert e.controller.options["target"] == "custom" and e.controls["target"].value == "custom"
    assert all(s.layout.display == "none" for s in e.truth_sliders.values())
    assert "bmw-error" not in e._status.value
    e.controls["target"].value = "synthetic"
    assert e.controller.options["target"] == "synthetic"
    e.controls["n_steps"].value = 0
    assert "n_steps" in e._status.value and e.controls["n_steps"].value == 20
    e._run.click()
    assert e.wait(180) and e.status.kind == "done", e.status
    assert len(e.sources["loss"].data["loss"]) == 20 and list(e.result.best_params) == ["w"]
    e.close()


def _buttons(e):
    """Whether Fit, Stop and "Use these parameters" are disabled."""
    return e._run.disabled, e._stop.disabled, e._use.disabled


def test_fit_is_disabled_while_fitting_stop_only_then_and_use_once_a_fit_has_ended():
    e = FitExplorer("HopfStep", fit=("a", "w"), n_steps=5)
    assert _buttons(e) == (False, True, True)
    shown = []
    e.controller.on_status(lambda st: shown.append((st.kind, *_buttons(e))))
    for _ in range(2):  # the second fit has a result to use, but not while it runs
        e._run.click()
        assert e.wait(180) and e.status.kind == "done", e.status
        assert ("running", True, False, True) in shown, shown
        assert _buttons(e) == (False, True, False)
        shown.clear()
    e.controls["lr"].value = 0.02
    assert _buttons(e) == (False, True, False)
    e.close()


def test_stop_ends_a_long_fit_and_keeps_its_best_parameters():
    e = FitExplorer("HopfStep", fit=("a", "w"), n_steps=2000)
    start_and_wait_running(e.controller, e._run.click)
    assert _buttons(e) == (True, False, True)
    e._stop.click()
    assert e.wait(120) and e.status.kind == "cancelled", e.status
    assert _buttons(e) == (False, True, False)
    result = e.result
    assert result.stopped and result.n_steps < 2000
    assert set(result.best_params) == {"a", "w"}
    assert {k: e.best_params[k] for k in ("a", "w")} == result.best_params
    e.close()


def test_use_these_parameters_sets_the_linked_model_explorer():
    m = ModelExplorer("HopfStep", duration=100.0)
    assert m.wait(180)
    e = FitExplorer("HopfStep", fit=("a", "w"), n_steps=30)
    e.link(m)
    e._run.click()
    assert e.wait(180) and e.status.kind == "done", e.status
    best = e.best_params
    assert best["a"] != e.controller.options["initial"]["a"]
    e._use.click()
    assert m.wait(120)
    for name in ("a", "w", "beta"):
        assert m.controller.params[name] == best[name]
        assert m.sliders[name].value == best[name]
    m.close()
    e.close()


def test_objective_weights_make_a_weighted_loss():
    e = FitExplorer("HopfStep", n_steps=3)
    e.controls["weight_fc_rmse"].value = 2.0
    assert e.controller.options["objective"] == {"timeseries_rmse": 1.0, "fc_rmse": 2.0}
    assert e.controls["objective"].value == "weighted: 1 timeseries_rmse + 2 fc_rmse"
    e._run.click()
    assert e.wait(120) and e.status.kind == "done", e.status
    fitter = CachedFitter("HopfStep", fit=("a", "w"), duration=200.0, sample_every=10,
                          objective={"timeseries_rmse": 1.0, "fc_rmse": 2.0})
    out = fitter.fit(e.controller.target_data(), initial=e.controller.options["initial"], n_steps=3)
    np.testing.assert_allclose(e.sources["loss"].data["loss"], out.history, rtol=1e-5)
    e.controls["weight_timeseries_rmse"].value = 0.0
    e.controls["weight_fc_rmse"].value = 0.0
    assert "at least one objective weight must be" in e._status.value
    assert e.controls["weight_fc_rmse"].value == 2.0
    e.controls["objective"].value = "cosine_sim"
    assert e.objective_weights()["cosine_sim"] == 1.0 and e.controls["weight_fc_rmse"].value == 0.0
    e.close()
