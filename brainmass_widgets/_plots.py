"""Bokeh figures and sources shared by both front ends.

Every figure is made once per explorer and then changed only through its
:class:`~bokeh.models.ColumnDataSource` (and, when the set of plotted lines changes, its
renderers). Each source carries a stable Bokeh ``name`` -- ``"trajectory"``, ``"phase"``,
``"spectrum"``, ``"sweep"``, ``"heatmap"``, for the phase plane ``"field"``, ``"nullclines"``,
``"fixed_points"``, ``"trajectories"``, ``"timeseries"``, and for networks ``"regions"``,
``"connectivity"``, ``"fc"``, ``"order"``, ``"coupling_sweep"`` -- so tests and pages can find it
in a document.

The helpers that change a figure's lines and data (:mod:`._plot_updates`) and the spectrum
analysis (:mod:`._spectrum`) live in their own modules and are re-exported here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from bokeh.core.properties import field, value
from bokeh.models import (
    Arrow,
    BasicTicker,
    ColorBar,
    ColumnDataSource,
    CustomJS,
    CustomJSHover,
    FixedTicker,
    HoverTool,
    LabelSet,
    Legend,
    LegendItem,
    LinearColorMapper,
    Range1d,
    Span,
    TapTool,
    VeeHead,
)
from bokeh.palettes import Category10_10, RdBu11, Viridis256
from bokeh.plotting import figure

from ._plot_updates import (
    await_data,
    heatmap_image,
    line_columns,
    outline_cell,
    patch_changed,
    patch_heatmap,
    set_extent,
    set_grid_ranges,
    set_lines,
    stream_lines,
)
from ._spectrum import (
    SPECTRUM_FLOOR,
    SPECTRUM_PERIODS,
    peak_text,
    power_spectrum,
    psd_label,
    spectrum_levels,
    spectrum_points,
    spectrum_segment,
    spectrum_view,
    trend_frequency,
)

__all__ = [
    "fit_figures",
    "heatmap_figure",
    "label_heatmap",
    "fc_mapper",
    "matrix_ticks",
    "name_sweep_metric",
    "network_figures",
    "phase_figure",
    "phase_title",
    "phase_plane_figure",
    "show_spectrum",
    "spectrum_figure",
    "sweep_figure",
    "trajectory_figure",
    # re-exported from ._plot_updates
    "await_data",
    "heatmap_image",
    "line_columns",
    "outline_cell",
    "patch_changed",
    "patch_heatmap",
    "set_extent",
    "set_grid_ranges",
    "set_lines",
    "stream_lines",
    # re-exported from ._spectrum
    "SPECTRUM_FLOOR",
    "SPECTRUM_PERIODS",
    "peak_text",
    "power_spectrum",
    "psd_label",
    "spectrum_levels",
    "spectrum_points",
    "spectrum_segment",
    "spectrum_view",
    "trend_frequency",
]

_TOOLS = "pan,wheel_zoom,box_zoom,reset,save"
_SIZE = dict(height=260, sizing_mode="stretch_width", min_width=300)


def _side_legend(**style: object) -> Legend:
    """An empty legend for a figure's side panel (glyphs given a legend entry join it)."""
    return Legend(location="top_left", label_text_font_size="9pt", glyph_height=14, label_height=14,
                  spacing=1, padding=4, margin=4, **style)


def _source(name: str, columns: Sequence[str]) -> ColumnDataSource:
    return ColumnDataSource(data={c: [] for c in columns}, name=name)


def trajectory_figure(unit_label: str = "") -> tuple:
    """Time series of the monitored variables, one line per (variable, region).

    Returns
    -------
    (figure, ColumnDataSource)
        The source is named ``"trajectory"``; its ``"t"`` column is in ms.
    """
    source = _source("trajectory", ["t"])
    fig = figure(title="Trajectory", x_axis_label="t [ms]", y_axis_label=unit_label, tools=_TOOLS, **_SIZE)
    return fig, source


def phase_title(model: str, x: str, y: str) -> str:
    """The title of a :func:`phase_figure` of states ``x`` and ``y`` of ``model``."""
    return f"{model}: phase portrait ({x}, {y})"


