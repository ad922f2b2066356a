"""Bokeh figure and source factories."""

import numpy as np
import pytest
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
    assert {r.glyph.y if hasattr(r.glyph, "y") else r.glyph.y1 for r in fig.renderers} == {"E[0]", "E[0] lo"}
    # the replaced lines' columns stay, empty, so no drawn line ever names a missing field
    assert set(src.data) == {"t", "E[0]", "E[0] lo", "E[0] hi", "x[0]", "x[1]", "y[0]"}
    assert all(len(v) == 0 for v in src.data.values())
    assert [i.label.value for i in fig.legend[0].items] == ["E[0]"]
    assert not fig.legend[0].visible
    _plots.stream_lines(src, {"t": [0.0, 1.0], "E[0]": [1.0, 2.0], "E[0] lo": [0.5, 1.5], "E[0] hi": [2, 3]})
    assert set(src.data) == {"t", "E[0]", "E[0] lo", "E[0] hi"}
    assert list(src.data["E[0]"]) == [1.0, 2.0]


def test_a_model_switch_never_sends_a_line_without_its_column():
    """After each change the document sends, every line drawn finds its column in the source
    (the browser applies the changes one by one and warns of a "nonexistent field" otherwise)."""
    from bokeh.document import Document

    fig, src = _plots.trajectory_figure()
    doc = Document()
    doc.add_root(fig)
    _plots.set_lines(fig, src, "t", ["x[0]", "y[0]"])
    src.data = {"t": [0.0, 1.0], "x[0]": [1.0, 2.0], "y[0]": [3.0, 4.0]}

    def drawn() -> set:
        return {r.glyph.y for r in fig.renderers if r.name != "extent"}

    seen = []
    doc.on_change(lambda event: seen.append((type(event).__name__, drawn(), set(src.data))))
    _plots.set_lines(fig, src, "t", ["V[0]", "w[0]"])
    _plots.stream_lines(src, {"t": [0.0], "V[0]": [1.0], "w[0]": [2.0]})
    assert len(seen) >= 3
    for event, lines, columns in seen:
        assert lines <= columns, (event, lines, columns)
    assert seen[-1][1:] == ({"V[0]", "w[0]"}, {"t", "V[0]", "w[0]"})


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


def test_welch_spectrum_peaks_at_the_sine_and_integrates_to_its_variance():
    fs, n = 1e4, 2000
    rng = np.random.default_rng(1)
    x = 0.5 * np.cos(2 * np.pi * 31.83 * np.arange(n) / fs + 0.3) + 0.01 * rng.normal(size=n)
    freq, psd = _plots.power_spectrum(x, 1 / fs)
    assert freq[0] == 0 and freq[-1] == pytest.approx(fs / 2)
    assert np.trapezoid(psd, freq) == pytest.approx(x.var(), rel=0.03)
    peak, end = _plots.spectrum_view(freq, [psd])
    assert peak == pytest.approx(31.83, abs=fs / n)
    assert peak < end < 0.05 * freq[-1]
    assert _plots.peak_text(peak) == f"peak {peak:.3g} Hz"


def test_long_traces_are_averaged_over_segments_and_flat_ones_have_no_peak():
    fs, n = 1e4, 100_000
    rng = np.random.default_rng(2)
    x = np.sin(2 * np.pi * 12.0 * np.arange(n) / fs) + 0.3 * rng.normal(size=n)
    freq, psd = _plots.power_spectrum(x, 1 / fs)
    assert freq.size <= _plots.spectrum_points(n) and freq[1] < 1.0
    assert np.trapezoid(psd, freq) == pytest.approx(x.var(), rel=0.03)
    assert _plots.spectrum_view(freq, [psd])[0] == pytest.approx(12.0, abs=freq[1])
    slow = np.sin(2 * np.pi * 5.0 * np.arange(n) / fs)
    both = np.stack([x, slow], axis=1)
    assert _plots.spectrum_segment(both) == _plots.spectrum_segment(slow) > _plots.spectrum_segment(x)
    assert _plots.power_spectrum(x, 1 / fs, _plots.spectrum_segment(both))[0].size == \
        _plots.power_spectrum(slow, 1 / fs)[0].size
    freq, psd = _plots.power_spectrum(np.zeros(500), 1 / fs)
    assert _plots.trend_frequency(100, 1e-3) == pytest.approx(10.0)
    assert _plots.spectrum_view(freq, [psd]) == (None, freq[-1])
    assert _plots.peak_text(None) == "no oscillation"


