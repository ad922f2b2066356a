"""export_page: one compiled run over a grid, written as a page whose data equal plain engine runs."""

import itertools
import threading

import brainunit as u
import numpy as np
import pytest
from export_data import named, source

import brainmass_widgets as bw
from brainmass_widgets import _plots

GRID = {"a": [1.0, -0.5, 0.5], "w": [0.2, 0.35]}


def close(actual, expected):
    """Equal up to float32 rounding: the vmapped program may fuse operations differently."""
    np.testing.assert_allclose(actual, expected, rtol=1e-6, atol=1e-6)


def mag(x):
    return np.asarray(u.get_magnitude(x))


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    sim = bw.CachedSimulator("HopfStep")
    before = sim.cache_info()
    path = bw.export_page(sim, tmp_path_factory.mktemp("page") / "hopf.html", GRID, duration=60 * u.ms)
    after = sim.cache_info()
    return path, before, after


def test_each_grid_point_holds_a_plain_run_at_its_parameters(page):
    path, _, _ = page
    runs = source(path, "export_runs")
    spectra = source(path, "export_spectra")
    sim = bw.CachedSimulator("HopfStep")
    points = list(itertools.product(sorted(GRID["a"]), sorted(GRID["w"])))
    assert len([k for k in runs if k.endswith("|x[0]")]) == len(points) == 6
    for i, (a, w) in enumerate(points):
        ref = sim.run(60 * u.ms, params={"a": a, "w": w}, monitors=["x", "y"])
        close(runs[f"{i}|x[0]"], mag(ref["x"])[:, 0])
        close(runs[f"{i}|u"], mag(ref["x"])[:, 0])
        close(runs[f"{i}|v"], mag(ref["y"])[:, 0])
        freq, psd = _plots.power_spectrum(mag(ref["x"])[:, 0], 1e-4)
        np.testing.assert_allclose(spectra["f"], freq)
        np.testing.assert_allclose(spectra[f"{i}|x[0]"], psd, rtol=1e-4)
    np.testing.assert_allclose(runs["t"], mag(ref["ts"].to_decimal(u.ms)))
    assert not np.array_equal(runs["0|x[0]"], runs["1|x[0]"])


def test_the_page_shows_the_default_point_and_labels_its_sliders(page):
    path, _, _ = page
    runs = source(path, "export_runs")
    shown = source(path, "trajectory")
    slider_a, slider_w = named(path, "slider:a"), named(path, "slider:w")
    # defaults a = 0.25, w = 0.2: nearest grid values 0.5 (index 1 of -0.5, 0.5, 1.0) and 0.2 (index 0)
    assert (slider_a["value"], slider_a["end"], slider_w["value"], slider_w["end"]) == (1, 2, 0, 1)
    close(shown["x[0]"], runs["2|x[0]"])
    ref = bw.CachedSimulator("HopfStep").run(60 * u.ms, params={"a": 0.5, "w": 0.2})
    close(shown["x[0]"], mag(ref["x"])[:, 0])
    assert named(path, "export_point")["text"] == "<b>a = 0.5, w = 0.2</b>"
    shown = source(path, "spectrum")
    peak, end = _plots.spectrum_view(shown["f"], [shown["x[0]"]])
    assert named(path, "spectrum_peak")["location"] == pytest.approx(peak)
    assert peak == pytest.approx(0.2 / (2 * np.pi) * 1000, rel=0.15) and end < 500


def test_the_whole_grid_is_one_compiled_call(page):
    _, before, after = page
    assert after["compiles"] - before["compiles"] == 1
    assert after["hits"] == before["hits"]


