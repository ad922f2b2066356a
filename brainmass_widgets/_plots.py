"""Bokeh figures and sources shared by both front ends.

Every figure is made once per explorer and then changed only through its
:class:`~bokeh.models.ColumnDataSource` (and, when the set of plotted lines changes, its
renderers). Each source carries a stable Bokeh ``name`` -- ``"trajectory"``, ``"phase"``,
``"spectrum"``, ``"sweep"``, ``"heatmap"``, for the phase plane ``"field"``, ``"nullclines"``,
``"fixed_points"``, ``"trajectories"``, ``"timeseries"``, and for networks ``"regions"``,
``"connectivity"``, ``"fc"``, ``"order"``, ``"coupling_sweep"`` -- so tests and pages can find it
in a document.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from bokeh.models import (
    Arrow,
    BasicTicker,
    ColorBar,
    ColumnDataSource,
    CustomJS,
    HoverTool,
    LinearColorMapper,
    TapTool,
    VeeHead,
)
from bokeh.palettes import Category10_10, Viridis256
from bokeh.plotting import figure

__all__ = [
    "fit_figures",
    "patch_changed",
    "heatmap_figure",
    "line_columns",
    "network_figures",
    "phase_figure",
    "phase_plane_figure",
    "set_lines",
    "spectrum_figure",
    "sweep_figure",
    "trajectory_figure",
]

_TOOLS = "pan,wheel_zoom,box_zoom,reset,save"
_SIZE = dict(height=260, sizing_mode="stretch_width", min_width=300)


def line_columns(name: str) -> tuple[str, str]:
    """Columns holding the lower and upper edge of the ± std band drawn around line ``name``."""
    return f"{name} lo", f"{name} hi"


def patch_changed(source: ColumnDataSource, columns: Mapping[str, np.ndarray]) -> int:
    """Send only the entries of ``columns`` that differ from ``source``'s, as
    :meth:`~bokeh.models.ColumnDataSource.patch` slices of contiguous changed runs.

    A sweep's block changes a contiguous run of points, in whatever order blocks arrive, so each
    block costs its own values on the wire rather than every column again. Columns whose length
    differs from the source's are assigned whole. Bokeh patches the source's arrays in place, so
    no two of its columns may share one array.

    Parameters
    ----------
    source : ColumnDataSource
    columns : mapping of str to array
        The new values, by column name (NaN equals NaN).

    Returns
    -------
    int
        Entries sent.
    """
    patches: dict[str, list[tuple[slice, np.ndarray]]] = {}
    whole: dict[str, np.ndarray] = {}
    for name, new in columns.items():
        new = np.asarray(new)
        old = source.data.get(name)
        old = None if old is None else np.asarray(old)
        if old is None or old.shape != new.shape:
            whole[name] = new
            continue
        same = (old == new) | (np.isnan(old) & np.isnan(new)) if new.dtype.kind == "f" else old == new
        edges = np.flatnonzero(np.diff(np.concatenate([[0], (~same).astype(np.int8), [0]])))
        runs = [(slice(int(a), int(b)), new[a:b]) for a, b in zip(edges[::2], edges[1::2], strict=True)]
        if runs:
            patches[name] = runs
    if whole:
        source.data = {**source.data, **whole}
    if patches:
        source.patch(patches)
    return sum(v.size for v in whole.values()) + sum(r.stop - r.start for runs in patches.values()
                                                      for r, _ in runs)


def _source(name: str, columns: Sequence[str]) -> ColumnDataSource:
    return ColumnDataSource(data={c: [] for c in columns}, name=name)


def set_lines(fig, source: ColumnDataSource, x: str, names: Sequence[str], band: bool = False) -> None:
    """Draw one line per column in ``names`` against column ``x``, replacing earlier lines.

    Parameters
    ----------
    fig : bokeh.plotting.figure
        The figure whose line (and band) renderers are replaced.
    source : ColumnDataSource
        Its data is reset to empty columns ``x``, ``names`` (and the band columns).
    x : str
        The shared x column.
    names : sequence of str
        One column per line; used as legend labels.
    band : bool
        Also draw the band between the :func:`line_columns` of each line.
    """
    columns = [x, *names]
    if band:
        columns += [c for n in names for c in line_columns(n)]
    source.data = {c: [] for c in columns}
    renderers = []
    for i, name in enumerate(names):
        color = Category10_10[i % 10]
        if band:
            lo, hi = line_columns(name)
            renderers.append(fig.varea(x=x, y1=lo, y2=hi, source=source, fill_color=color, fill_alpha=0.2))
        renderers.append(fig.line(x=x, y=name, source=source, line_color=color, line_width=1.5,
                                  legend_label=name))
    fig.renderers = renderers
    if fig.legend:
        fig.legend[0].items = [item for item in fig.legend[0].items if item.renderers[0] in renderers]
        fig.legend[0].visible = len(names) > 1
        fig.legend[0].click_policy = "hide"
        fig.legend[0].location = "top_right"


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


def phase_figure() -> tuple:
    """Phase portrait of two state variables (columns ``"u"`` and ``"v"``) of the first region.

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
    """Power spectrum of the monitored variables (x column ``"f"`` in Hz, log-power y axis).

    Returns
    -------
    (figure, ColumnDataSource)
        The source is named ``"spectrum"``.
    """
    source = _source("spectrum", ["f"])
    fig = figure(title="Power spectrum", x_axis_label="frequency [Hz]", y_axis_label="power",
                 y_axis_type="log", tools=_TOOLS, **_SIZE)
    return fig, source