def test_spectrum_figure_shows_the_peak_range_and_unit():
    import brainunit as u

    assert _plots.psd_label(None) == "PSD [1/Hz]"
    assert _plots.psd_label(u.mV) == "PSD [mV²/Hz]"
    fig, src = _plots.spectrum_figure()
    fs = 1e4
    x = np.sin(2 * np.pi * 40.0 * np.arange(3000) / fs)
    freq, psd = _plots.power_spectrum(x, 1 / fs)
    peak = _plots.show_spectrum(fig, src, freq, {"x[0]": psd}, "Model: PSD of x")
    span = fig.select_one({"name": "spectrum_peak"})
    assert span.visible and span.location == peak == pytest.approx(40.0, abs=fs / 3000)
    assert fig.title.text == f"Model: PSD of x: peak {peak:.3g} Hz"
    assert fig.x_range.start == 0 and peak < fig.x_range.end == fig.x_range.reset_end < 200
    assert set(src.data) == {"f", "x[0]"}
    shown = psd[(freq <= fig.x_range.end) & (psd > _plots.SPECTRUM_FLOOR)]
    assert fig.y_range.start <= max(shown.min(), shown.max() * 1e-10) and shown.max() <= fig.y_range.end
    assert fig.y_range.start >= shown.max() * 1e-11 and fig.y_range.end == fig.y_range.reset_end


def test_heatmap_tap_outlines_the_cell():
    fig, src, _ = _plots.heatmap_figure()
    (outline,) = [r for r in fig.renderers if r.data_source.name == "heatmap_cell"]
    assert outline.glyph.line_color == "black" and outline.glyph.fill_color is None
    src.data = _plots.heatmap_image(np.linspace(0.0, 1.0, 3), np.linspace(0.0, 2.0, 2))
    _plots.outline_cell(fig, 3)  # grid order: a = 0.5, b = 2.0
    assert outline.data_source.data == {"x": [0.5], "y": [2.0], "w": [0.5], "h": [2.0]}
    _plots.outline_cell(fig, None)
    assert not len(outline.data_source.data["x"])


def test_patch_heatmap_sends_each_changed_run_as_the_columns_it_spans():
    from bokeh.document import Document
    from bokeh.document.events import ColumnsPatchedEvent

    fig, src, _ = _plots.heatmap_figure()
    src.data = _plots.heatmap_image(np.arange(4.0), np.arange(3.0))
    doc = Document()
    doc.add_root(fig)
    events = []
    doc.on_change(lambda event: events.append(event))
    values = np.full((4, 3), np.nan)
    values.reshape(-1)[2:7] = np.arange(5.0)  # a run from the last cell of column 0 into column 2
    values.reshape(-1)[10] = 9.0  # and one cell of column 3
    assert _plots.patch_heatmap(src, values) == 9 + 1
    (event,) = [e for e in events if isinstance(e, ColumnsPatchedEvent)]
    assert [where for where, _ in event.patches["image"]] == [(0, slice(0, 3), slice(0, 3)),
                                                              (0, slice(1, 2), slice(3, 4))]
    np.testing.assert_array_equal(src.data["image"][0], values.T)
    assert _plots.patch_heatmap(src, values) == 0
    assert len([e for e in events if isinstance(e, ColumnsPatchedEvent)]) == 1


def test_sweep_legend_names_the_metric():
    fig, _ = _plots.sweep_figure()
    _plots.name_sweep_metric(fig, "amplitude of x")
    assert [i.label.value for i in fig.legend[0].items] == ["min..max", "amplitude of x"]


def test_phase_plane_trajectories_have_their_own_colour_and_legend():
    fig, _, sources = _plots.phase_plane_figure()
    by_source = {r.data_source.name: r for r in fig.renderers if isinstance(r, GlyphRenderer)}
    colour = by_source["trajectories"].glyph.line_color
    assert colour not in _plots.NULLCLINE_COLORS and colour not in _plots.STABILITY_COLORS.values()
    (legend,) = fig.legend
    assert legend in fig.right and legend not in fig.center
    labels = [getattr(i.label, "value", None) or "@" + i.label.field for i in legend.items]
    assert labels == ["@label", "trajectory", "@legend"]
    assert legend.items[0].renderers == [by_source["nullclines"]]
    assert legend.items[2].renderers == [by_source["fixed_points"]]
    assert "legend" in sources["fixed_points"].data


