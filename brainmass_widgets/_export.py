"""A model explorer written out as one self-contained HTML page that needs no kernel.

:func:`export_page` runs the model at every point of a small grid of one to three parameters in
one compiled vmap program (:meth:`CachedSimulator.run_points`), and writes one HTML file holding
BokehJS inline, the precomputed trajectories, phase portraits and spectra, and one Bokeh slider
per grid parameter. Moving a slider swaps the plotted data for the run at that grid point with a
``CustomJS`` callback in the browser alone: the page works offline, on nbviewer and in slides.

The computation goes through the same gates as an explorer's run: the process's
:class:`~brainmass_widgets.Limits` (grid points, steps, regions, ensemble size, memory and work of
the whole grid) and a background slot of the :class:`~brainmass_widgets.ComputePool`.
"""

from __future__ import annotations

import html
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import brainunit as u
import numpy as np
from bokeh.embed import file_html
from bokeh.layouts import column, row
from bokeh.models import ColumnDataSource, CustomJS, CustomJSTickFormatter, Div, Slider
from bokeh.resources import INLINE

from . import _plots
from ._engine import CachedSimulator
from ._limits import compute_pool, limits
from ._model_controller import ModelController
from ._units import magnitude

__all__ = ["MAX_PAGE_PARAMS", "MAX_PAGE_POINTS", "MAX_PAGE_VALUES", "export_page", "page_html"]

MAX_PAGE_PARAMS = 3
"""Parameters a page's grid may vary (one slider each)."""
MAX_PAGE_POINTS = 64
"""Grid points (precomputed runs) one page may hold."""
MAX_PAGE_VALUES = 2_000_000
"""Plotted values (float32) one page may embed over all its runs, about 11 MB of HTML."""

_SLIDER_JS = """
let i = 0;
for (let k = 0; k < sliders.length; k++) {
  i = i * shape[k] + Math.round(sliders[k].value);
}
const traj = {t: runs.data["t"]};
for (const col of traj_cols) traj[col] = runs.data[i + "|" + col];
trajectory.data = traj;
phase.data = {u: runs.data[i + "|u"], v: runs.data[i + "|v"]};
const spec = {f: spectra.data["f"]};
for (const col of spec_cols) spec[col] = spectra.data[i + "|" + col];
spectrum.data = spec;
spec_fig.x_range.start = 0;
spec_fig.x_range.end = spec_ends[i];
spec_fig.x_range.reset_start = 0;
spec_fig.x_range.reset_end = spec_ends[i];
spec_fig.y_range.start = spec_levels[i][0];
spec_fig.y_range.end = spec_levels[i][1];
spec_fig.y_range.reset_start = spec_levels[i][0];
spec_fig.y_range.reset_end = spec_levels[i][1];
peak_line.visible = spec_peaks[i] !== null;
peak_line.location = spec_peaks[i] === null ? 0 : spec_peaks[i];
spec_fig.title.text = spec_titles[i];
info.text = notes[i];
"""

_DIVERGED = (" &mdash; <b style='color:#b35900'>diverged (NaN/inf): try a smaller dt or other "
             "values</b>")
_FORMAT_JS = ("const v = values[Math.round(tick)]; "
              "return v === undefined ? '' : String(Number(v.toPrecision(4)));")


def _settings(source: ModelController | CachedSimulator, given: Mapping[str, Any]) -> dict[str, Any]:
    """The simulator and run settings of ``source``; ``given`` (not ``None``) overrides them."""
    if isinstance(source, ModelController):
        opts = source.options
        settings = {"sim": source.simulator, "params": source.params, "duration": opts["duration"],
                    "transient": opts["transient"], "sample_every": opts["sample_every"],
                    "monitors": opts["monitors"], "phase": opts["phase"], "init": opts["init"],
                    "seed": opts["seed"], "batch_size": opts["batch_size"], "regions": opts["regions"]}
    elif isinstance(source, CachedSimulator):
        spec = source.spec
        if spec is None:
            raise ValueError("a page needs a catalogue model (a factory model has no parameter ranges)")
        settings = {"sim": source, "params": {}, "duration": spec.duration, "transient": None,
                    "sample_every": None, "monitors": None, "phase": None, "init": None, "seed": 0,
                    "batch_size": None, "regions": 4}
    else:
        raise ValueError(f"expected a ModelController or a CachedSimulator; got {source!r}")
    settings.update({k: v for k, v in given.items() if v is not None})
    sim: CachedSimulator = settings["sim"]
    states = sim.states
    monitors = settings["monitors"] or [sim.spec.default_monitor]
    settings["monitors"] = (monitors,) if isinstance(monitors, str) else tuple(monitors)
    phase = tuple(settings["phase"] or (states[:2] if len(states) > 1 else states * 2))
    if len(phase) != 2 or not all(s in states for s in phase):
        raise ValueError(f"phase must name two states of {sim.spec.name}; valid: {', '.join(states)}; "
                         f"got {settings['phase']!r}")
    settings["phase"] = phase
    return settings


