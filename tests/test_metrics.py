import jax.numpy as jnp
import numpy as np
import pytest

from brainmass_widgets import _metrics


def _sine(amplitude, freq_hz, n=4000, dt_s=1e-4):
    t = np.arange(n) * dt_s
    return jnp.asarray(amplitude * np.sin(2 * np.pi * freq_hz * t))[:, None], dt_s


def test_amplitude_of_a_sine_is_its_amplitude():
    x, dt = _sine(0.7, 25.0)
    assert float(_metrics.amplitude(x, dt)[0]) == pytest.approx(0.7, rel=1e-3)


def test_frequency_of_a_sine_in_hz():
    x, dt = _sine(1.0, 25.0)
    assert float(_metrics.frequency(x, dt)[0]) == pytest.approx(25.0, abs=0.5)


def test_frequency_of_a_flat_trace_is_nan():
    assert np.isnan(float(_metrics.frequency(jnp.ones((100, 1)), 1e-3)[0]))
    assert np.isnan(float(_metrics.frequency(jnp.zeros((100, 1)), 1e-3)[0]))


def test_frequency_is_nan_for_round_off_but_not_for_a_small_sine():
    t = np.arange(2000) * 1e-4
    rng = np.random.default_rng(0)
    round_off = (4.688 + 4.688 * np.finfo(np.float32).eps * rng.standard_normal(t.size)).astype(np.float32)
    small_sine = 24.5 + 0.01 * np.sin(2 * np.pi * 10.0 * t)
    x = jnp.asarray(np.stack([round_off, small_sine], axis=1), dtype=jnp.float32)
    got = np.asarray(_metrics.frequency(x, 1e-4))
    assert np.isnan(got[0])
    assert got[1] == pytest.approx(10.0, abs=0.5)


def test_minmax_stacks_min_then_max():
    x, dt = _sine(2.0, 10.0)
    mm = np.asarray(_metrics.minmax(x, dt))
    assert mm.shape == (2, 1)
    assert mm[0, 0] == pytest.approx(-2.0, abs=1e-3) and mm[1, 0] == pytest.approx(2.0, abs=1e-3)


def test_mean_std():
    x = jnp.asarray([[1.0], [3.0]])
    assert float(_metrics.mean(x, 1.0)[0]) == 2.0
    assert float(_metrics.std(x, 1.0)[0]) == 1.0


def test_unknown_metric_lists_valid_names():
    with pytest.raises(ValueError, match="amplitude.*minmax.*frequency"):
        _metrics.resolve_metric("power")