def sweep_figure() -> tuple:
    """A metric against one swept parameter, with the min..max band of the monitored trace.

    Columns: ``"x"`` (parameter value), ``"y"`` (metric), ``"lo"`` / ``"hi"`` (band). A tap on a
    point selects it (``source.selected.indices``).

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
    dots = fig.scatter(x="x", y="y", source=source, size=7, color=Category10_10[0], legend_label="metric")
    fig.select_one(TapTool).renderers = [dots]
    fig.add_tools(HoverTool(renderers=[dots], tooltips=[("value", "@x"), ("metric", "@y"),
                                                         ("min..max", "@lo .. @hi")]))
    fig.legend[0].location = "top_left"
    return fig, source


def heatmap_figure() -> tuple:
    """A metric over two swept parameters, one rectangle per grid cell.

    Columns: ``"x"``, ``"y"`` (cell centre), ``"w"``, ``"h"`` (cell size), ``"value"``. Cells not yet
    computed hold NaN (drawn grey). A tap on a cell selects it.

    Returns
    -------
    (figure, ColumnDataSource, LinearColorMapper)
        The source is named ``"heatmap"``; the mapper's ``low``/``high`` follow the data.
    """
    source = _source("heatmap", ["x", "y", "w", "h", "value"])
    mapper = LinearColorMapper(palette=Viridis256, nan_color="#dddddd")
    fig = figure(title="Sweep", tools=_TOOLS + ",tap", height=360, sizing_mode="stretch_width",
                 min_width=300)
    cells = fig.rect(x="x", y="y", width="w", height="h", source=source,
                     fill_color={"field": "value", "transform": mapper}, line_color=None)
    fig.select_one(TapTool).renderers = [cells]
    fig.add_tools(HoverTool(renderers=[cells], tooltips=[("x", "@x"), ("y", "@y"), ("value", "@value")]))
    fig.add_layout(ColorBar(color_mapper=mapper, ticker=BasicTicker()), "right")
    return fig, source, mapper


STABILITY_COLORS = {"stable node": "#1b5e20", "stable focus": "#43a047", "unstable node": "#b00020",
                    "unstable focus": "#e53935", "saddle": "#ef6c00", "center": "#1565c0"}


def phase_plane_figure() -> tuple:
    """Vector field, nullclines, fixed points and trajectories in a plane of two state variables.

    Sources (by ``name``): ``"field"`` (arrows ``x0, y0 -> x1, y1``), ``"nullclines"`` (one
    NaN-separated line per axis variable: ``xs``, ``ys``, ``color``, ``label``), ``"fixed_points"``
    (``x``, ``y``, ``stability``, ``eigenvalues``, ``color``), ``"trajectories"`` (one line per
    launched trajectory: ``xs``, ``ys``), ``"timeseries"`` (``t`` and one column per state of the
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
        "fixed_points": _source("fixed_points", ["x", "y", "stability", "eigenvalues", "color"]),
        "trajectories": _source("trajectories", ["xs", "ys"]),
        "timeseries": _source("timeseries", ["t"]),
        "click": _source("click", ["x", "y", "at"]),
    }
    fig = figure(title="Phase plane (tap to launch a trajectory)", tools=_TOOLS, height=420,
                 sizing_mode="stretch_width", min_width=320)
    fig.add_layout(Arrow(x_start="x0", y_start="y0", x_end="x1", y_end="y1", source=sources["field"],
                         line_color="#9e9e9e", line_width=1, end=VeeHead(size=5, fill_color="#9e9e9e",
                                                                         line_color="#9e9e9e")))
    fig.multi_line(xs="xs", ys="ys", source=sources["nullclines"], line_color="color", line_width=2.5,
                   legend_field="label")
    fig.multi_line(xs="xs", ys="ys", source=sources["trajectories"], line_color=Category10_10[0],
                   line_width=1.5, line_alpha=0.8)
    dots = fig.scatter(x="x", y="y", source=sources["fixed_points"], size=12, fill_color="color",
                       line_color="black")
    fig.add_tools(HoverTool(renderers=[dots], tooltips=[("", "@stability"), ("x", "@x"), ("y", "@y"),
                                                         ("eigenvalues [1/ms]", "@eigenvalues")]))
    fig.js_on_event("tap", CustomJS(args={"click": sources["click"]},
                                    code="click.data = {x: [cb_obj.x], y: [cb_obj.y], at: [Date.now()]};"))
    fig.legend[0].location = "top_left"
    series = figure(title="Latest trajectory", x_axis_label="t [ms]", tools=_TOOLS, height=200,
                    sizing_mode="stretch_width", min_width=320)
    return fig, series, sources