def _decimal(name: str, value: Any, unit: Any) -> Any:
    """A quantity's magnitude in ``unit`` (dimensionless when ``None``), or a ``ValueError``."""
    try:
        return value.to_decimal(unit) if unit is not None else value.to_decimal()
    except Exception:
        raise ValueError(f"grid value {value!r} of {name!r} is not convertible to "
                         f"{unit or 'a number'}") from None


def _axis(name: str, values: Any, unit: Any) -> np.ndarray:
    """One grid axis as sorted float magnitudes in ``unit``, or a ``ValueError`` naming the value."""
    if isinstance(values, str | bytes) or not isinstance(values, Sequence | np.ndarray | u.Quantity):
        raise ValueError(f"grid values of {name!r} must be a sequence of numbers; got {values!r}")
    items = list(np.asarray(_decimal(name, values, unit)) if isinstance(values, u.Quantity) else values)
    out = []
    for v in items:
        if isinstance(v, u.Quantity):
            v = np.asarray(_decimal(name, v, unit))
        if isinstance(v, bool | np.bool_) or not isinstance(v, int | float | np.number | np.ndarray) \
                or np.ndim(v) != 0 or not math.isfinite(float(v)):
            allowed = "a finite number" + ("" if unit is None else f" (in {unit})")
            raise ValueError(f"grid value {v!r} of {name!r} must be {allowed}")
        out.append(float(v))
    if len(out) < 2:
        raise ValueError(f"grid values of {name!r} must hold at least 2 values (one slider position each); "
                         f"got {items!r}")
    arr = np.sort(np.asarray(out, dtype=np.float64))
    same = np.flatnonzero(np.diff(arr) == 0)
    if same.size:
        raise ValueError(f"grid value {arr[same[0]]:g} of {name!r} appears more than once")
    return arr


def _grid(sim: CachedSimulator, grid: Any) -> dict[str, np.ndarray]:
    """``grid`` checked and made numeric: parameter name to sorted values."""
    if not isinstance(grid, Mapping) or not 1 <= len(grid) <= MAX_PAGE_PARAMS:
        raise ValueError(f"grid must map 1 to {MAX_PAGE_PARAMS} parameter names to sequences of values; "
                         f"got {grid!r}")
    specs = sim.param_specs
    axes = {}
    for name, values in grid.items():
        if name not in specs:
            raise ValueError(f"unknown grid parameter {name!r} for {sim.spec.name}; "
                             f"valid: {', '.join(specs)}")
        axes[name] = _axis(name, values, specs[name].unit)
    points = math.prod(a.size for a in axes.values())
    if points > MAX_PAGE_POINTS:
        sizes = " x ".join(str(a.size) for a in axes.values())
        raise ValueError(f"grid has {sizes} = {points} points; a page holds at most {MAX_PAGE_POINTS} "
                         f"precomputed runs: use fewer values")
    return axes