def test_a_controller_gives_its_held_values_units_and_ensemble(tmp_path):
    c = bw.ModelController("WilsonCowanStep", autorun=False, duration=40.0, in_size=2, regions=2,
                           noise=True, batch_size=3, seed=5)
    spec = c.spec
    name = next(n for n, p in spec.params.items() if p.unit is not None)
    other = next(n for n in spec.params if n != name)
    low, high = spec.params[name].low, spec.params[name].high
    values = [low + 0.25 * (high - low), low + 0.5 * (high - low)]
    held = spec.params[other].default + spec.params[other].step * 3
    c.set(**{other: held})
    path = bw.export_page(c, tmp_path / "wc.html", {name: values})
    assert named(path, f"slider:{name}")["title"] == f"{name} [{spec.params[name].unit}]"
    runs = source(path, "export_runs")
    sim = bw.CachedSimulator("WilsonCowanStep", in_size=2, noise=True)
    first = c.options["monitors"][0]
    for i, v in enumerate(values):
        ref = sim.run(40 * u.ms, params={**c.params, name: v}, monitors=[first], seed=5, batch_size=3)
        trace = mag(ref[first])[:, :, 1]
        np.testing.assert_allclose(runs[f"{i}|{first}[1]"], trace.mean(axis=1), rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(runs[f"{i}|{first}[1] hi"], trace.mean(axis=1) + trace.std(axis=1),
                                   rtol=1e-5, atol=1e-6)
    ignored = sim.run(40 * u.ms, params={name: values[0]}, monitors=[first], seed=5, batch_size=3)
    assert not np.allclose(runs[f"0|{first}[1]"], mag(ignored[first])[:, :, 1].mean(axis=1))


@pytest.mark.parametrize("grid, message", [
    ({}, "grid must map 1 to 3 parameter names"),
    ({"a": [0, 1], "w": [0, 1], "beta": [1, 2], "x": [0, 1]}, "grid must map 1 to 3"),
    ({"nope": [0, 1]}, "unknown grid parameter 'nope' for HopfStep; valid: a, w, beta"),
    ({"a": [0.5]}, "grid values of 'a' must hold at least 2 values"),
    ({"a": 0.5}, "grid values of 'a' must be a sequence of numbers; got 0.5"),
    ({"a": "0.1,0.2"}, "grid values of 'a' must be a sequence of numbers"),
    ({"a": [0.1, float("nan")]}, "grid value nan of 'a' must be a finite number"),
    ({"a": [0.1, True]}, "grid value True of 'a' must be a finite number"),
    ({"a": [0.1, "x"]}, "grid value 'x' of 'a' must be a finite number"),
    ({"a": [0.2, 0.1, 0.2]}, "grid value 0.2 of 'a' appears more than once"),
    ({"a": np.linspace(0, 1, 9), "w": np.linspace(0, 1, 8)},
     "grid has 9 x 8 = 72 points; a page holds at most 64"),
])
def test_bad_grids_are_refused_with_the_value_and_what_is_allowed(tmp_path, grid, message):
    target = tmp_path / "bad.html"
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        bw.export_page(bw.CachedSimulator("HopfStep"), target, grid)
    assert not target.exists()


def test_a_unit_grid_value_is_read_in_the_catalogue_unit(tmp_path):
    spec = bw.model_spec("WilsonCowanStep")
    name, p = next((n, p) for n, p in spec.params.items() if p.unit is not None)
    path = bw.export_page(bw.CachedSimulator("WilsonCowanStep"), tmp_path / "q.html",
                          {name: [p.low, p.high] * p.unit}, duration=20 * u.ms)
    runs = source(path, "export_runs")
    ref = bw.CachedSimulator("WilsonCowanStep").run(20 * u.ms, params={name: p.high})
    close(runs[f"1|{spec.default_monitor}[0]"], mag(ref[spec.default_monitor])[:, 0])
    with pytest.raises(ValueError, match=f"of '{name}' is not convertible to"):
        bw.export_page(bw.CachedSimulator("WilsonCowanStep"), tmp_path / "q2.html", {name: [1, 2] * u.volt})


def test_pages_go_through_the_limits(tmp_path):
    sim = bw.CachedSimulator("HopfStep")
    target = tmp_path / "limited.html"
    try:
        bw.set_limits(bw.Limits(max_grid_points=4))
        with pytest.raises(ValueError, match="6 grid points; this server allows at most 4"):
            bw.export_page(sim, target, GRID)
        bw.set_limits(bw.Limits(max_request_work=10_000))
        with pytest.raises(ValueError, match="2,000 steps x 6 grid points .*= 12,000 region-steps"):
            bw.export_page(sim, target, GRID)
        bw.set_limits(bw.Limits(max_steps=1000))
        with pytest.raises(ValueError, match="needs 2,000 integration steps; this server allows at most 1,0"):
            bw.export_page(sim, target, GRID)
    finally:
        bw.set_limits(bw.Limits())
    assert not target.exists()
    with pytest.raises(ValueError, match="the page would hold .* a page holds at most 2,000,000"):
        bw.export_page(sim, target, GRID, duration=20_000 * u.ms)
    assert not target.exists()


def test_a_page_waits_for_a_slot_of_the_compute_pool(tmp_path):
    pool = bw.compute_pool()
    sim = bw.CachedSimulator("HopfStep")
    target = tmp_path / "pooled.html"
    held = 0
    for _ in range(pool.slots):
        assert pool.acquire()
        held += 1
    done = threading.Event()
    worker = threading.Thread(target=lambda: (bw.export_page(sim, target, {"a": [0.1, 0.2]}), done.set()))
    try:
        worker.start()
        assert not done.wait(1.5) and not target.exists()
    finally:
        for _ in range(held):
            pool.release()
    worker.join(120)
    assert done.is_set() and target.exists()


def test_other_settings_are_named_when_unknown(tmp_path):
    with pytest.raises(ValueError, match="unknown setting 'colour'"):
        bw.export_page(bw.CachedSimulator("HopfStep"), tmp_path / "x.html", {"a": [0, 1]}, colour="red")
    with pytest.raises(ValueError, match="phase must name two states of HopfStep"):
        bw.export_page(bw.CachedSimulator("HopfStep"), tmp_path / "x.html", {"a": [0, 1]}, phase=("x", "z"))
