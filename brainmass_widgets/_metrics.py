"""Reductions of a monitored trace to one value per region, for parameter sweeps.

Every metric takes a trace shaped ``(time, *regions)`` (a JAX array of magnitudes) and the sample
spacing in seconds, and returns an array shaped ``metric_shape + regions`` (``fc`` and ``sync``:
one value for all regions together). They are traced inside
the compiled sweep program, so they use ``jax.numpy`` only.
"""

from __future__ import annotations

from collections.abc import Callable

import jax.numpy as jnp

from ._network import order_parameter

__all__ = ["METRICS", "amplitude", "minmax", "frequency", "mean", "std", "fc", "sync", "resolve_metric"]


def amplitude(x: jnp.ndarray, sample_s: float) -> jnp.ndarray:
    """sqrt(2) x RMS over time: a sine of amplitude A gives A."""
    return jnp.sqrt(jnp.mean(x**2, axis=0)) * jnp.sqrt(2.0)


def minmax(x: jnp.ndarray, sample_s: float) -> jnp.ndarray:
    """Minimum and maximum over time, stacked on a leading axis of length 2 (the two branches)."""
    return jnp.stack([jnp.min(x, axis=0), jnp.max(x, axis=0)])


#: A trace whose standard deviation is at most this fraction of its largest magnitude is flat:
#: what is left is float32 round-off, not an oscillation.
FLAT_TOLERANCE = 1e-5


def frequency(x: jnp.ndarray, sample_s: float) -> jnp.ndarray:
    """Dominant frequency of the de-meaned trace, in Hz; NaN where the trace is flat.

    Flat: its standard deviation is at most :data:`FLAT_TOLERANCE` of its largest magnitude, so
    the spectrum would only show round-off.
    """
    centred = x - jnp.mean(x, axis=0)
    power = jnp.abs(jnp.fft.rfft(centred, axis=0)) ** 2
    idx = jnp.argmax(power[1:], axis=0) + 1
    freq = idx / (x.shape[0] * sample_s)
    flat = jnp.std(centred, axis=0) <= FLAT_TOLERANCE * jnp.max(jnp.abs(x), axis=0)
    return jnp.where(flat, jnp.nan, freq)


def mean(x: jnp.ndarray, sample_s: float) -> jnp.ndarray:
    """Mean over time."""
    return jnp.mean(x, axis=0)


def std(x: jnp.ndarray, sample_s: float) -> jnp.ndarray:
    """Standard deviation over time."""
    return jnp.std(x, axis=0)


def fc(x: jnp.ndarray, sample_s: float) -> jnp.ndarray:
    """Mean functional connectivity: the mean off-diagonal Pearson correlation between regions
    (one value for the whole network)."""
    x = x.reshape(x.shape[0], -1)
    c = jnp.corrcoef(x.T)
    n = c.shape[0]
    return (jnp.sum(c) - jnp.trace(c)) / (n * (n - 1))


def sync(x: jnp.ndarray, sample_s: float) -> jnp.ndarray:
    """Mean over time of the Kuramoto order parameter of the regions' analytic-signal phases
    (1: all regions in phase; one value for the whole network)."""
    return jnp.mean(order_parameter(x.reshape(x.shape[0], -1)))


METRICS: dict[str, Callable] = {
    "amplitude": amplitude,
    "minmax": minmax,
    "frequency": frequency,
    "mean": mean,
    "std": std,
    "fc": fc,
    "sync": sync,
}


def resolve_metric(metric: str | Callable) -> Callable:
    """Return the metric function for a name, or wrap a user callable ``f(trace)``.

    Raises
    ------
    ValueError
        If ``metric`` is neither a known name nor callable.
    """
    if callable(metric):
        return lambda x, sample_s: jnp.asarray(metric(x))
    if metric in METRICS:
        return METRICS[metric]
    raise ValueError(f"unknown metric {metric!r}; choose one of: {', '.join(METRICS)}, or a callable")