def _columns(res: Any, i: int, s: Mapping[str, Any], lines: Sequence[str], sample_s: float,
             segment: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray]:
    """Trajectory-and-phase columns and spectrum columns (Welch segments of ``segment`` samples)
    of point ``i``, and the frequencies."""
    batched = bool(s["batch_size"])
    lead = 2 if batched else 1

    def regions(state: str) -> np.ndarray:
        arr = magnitude(res[state])[:, i]
        return arr.reshape(arr.shape[:lead] + (-1,))

    runs: dict[str, np.ndarray] = {}
    spec: dict[str, np.ndarray] = {}
    freq = np.zeros(0)
    first = s["monitors"][0]
    for name in lines:
        state, r = name[:-1].split("[")
        arr = regions(state)[..., int(r)]
        if batched:
            mean, std = arr.mean(axis=1), arr.std(axis=1)
            lo, hi = _plots.line_columns(name)
            runs[name], runs[lo], runs[hi] = mean, mean - std, mean + std
        else:
            runs[name] = arr
        if state == first:
            freq, spec[name] = _plots.power_spectrum(arr.mean(axis=1) if batched else arr, sample_s, segment)
    for col, state in zip(("u", "v"), s["phase"], strict=True):
        arr = regions(state)
        runs[col] = arr.mean(axis=1)[:, 0] if batched else arr[:, 0]
    return ({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in runs.items()},
            {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in spec.items()}, freq)


def _check(s: Mapping[str, Any], axes: Mapping[str, np.ndarray], n_lines: int) -> tuple[int, int, int]:
    """Refuse a page beyond :data:`MAX_PAGE_VALUES` or the process's limits; the run's steps."""
    sim: CachedSimulator = s["sim"]
    n, n_tr, k = sim.steps(s["duration"], s["transient"], s["sample_every"])
    points = math.prod(a.size for a in axes.values())
    kept = len(range(n_tr, n, k))
    runs = int(s["batch_size"] or 1)
    regions = int(np.prod(np.atleast_1d(sim.in_size)))
    per_line = 3 if s["batch_size"] else 1
    values = points * (kept * (n_lines * per_line + 2) + _plots.spectrum_points(kept) * n_lines)
    if values > MAX_PAGE_VALUES:
        raise ValueError(f"the page would hold {values:,} values ({points} grid points x {kept:,} samples "
                         f"x {n_lines} lines with phase and spectrum); a page holds at most "
                         f"{MAX_PAGE_VALUES:,}: shorten the duration, record every k-th step (sample_every) "
                         f"or use fewer grid values")
    dt_ms = float(sim.dt.to_decimal(u.ms))
    what = f"a page of {points} runs of {n * dt_ms:g} ms at dt = {dt_ms:g} ms"
    allowed = limits()
    allowed.check_grid(points)
    allowed.check_steps(n, what)
    allowed.check_regions(regions)
    if s["batch_size"]:
        allowed.check_batch(runs)
    size = ((points, "grid points"), (regions, "regions"), (runs, "runs"))
    recorded = len(dict.fromkeys(s["monitors"] + s["phase"]))
    allowed.check_memory(what, ((n + kept, f"steps ({n:,} recorded + {kept:,} kept)"), *size,
                                (recorded, "monitors")))
    allowed.check_work(what, ((n, "steps"), *size))
    return n, n_tr, k


def _number(value: Any) -> str:
    mean = float(np.mean(magnitude(value)))
    return f"{mean:.4g}" if np.ndim(magnitude(value)) == 0 else f"{mean:.4g} (region mean)"


