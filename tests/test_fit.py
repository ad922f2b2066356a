"""The fitting engine: recovery, equality with brainmass.Fitter, compile counts, bad input."""

import io

import brainmass
import numpy as np
import pytest
from attacks import BOMB_BYTES, claiming, lying_npz, peak_bytes, pickled_npy, zip_bomb

import brainmass_widgets as bw
from brainmass_widgets._code import fit_script
from brainmass_widgets._fit import MAX_TARGET_BYTES


@pytest.fixture(scope="module")
def hopf():
    return bw.CachedFitter("HopfStep", fit=("a", "w"), duration=200.0, sample_every=10)


def test_a_fit_recovers_known_a_and_w_of_a_synthetic_hopf_target(hopf):
    truth = {"a": 0.6, "w": 0.5}
    out = hopf.fit(hopf.predict(truth), initial={"a": 0.3, "w": 0.3}, lr=0.05, n_steps=300)
    assert out.n_steps == 300
    for name, value in truth.items():
        assert out.best_params[name] == pytest.approx(value, rel=0.05), name
    assert out.best_loss < 0.05 * out.history[0]
    assert out.history[out.best_step] == out.best_loss


def test_loss_history_equals_brainmass_fitter_driven_directly(hopf):
    target = hopf.predict({"a": 0.5, "w": 0.3})
    start = {"a": 0.25, "w": 0.2}
    out = hopf.fit(target, initial=start, lr=0.05, n_steps=40)
    namespace = {}
    exec(fit_script(hopf, initial=start, lr=0.05, n_steps=40, target=target), namespace)
    ref = namespace["result"]
    assert isinstance(ref, brainmass.FitResult)
    np.testing.assert_allclose(out.history, ref.history, rtol=1e-5, atol=1e-7)
    assert out.best_loss == pytest.approx(ref.best_loss, rel=1e-5)


def test_network_fit_to_the_example_signal_matches_brainmass_fitter():
    net = bw.NetworkModel("HopfStep")
    fitter = bw.CachedFitter(net, fit=("a", "k"), duration=500.0, sample_every=10)
    target = bw.load_target("example_signal")
    assert target.shape == (fitter.samples, fitter.regions) == (500, 8)
    out = fitter.fit(target, n_steps=4, lr=0.05)
    namespace = {}
    exec(fit_script(fitter, initial={"a": 0.25, "k": 0.5}, lr=0.05, n_steps=4, example=True), namespace)
    # 5,000 delayed steps of eight regions: float32 round-off of two differently fused programs
    np.testing.assert_allclose(out.history, namespace["result"].history, rtol=1e-3)


def test_changing_lr_start_target_and_fixed_values_compiles_nothing(hopf):
    target = hopf.predict({"a": 0.5, "w": 0.3})
    hopf.fit(target, n_steps=2)
    before = hopf.cache_info()["compiles"]
    hopf.fit(target * 0.9, initial={"a": 0.1, "w": 0.6}, lr=0.2, n_steps=2)
    hopf.fit(target, initial={"a": np.float64(0.2), "w": np.float32(0.4)}, lr=1, n_steps=3)
    other = bw.CachedFitter("HopfStep", fit=("a", "w"), params={"beta": 2.0}, duration=200.0, sample_every=10,
                            cache=hopf.sim._cache)
    other.fit(target, n_steps=2)
    assert hopf.cache_info()["compiles"] == before
    assert len(hopf._step_program().executables()) == 1  # steps from the start and from step 1 alike


def test_checkpointed_loop_gives_the_same_history_with_less_memory():
    kw = dict(fit=("a", "w"), duration=1000.0, sample_every=10)
    plain, ckpt = bw.CachedFitter("HopfStep", **kw), bw.CachedFitter("HopfStep", loop="checkpointed", **kw)
    target = plain.predict({"a": 0.5, "w": 0.3})
    a = plain.fit(target, n_steps=5)
    b = ckpt.fit(target, n_steps=5)
    np.testing.assert_allclose(a.history, b.history, rtol=1e-5)
    assert ckpt.step_memory() < plain.step_memory() / 2


def test_stopping_keeps_the_best_parameters_so_far(hopf):
    target = hopf.predict({"a": 0.5, "w": 0.3})
    out = hopf.fit(target, n_steps=100, on_step=lambda step, loss, params, pred: step < 9)
    assert out.stopped and out.n_steps == 10
    assert out.best_loss == min(out.history)
    assert out.prediction.shape == target.shape


def test_scipy_backend_lowers_the_loss_within_bounds(hopf):
    target = hopf.predict({"a": 0.5, "w": 0.22})
    out = hopf.fit(target, initial={"a": 0.25, "w": 0.2}, backend="scipy", n_steps=60)
    assert out.backend == "scipy" and out.n_steps <= 60
    assert out.best_loss < out.history[0]
    for name, values in out.path.items():
        low, high = hopf.bounds[name]
        assert all(low <= v <= high for v in values)