def phase_figure() -> tuple:
    """Phase portrait of two state variables (columns ``"u"`` and ``"v"``) of the first region;
    :func:`phase_title` names them.

    Returns
    -------
    (figure, ColumnDataSource)
        The source is named ``"phase"``.
    """
    source = _source("phase", ["u", "v"])
    fig = figure(title="Phase portrait", tools=_TOOLS, **_SIZE)
    fig.line(x="u", y="v", source=source, line_color=Category10_10[0], line_width=1.5)
    return fig, source


def spectrum_figure() -> tuple:
    """Power spectral density of the monitored variables (x column ``"f"`` in Hz, log y axis).

    The figure has a dashed vertical :class:`~bokeh.models.Span` named ``"spectrum_peak"`` that
    :func:`show_spectrum` moves to the peak, and :class:`~bokeh.models.Range1d` x and y ranges.

    Returns
    -------
    (figure, ColumnDataSource)
        The source is named ``"spectrum"``.
    """
    source = _source("spectrum", ["f"])
    fig = figure(title="Power spectral density", x_axis_label="frequency [Hz]", y_axis_label=psd_label(None),
                 y_axis_type="log", x_range=Range1d(0.0, 1.0), y_range=Range1d(1e-6, 1.0), tools=_TOOLS,
                 **_SIZE)
    fig.add_layout(Span(location=0.0, dimension="height", line_color="#424242", line_dash="dashed",
                        line_width=1, visible=False, name="spectrum_peak"))
    return fig, source


def show_spectrum(fig, source: ColumnDataSource, freq: np.ndarray, psds: Mapping[str, np.ndarray],
                  title: str, lowest: float = 0.0) -> float | None:
    """Put spectra on a :func:`spectrum_figure`: data, fitted ranges, peak line and title.

    Parameters
    ----------
    fig : bokeh.plotting.figure
        Made by :func:`spectrum_figure`.
    source : ColumnDataSource
        Its data become ``{"f": freq, **psds}``.
    freq : array
        Frequencies in Hz.
    psds : mapping of str to array
        Density per line (the line's column name).
    title : str
        The title's start; ``": peak ... Hz"`` (:func:`peak_text`) is appended.
    lowest : float, default 0.0
        No peak is read below this frequency (see :func:`spectrum_view`).

    Returns
    -------
    float or None
        The peak frequency (see :func:`spectrum_view`).
    """
    source.data = {"f": np.asarray(freq, dtype=np.float64), **psds}
    peak, end = spectrum_view(freq, list(psds.values()), lowest=lowest)
    low, high = spectrum_levels(freq, list(psds.values()), end)
    fig.x_range.start, fig.x_range.end = 0.0, end
    fig.x_range.reset_start, fig.x_range.reset_end = 0.0, end
    fig.y_range.start, fig.y_range.end = low, high
    fig.y_range.reset_start, fig.y_range.reset_end = low, high
    span = fig.select_one({"name": "spectrum_peak"})
    span.visible = peak is not None
    span.location = 0.0 if peak is None else peak
    fig.title.text = f"{title}: {peak_text(peak)}"
    return peak


def sweep_figure() -> tuple:
    """A metric against one swept parameter, with the min..max band of the monitored trace.

    Columns: ``"x"`` (parameter value), ``"y"`` (metric), ``"lo"`` / ``"hi"`` (band). A tap on a
    point selects it (``source.selected.indices``). The points' legend entry reads ``"metric"``
    until :func:`name_sweep_metric` names it.

    Returns
    -------
    (figure, ColumnDataSource)
        The source is named ``"sweep"``.
    """
    source = _source("sweep", ["x", "y", "lo", "hi"])
    fig = figure(title="Sweep", tools=_TOOLS + ",tap", **_SIZE)
    fig.varea(x="x", y1="lo", y2="hi", source=source, fill_color=Category10_10[0], fill_alpha=0.15,
              legend_label="min..max")
    fig.line(x="x", y="y", source=source, line_color=Category10_10[0], line_width=2)
    dots = fig.scatter(x="x", y="y", source=source, size=7, color=Category10_10[0], legend_label="metric",
                       name="sweep_points")
    fig.select_one(TapTool).renderers = [dots]
    fig.add_tools(HoverTool(renderers=[dots], tooltips=[("value", "@x"), ("metric", "@y"),
                                                         ("min..max", "@lo .. @hi")]))
    fig.legend[0].location = "top_left"
    await_data(fig, source, "y", "Press Run to compute the sweep")
    return fig, source