def page_html(source: ModelController | CachedSimulator, grid: Mapping[str, Any], *,
              title: str | None = None, **settings: Any) -> str:
    """The HTML of :func:`export_page`, as a string (nothing is written).

    Parameters
    ----------
    source, grid, title, **settings
        As for :func:`export_page`.

    Returns
    -------
    str
        One self-contained HTML document.
    """
    unknown = sorted(set(settings) - {"params", "duration", "transient", "sample_every", "monitors", "phase",
                                      "init", "seed", "batch_size", "regions"})
    if unknown:
        raise ValueError(f"unknown setting {unknown[0]!r}; valid: params, duration, transient, sample_every, "
                         f"monitors, phase, init, seed, batch_size, regions")
    s = _settings(source, settings)
    sim: CachedSimulator = s["sim"]
    spec = sim.spec
    axes = _grid(sim, grid)
    n_regions = int(np.prod(np.atleast_1d(sim.in_size)))
    shown = range(min(int(s["regions"]), n_regions))
    lines = [f"{m}[{r}]" for m in s["monitors"] for r in shown]
    n, _n_tr, k = _check(s, axes, len(lines))
    mesh = np.meshgrid(*axes.values(), indexing="ij")
    points = {name: m.reshape(-1) for name, m in zip(axes, mesh, strict=True)}
    fixed = {name: v for name, v in s["params"].items() if name not in axes}
    with compute_pool().slot(background=True):
        res = sim.run_points(points, s["duration"], params=fixed,
                             monitors=tuple(dict.fromkeys(s["monitors"] + s["phase"])), init=s["init"],
                             transient=s["transient"], sample_every=s["sample_every"],
                             batch_size=s["batch_size"], seed=s["seed"])
    sample_s = float(u.get_magnitude(sim.dt * k / u.second))
    t_ms = np.ascontiguousarray(magnitude(res["ts"].to_decimal(u.ms)), dtype=np.float64)
    runs: dict[str, np.ndarray] = {"t": t_ms}
    spectra: dict[str, np.ndarray] = {}
    notes = []
    spec_ends, spec_peaks, spec_titles, spec_levels = [], [], [], []
    spec_title = f"{spec.name}: power spectral density of {s['monitors'][0]}"
    total = next(iter(points.values())).size
    specs = sim.param_specs
    traces = magnitude(res[s["monitors"][0]])
    traces = traces.reshape(traces.shape[:3 if s["batch_size"] else 2] + (-1,))
    traces = (traces.mean(axis=2) if s["batch_size"] else traces)[..., :len(shown)]
    segment = _plots.spectrum_segment(traces.reshape(traces.shape[0], -1))
    lowest = _plots.trend_frequency(segment, sample_s)
    for i in range(total):
        traj, spectrum, freq = _columns(res, i, s, lines, sample_s, segment)
        runs.update({f"{i}|{c}": v for c, v in traj.items()})
        spectra.update({f"{i}|{c}": v for c, v in spectrum.items()})
        spectra["f"] = np.asarray(freq, dtype=np.float64)
        peak, end = _plots.spectrum_view(freq, list(spectrum.values()), lowest=lowest)
        spec_ends.append(end)
        spec_levels.append(list(_plots.spectrum_levels(freq, list(spectrum.values()), end)))
        spec_peaks.append(peak)
        spec_titles.append(f"{spec_title}: {_plots.peak_text(peak)}")
        at = ", ".join(f"{specs[name].label} = {points[name][i]:.4g}" for name in axes)
        ok = all(np.all(np.isfinite(v)) for v in traj.values())
        notes.append(f"<b>{html.escape(at)}</b>" + ("" if ok else _DIVERGED))
    first = s["monitors"][0]
    band = bool(s["batch_size"])
    traj_fig, traj_src = _plots.trajectory_figure()
    _plots.set_lines(traj_fig, traj_src, "t", lines, band)
    unit = spec.state_units.get(first)
    traj_fig.yaxis.axis_label = ", ".join(s["monitors"]) + (f" [{unit}]" if unit is not None else "")
    traj_fig.title.text = f"{spec.name}: trajectory"
    phase_fig, phase_src = _plots.phase_figure()
    phase_fig.title.text = _plots.phase_title(spec.name, *s["phase"])
    for ax, state in zip((phase_fig.xaxis, phase_fig.yaxis), s["phase"], strict=True):
        state_unit = spec.state_units.get(state)
        ax.axis_label = state if state_unit is None else f"{state} [{state_unit}]"
    spec_fig, spec_src = _plots.spectrum_figure()
    spec_fig.yaxis.axis_label = _plots.psd_label(unit)
    spec_lines = [name for name in lines if name.startswith(first + "[")]
    _plots.set_lines(spec_fig, spec_src, "f", spec_lines)
    traj_cols = [c for c in traj_src.data if c != "t"]
    start = [int(np.argmin(np.abs(a - float(np.mean(magnitude(s["params"].get(name, specs[name].default)))))))
             for name, a in axes.items()]
    i0 = int(np.ravel_multi_index(start, [a.size for a in axes.values()]))
    traj_src.data = {"t": runs["t"], **{c: runs[f"{i0}|{c}"] for c in traj_cols}}
    phase_src.data = {"u": runs[f"{i0}|u"], "v": runs[f"{i0}|v"]}
    _plots.show_spectrum(spec_fig, spec_src, spectra.get("f", np.zeros(0)),
                         {c: spectra[f"{i0}|{c}"] for c in spec_lines}, spec_title, lowest)
    runs_src = ColumnDataSource(runs, name="export_runs")
    spectra_src = ColumnDataSource(spectra or {"f": np.zeros(0)}, name="export_spectra")
    info = Div(text=notes[i0], name="export_point")
    sliders = []
    for (name, values), index in zip(axes.items(), start, strict=True):
        formatter = CustomJSTickFormatter(args={"values": values.tolist()}, code=_FORMAT_JS)
        sliders.append(Slider(start=0, end=values.size - 1, value=index, step=1, title=specs[name].label,
                              format=formatter, name=f"slider:{name}", sizing_mode="stretch_width"))
    callback = CustomJS(args=dict(sliders=sliders, shape=[a.size for a in axes.values()], runs=runs_src,
                                  spectra=spectra_src, trajectory=traj_src, phase=phase_src,
                                  spectrum=spec_src, traj_cols=traj_cols, spec_cols=spec_lines, info=info,
                                  spec_fig=spec_fig, peak_line=spec_fig.select_one({"name": "spectrum_peak"}),
                                  spec_ends=spec_ends, spec_peaks=spec_peaks, spec_titles=spec_titles,
                                  spec_levels=spec_levels,
                                  notes=notes), code=_SLIDER_JS)
    for slider in sliders:
        slider.js_on_change("value", callback)
    dt_ms = float(sim.dt.to_decimal(u.ms))
    held = ", ".join(f"{specs[name].label} = {_number(v)}" for name, v in fixed.items())
    about = (f"<b>{html.escape(spec.name)}</b>: {total} runs precomputed over "
             f"{html.escape(' x '.join(axes))}; {n * dt_ms:g} ms at dt = {dt_ms:g} ms, seed {int(s['seed'])}"
             + (f"; held at {html.escape(held)}" if held else "")
             + ". Each slider position shows its precomputed run; no Python runs here.")
    layout = column(Div(text=about, sizing_mode="stretch_width"), *sliders, info, traj_fig,
                    row(phase_fig, spec_fig, sizing_mode="stretch_width"), sizing_mode="stretch_width")
    return file_html(layout, INLINE, title=title or f"{spec.name} explorer")


