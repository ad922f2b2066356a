"""Changing a Bokeh figure once it is made: its lines, its data, and what it shows while empty.

A figure of :mod:`._plots` is made once per explorer; these helpers then replace its lines
(:func:`set_lines`), stream or patch its source's rows (:func:`stream_lines`,
:func:`patch_changed`), fit its ranges to a sweep's grid (:func:`set_grid_ranges`), and show a
hint over ticked, labelled axes until its first data arrive (:func:`await_data`,
:func:`set_extent`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from bokeh.models import ColumnDataSource, GlyphRenderer, LogScale, Title
from bokeh.palettes import Category10_10

__all__ = ["await_data", "heatmap_image", "line_columns", "outline_cell", "patch_changed", "patch_heatmap",
           "set_extent", "set_grid_ranges", "set_lines", "stream_lines"]


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
        runs = [(slice(a, b), new[a:b]) for a, b in _changed_runs(old, new)]
        if runs:
            patches[name] = runs
    if whole:
        source.data = {**source.data, **whole}
    if patches:
        source.patch(patches)
    return sum(v.size for v in whole.values()) + sum(r.stop - r.start for runs in patches.values()
                                                      for r, _ in runs)


def await_data(fig, source: ColumnDataSource, column: str, hint: str,
               x: tuple[float, float] = (0.0, 1.0), y: tuple[float, float] = (0.0, 1.0)) -> Title:
    """Until ``source[column]`` holds a finite value, show ``hint`` (what to press) under the
    title of ``fig``, hide its legends and give its axes the extent ``x`` by ``y``; an empty figure
    then shows ticked, labelled axes instead of a blank box. Emptied again, the hint comes back.

    The extent is drawn by an invisible glyph named ``"extent"``. Once data arrive it holds one
    finite point of them instead (see :func:`_anchor`), never nothing: a served page applies the
    extent's change one message before the data that caused it, and a figure with automatic
    ranges and no finite point drawn has no ranges (Bokeh's "could not set initial ranges").

    Parameters
    ----------
    fig : bokeh.plotting.figure
    source : ColumnDataSource
        The data the figure waits for.
    column : str
        The column whose first finite value counts as data (a sweep starts with NaN values); in
        an image column, any finite cell of its first image.
    hint : str
        For example ``"Press Run to compute the sweep"``.
    x, y : tuple of float
        Axis extent while empty (positive for a log axis).

    Returns
    -------
    Title
        The hint, visible while the figure waits.
    """
    title = Title(text=hint, text_font_style="italic", text_color="#666666", name="hint")
    fig.add_layout(title, "above")
    extent = ColumnDataSource(data={"x": list(x), "y": list(y)}, tags=[*x, *y])
    fig.scatter(x="x", y="y", source=extent, alpha=0, name="extent")

    def follow(_attr: str, _old: object, new: Mapping[str, Sequence]) -> None:
        values = new.get(column, [])
        # a run's column starts with a number: the whole column is scanned only for a sweep's NaNs
        # (a heatmap's column holds one image: its cells are scanned)
        first = np.asarray(values[0], dtype=float) if len(values) else np.full(1, np.nan)
        waiting = not (np.isfinite(first).any()
                       or first.ndim == 0 and np.isfinite(np.asarray(values, dtype=float)).any())
        x0, x1, y0, y1 = extent.tags
        points = {"x": [x0, x1], "y": [y0, y1]} if waiting else _anchor(fig, source, new, extent.data)
        if points["x"] != list(extent.data["x"]) or points["y"] != list(extent.data["y"]):
            extent.data = points
        if title.visible != waiting:
            title.visible = waiting
            _show_legends(fig)

    follow("data", None, source.data)
    _show_legends(fig)
    source.on_change("data", follow)
    return title


def _field_name(spec: object) -> str | None:
    """The column a glyph property reads (``None`` for a fixed value)."""
    if isinstance(spec, str):
        return spec
    if isinstance(spec, dict):
        return spec.get("field")
    return getattr(spec, "field", None)


def _glyph_points(glyph: object, data: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray] | None:
    """The x and y values a glyph draws from ``data`` (``y1`` for an area, every line's for a
    multi-line), flattened; ``None`` where it reads no such columns."""
    for xa, ya in (("x", "y"), ("x", "y1"), ("xs", "ys")):
        xs, ys = (_field_name(getattr(glyph, a, None)) for a in (xa, ya))
        if xs not in data or ys not in data:
            continue
        lines = zip(data[xs], data[ys], strict=False) if xa == "xs" else [(data[xs], data[ys])]
        try:
            pairs = [(np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel())
                     for a, b in lines]
        except (TypeError, ValueError):
            return None
        pairs = [(a[:min(a.size, b.size)], b[:min(a.size, b.size)]) for a, b in pairs]
        return (np.concatenate([a for a, _ in pairs] + [np.zeros(0)]),
                np.concatenate([b for _, b in pairs] + [np.zeros(0)]))
    return None


def _anchor(fig, source: ColumnDataSource, data: Mapping[str, Any],
            current: Mapping[str, Sequence]) -> dict[str, list[float]]:
    """One finite point (positive on a log axis) that a glyph of ``fig`` draws from ``data`` of
    ``source``: the ``current`` one while it lies within that glyph's points' box, which leaves the
    figure's automatic ranges as the data make them; none when no glyph draws a finite point."""
    for renderer in fig.renderers:
        if not isinstance(renderer, GlyphRenderer) or renderer.data_source is not source:
            continue
        drawn = _glyph_points(renderer.glyph, data)
        if drawn is None:
            continue
        x, y = drawn
        ok = np.isfinite(x) & np.isfinite(y)
        if isinstance(fig.x_scale, LogScale):
            ok &= x > 0
        if isinstance(fig.y_scale, LogScale):
            ok &= y > 0
        if not ok.any():
            continue
        x, y = x[ok], y[ok]
        if len(current["x"]) == 1:
            cx, cy = float(current["x"][0]), float(current["y"][0])
            if x.min() <= cx <= x.max() and y.min() <= cy <= y.max():
                return {"x": [cx], "y": [cy]}
        return {"x": [float(x[0])], "y": [float(y[0])]}
    return {"x": [], "y": []}


def set_extent(fig, x: tuple[float, float] | None = None, y: tuple[float, float] | None = None) -> None:
    """Change the axis extent that a figure of :func:`await_data` shows while it waits (the swept
    range, say); ``None`` keeps an axis as it is."""
    extent = fig.select_one({"name": "extent"}).data_source
    x0, x1, y0, y1 = extent.tags
    x0, x1 = x if x is not None else (x0, x1)
    y0, y1 = y if y is not None else (y0, y1)
    extent.tags = [float(x0), float(x1), float(y0), float(y1)]
    if _waiting(fig):
        extent.data = {"x": [x0, x1], "y": [y0, y1]}


def set_grid_ranges(fig, *axes: tuple[float, float, int]) -> None:
    """Fit the fixed x (and y) range of a :func:`heatmap_figure` to a grid's cells.

    Parameters
    ----------
    fig : bokeh.plotting.figure
        Made by :func:`heatmap_figure`.
    *axes : (float, float, int)
        ``(low, high, points)`` of the horizontal and the vertical axis, cell centres spaced
        evenly from ``low`` to ``high`` (a single point's cell is 1 wide).
    """
    for rng, (low, high, n) in zip((fig.x_range, fig.y_range), axes, strict=False):
        half = 0.5 * ((high - low) / (n - 1) if n > 1 else 1.0)
        rng.start, rng.end = float(low - half), float(high + half)
        rng.reset_start, rng.reset_end = rng.start, rng.end


def _waiting(fig) -> bool:
    """Whether ``fig`` (of :func:`await_data`) shows its hint: it waits for data."""
    return any(isinstance(m, Title) and m.name == "hint" and m.visible for m in fig.above)


def _show_legends(fig) -> None:
    """Show ``fig``'s legends unless it waits for data (:func:`await_data`) or a legend is tagged
    ``"single"`` (one line needs none)."""
    waiting = _waiting(fig)
    for legend in fig.legend:
        legend.visible = not waiting and "single" not in legend.tags


def set_lines(fig, source: ColumnDataSource, x: str, names: Sequence[str], band: bool = False) -> None:
    """Draw one line per column in ``names`` against column ``x``, replacing earlier lines.

    Parameters
    ----------
    fig : bokeh.plotting.figure
        The figure whose line (and band) renderers are replaced.
    source : ColumnDataSource
        Its data is reset to empty columns ``x``, ``names`` (and the band columns). The columns of
        the lines it replaces stay, empty, until the next data arrive (:func:`stream_lines`, or new
        ``data``), so the browser never draws a line whose field has gone (Bokeh's "nonexistent
        field" warning on a model switch).
    x : str
        The shared x column.
    names : sequence of str
        One column per line; used as legend labels.
    band : bool
        Also draw the band between the :func:`line_columns` of each line.

    Notes
    -----
    A legend inside the plot goes to its top right corner; one in a side panel stays there and
    holds at most 8 rows (more lines take more columns).
    """
    columns = [x, *names]
    if band:
        columns += [c for n in names for c in line_columns(n)]
    source.data = {c: [] for c in [*columns, *(c for c in source.data if c not in columns)]}
    renderers = []
    for i, name in enumerate(names):
        color = Category10_10[i % 10]
        if band:
            lo, hi = line_columns(name)
            renderers.append(fig.varea(x=x, y1=lo, y2=hi, source=source, fill_color=color, fill_alpha=0.2))
        renderers.append(fig.line(x=x, y=name, source=source, line_color=color, line_width=1.5,
                                  legend_label=name))
    fig.renderers = [r for r in fig.renderers if r.name == "extent"] + renderers
    if fig.legend:
        fig.legend[0].items = [item for item in fig.legend[0].items if item.renderers[0] in renderers]
        fig.legend[0].tags = [] if len(names) > 1 else ["single"]
        _show_legends(fig)
        fig.legend[0].click_policy = "hide"
        if fig.legend[0] in fig.center:
            fig.legend[0].location = "top_right"
        else:
            fig.legend[0].nrows = max(1, min(len(names), 8))


def stream_lines(source: ColumnDataSource, data: Mapping[str, Any], rollover: int | None = None) -> None:
    """``source.stream(data, rollover)``, first dropping the columns :func:`set_lines` kept for the
    lines it replaced.

    Parameters
    ----------
    source : ColumnDataSource
        The source of a :func:`set_lines` figure.
    data : mapping
        New rows of every current column.
    rollover : int, optional
        As for :meth:`ColumnDataSource.stream`.
    """
    if set(source.data) - set(data):
        source.data = {k: v for k, v in source.data.items() if k in data}
    source.stream(dict(data), rollover=rollover)


def _changed_runs(old: np.ndarray, new: np.ndarray) -> list[tuple[int, int]]:
    """``(start, stop)`` of each run of entries of the flat ``new`` that differ from ``old``
    (NaN equals NaN)."""
    same = (old == new) | (np.isnan(old) & np.isnan(new)) if new.dtype.kind == "f" else old == new
    edges = np.flatnonzero(np.diff(np.concatenate([[0], (~same).astype(np.int8), [0]])))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def heatmap_image(a: np.ndarray, b: np.ndarray) -> dict[str, list]:
    """The columns of an empty :func:`~._plots.heatmap_figure` (every cell NaN) for a grid of ``a``
    (horizontal) by ``b`` (vertical) evenly spaced values: each cell centred on its grid point, a
    single point's cell 1 wide.
    """
    step = [(v[-1] - v[0]) / (v.size - 1) if v.size > 1 else 1.0 for v in (a, b)]
    image = np.full((b.size, a.size), np.nan)
    return {"image": [image], "x": [float(a[0] - step[0] / 2)], "y": [float(b[0] - step[1] / 2)],
            "dw": [float(step[0] * a.size)], "dh": [float(step[1] * b.size)]}


def patch_heatmap(source: ColumnDataSource, values: np.ndarray) -> int:
    """Send the cells of ``values`` (shape ``(horizontal points, vertical points)``) that differ
    from the image of a :func:`~._plots.heatmap_figure`'s ``source``, as 2-D
    :meth:`~bokeh.models.ColumnDataSource.patch` rectangles: each run of changed cells in grid order
    (the order of a sweep's blocks) as the columns it spans.

    Returns
    -------
    int
        Cells sent.
    """
    image = source.data["image"][0]
    values = np.asarray(values, dtype=float)
    new = values.T
    n_rows = image.shape[0]
    patches = []
    for start, stop in _changed_runs(image.T.reshape(-1), values.reshape(-1)):
        first, last = divmod(start, n_rows), divmod(stop - 1, n_rows)
        rows = slice(first[1], last[1] + 1) if first[0] == last[0] else slice(0, n_rows)
        cols = slice(first[0], last[0] + 1)
        patches.append(((0, rows, cols), new[rows, cols].reshape(-1)))
    if patches:
        source.patch({"image": patches})
    return sum(p.size for _, p in patches)


def outline_cell(fig, index: int | None) -> None:
    """Outline grid point ``index`` (in grid order: the vertical parameter varies fastest) of a
    :func:`~._plots.heatmap_figure` in black; ``None`` removes the outline."""
    sources = {r.data_source.name: r.data_source for r in fig.renderers}
    outline, data = sources["heatmap_cell"], sources["heatmap"].data
    if index is None or not len(data["image"]):
        outline.data = {"x": [], "y": [], "w": [], "h": []}
        return
    n_rows, n_cols = np.shape(data["image"][0])
    i, j = divmod(int(index), n_rows)
    w, h = data["dw"][0] / n_cols, data["dh"][0] / n_rows
    outline.data = {"x": [data["x"][0] + (i + 0.5) * w], "y": [data["y"][0] + (j + 0.5) * h],
                    "w": [w], "h": [h]}