def name_sweep_metric(fig, name: str) -> None:
    """Label the points of a :func:`sweep_figure` ``name`` (e.g. ``"amplitude of x"``) in its legend."""
    dots = fig.select_one({"name": "sweep_points"})
    for item in fig.legend[0].items:
        if dots in item.renderers:
            item.label = value(name)


#: The centre of the heatmap cell under the pointer along ``axis`` (a hover shows the grid value
#: computed there, not the pointer's position).
_CELL_CENTRE = """
const d = source.data;
if (!d.image.length) return "";
const img = d.image[0];
const [rows, cols] = img.shape ?? [img.length, img[0].length];
const [start, size, n] = axis === "x" ? [d.x[0], d.dw[0], cols] : [d.y[0], d.dh[0], rows];
const step = size / n;
const k = Math.min(n - 1, Math.max(0, Math.floor((value - start) / step)));
return (start + (k + 0.5) * step).toPrecision(4);
"""


def _heatmap_tooltips(x: str, y: str, value: str) -> list[tuple[str, str]]:
    return [(x, "$x{cell}"), (y, "$y{cell}"), (value, "@image")]


def label_heatmap(fig, x: str, y: str, value: str) -> None:
    """Name the hover lines of a :func:`heatmap_figure`: the horizontal and vertical parameters
    (shown at the centre of the cell under the pointer) and the value."""
    hover = next(t for t in fig.toolbar.tools if isinstance(t, HoverTool))
    hover.tooltips = _heatmap_tooltips(x, y, value)


def heatmap_figure() -> tuple:
    """A metric over two swept parameters, drawn as one image with a cell per grid point.

    One row of columns: ``"image"``, the values as an array of shape ``(points of the vertical
    parameter, points of the horizontal one)`` (row ``j``, column ``i`` is the cell of the ``i``-th
    horizontal and the ``j``-th vertical value); ``"x"``, ``"y"``, its lower left corner; and
    ``"dw"``, ``"dh"``, its size (see :func:`~._plot_updates.heatmap_image`). Cells not yet computed hold NaN
    (drawn grey). A tap on a cell selects it (``source.selected.image_indices``); the cell shown
    selected is outlined in black by :func:`~._plot_updates.outline_cell`. A hover shows the
    cell's grid values (its centre, not the pointer's position) and its value, named by
    :func:`label_heatmap`. The x and y ranges are
    :class:`~bokeh.models.Range1d`, fitted to the grid by :func:`set_grid_ranges`: a front end may
    hide the figure (while a sweep has one parameter), and the automatic ranges of a hidden figure
    see no data.

    One image costs a browser the same whatever the grid: one rectangle per cell cost it about
    70 ms per update for 128 x 128 cells.

    Returns
    -------
    (figure, ColumnDataSource, LinearColorMapper)
        The source is named ``"heatmap"``; the mapper's ``low``/``high`` follow the data.
    """
    source = _source("heatmap", ["image", "x", "y", "dw", "dh"])
    mapper = LinearColorMapper(palette=Viridis256, nan_color="#dddddd")
    fig = figure(title="Sweep", tools=_TOOLS + ",tap", height=360, sizing_mode="stretch_width",
                 min_width=300, x_range=Range1d(0.0, 1.0), y_range=Range1d(0.0, 1.0))
    cells = fig.image(image="image", x="x", y="y", dw="dw", dh="dh", source=source, color_mapper=mapper)
    fig.rect(x="x", y="y", width="w", height="h", source=_source("heatmap_cell", ["x", "y", "w", "h"]),
             fill_color=None, line_color="black", line_width=3)
    fig.select_one(TapTool).renderers = [cells]
    centre = {axis: CustomJSHover(args={"source": source, "axis": axis}, code=_CELL_CENTRE) for axis in "xy"}
    fig.add_tools(HoverTool(renderers=[cells], tooltips=_heatmap_tooltips("x", "y", "value"),
                            formatters={"$x": centre["x"], "$y": centre["y"]}))
    fig.add_layout(ColorBar(color_mapper=mapper, ticker=BasicTicker()), "right")
    await_data(fig, source, "image", "Press Run to compute the sweep")
    return fig, source, mapper