def test_network_matrices_run_upward_and_name_regions():
    figures, sources, mappers = _plots.network_figures()
    from bokeh.models import ColorBar
    from bokeh.palettes import RdBu11

    fc = mappers["fc"]
    assert fc.low < fc.high
    assert fc.palette[-1] == RdBu11[0] and fc.palette[0] == RdBu11[-1]  # +1 blue, -1 red, as before
    titles = {name: figures[name].select_one(ColorBar).title for name in ("connectivity", "fc")}
    assert titles == {"connectivity": "weight", "fc": "Pearson r"}
    labels = [f"R{i}" for i in range(8)]
    _plots.matrix_ticks(figures["fc"], labels)
    axis = figures["fc"].xaxis[0]
    assert list(axis.ticker.ticks) == list(range(8)) and axis.major_label_overrides[7] == "R7"
    assert (figures["fc"].y_range.start, figures["fc"].y_range.end) == (7.5, -0.5)
    _plots.matrix_ticks(figures["fc"], [f"R{i}" for i in range(80)])
    assert len(figures["fc"].yaxis[0].ticker.ticks) <= 16
    assert figures["order"].yaxis[0].axis_label
    for name in ("regions", "coupling_sweep"):
        (legend,) = figures[name].legend
        assert legend in figures[name].right
    _plots.set_lines(figures["regions"], sources["regions"], "t", labels)
    (legend,) = figures["regions"].legend
    assert [i.label.value for i in legend.items] == labels and legend.nrows == 8
    for name in ("fc_pred", "fc_target"):
        assert _plots.fit_figures()[2][name].low < _plots.fit_figures()[2][name].high


def test_a_transient_does_not_pass_for_the_peak():
    fs, n = 1e4, 10_000
    t = np.arange(n) / fs
    x = 25 * (1 - np.exp(-t / 0.05)) + 0.3 * np.sin(2 * np.pi * 10.0 * t)  # a rise, then alpha
    segment = _plots.spectrum_segment(x)
    freq, psd = _plots.power_spectrum(x, 1 / fs, segment)
    assert _plots.spectrum_view(freq, [psd])[0] < 1.0
    lowest = _plots.trend_frequency(segment, 1 / fs)
    assert _plots.spectrum_view(freq, [psd], lowest=lowest)[0] == pytest.approx(10.0, abs=0.5)


def _hint(fig):
    return next(m for m in fig.above if m.name == "hint")


def _extent(fig):
    return fig.select_one({"name": "extent"}).data_source.data


def test_an_empty_figure_says_what_to_press_until_a_finite_value_arrives():
    fig, src = _plots.sweep_figure()
    assert _hint(fig).visible and "Press Run" in _hint(fig).text
    assert len(_extent(fig)["x"]) == 2 and np.isfinite(_extent(fig)["y"]).all()
    assert not any(legend.visible for legend in fig.legend)
    others = {c: np.arange(3.0) for c in src.data if c != "y"}
    src.data = {**others, "y": np.full(3, np.nan)}  # a run started: its points are not computed yet
    assert _hint(fig).visible
    src.patch({"y": [(1, 0.5)]})
    # one point of the data stays drawn by the extent: the ranges are the data's own
    assert not _hint(fig).visible and _extent(fig) == {"x": [0.0], "y": [0.0]}
    assert all(legend.visible for legend in fig.legend)
    src.data = {c: [] for c in src.data}
    assert _hint(fig).visible and len(_extent(fig)["x"]) == 2


def test_an_empty_heatmap_says_what_to_press_until_a_cell_is_computed():
    fig, src, _ = _plots.heatmap_figure()
    assert _hint(fig).visible and "Press Run" in _hint(fig).text
    src.data = _plots.heatmap_image(np.linspace(0.0, 1.0, 3), np.linspace(0.0, 2.0, 2))
    assert _hint(fig).visible and src.data["image"][0].shape == (2, 3)
    _plots.patch_heatmap(src, np.where(np.arange(6).reshape(3, 2) == 3, 0.5, np.nan))
    assert not _hint(fig).visible and src.data["image"][0][1, 1] == 0.5
    assert np.isnan(src.data["image"][0]).sum() == 5
    src.data = {c: [] for c in src.data}
    assert _hint(fig).visible


