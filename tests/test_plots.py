"""Bokeh figure and source factories."""

import numpy as np
from bokeh.models import GlyphRenderer, TapTool

from brainmass_widgets import _plots


def test_sources_have_stable_names():
    names = [_plots.trajectory_figure()[1].name, _plots.phase_figure()[1].name,
             _plots.spectrum_figure()[1].name, _plots.sweep_figure()[1].name, _plots.heatmap_figure()[1].name]
    assert names == ["trajectory", "phase", "spectrum", "sweep", "heatmap"]


def test_set_lines_replaces_renderers_and_columns():
    fig, src = _plots.trajectory_figure()
    _plots.set_lines(fig, src, "t", ["x[0]", "x[1]", "y[0]"])
    lines = [r for r in fig.renderers if isinstance(r, GlyphRenderer)]
    assert [r.glyph.y for r in lines] == ["x[0]", "x[1]", "y[0]"]
    assert set(src.data) == {"t", "x[0]", "x[1]", "y[0]"}
    assert [i.label.value for i in fig.legend[0].items] == ["x[0]", "x[1]", "y[0]"]
    _plots.set_lines(fig, src, "t", ["E[0]"], band=True)
    assert len(fig.renderers) == 2
    assert set(src.data) == {"t", "E[0]", "E[0] lo", "E[0] hi"}
    assert [i.label.value for i in fig.legend[0].items] == ["E[0]"]
    assert not fig.legend[0].visible


def test_sweep_and_heatmap_are_tappable():
    for fig, src in (_plots.sweep_figure(), _plots.heatmap_figure()[:2]):
        tap = fig.select_one(TapTool)
        assert tap is not None and tap.renderers[0].data_source is src


def test_patch_changed_sends_only_changed_runs_in_any_order():
    from bokeh.document import Document
    from bokeh.document.events import ColumnDataChangedEvent, ColumnsPatchedEvent
    from bokeh.models import ColumnDataSource

    from brainmass_widgets._plots import patch_changed

    n = 64
    source = ColumnDataSource({"x": np.arange(n, dtype=float), "value": np.full(n, np.nan)})
    doc = Document()
    doc.add_root(source)
    events = []
    doc.on_change(lambda event: events.append(event))
    truth = np.sin(np.arange(n))
    shown = np.full(n, np.nan)
    for start in (48, 0, 16, 32):  # blocks of 16 arriving out of order, as Dask blocks may
        shown[start:start + 16] = truth[start:start + 16]
        assert patch_changed(source, {"value": shown.copy()}) == 16
        (event,) = events[-1:]
        assert isinstance(event, ColumnsPatchedEvent)
        ((where, values),) = event.patches["value"]
        assert (where.start, where.stop) == (start, start + 16)
        np.testing.assert_array_equal(values, truth[start:start + 16])
    assert len(events) == 4 and patch_changed(source, {"value": shown.copy()}) == 0 and len(events) == 4
    np.testing.assert_array_equal(source.data["value"], truth)
    assert patch_changed(source, {"value": np.zeros(8)}) == 8  # a new shape is assigned whole
    assert isinstance(events[-1], ColumnDataChangedEvent)