STABILITY_COLORS = {"stable node": "#1b5e20", "stable focus": "#43a047", "unstable node": "#b00020",
                    "unstable focus": "#e53935", "saddle": "#ef6c00", "center": "#1565c0"}
#: Nullcline colours, one per axis variable (dx/dt = 0, dy/dt = 0).
NULLCLINE_COLORS = ("#1f77b4", "#d62728")
#: Colour of launched trajectories in the phase plane (neither nullcline's).
TRAJECTORY_COLOR = "#7b1fa2"


def phase_plane_figure() -> tuple:
    """Vector field, nullclines, fixed points and trajectories in a plane of two state variables.

    Sources (by ``name``): ``"field"`` (arrows ``x0, y0 -> x1, y1``), ``"nullclines"`` (one
    NaN-separated line per axis variable: ``xs``, ``ys``, ``color``, ``label``), ``"fixed_points"``
    (``x``, ``y``, ``stability``, ``eigenvalues``, ``color`` and the legend entry ``legend``, e.g.
    ``"fixed point: saddle"``), ``"trajectories"`` (one line per launched trajectory: ``xs``,
    ``ys``, drawn in :data:`TRAJECTORY_COLOR`), ``"timeseries"`` (``t`` and one column per state of the
    latest trajectory) and ``"click"``: a tap on the plane writes its position there (``x``, ``y``,
    and the time ``at``, which tells one tap from another), in the browser, so both Bokeh server
    and notebook views report it.

    Returns
    -------
    (figure, figure, dict)
        The plane, the time-series figure, and the sources by name.
    """
    sources = {
        "field": _source("field", ["x0", "y0", "x1", "y1"]),
        "nullclines": _source("nullclines", ["xs", "ys", "color", "label"]),
        "fixed_points": _source("fixed_points", ["x", "y", "stability", "eigenvalues", "color", "legend"]),
        "trajectories": _source("trajectories", ["xs", "ys"]),
        "timeseries": _source("timeseries", ["t"]),
        "click": _source("click", ["x", "y", "at"]),
    }
    fig = figure(title="Phase plane (tap to launch a trajectory)", tools=_TOOLS, height=420,
                 sizing_mode="stretch_width", min_width=320)
    fig.add_layout(_side_legend(), "right")
    fig.add_layout(Arrow(x_start="x0", y_start="y0", x_end="x1", y_end="y1", source=sources["field"],
                         line_color="#9e9e9e", line_width=1, end=VeeHead(size=5, fill_color="#9e9e9e",
                                                                         line_color="#9e9e9e")))
    # the arrows' tails, unseen: an annotation has no extent, so the automatic ranges need a glyph
    fig.scatter(x="x0", y="y0", source=sources["field"], alpha=0, name="field_tails")
    fig.multi_line(xs="xs", ys="ys", source=sources["nullclines"], line_color="color", line_width=2.5,
                   legend_field="label")
    fig.multi_line(xs="xs", ys="ys", source=sources["trajectories"], line_color=TRAJECTORY_COLOR,
                   line_width=1.5, line_alpha=0.8, legend_label="trajectory")
    dots = fig.scatter(x="x", y="y", source=sources["fixed_points"], size=12, fill_color="color",
                       line_color="black", legend_field="legend")
    fig.add_tools(HoverTool(renderers=[dots], tooltips=[("", "@stability"), ("x", "@x"), ("y", "@y"),
                                                         ("eigenvalues [1/ms]", "@eigenvalues")]))
    fig.js_on_event("tap", CustomJS(args={"click": sources["click"]},
                                    code="click.data = {x: [cb_obj.x], y: [cb_obj.y], at: [Date.now()]};"))
    series = figure(title="Latest trajectory", x_axis_label="t [ms]", tools=_TOOLS, height=200,
                    sizing_mode="stretch_width", min_width=320)
    await_data(series, sources["timeseries"], "t", "Tap the phase plane to launch a trajectory")
    return fig, series, sources


def fc_mapper() -> LinearColorMapper:
    """Colours of correlations: red at -1, white at 0, blue at +1, on an ascending colour bar."""
    return LinearColorMapper(palette=tuple(reversed(RdBu11)), low=-1.0, high=1.0)