def test_nevergrad_backend_evaluates_each_generation_in_one_compiled_program(hopf):
    target = hopf.predict({"a": 0.5, "w": 0.22})
    start = {"a": 0.25, "w": 0.2}
    start_loss = hopf.loss(start, target)
    before = hopf.cache_info()["compiles"]
    out = hopf.fit(target, initial=start, backend="nevergrad", n_steps=15, population=8)
    assert hopf.cache_info()["compiles"] == before + 1
    assert out.backend == "nevergrad" and out.n_steps == 15
    assert out.best_loss < start_loss
    assert hopf.loss(out.best_params, target) == pytest.approx(out.best_loss, rel=1e-4)
    for name, values in out.path.items():
        low, high = hopf.bounds[name]
        assert all(low <= v <= high for v in values)
    again = hopf.fit(target, initial=start, backend="nevergrad", n_steps=15, population=8)
    assert again.history == out.history


@pytest.mark.parametrize("kwargs, message", [
    (dict(lr=0), "learning rate must be > 0; got 0"),
    (dict(lr=-1.0), "learning rate must be > 0"),
    (dict(initial={"a": 2.0}), "initial value of 'a' = 2.0 must lie strictly inside its bounds -1.0 .. 1.5"),
    (dict(initial={"beta": 1.0}), "'beta', which is not fitted"),
    (dict(n_steps=0), "n_steps must be an integer >= 1; got 0"),
    (dict(backend="adam"), "unknown backend 'adam'; valid: grad, nevergrad, scipy"),
    (dict(backend="nevergrad", method="BFGS"), "unknown nevergrad method 'BFGS'; valid: DE, TwoPointsDE"),
    (dict(backend="nevergrad", population=1), "population must be an integer in 2 .. 256; got 1"),
    (dict(backend="scipy", method="DE"), "unknown scipy method 'DE'; valid: Nelder-Mead, Powell"),
])
def test_bad_fit_arguments_say_what_is_allowed(hopf, kwargs, message):
    target = hopf.predict({"a": 0.5, "w": 0.3})
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        hopf.fit(target, **kwargs)


def test_bad_targets_name_the_problem(hopf, tmp_path):
    with pytest.raises(ValueError, match=r"shaped \(100, 1\) .* records \(200, 1\)"):
        hopf.fit(np.zeros(100))
    bad = hopf.predict({"a": 0.5, "w": 0.3})
    bad[7, 0] = np.nan
    with pytest.raises(ValueError, match="1 NaN/inf values, the first at sample 7, region 0"):
        hopf.fit(bad)
    path = tmp_path / "t.csv"
    path.write_text("x\n" + "\n".join("1.0" for _ in range(200)))
    assert bw.load_target(path).shape == (200, 1)
    with pytest.raises(ValueError, match="no such file"):
        bw.load_target(tmp_path / "missing.npy")
    buf = io.BytesIO()
    np.savez(buf, a=np.zeros(3), b=np.zeros(3))
    with pytest.raises(ValueError, match="name the target array 'signal'"):
        bw.load_target(buf.getvalue(), name="two.npz")
    with pytest.raises(ValueError, match=r"junk.npy is not a .npy array \(no NumPy magic string\)"):
        bw.load_target(b"not numpy", name="junk.npy")


@pytest.mark.parametrize("make, name, message", [
    (zip_bomb, "t.npz", f"t.npz: member 'weights.npy' unpacks to {BOMB_BYTES + 128:,} bytes; at most "
                        f"{MAX_TARGET_BYTES:,} are allowed"),
    (lambda: claiming((100_000, 100_000)), "t.npy",
     f"t.npy: shape (100000, 100000) of float64 is 80,000,000,000 bytes; at most {MAX_TARGET_BYTES:,} are"),
    (lambda: claiming((31_623, 31_623)), "t.npy",
     f"t.npy: shape (31623, 31623) of float64 is 8,000,113,032 bytes; at most {MAX_TARGET_BYTES:,} are"),
    (lambda: lying_npz((500, 8)), "t.npz", "t.npz: member 'weights.npy': the header claims shape (500, 8)"),
    (pickled_npy, "t.npy", "t.npy holds Python objects (dtype object), which would be unpickled"),
])
@pytest.mark.parametrize("as_path", [False, True])
def test_target_bombs_and_pickles_are_refused_from_their_headers(make, name, message, as_path, tmp_path):
    data = make()
    (tmp_path / name).write_bytes(data)
    source = tmp_path / name if as_path else data
    peak, error = peak_bytes(lambda: bw.load_target(source, name=name))
    assert isinstance(error, ValueError) and str(error).startswith(message), error
    assert peak < 5 * 2**20


def test_a_complex_target_is_refused(tmp_path):
    np.save(tmp_path / "c.npy", np.ones((200, 1)) * 1j)
    with pytest.raises(ValueError, match="c.npy must hold numbers; got dtype complex128"):
        bw.load_target(tmp_path / "c.npy", name="c.npy")


@pytest.mark.parametrize("kwargs, message", [
    (dict(fit=()), "select at least one parameter to fit"),
    (dict(fit=("nope",)), "unknown parameter 'nope' to fit"),
    (dict(objective="mse"), "unknown objective 'mse'; valid: timeseries_rmse"),
    (dict(objective={"fc_corr": 0.0}), "at least one objective weight must be > 0"),
    (dict(optimizer="lbfgs"), "unknown optimizer 'lbfgs'"),
    (dict(loop="scan"), "unknown loop 'scan'"),
    (dict(bounds={"a": (1.0, 0.0)}), "bounds of 'a' must have low < high"),
])
def test_bad_structure_says_what_is_allowed(kwargs, message):
    with pytest.raises(ValueError, match=message):
        bw.CachedFitter("HopfStep", **kwargs)
