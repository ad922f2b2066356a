"""The fitting explorer's controller: live sources, recovery, stop, targets and messages."""

import numpy as np
import pytest

import brainmass_widgets as bw


def test_a_fit_streams_the_engine_history_and_recovers_the_synthetic_truth():
    c = bw.FitController()
    truth, start = c.options["truth"], c.options["initial"]
    assert truth != start
    c.run()
    assert c.wait(300)
    assert c.status.kind == "done", c.status.message
    loss = c.sources["loss"].data
    assert list(loss["step"]) == list(range(300))
    ref = bw.CachedFitter("HopfStep", fit=("a", "w"), duration=200.0, sample_every=10)
    out = ref.fit(ref.predict(truth), initial=start, lr=0.05, n_steps=300)
    np.testing.assert_allclose(loss["loss"], out.history, rtol=1e-5)
    np.testing.assert_allclose(c.sources["paths"].data["a"], out.path["a"], rtol=1e-5)
    for name, value in truth.items():
        assert c.best_params[name] == pytest.approx(value, rel=0.05)
    assert c.best_params["beta"] == 1.0
    np.testing.assert_allclose(c.sources["fit"].data["prediction"], out.prediction[:, 0],
                               rtol=1e-5, atol=1e-6)
    assert "best loss" in c.status.message and "MiB" in c.status.message


def test_network_fit_to_the_example_signal_draws_both_fc_matrices():
    c = bw.FitController(network=True, target="example_signal",
                         objective={"fc_corr": 1.0, "timeseries_rmse": 0.5}, n_steps=3)
    assert c.options["fit"] == ("a", "k")
    c.run()
    assert c.wait(300)
    assert c.status.kind == "done", c.status.message
    signal = bw.load_target("example_signal")
    np.testing.assert_allclose(np.reshape(c.sources["fc_target"].data["value"], (8, 8)),
                               np.corrcoef(signal.T), atol=1e-5)
    pred = c.result.prediction
    np.testing.assert_allclose(np.reshape(c.sources["fc_pred"].data["value"], (8, 8)),
                               np.corrcoef(pred.T), atol=1e-5)
    assert len(c.sources["loss"].data["step"]) == 3


def test_stop_ends_the_fit_and_keeps_the_best_so_far():
    c = bw.FitController(n_steps=10_000)
    c.run()
    for _ in range(600):
        if len(c.sources["loss"].data["step"]) > 5:
            break
        c.wait(0.05)
    c.stop()
    assert c.wait(120)
    assert c.status.kind == "cancelled", c.status.message
    assert 0 < c.result.n_steps < 10_000
    assert c.best_params["a"] == c.result.best_params["a"]


def test_changing_lr_initial_values_and_truth_compiles_nothing():
    c = bw.FitController(n_steps=3)
    c.run()
    assert c.wait(120)
    compiles = c.fitter.cache_info()["compiles"]
    c.configure(lr=0.2, initial={"a": 0.1, "w": 0.3}, truth={"a": 0.4, "w": 0.35})
    c.run()
    assert c.wait(120)
    assert c.status.kind == "done"
    assert c.fitter.cache_info()["compiles"] == compiles


def test_a_custom_target_is_validated_and_fitted(tmp_path):
    c = bw.FitController(n_steps=2)
    good = c.target_data() * 0.5
    path = tmp_path / "mine.npy"
    np.save(path, good)
    c.set_target(path.read_bytes(), "mine.npy")
    assert c.options["target"] == "custom"
    c.run()
    assert c.wait(120)
    np.testing.assert_allclose(c.sources["fit"].data["target"], good[:, 0])
    bad = good.copy()
    bad[4, 0] = np.inf
    with pytest.raises(ValueError, match="bad.npy holds 1 NaN/inf values, the first at sample 4"):
        c.set_target(bad, "bad.npy")
    assert c.status.kind == "error" and "bad.npy" in c.status.message
    with pytest.raises(ValueError, match=r"short.csv is shaped \(3, 1\)"):
        c.set_target(b"1\n2\n3\n", "short.csv")
    assert c.options["target"] == "custom"
    np.testing.assert_allclose(c.target_data(), good)


def test_fitting_fewer_parameters_forgets_the_dropped_ones():
    c = bw.FitController(initial={"a": 0.3, "w": 0.3}, n_steps=2)
    c.configure(fit=("w",))
    assert c.options["initial"] == {"w": 0.3} and set(c.options["truth"]) == {"w"}
    with pytest.raises(ValueError, match="'a', which is not fitted"):
        c.configure(initial={"a": 0.2, "w": 0.3})


@pytest.mark.parametrize("options, message", [
    (dict(fit=()), "select at least one parameter to fit"),
    (dict(lr=0.0), "learning rate must be > 0; got 0.0"),
    (dict(n_steps=0), "n_steps must be an integer in 1 .. 10,000; got 0"),
    (dict(target="example_signal"), r"example_signal is shaped \(500, 8\) .* records \(200, 1\)"),
    (dict(target="custom"), "no custom target loaded yet"),
    (dict(initial={"a": 1.5}), "initial value of 'a' = 1.5 must lie strictly inside its bounds"),
    (dict(region=3), r"region must be an integer in 0 \.\. 0; got 3"),
    (dict(speed=3), "unknown option 'speed'"),
])
def test_bad_settings_name_the_problem_and_change_nothing(options, message):
    c = bw.FitController(n_steps=5)
    before = c.options
    with pytest.raises(ValueError, match=message):
        c.configure(**options)
    assert c.status.kind == "error"
    assert c.options == before


def test_the_peak_memory_of_each_loop_is_kept_until_the_run_changes():
    c = bw.FitController(n_steps=2, duration=1000.0)
    for loop in ("for_loop", "checkpointed"):
        c.configure(loop=loop)
        c.run()
        assert c.wait(300) and c.status.kind == "done", c.status.message
    assert set(c.memory) == {"for_loop", "checkpointed"}
    assert c.memory["checkpointed"] < c.memory["for_loop"]
    assert f"{c.memory['checkpointed'] / 2**20:.2f} MiB (checkpointed)" in c.status.message
    c.configure(lr=0.1)
    assert set(c.memory) == {"for_loop", "checkpointed"}
    c.configure(duration=500.0)
    assert c.memory == {}


def test_a_nevergrad_fit_streams_one_row_per_generation():
    c = bw.FitController(backend="nevergrad", n_steps=6)
    c.run()
    assert c.wait(120) and c.status.kind == "done", c.status.message
    assert list(c.sources["loss"].data["step"]) == list(range(6))
    assert c.result.backend == "nevergrad"
    assert "'backend': 'nevergrad'" not in c.code() and "backend='nevergrad'" in c.code()


def test_a_long_fit_lets_another_sessions_run_go_first():
    pool = bw.compute_pool()
    slots = pool.slots
    pool.resize(1)
    try:
        fit = bw.FitController(n_steps=10_000, session=bw.Session())
        model = bw.ModelController("HopfStep", session=bw.Session(), autorun=False)
        model.run()
        assert model.wait(120)
        fit.run()
        for _ in range(1200):
            if len(fit.sources["loss"].data["step"]) > 5:
                break
            fit.wait(0.05)
        model.set(a=0.35)
        model.run()
        assert model.wait(30) and model.status.kind == "done", model.status
        assert fit.status.kind == "running", fit.status
        fit.stop()
        assert fit.wait(60) and fit.status.kind == "cancelled"
    finally:
        pool.resize(slots)