def export_page(source: ModelController | CachedSimulator, path: str | os.PathLike,
                grid: Mapping[str, Any], *, title: str | None = None, **settings: Any) -> Path:
    """Write a model explorer as one self-contained HTML page whose sliders work without Python.

    The model runs at every point of ``grid`` (the other parameters held where ``source`` has
    them) in one compiled vmap program; the page embeds BokehJS and every run's trajectory,
    phase portrait and spectrum, and a slider per grid parameter switches among them in the
    browser. No network access is needed to open it.

    Parameters
    ----------
    source : ModelController or CachedSimulator
        A controller gives its current model, parameter values and run options (the explorer's
        view); a simulator runs with the catalogue defaults.
    path : str or path-like
        The HTML file to write.
    grid : dict of str to sequence of float
        One to :data:`MAX_PAGE_PARAMS` parameter names, each with at least 2 distinct values (in
        the parameter's catalogue unit, or quantities); at most :data:`MAX_PAGE_POINTS` points in
        all. Values are sorted; each slider snaps to its parameter's values.
    title : str, optional
        The page's title (default: ``"<model> explorer"``).
    **settings
        Override the run settings taken from ``source``: ``params`` (held values), ``duration``,
        ``transient``, ``sample_every``, ``monitors``, ``phase``, ``init``, ``seed``,
        ``batch_size`` (a noise ensemble, drawn as mean ± std) and ``regions`` (lines drawn).

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ValueError
        For a bad grid (naming the parameter or value and what is allowed), a page beyond
        :data:`MAX_PAGE_VALUES` embedded values, or a request beyond the process's limits.

    Examples
    --------
    >>> import brainmass_widgets as bw
    >>> sim = bw.CachedSimulator("HopfStep")
    >>> bw.export_page(sim, "hopf.html", {"a": [-0.5, 0.0, 0.5, 1.0], "w": [0.2, 0.4]})  # doctest: +SKIP
    PosixPath('hopf.html')
    """
    text = page_html(source, grid, title=title, **settings)
    target = Path(path)
    target.write_text(text, encoding="utf-8")
    return target