def _matrix_figure(name: str, title: str, mapper: LinearColorMapper) -> tuple:
    source = _source(name, ["x", "y", "value", "source", "target"])
    fig = figure(title=title, tools="hover,save", height=300, width=320, toolbar_location=None,
                 x_range=(-0.5, 0.5), y_range=(0.5, -0.5), match_aspect=True)
    fig.rect(x="x", y="y", width=1, height=1, source=source,
             fill_color={"field": "value", "transform": mapper}, line_color=None)
    fig.select_one(HoverTool).tooltips = [("from", "@source"), ("to", "@target"), ("value", "@value")]
    fig.add_layout(ColorBar(color_mapper=mapper, ticker=BasicTicker(), width=8), "right")
    fig.xaxis.visible = fig.yaxis.visible = False
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
    mappers["connectivity"] = LinearColorMapper(palette=Viridis256, low=0.0, high=1.0)
    mappers["fc"] = LinearColorMapper(palette="RdBu11", low=1.0, high=-1.0)
    figures["connectivity"], sources["connectivity"] = _matrix_figure(
        "connectivity", "Structural connectivity", mappers["connectivity"])
    figures["fc"], sources["fc"] = _matrix_figure("fc", "Functional connectivity (Pearson r)", mappers["fc"])
    sources["order"] = _source("order", ["t", "R"])
    figures["order"] = figure(title="Synchrony: order parameter R(t)", x_axis_label="t [ms]",
                              y_range=(0, 1.05), tools=_TOOLS, **_SIZE)
    figures["order"].line(x="t", y="R", source=sources["order"], line_color=Category10_10[2], line_width=1.5)
    sources["coupling_sweep"] = _source("coupling_sweep", ["x", "fc", "sync"])
    fig = figure(title="Coupling sweep (tap a point to load it)", tools=_TOOLS + ",tap", **_SIZE)
    dots = []
    for col, color, label in (("fc", Category10_10[0], "mean FC"), ("sync", Category10_10[1], "mean R")):
        fig.line(x="x", y=col, source=sources["coupling_sweep"], line_color=color, line_width=2,
                 legend_label=label)
        dots.append(fig.scatter(x="x", y=col, source=sources["coupling_sweep"], size=7, color=color,
                                legend_label=label))
    fig.select_one(TapTool).renderers = dots
    fig.add_tools(HoverTool(renderers=dots, tooltips=[("value", "@x"), ("mean FC", "@fc"),
                                                      ("mean R", "@sync")]))
    fig.legend[0].location = "top_left"
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
    fig = figure(title="Loss", x_axis_label="step", y_axis_type="log", tools=_TOOLS, **_SIZE)
    fig.line(x="step", y="loss", source=sources["loss"], line_color=Category10_10[0], line_width=1.5,
             legend_label="loss")
    fig.line(x="step", y="best", source=sources["loss"], line_color=Category10_10[1], line_dash="dashed",
             legend_label="best so far")
    fig.legend[0].location = "top_right"
    figures["loss"] = fig
    sources["paths"] = _source("paths", ["step"])
    figures["paths"] = figure(title="Fitted parameters", x_axis_label="step", tools=_TOOLS, **_SIZE)
    sources["fit"] = _source("fit", ["t", "target", "prediction"])
    fig = figure(title="Prediction over target", x_axis_label="t [ms]", tools=_TOOLS, **_SIZE)
    fig.line(x="t", y="target", source=sources["fit"], line_color="black", line_width=2, alpha=0.5,
             legend_label="target")
    fig.line(x="t", y="prediction", source=sources["fit"], line_color=Category10_10[3], line_width=1.5,
             legend_label="prediction")
    fig.legend[0].location = "top_right"
    figures["fit"] = fig
    for name, title in (("fc_pred", "Predicted FC"), ("fc_target", "Target FC")):
        mappers[name] = LinearColorMapper(palette="RdBu11", low=1.0, high=-1.0)
        figures[name], sources[name] = _matrix_figure(name, title, mappers[name])
    return figures, sources, mappers