def test_set_lines_keeps_the_extent_and_a_waiting_figure_shows_no_legend():
    figures, sources, _ = _plots.fit_figures()
    fig, src = figures["paths"], sources["paths"]
    _plots.set_lines(fig, src, "step", ["a", "w"])
    assert fig.select_one({"name": "extent"}) in fig.renderers
    assert _hint(fig).visible and not fig.legend[0].visible
    src.stream({"step": [0], "a": [0.1], "w": [0.2]})
    assert not _hint(fig).visible and fig.legend[0].visible
    _plots.set_lines(fig, src, "step", ["a"])
    assert _hint(fig).visible and not fig.legend[0].visible
    _plots.stream_lines(src, {"step": [0], "a": [0.1]})
    assert not fig.legend[0].visible  # one line needs no legend
    assert _plots.await_data(*_plots.trajectory_figure(), "t", "x").visible  # an empty source waits


def test_every_figure_that_starts_empty_says_what_to_press():
    figures, sources, _ = _plots.fit_figures()
    hints = {name: _hint(figures[name]).text for name in ("loss", "paths", "fit")}
    assert all("Press Fit" in h for h in hints.values())
    _, series, plane_sources = _plots.phase_plane_figure()
    assert "Tap the phase plane" in _hint(series).text
    net, _, _ = _plots.network_figures()
    assert "Press Run sweep" in _hint(net["coupling_sweep"]).text
    assert min(_extent(figures["loss"])["y"]) > 0  # the loss axis is logarithmic


def _finite(x, y) -> int:
    n = min(len(x), len(y))
    x, y = np.asarray(x[:n], dtype=float), np.asarray(y[:n], dtype=float)
    return int((np.isfinite(x) & np.isfinite(y)).sum())


def _finite_points(renderer, data) -> int:
    """Finite points a line, multi-line, area or scatter glyph draws from ``data``."""
    glyph = renderer.glyph
    if hasattr(glyph, "xs"):
        return sum(_finite(x, y) for x, y in zip(data.get(glyph.xs, []), data.get(glyph.ys, []), strict=True))
    return _finite(data.get(glyph.x, []), data.get(glyph.y if hasattr(glyph, "y") else glyph.y1, []))


def _page_states(fig, change) -> list[int]:
    """The finite points ``fig`` draws in each state that a page applying the document's changes
    one message at a time goes through while ``change()`` runs. Bokeh sends the changes a source's
    ``on_change`` callback makes before that source's own change."""
    from bokeh.document import Document
    from bokeh.document.events import ColumnDataChangedEvent, ColumnsPatchedEvent, ColumnsStreamedEvent

    doc = Document()
    doc.add_root(fig)
    page = {r.data_source.id: {k: list(v) for k, v in r.data_source.data.items()} for r in fig.renderers}
    counts = []

    def apply(event) -> None:
        model = getattr(event, "model", None)
        if model is None or model.id not in page:
            return
        if isinstance(event, ColumnsStreamedEvent):
            for k, v in event.data.items():
                page[model.id][k] = page[model.id].get(k, []) + list(v)
        elif isinstance(event, ColumnDataChangedEvent | ColumnsPatchedEvent):
            page[model.id] = {k: list(v) for k, v in model.data.items()}
        else:
            return
        counts.append(sum(_finite_points(r, page[r.data_source.id]) for r in fig.renderers))

    doc.on_change(apply)
    change()
    return counts


def _trajectory():
    fig, src = _plots.trajectory_figure()
    _plots.await_data(fig, src, "t", "Waiting for the first run")
    _plots.set_lines(fig, src, "t", ["x[0]", "y[0]"])
    return fig, src, {"t": [0.0, 1.0, 2.0], "x[0]": [1.0, -2.0, 0.5], "y[0]": [3.0, 4.0, 5.0]}


def _diagram():
    figures, sources = _plots.bifurcation_figures()
    return figures["diagram"], sources["stable"], {"x": [0.2, 0.4, np.nan, 0.8], "y": [1.0, 2.0, np.nan, 3.0]}


def _plane():
    fig, _, sources = _plots.phase_plane_figure()
    _plots.await_data(fig, sources["field"], "x0", "Computing the vector field")
    return fig, sources["field"], {"x0": [0.0, 1.0], "y0": [0.0, 0.0], "x1": [0.1, 1.1], "y1": [0.1, 0.1]}


def _loss():
    figures, sources, _ = _plots.fit_figures()
    return figures["loss"], sources["loss"], {"step": [0, 1], "loss": [50.0, 20.0], "best": [50.0, 20.0]}


