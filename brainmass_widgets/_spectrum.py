"""Power spectra of monitored traces: Welch densities, their peak, and the ranges and labels
that show them.

Plain NumPy and SciPy, no Bokeh: the model explorer's spectrum figure (:mod:`._plots`) and the
exported page (:mod:`._export`) both draw what these functions compute.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.signal import welch

__all__ = ["SPECTRUM_FLOOR", "SPECTRUM_PERIODS", "peak_text", "power_spectrum", "psd_label",
           "spectrum_levels", "spectrum_points", "spectrum_segment", "spectrum_view", "trend_frequency"]


#: A Welch segment spans at least this many periods of the trace's dominant frequency.
SPECTRUM_PERIODS = 8
#: Power spectral densities below this are drawn at it (the y axis is logarithmic).
SPECTRUM_FLOOR = 1e-30


def _padded_length(n: int) -> int:
    return max(int(n), min(4 * int(n), 1 << 15))


def spectrum_points(n: int) -> int:
    """How many frequencies :func:`power_spectrum` gives for a trace of ``n`` samples, at most."""
    return _padded_length(n) // 2 + 1


def spectrum_segment(traces: np.ndarray) -> int:
    """The Welch segment length :func:`power_spectrum` uses for traces (the longest any asks for).

    A segment spans :data:`SPECTRUM_PERIODS` periods of a trace's dominant frequency (read from
    the periodogram of the whole trace) or an eighth of the trace, whichever is longer, and at
    most the whole trace: short runs keep their frequency resolution, long runs are averaged.
    Traces holding NaN or inf take the whole trace.

    Parameters
    ----------
    traces : array
        Shaped ``(time,)`` or ``(time, traces)``.

    Returns
    -------
    int
        Samples per segment.
    """
    x = np.asarray(traces, dtype=np.float64)
    n = x.shape[0]
    x = x.reshape(n, -1)
    if n < 8 or not np.all(np.isfinite(x)):
        return n
    raw = np.abs(np.fft.rfft(x - x.mean(axis=0), axis=0)) ** 2
    cycles = int(np.min(np.argmax(raw[1:], axis=0))) + 1
    return int(min(n, max(np.ceil(SPECTRUM_PERIODS * n / cycles), n // 8, 4)))


def power_spectrum(trace: np.ndarray, sample_s: float,
                   nperseg: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Welch power spectral density of a trace, one-sided, in (trace unit)² per Hz.

    The trace is cut into Hann-windowed segments overlapping by half, each de-meaned, of
    :func:`spectrum_segment` samples. Each segment is zero-padded to 4 times its length (up to
    32,768 samples), which samples the spectrum finely enough to draw and read its peak. The
    density integrates over frequency to the trace's variance.

    Parameters
    ----------
    trace : array
        Samples of one variable, shaped ``(time,)``.
    sample_s : float
        Sample spacing in seconds.
    nperseg : int, optional
        Samples per segment (at most the trace's): spectra drawn against one frequency column
        share it, e.g. :func:`spectrum_segment` of all their traces.

    Returns
    -------
    (array, array)
        Frequencies in Hz (from 0 to the Nyquist frequency) and the density at each, at least
        :data:`SPECTRUM_FLOOR`. Traces of fewer than 4 samples give two empty arrays.
    """
    x = np.asarray(trace, dtype=np.float64).reshape(-1)
    n = x.shape[0]
    if n < 4:
        return np.zeros(0), np.zeros(0)
    nperseg = spectrum_segment(x) if nperseg is None else max(4, min(int(nperseg), n))
    nfft = _padded_length(nperseg)
    freq, psd = welch(x, fs=1.0 / sample_s, window="hann", nperseg=nperseg, noverlap=nperseg // 2,
                      nfft=nfft, detrend="constant", scaling="density")
    return freq, np.maximum(psd, SPECTRUM_FLOOR)


