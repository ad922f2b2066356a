"""Bokeh figures and sources shared by both front ends.

Every figure is made once per explorer and then changed only through its
:class:`~bokeh.models.ColumnDataSource` (and, when the set of plotted lines changes, its
renderers). Each source carries a stable Bokeh ``name`` -- ``"trajectory"``, ``"phase"``,
``"spectrum"``, ``"sweep"``, ``"heatmap"`` -- so tests and pages can find it in a document.
"""

from __future__ import annotations

from collections.abc import Sequence

from bokeh.models import (
    BasicTicker,
    ColorBar,
    ColumnDataSource,
    HoverTool,
    LinearColorMapper,
    TapTool,
)
from bokeh.palettes import Category10_10, Viridis256
from bokeh.plotting import figure

__all__ = [
    "heatmap_figure",
    "line_columns",
    "phase_figure",
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
