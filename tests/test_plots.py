"""Bokeh figure and source factories."""

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