def spectrum_view(freq: np.ndarray, psds: Sequence[np.ndarray], share: float = 0.99, margin: float = 1.5,
                  least: float = 5.0, lowest: float = 0.0) -> tuple[float | None, float]:
    """The peak frequency of spectra and the end of an x range that shows where their power is.

    Parameters
    ----------
    freq : array
        Frequencies in Hz, ascending, shared by every spectrum.
    psds : sequence of array
        Densities at ``freq`` (non-finite values are ignored); they are summed.
    share : float, default 0.99
        The range covers the frequency below which this share of the summed power lies ...
    margin : float, default 1.5
        ... times this margin (and the peak times it) ...
    least : float, default 5.0
        ... and at least this many Hz, but not beyond the last frequency.
    lowest : float, default 0.0
        The peak is sought at this frequency and above (:func:`trend_frequency`: below it lies
        a trend or an initial transient, not an oscillation).

    Returns
    -------
    (float or None, float)
        The frequency (above 0 and ``lowest``) of the summed spectrum's highest local maximum
        (of its maximum there when it has none: a falling tail), refined by a parabola through
        the log density of its two neighbours; ``None`` where the spectra hold no power above
        :data:`SPECTRUM_FLOOR`. And the range's end in Hz.
    """
    freq = np.asarray(freq, dtype=np.float64)
    if freq.size < 2 or not len(psds):
        return None, least
    total = np.sum([np.where(np.isfinite(p), p, 0.0) for p in psds], axis=0)
    top = float(freq[-1])
    if total[1:].max() <= len(psds) * SPECTRUM_FLOOR:
        return None, top
    first = max(1, min(int(np.searchsorted(freq, lowest)), freq.size - 1))
    inner = np.arange(first, freq.size - 1)
    bumps = inner[(total[inner] > total[inner - 1]) & (total[inner] >= total[inner + 1])]
    top_bin = int(bumps[np.argmax(total[bumps])]) if bumps.size else first + int(np.argmax(total[first:]))
    peak = float(freq[top_bin])
    if top_bin + 1 < freq.size:
        a, b, c = np.log(np.maximum(total[top_bin - 1:top_bin + 2], SPECTRUM_FLOOR))
        bend = a - 2 * b + c
        if bend < 0:
            peak += float(0.5 * (a - c) / bend * (freq[top_bin] - freq[top_bin - 1]))
    cumulative = np.concatenate([[0.0], np.cumsum(0.5 * (total[1:] + total[:-1]) * np.diff(freq))])
    below = float(freq[min(int(np.searchsorted(cumulative, share * cumulative[-1])), freq.size - 1)])
    return peak, min(top, max(margin * below, margin * peak, least))


def trend_frequency(nperseg: int, sample_s: float) -> float:
    """The frequency of one cycle per Welch segment of ``nperseg`` samples, in Hz: slower power
    is a trend or a transient, and :func:`spectrum_view` reads no peak there."""
    return 1.0 / (max(int(nperseg), 1) * sample_s)


def spectrum_levels(freq: np.ndarray, psds: Sequence[np.ndarray], end: float,
                    decades: float = 10.0) -> tuple[float, float]:
    """A log y range for spectra shown up to ``end`` Hz: their values there, padded by a factor 2,
    spanning at most ``decades`` decades below the largest.

    Parameters
    ----------
    freq : array
        Frequencies in Hz.
    psds : sequence of array
        Densities at ``freq``.
    end : float
        The x range's end (:func:`spectrum_view`).
    decades : float, default 10.0
        The deepest the range reaches below its top.

    Returns
    -------
    (float, float)
        Start and end of the range (``(1e-6, 1)`` when nothing finite is shown).
    """
    shown = np.asarray(freq) <= end
    values = np.concatenate([np.zeros(0)] + [np.asarray(p, dtype=np.float64)[shown] for p in psds])
    values = values[np.isfinite(values) & (values > SPECTRUM_FLOOR)]
    if not values.size:
        return 1e-6, 1.0
    high = float(values.max())
    low = max(float(values.min()), high * 10.0 ** -decades)
    return low / 2, high * 2


def psd_label(unit: object | None) -> str:
    """The y-axis label of a power spectral density of a state in ``unit`` (``None``: unitless)."""
    if unit is None:
        return "PSD [1/Hz]"
    text = str(unit)
    return f"PSD [{text}²/Hz]" if text.isidentifier() else f"PSD [({text})²/Hz]"


def peak_text(peak: float | None) -> str:
    """How a spectrum's title reads its peak: ``"peak 31.8 Hz"``, or ``"no oscillation"``."""
    if peak is None:
        return "no oscillation"
    return f"peak {peak:.3g} Hz" if peak < 1000 else f"peak {peak:.0f} Hz"