def matrix_ticks(fig, labels: Sequence[str], most: int = 16) -> None:
    """Label a matrix figure's rows and columns with region names (every k-th one when there
    are more than ``most``), and fit its ranges to ``len(labels)`` regions, row 0 at the top.

    Parameters
    ----------
    fig : bokeh.plotting.figure
        Made by :func:`network_figures` or :func:`fit_figures`.
    labels : sequence of str
        One name per region, in matrix order.
    most : int, default 16
        At most this many ticks per axis.
    """
    n = len(labels)
    ticks = list(range(0, n, max(1, -(-n // most))))
    names = {i: str(labels[i]) for i in ticks}
    for axis in (fig.xaxis[0], fig.yaxis[0]):
        axis.ticker = FixedTicker(ticks=ticks, minor_ticks=[])
        axis.major_label_overrides = names
    fig.x_range.start, fig.x_range.end = -0.5, n - 0.5
    fig.y_range.start, fig.y_range.end = n - 0.5, -0.5


def _matrix_figure(name: str, title: str, mapper: LinearColorMapper, what: str) -> tuple:
    source = _source(name, ["x", "y", "value", "source", "target"])
    fig = figure(title=title, tools="hover,save", height=320, width=340, toolbar_location=None,
                 x_range=(-0.5, 0.5), y_range=(0.5, -0.5), match_aspect=True,
                 x_axis_label="from region", y_axis_label="to region", x_axis_location="above")
    fig.rect(x="x", y="y", width=1, height=1, source=source,
             fill_color={"field": "value", "transform": mapper}, line_color=None)
    fig.select_one(HoverTool).tooltips = [("from", "@source"), ("to", "@target"), ("value", "@value")]
    fig.add_layout(ColorBar(color_mapper=mapper, ticker=BasicTicker(), width=8, title=what), "right")
    fig.xaxis.major_label_orientation = "vertical"
    fig.axis.major_label_text_font_size = "8pt"
    fig.axis.axis_label_text_font_size = "9pt"
    fig.grid.visible = False
    return fig, source


def network_figures() -> tuple[dict, dict, dict]:
    """Region time series, connectivity and FC matrices, order parameter R(t), and the coupling
    sweep (mean FC and mean R against the swept parameter; a tap selects a point).

    Returns
    -------
    (dict, dict, dict)
        Figures, sources and matrix colour mappers by name. Sources: ``"regions"`` (``t`` and
        one column per region label), ``"connectivity"`` and ``"fc"`` (one cell per pair: ``x``,
        ``y``, ``value``, ``source``, ``target``), ``"order"`` (``t``, ``R``) and
        ``"coupling_sweep"`` (``x``, ``fc``, ``sync``).
    """
    figures, sources, mappers = {}, {}, {}
    sources["regions"] = _source("regions", ["t"])
    figures["regions"] = figure(title="Regions", x_axis_label="t [ms]", tools=_TOOLS, **_SIZE)
    figures["regions"].add_layout(_side_legend(), "right")
    mappers["connectivity"] = LinearColorMapper(palette=Viridis256, low=0.0, high=1.0)
    mappers["fc"] = fc_mapper()
    figures["connectivity"], sources["connectivity"] = _matrix_figure(
        "connectivity", "Structural connectivity", mappers["connectivity"], "weight")
    figures["fc"], sources["fc"] = _matrix_figure("fc", "Functional connectivity", mappers["fc"],
                                                  "Pearson r")
    sources["order"] = _source("order", ["t", "R"])
    figures["order"] = figure(title="Synchrony: order parameter R(t)", x_axis_label="t [ms]",
                              y_axis_label="R (1 = all in phase)", y_range=(0, 1.05), tools=_TOOLS,
                              **_SIZE)
    figures["order"].line(x="t", y="R", source=sources["order"], line_color=Category10_10[2], line_width=1.5)
    sources["coupling_sweep"] = _source("coupling_sweep", ["x", "fc", "sync"])
    fig = figure(title="Coupling sweep (tap a point to load it)", y_axis_label="mean FC, mean R",
                 tools=_TOOLS + ",tap", **_SIZE)
    fig.add_layout(_side_legend(), "right")
    dots = []
    for col, color, label in (("fc", Category10_10[0], "mean FC"), ("sync", Category10_10[1], "mean R")):
        fig.line(x="x", y=col, source=sources["coupling_sweep"], line_color=color, line_width=2,
                 legend_label=label)
        dots.append(fig.scatter(x="x", y=col, source=sources["coupling_sweep"], size=7, color=color,
                                legend_label=label))
    fig.select_one(TapTool).renderers = dots
    fig.add_tools(HoverTool(renderers=dots, tooltips=[("value", "@x"), ("mean FC", "@fc"),
                                                      ("mean R", "@sync")]))
    await_data(fig, sources["coupling_sweep"], "fc", "Press Run sweep to sweep the coupling")
    figures["coupling_sweep"] = fig
    return figures, sources, mappers


def fit_figures() -> tuple[dict, dict, dict]:
    """Loss curve, parameter paths, prediction over target, and predicted and target FC.

    Returns
    -------
    (dict, dict, dict)
        Figures, sources and matrix colour mappers by name. Sources: ``"loss"`` (``step``,
        ``loss``), ``"paths"`` (``step`` and one column per fitted parameter), ``"truth"`` (the
        known values of a synthetic target: ``name``, ``value``), ``"fit"`` (``t``, ``target``,
        ``prediction``: the region shown), ``"fc_pred"`` and ``"fc_target"`` (one cell per pair:
        ``x``, ``y``, ``value``, ``source``, ``target``).
    """
    figures, sources, mappers = {}, {}, {}
    sources["loss"] = _source("loss", ["step", "loss", "best"])
    fig = figure(title="Loss", x_axis_label="step", y_axis_label="loss (log scale)", y_axis_type="log",
                 tools=_TOOLS, **_SIZE)
    fig.line(x="step", y="loss", source=sources["loss"], line_color=Category10_10[0], line_width=1.5,
             legend_label="loss")
    fig.line(x="step", y="best", source=sources["loss"], line_color=Category10_10[1], line_dash="dashed",
             legend_label="best so far")
    fig.legend[0].location = "top_right"
    await_data(fig, sources["loss"], "loss", "Press Fit to start fitting", y=(0.1, 1.0))
    figures["loss"] = fig
    sources["paths"] = _source("paths", ["step"])
    figures["paths"] = figure(title="Fitted parameters", x_axis_label="step", y_axis_label="parameter value",
                              tools=_TOOLS, **_SIZE)
    await_data(figures["paths"], sources["paths"], "step", "Press Fit to start fitting")
    sources["fit"] = _source("fit", ["t", "target", "prediction"])
    fig = figure(title="Prediction over target", x_axis_label="t [ms]", tools=_TOOLS, **_SIZE)
    fig.line(x="t", y="target", source=sources["fit"], line_color="black", line_width=2, alpha=0.5,
             legend_label="target")
    fig.line(x="t", y="prediction", source=sources["fit"], line_color=Category10_10[3], line_width=1.5,
             legend_label="prediction")
    fig.legend[0].location = "top_right"
    await_data(fig, sources["fit"], "target", "Press Fit to start fitting")
    figures["fit"] = fig
    for name, title in (("fc_pred", "Predicted FC"), ("fc_target", "Target FC")):
        mappers[name] = fc_mapper()
        figures[name], sources[name] = _matrix_figure(name, title, mappers[name], "Pearson r")
    return figures, sources, mappers


#: Colours of a bifurcation diagram's special points and codim-2 curves.
BIFURCATION_COLORS = {"fold": "#e65100", "hopf": "#6a1b9a"}
#: Colours of the limit-cycle extents from the sweeps started at the low and the high end.
CYCLE_COLORS = {"up": "#00838f", "down": "#c2185b"}


def region_color(count: int, stable: int) -> str:
    """A pale fill for a region of a two-parameter plane by its number of equilibria and of stable
    ones: grey without equilibria, blue-green for one stable, yellow-orange for one unstable (an
    oscillation or a chaotic attractor is left), shades of purple for several."""
    if count == 0:
        return "#eeeeee"
    if count == 1:
        return "#d9f0e3" if stable else "#fde8c8"
    return ("#e8e1f3", "#d4c6ea", "#bfaae0")[min(int(stable), 2)]


def bifurcation_figures() -> tuple[dict, dict]:
    """A codim-1 bifurcation diagram and a two-parameter plane of fold and Hopf curves.

    Sources (by ``name``): ``"stable"`` and ``"unstable"`` (equilibrium branches, one
    NaN-separated line each: ``x``, ``y``; drawn solid and dashed), ``"special"`` (``x``, ``y``,
    ``kind``, ``label``, ``color``), ``"cycles"`` (``x`` and the extents ``up_min``, ``up_max``,
    ``down_min``, ``down_max``, NaN where the run settles), ``"curves"`` (fold and Hopf curves:
    ``xs``, ``ys``, ``color``, ``label`` and ``start``, the first parameter value of each),
    ``"regions"`` (one rectangle per grid point of the two-parameter plane: ``x``, ``y``, ``width``,
    ``height``, ``label`` such as ``"3 equilibria, 2 stable"`` and ``color``),
    ``"here"`` (the current value of the second parameter as a horizontal line: ``x``,
    ``y``) and ``"pick"``: a tap on the diagram writes its position there (``x``, ``y``, ``at``), in
    the browser.

    Returns
    -------
    (dict, dict)
        Figures ``{"diagram", "plane"}`` and the sources by name.
    """
    sources = {
        "stable": _source("stable", ["x", "y"]),
        "unstable": _source("unstable", ["x", "y"]),
        "special": _source("special", ["x", "y", "kind", "label", "color"]),
        "cycles": _source("cycles", ["x", "up_min", "up_max", "down_min", "down_max"]),
        "curves": _source("curves", ["xs", "ys", "start", "color", "label"]),
        "here": _source("here", ["x", "y"]),
        "regions": _source("regions", ["x", "y", "width", "height", "label", "color"]),
        "pick": _source("pick", ["x", "y", "at"]),
    }
    fig = figure(title="Bifurcation diagram (tap to pick a parameter value)", tools=_TOOLS, height=400,
                 sizing_mode="stretch_width", min_width=320)
    fig.add_layout(_side_legend(), "right")
    fig.line("x", "y", source=sources["stable"], line_color="black", line_width=2.5,
             legend_label="stable equilibrium")
    fig.line("x", "y", source=sources["unstable"], line_color="black", line_width=1.5, line_dash="dashed",
             legend_label="unstable equilibrium")
    for name, label, marker in (("up", "cycle max/min (from the low end)", "circle"),
                                ("down", "cycle max/min (from the high end)", "triangle")):
        for end in ("min", "max"):
            fig.scatter("x", f"{name}_{end}", source=sources["cycles"], marker=marker, size=6,
                        fill_color=CYCLE_COLORS[name] if name == "up" else None,
                        line_color=CYCLE_COLORS[name], legend_label=label)
    dots = fig.scatter("x", "y", source=sources["special"], size=13, marker="diamond", fill_color="color",
                       line_color="black", legend_field="kind")
    fig.add_tools(HoverTool(renderers=[dots],
                            tooltips=[("", "@label"), ("parameter", "@x"), ("value", "@y")]))
    fig.add_layout(LabelSet(x="x", y="y", text="kind", source=sources["special"], x_offset=7, y_offset=4,
                            text_font_size="9pt", text_color="color"))
    fig.js_on_event("tap", CustomJS(args={"pick": sources["pick"]},
                                    code="pick.data = {x: [cb_obj.x], y: [cb_obj.y], at: [Date.now()]};"))
    await_data(fig, sources["stable"], "x", "Computing the equilibrium branches")
    plane = figure(title="Fold and Hopf curves in two parameters", tools=_TOOLS, height=320,
                   sizing_mode="stretch_width", min_width=320)
    plane.add_layout(_side_legend(), "right")
    cells = plane.rect("x", "y", "width", "height", source=sources["regions"], fill_color="color",
                       line_color=None)
    plane.add_tools(HoverTool(renderers=[cells], tooltips=[("", "@label")]))
    lines = plane.multi_line(xs="xs", ys="ys", source=sources["curves"], line_color="color", line_width=2.5)
    # one legend item per source: legend_field would merge both "label" columns into one item
    plane.legend[0].items = [LegendItem(label=field("label"), renderers=[cells]),
                             LegendItem(label=field("label"), renderers=[lines])]
    plane.line("x", "y", source=sources["here"], line_color="#9e9e9e", line_dash="dotted", line_width=1.5,
               legend_label="second parameter now")
    await_data(plane, sources["curves"], "start", "Choose a second parameter to trace fold and Hopf curves")
    return {"diagram": fig, "plane": plane}, sources