@pytest.mark.parametrize("make", [_trajectory, _diagram, _plane, _loss])
def test_a_waiting_figure_draws_a_finite_point_in_every_state_the_page_goes_through(make):
    """A figure with automatic ranges and no finite point drawn has no ranges in the browser (its
    "could not set initial ranges" warning): the extent gives way to the data one message early,
    so it keeps one point of them."""
    fig, src, data = make()

    def arrive_grow_and_reset() -> None:
        src.data = {k: [] for k in src.data}
        src.data = dict(data)
        src.stream({k: v[-1:] for k, v in data.items()})
        if src.name == "trajectory":
            _plots.set_lines(fig, src, "t", ["x[0]"])

    counts = _page_states(fig, arrive_grow_and_reset)
    assert counts and min(counts) > 0, counts
    src.data = dict(data)
    (x,), (y,) = _extent(fig)["x"], _extent(fig)["y"]
    for r in fig.renderers:
        if r.data_source is src and hasattr(r.glyph, "y"):  # the point lies within the data drawn
            xs, ys = np.asarray(data[r.glyph.x], float), np.asarray(data[r.glyph.y], float)
            assert np.nanmin(xs) <= x <= np.nanmax(xs) and np.nanmin(ys) <= y <= np.nanmax(ys)
    if fig.y_scale.__class__.__name__ == "LogScale":
        assert y > 0
    _plots.set_extent(fig, x=(5.0, 6.0))  # a new waiting extent is kept for the next wait
    assert len(_extent(fig)["x"]) == 1
    src.data = {k: [] for k in src.data}
    assert _hint(fig).visible and _extent(fig)["x"] == [5.0, 6.0]


def test_the_heatmap_has_fixed_ranges_fitted_to_the_grid_even_while_hidden():
    """The Sweep tab hides the heatmap while a sweep has one parameter; a hidden figure's automatic
    ranges see no data, so the heatmap's are fixed."""
    from bokeh.models import Range1d

    from brainmass_widgets import SweepController

    c = SweepController("HopfStep", axes={"a": (0.0, 1.0, 5), "w": (0.1, 0.3, 3)})
    fig = c.figures["heatmap"]
    assert isinstance(fig.x_range, Range1d) and isinstance(fig.y_range, Range1d)
    assert (fig.x_range.start, fig.x_range.end) == pytest.approx((-0.125, 1.125))
    assert (fig.y_range.start, fig.y_range.end) == pytest.approx((0.05, 0.35))
    assert (fig.y_range.reset_start, fig.y_range.reset_end) == pytest.approx((0.05, 0.35))
    c.configure(axes={"a": (0.0, 1.0, 5)})
    assert np.isfinite([fig.x_range.start, fig.x_range.end, fig.y_range.start, fig.y_range.end]).all()
    c.close()



def _two_params(model: str) -> dict:
    from brainmass_widgets import model_spec

    return dict.fromkeys(list(model_spec(model).params)[:2])


def _controllers(model: str) -> dict:
    """One controller of each kind (and the variants whose figures differ) showing ``model``."""
    import brainmass_widgets as bw

    return {"model": bw.ModelController(model, autorun=False), "sweep": bw.SweepController(model),
            "sweep 2-D": bw.SweepController(model, axes=_two_params(model)),
            "phase": bw.PhasePlaneController(model, autorun=False),
            "network": bw.NetworkController(model, autorun=False), "fit": bw.FitController(model),
            "network fit": bw.FitController(model, network=True),
            "bifurcation": bw.BifurcationController(model, autorun=False),
            "bifurcation 2-D": bw.BifurcationController(model, second=list(_two_params(model))[1],
                                                        autorun=False)}


@pytest.mark.parametrize("first, then", [("HopfStep", "FitzHughNagumoStep"),
                                         ("FitzHughNagumoStep", "HopfStep")])
def test_every_figure_title_names_the_model_and_what_it_shows_and_follows_a_switch(first, then):
    controllers = _controllers(first)
    try:
        for model in (first, then):
            for key, c in controllers.items():
                if model != first:
                    options = {"axes": _two_params(model)} if key == "sweep 2-D" else {}
                    c.configure(**{"node" if key == "network" else "model": model}, **options)
                titles = {name: fig.title.text for name, fig in c.figures.items()}
                assert all(t.startswith(f"{model}:") or t.startswith(f"{model} network") or
                           t.startswith(f"{model} fit") for t in titles.values()), (key, titles)
                assert len(set(titles.values())) == len(titles), (key, titles)  # each says what it shows
    finally:
        for c in controllers.values():
            c.close()
