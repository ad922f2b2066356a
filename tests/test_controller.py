"""The framework-neutral controller: sources equal the engine, latest wins, status, sweeps."""

import dataclasses
import functools
import threading
import time

import brainunit as u
import numpy as np
import pytest
from attacks import BOMB_BYTES, peak_bytes, zip_bomb
from bokeh.document import Document
from bokeh.document.events import ColumnDataChangedEvent, ColumnsPatchedEvent
from bokeh.models import ColumnDataSource, HoverTool
from progress import start_and_wait_running

import brainmass_widgets as bw
from brainmass_widgets import _plots
from brainmass_widgets._model_controller import ModelController
from brainmass_widgets._sweep_controller import SweepController


def mag(x):
    return np.asarray(u.get_magnitude(x))


def engine(name="HopfStep", duration=None, **kw):
    spec = bw.model_spec(name)
    return bw.CachedSimulator(name, in_size=kw.pop("in_size", 1), noise=kw.pop("noise", False)).run(
        duration or spec.duration, **kw)


class Kinds:
    """Collects every status a controller reports."""

    def __init__(self, controller):
        self.seen = []
        controller.on_status(self.seen.append)

    @property
    def kinds(self):
        return [s.kind for s in self.seen]


def test_sources_hold_the_engine_run_for_the_set_values():
    c = ModelController("HopfStep", monitors=["x", "y"], in_size=3, regions=2)
    assert c.wait(120)
    c.set(a=0.6, w=0.4)
    assert c.wait(60)
    ref = engine(params={"a": 0.6, "w": 0.4}, monitors=["x", "y"], in_size=3)
    data = c.sources["trajectory"].data
    assert c.lines == ("x[0]", "x[1]", "y[0]", "y[1]")
    np.testing.assert_allclose(data["t"], mag(ref["ts"] / u.ms))
    for m in ("x", "y"):
        for r in (0, 1):
            np.testing.assert_allclose(data[f"{m}[{r}]"], mag(ref[m])[:, r], rtol=1e-6)
    np.testing.assert_allclose(c.sources["phase"].data["u"], mag(ref["x"])[:, 0], rtol=1e-6)
    np.testing.assert_allclose(c.sources["phase"].data["v"], mag(ref["y"])[:, 0], rtol=1e-6)
    assert c.status.kind == "done"
    spectrum = c.sources["spectrum"].data
    freq, psd = _plots.power_spectrum(mag(ref["x"])[:, 0], 1e-4)
    np.testing.assert_allclose(spectrum["f"], freq)
    np.testing.assert_allclose(spectrum["x[0]"], psd, rtol=1e-5)
    assert set(spectrum) == {"f", "x[0]", "x[1]"}


def test_the_spectrum_is_a_welch_psd_fitted_to_its_peak():
    w = 0.3
    c = ModelController("HopfStep", params={"a": 0.25, "w": w}, init={"x": 0.5, "y": 0.0}, duration=400.0)
    assert c.wait(120)
    fig, data = c.figures["spectrum"], c.sources["spectrum"].data
    x = c.sources["trajectory"].data["x[0]"].astype(np.float64)
    freq, psd = np.asarray(data["f"]), np.asarray(data["x[0]"], dtype=np.float64)
    nyquist = 0.5 / 1e-4
    assert freq[-1] == pytest.approx(nyquist)
    assert np.trapezoid(psd, freq) == pytest.approx(x.var(), rel=0.03)
    expected = w / (2 * np.pi) * 1000
    resolution = expected / _plots.SPECTRUM_PERIODS  # Hz: a segment spans at least that many periods
    span = fig.select_one({"name": "spectrum_peak"})
    assert span.visible and span.location == pytest.approx(expected, abs=resolution)
    assert fig.title.text == f"HopfStep: power spectral density of x: peak {span.location:.3g} Hz"
    assert fig.x_range.start == 0 and expected < fig.x_range.end < 0.05 * nyquist
    assert fig.yaxis[0].axis_label == "PSD [1/Hz]"
    c.configure(model="JansenRitStep", duration=200.0)
    assert c.wait(120)
    assert fig.yaxis[0].axis_label == "PSD [mV²/Hz]"
    assert fig.title.text.startswith("JansenRitStep: power spectral density of E: ")


def test_a_storm_of_changes_computes_only_the_last_and_a_few_between():
    c = ModelController("HopfStep", duration=1000.0)
    assert c.wait(120)
    before = c.computations
    values = np.linspace(0.1, 1.2, 100)
    for a in values:
        c.set(a=float(a))
    assert c.wait(60)
    assert c.computations - before <= 10
    ref = engine(duration=1000 * u.ms, params={"a": float(values[-1])})
    np.testing.assert_allclose(c.sources["trajectory"].data["x[0]"], mag(ref["x"])[:, 0], rtol=1e-6)
    assert c.params["a"] == values[-1]


def test_long_runs_stream_with_progress_and_equal_one_run():
    c = ModelController("HopfStep", duration=300.0, stream_steps=1000, chunk_steps=700, autorun=False)
    seen = Kinds(c)
    lengths = []
    c.sources["trajectory"].on_change("data", lambda attr, old, new: lengths.append(len(new["t"])))
    c.run()
    assert c.wait(120)
    ref = engine(duration=300 * u.ms)
    np.testing.assert_allclose(c.sources["trajectory"].data["x[0]"], mag(ref["x"])[:, 0], rtol=1e-6)
    running = [s.progress for s in seen.seen if s.kind == "running"]
    assert running == sorted(running) and 0 < running[1] < 1
    assert seen.kinds[-1] == "done"
    assert c.result["x"].shape == ref["x"].shape


def test_streamed_plot_keeps_at_most_rollover_samples():
    c = ModelController("HopfStep", duration=500.0, stream_steps=1000, chunk_steps=1000, rollover=1500)
    assert c.wait(120)
    data = c.sources["trajectory"].data
    assert len(data["t"]) == 1500
    ref = engine(duration=500 * u.ms)
    np.testing.assert_allclose(data["x[0]"], mag(ref["x"])[-1500:, 0], rtol=1e-6)
    assert c.result["x"].shape[0] == 5000


def test_a_newer_request_stops_a_stream_and_its_chunks_are_never_drawn():
    c = ModelController("HopfStep", duration=20000.0, stream_steps=1000, chunk_steps=500)
    midway = threading.Event()
    c.on_status(lambda s: s.kind == "running" and s.progress > 0.01 and midway.set())
    assert midway.wait(120)
    c.configure(duration=100.0, params={"a": 0.9})
    assert c.wait(120)
    ref = engine(duration=100 * u.ms, params={"a": 0.9})
    np.testing.assert_allclose(c.sources["trajectory"].data["x[0]"], mag(ref["x"])[:, 0], rtol=1e-6)
    assert c.status.kind == "done" and "1,000 steps" in c.status.message
    assert c.result["x"].shape[0] == 1000


def test_a_status_of_an_unknown_kind_is_refused_by_name():
    assert bw.Status("done").kind == "done" and not bw.Status("done").busy and bw.Status("running").busy
    with pytest.raises(ValueError, match=r"unknown status kind 'finished'; valid: idle, compiling, running, "
                                         r"done, diverged, cancelled, error"):
        bw.Status("finished")


def test_status_reports_compiling_then_done_and_divergence_with_its_step():
    c = ModelController("HopfStep", duration=123.4, autorun=False)
    seen = Kinds(c)
    c.run()
    assert c.wait(120)
    assert seen.kinds[0] == "compiling" and seen.kinds[-1] == "done"
    assert "1,234 steps" in seen.seen[-1].message
    c2 = ModelController("LorenzStep", dt=0.1)
    assert c2.wait(120)
    assert c2.status.kind == "diverged"
    assert c2.status.step == c2.result.diverged and c2.status.step > 0
    assert "NaN/inf" in c2.status.message and "smaller dt" in c2.status.message


def test_bad_values_name_themselves_and_leave_the_controller_working():
    c = ModelController("HopfStep")
    assert c.wait(120)
    with pytest.raises(ValueError, match="'a'"):
        c.set(a="fast")
    assert c.status.kind == "error" and "'a'" in c.status.message
    with pytest.raises(ValueError, match="unknown parameter 'noise_sigma'.*valid: a, w, beta"):
        c.set(noise_sigma=0.1)
    with pytest.raises(ValueError, match="duration"):
        c.configure(duration=-5.0)
    with pytest.raises(ValueError, match="unknown option 'colour'"):
        c.configure(colour="red")
    with pytest.raises(ValueError, match="phase must name two states"):
        c.configure(phase=("x", "q"))
    assert c.params["a"] == 0.25 and c.options["duration"] == 200 * u.ms
    c.set(a=0.5)
    assert c.wait(60) and c.status.kind == "done"
    np.testing.assert_allclose(c.sources["trajectory"].data["x[0]"],
                               mag(engine(params={"a": 0.5})["x"])[:, 0], rtol=1e-6)


def test_noise_ensemble_draws_mean_and_std_band():
    c = ModelController("HopfStep", noise=True, batch_size=6, params={"a": 0.1, "noise_sigma": 0.1},
                        seed=4, duration=50.0)
    assert c.wait(120)
    ref = engine(duration=50 * u.ms, noise=True, batch_size=6, seed=4, monitors=["x", "y"],
                 params={"a": 0.1, "noise_sigma": 0.1})
    x = mag(ref["x"])[:, :, 0]
    data = c.sources["trajectory"].data
    np.testing.assert_allclose(data["x[0]"], x.mean(axis=1), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(data["x[0] hi"] - data["x[0] lo"], 2 * x.std(axis=1), rtol=1e-4, atol=1e-7)
    assert x.std(axis=1).max() > 0


def test_code_reproduces_the_result():
    c = ModelController("JansenRitStep", noise=True, in_size=2, monitors=["E", "M"], seed=9,
                        params={"E_inp": 180.0, "noise_sigma": 5.0}, duration=80.0, transient=10.0)
    assert c.wait(120)
    namespace = {}
    exec(c.code(), namespace)
    for m in ("E", "M"):
        np.testing.assert_allclose(mag(namespace["result"][m]), mag(c.result[m]), rtol=1e-4, atol=1e-4)


def test_dispatch_applies_updates_where_the_front_end_says():
    applied_on = []

    def dispatch(fn):
        applied_on.append(threading.current_thread().name)
        fn()

    c = ModelController("HopfStep", dispatch=dispatch)
    assert c.wait(120)
    assert "brainmass-widgets model" in applied_on
    assert len(c.sources["trajectory"].data["x[0]"]) == 2000


# ----------------------------------------------------------------------------- sweeps


def swept_fills(c):
    """Run ``c``'s sweep, drawing every block; the finite values of the curve at each draw."""
    c.draw_every = 0
    filled = []
    c.sources["sweep"].on_change("data", lambda attr, old, new: filled.append(
        int(np.isfinite(np.asarray(new["y"], float)).sum())))
    c.run()
    assert c.wait(120) and c.status.kind == "done"
    return filled


def hopf_sweep(points):
    """The engine's sweep of HopfStep's ``a`` over -0.5 .. 1.5 (w = 0.3, 100 ms, a quarter lead)."""
    return bw.CachedSimulator("HopfStep").sweep({"a": np.linspace(-0.5, 1.5, points)}, duration=100 * u.ms,
                                                params={"w": 0.3}, transient=25 * u.ms)


def test_sweep_fills_block_by_block_and_equals_the_engine():
    c = SweepController("HopfStep", axes={"a": (-0.5, 1.5, 32)}, params={"w": 0.3}, duration=100.0,
                        chunk_size=8)
    assert swept_fills(c) == [0, 8, 16, 24, 32]
    ref = hopf_sweep(32)
    np.testing.assert_allclose(c.sources["sweep"].data["y"], ref.values, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(c.result.values, ref.values, rtol=1e-5, atol=1e-7)
    assert np.all(c.result.lo <= c.result.hi)
    labels = [item.label.value for item in c.figures["sweep"].legend[0].items]
    assert labels == ["min..max", "amplitude of x"]


def test_an_error_a_computation_lets_out_is_shown_and_the_explorer_goes_on_working():
    c = ModelController("HopfStep", duration=50.0)

    def job(token):
        raise RuntimeError("a plot update failed")

    c.worker.submit(job)
    assert c.wait(30), "wait() hung: the worker thread ended with the error"
    assert c.status.kind == "error" and "a plot update failed" in c.status.message
    c.set(a=0.3)
    assert c.wait(60) and c.status.kind == "done", c.status
    assert c.result is not None


def test_a_sweep_again_empties_the_heatmap_once_then_sends_only_changed_cells():
    c = SweepController("HopfStep", axes={"a": (-0.5, 1.5, 8), "w": (0.1, 0.5, 4)}, duration=50.0)
    c.run()
    c.wait()
    doc = Document()
    doc.add_root(c.figures["heatmap"])
    sent: list[str] = []

    def record(event):
        if isinstance(event, ColumnsPatchedEvent) and event.model is c.sources["heatmap"]:
            sent.extend(event.patches)
        elif isinstance(event, ColumnDataChangedEvent) and event.model is c.sources["heatmap"]:
            sent.append("all")

    doc.on_change(record)
    c.run()
    c.wait()
    assert sent[0] == "all" and set(sent[1:]) == {"image"}, sent
    c.configure(axes={"a": (-0.5, 1.0, 4), "w": (0.1, 0.5, 4)})
    c.run()
    c.wait()
    data = c.sources["heatmap"].data  # the image spans the cells: half a step beyond the ends
    assert data["image"][0].shape == (4, 4)
    assert (data["x"][0], data["dw"][0], data["y"][0], data["dh"][0]) == pytest.approx(
        (-0.75, 2.0, 0.1 - 0.4 / 6, 0.4 * 4 / 3))
    np.testing.assert_array_equal(data["image"][0].T, np.asarray(c.result.shown, float))


def test_a_sweep_bounded_by_work_takes_blocks_within_it_and_equals_the_engine():
    # 100 ms at dt = 0.1 ms: 1,000 steps a point, so 16,384 point-steps fit blocks of 16
    c = SweepController("HopfStep", axes={"a": (-0.5, 1.5, 64)}, params={"w": 0.3}, duration=100.0,
                        block_work=16_384)
    sim, n_steps = c.simulator, 1000
    assert c.block_size(sim, 64, n_steps, None) == 16
    assert c.block_size(sim, 64, n_steps, 4) == 4  # a given chunk_size wins
    assert c.block_size(sim, 64, 100_000, None) == 16  # never narrower than 16 points
    unbounded = SweepController("HopfStep")
    assert unbounded.block_size(sim, 4096, n_steps, None) == sim.block_size(4096, n_steps, None)
    for work in (2**14, 2**17, 2**20, 2**30):
        c.block_work = work
        block = c.block_size(sim, 4096, n_steps, None)
        assert block == 16 or block * n_steps <= work
        assert block <= sim.block_size(4096, n_steps, None) and block & (block - 1) == 0
    c.block_work = 16_384
    assert swept_fills(c) == [0, 16, 32, 48, 64]
    np.testing.assert_allclose(c.result.values, hopf_sweep(64).values, rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="block_work must be an integer >= 1; got 0"):
        SweepController("HopfStep", block_work=0)


def test_a_fast_sweep_is_drawn_at_most_every_draw_every_seconds_and_its_last_block_always():
    c = SweepController("HopfStep", axes={"a": (-0.5, 1.5, 64)}, duration=100.0, chunk_size=1)
    draws = []
    c.sources["sweep"].on_change("data", lambda attr, old, new: draws.append(
        (time.perf_counter(), int(np.isfinite(np.asarray(new["y"], float)).sum()))))
    c.draw_every = 3600.0
    c.run()
    assert c.wait(120) and c.status.kind == "done"
    assert [n for _, n in draws] == [0, 1, 64]  # the empty grid, the first block, the last
    draws.clear()
    c.draw_every = 0.05
    c.run()
    assert c.wait(120)
    times = [t for t, _ in draws[1:-1]]  # between the first block and the forced last one
    assert draws[-1][1] == 64 and len(draws) < 64
    assert all(b - a >= 0.05 for a, b in zip(times, times[1:], strict=False))


def test_sweep_can_be_cancelled_and_keeps_what_was_drawn():
    c = SweepController("HopfStep", axes={"a": (-0.5, 1.5, 64)}, duration=2000.0, chunk_size=4)
    start_and_wait_running(c)
    c.cancel()
    assert c.wait(120)
    assert c.status.kind == "cancelled"
    assert c.result.done < 64
    y = np.asarray(c.sources["sweep"].data["y"], float)
    assert 0 < np.isfinite(y).sum() < 64


def test_heatmap_and_pick_send_grid_values():
    c = SweepController("HopfStep", axes={"a": (0.0, 1.0, 5), "w": (0.1, 0.5, 3)}, duration=60.0)
    picked = []
    c.on_pick(picked.append)
    c.run()
    assert c.wait(120)
    image = np.asarray(c.sources["heatmap"].data["image"][0])  # rows: w, columns: a
    assert image.shape == (3, 5)
    np.testing.assert_allclose(image.T.reshape(-1), c.result.values.reshape(-1), rtol=1e-6)
    assert c.pick(7) == {"a": 0.5, "w": pytest.approx(0.3)}
    assert picked[-1]["a"] == 0.5
    assert c.sources["heatmap"].selected.image_indices[0]["i"] == 2
    outline = c.figures["heatmap"].select_one({"type": ColumnDataSource, "name": "heatmap_cell"})
    assert outline.data["x"] == pytest.approx([0.5]) and outline.data["y"] == pytest.approx([0.3])
    assert outline.data["w"] == pytest.approx([0.25]) and outline.data["h"] == pytest.approx([0.2])
    c.run()  # a new sweep drops the outline
    assert c.wait(120) and not len(outline.data["x"])
    hover = c.figures["heatmap"].select_one(HoverTool)  # cell centres, named by the parameters
    assert hover.tooltips == [("a", "$x{cell}"), ("w", "$y{cell}"), ("amplitude of x", "@image")]
    assert set(hover.formatters) == {"$x", "$y"}
    c.configure(metric="minmax")
    assert hover.tooltips[2] == ("max - min of x", "@image")


def test_a_heatmap_block_sends_only_its_own_values():
    from bokeh.document import Document
    from bokeh.document.events import ColumnsPatchedEvent

    c = SweepController("HopfStep", axes={"a": (0.0, 1.0, 6), "w": (0.1, 0.5, 4)}, duration=60.0,
                        chunk_size=4)
    c.draw_every = 0  # every block
    doc = Document()
    doc.add_root(c.sources["heatmap"])
    events = []
    doc.on_change(lambda event: events.append(event))
    c.run()
    assert c.wait(120) and c.status.kind == "done"
    patches = [e for e in events if isinstance(e, ColumnsPatchedEvent)]
    sent = [sum(np.size(v) for _, v in e.patches["image"]) for e in patches]
    assert len(patches) == 6 and sent == [4] * 6 and all(set(e.patches) == {"image"} for e in patches)
    # each block of 4 points is the column of one value of a: its 4 values of w
    assert [where for e in patches for where, _ in e.patches["image"]] == [
        (0, slice(0, 4), slice(i, i + 1)) for i in range(6)]
    ref = bw.CachedSimulator("HopfStep").sweep({"a": np.linspace(0, 1, 6), "w": np.linspace(0.1, 0.5, 4)},
                                               duration=60 * u.ms, transient=15 * u.ms)
    np.testing.assert_allclose(c.sources["heatmap"].data["image"][0].T, ref.values, rtol=1e-5, atol=1e-7)


def test_the_autosave_folder_keeps_the_newest_files_within_its_bounds(tmp_path):
    c = SweepController("HopfStep", axes={"a": (0.0, 1.0, 4)}, duration=20.0, autosave=tmp_path,
                        autosave_keep=3)
    written = []
    for _ in range(5):
        c.run()
        assert c.wait(120) and c.status.kind == "done"
        written.append(c.autosaved.name)
        time.sleep(0.02)
    assert sorted(c.saved_sweeps()) == sorted(written[-3:]) and len(list(tmp_path.iterdir())) == 3
    size = (tmp_path / written[-1]).stat().st_size
    small = SweepController("HopfStep", axes={"a": (0.0, 1.0, 4)}, duration=20.0, autosave=tmp_path,
                            autosave_keep=None, autosave_mb=2.5 * size / 2**20)
    small.run()
    assert small.wait(120)
    assert small.saved_sweeps() == [small.autosaved.name, written[-1]]
    with pytest.raises(ValueError, match="autosave_keep must be an integer >= 1; got 0"):
        SweepController("HopfStep", autosave=tmp_path, autosave_keep=0)


def test_sweep_settings_are_validated():
    c = SweepController("HopfStep")
    with pytest.raises(ValueError, match="unknown parameter 'q'.*a, w, beta"):
        c.configure(axes={"q": (0, 1, 5)})
    with pytest.raises(ValueError, match="points for 'a'"):
        c.configure(axes={"a": (0, 1, 0)})
    with pytest.raises(ValueError, match="low < high"):
        c.configure(axes={"a": (1, 0, 5)})
    with pytest.raises(ValueError, match="unknown metric 'loudness'"):
        c.configure(metric="loudness")
    assert c.status.kind == "error"
    assert list(c.options["axes"]) == ["a"]


def test_explorers_share_one_bounded_compile_cache():
    first = ModelController("VanDerPolStep", duration=37.0)
    assert first.wait(120)
    before = bw.shared_cache().info()
    second = ModelController("VanDerPolStep", duration=37.0, params={"mu": 2.0})
    assert second.wait(120)
    after = bw.shared_cache().info()
    assert after["compiles"] == before["compiles"] and after["hits"] > before["hits"]
    assert after["entries"] <= after["maxsize"]
    assert second.status.kind == "done"


def test_sweep_runs_on_a_dask_cluster_only_when_one_is_given(dask_client):
    alone = SweepController("HopfStep", axes={"a": (-0.5, 1.0, 12)})
    assert alone.executors == {"local": "this process"}
    with pytest.raises(ValueError, match="executor 'dask' is not available here; available: 'local'"):
        alone.configure(executor="dask")
    alone.run()
    assert alone.wait(120)
    c = SweepController("HopfStep", axes={"a": (-0.5, 1.0, 12)}, chunk_size=4, client=dask_client,
                        executor="dask")
    assert set(c.executors) == {"local", "dask"} and "Dask cluster at tcp://127.0.0.1" in c.executors["dask"]
    c.run()
    assert c.wait(120)
    assert c.status.kind == "done" and "on Dask cluster at" in c.status.message, c.status
    np.testing.assert_allclose(c.sources["sweep"].data["y"], alone.sources["sweep"].data["y"], rtol=2e-6)
    assert c.result.executor == c.executors["dask"]
    with pytest.raises(ValueError, match="client must be a dask.distributed.Client"):
        SweepController("HopfStep", client="tcp://127.0.0.1:8786")


def test_a_saved_sweep_loads_into_another_controller_with_its_settings_and_plot(tmp_path):
    c = SweepController("HopfStep", axes={"a": (-0.5, 1.0, 6), "w": (0.1, 1.0, 3)}, metric="minmax")
    with pytest.raises(ValueError, match="nothing to save yet"):
        c.save(tmp_path / "early.npz")
    c.run()
    assert c.wait(120)
    c.save(str(tmp_path / "sweep.npz"))
    assert "saved the sweep (18 of 18 points)" in c.status.message
    other = SweepController("FitzHughNagumoStep")
    res = other.load(str(tmp_path / "sweep.npz"))
    assert other.wait(60)
    opts = other.options
    assert (opts["model"], opts["metric"], opts["monitor"]) == ("HopfStep", "minmax", "x")
    assert opts["axes"] == {"a": (-0.5, 1.0, 6), "w": (0.1, 1.0, 3)}
    np.testing.assert_array_equal(other.sources["heatmap"].data["image"][0],
                                  c.sources["heatmap"].data["image"][0])
    np.testing.assert_array_equal(res.hi, c.result.hi)
    assert other.status.kind == "done" and "opened a sweep of 18 of 18 points" in other.status.message


def test_an_engine_sweep_file_loads_and_a_bad_file_leaves_the_controller_as_it_was(tmp_path):
    sim = bw.CachedSimulator("HopfStep")
    res = sim.sweep({"a": np.linspace(-1.0, 1.0, 5)}, metric="minmax", duration=100 * u.ms)
    res.save(tmp_path / "engine.npz")
    c = SweepController("HopfStep")
    c.load((tmp_path / "engine.npz").read_bytes())
    assert c.wait(60)
    np.testing.assert_array_equal(c.sources["sweep"].data["hi"], res.values[:, 1])
    np.testing.assert_array_equal(c.sources["sweep"].data["lo"], res.values[:, 0])
    before = c.options
    (tmp_path / "bad.npz").write_bytes(b"not a sweep")
    with pytest.raises(ValueError, match="not a saved sweep"):
        c.load(tmp_path / "bad.npz")
    assert c.options == before and c.status.kind == "error"
    net = bw.CachedSimulator(bw.NetworkModel("HopfStep")).sweep({"k": np.linspace(0, 1, 2)},
                                                                 duration=50 * u.ms)
    net.save(tmp_path / "net.npz")
    with pytest.raises(ValueError, match="network or factory sweep"):
        c.load(tmp_path / "net.npz")


def test_autosaved_sweeps_survive_cancel_and_supersession_and_reopen_by_name(tmp_path):
    c = SweepController("HopfStep", axes={"a": (-0.5, 1.0, 12)}, duration=100.0, autosave=tmp_path / "kept")
    c.run()
    assert c.wait(120) and c.status.kind == "done"
    assert c.autosaved.parent == tmp_path / "kept" and f"saved as {c.autosaved.name}" in c.status.message
    np.testing.assert_array_equal(bw.SweepResult.load(c.autosaved).values, c.result.values)
    long = SweepController("HopfStep", axes={"a": (-0.5, 1.5, 256)}, duration=2000.0, chunk_size=4,
                           autosave=tmp_path / "kept")
    start_and_wait_running(long)
    long.close()
    assert long.wait(120)
    partial = bw.SweepResult.load(long.autosaved)
    assert partial.cancelled and 0 < partial.done < 256
    assert np.isnan(partial.values).sum() == 256 - partial.done
    names = c.saved_sweeps()
    assert names == [long.autosaved.name, c.autosaved.name]
    other = SweepController("FitzHughNagumoStep", autosave=tmp_path / "kept")
    other.load_saved(c.autosaved.name)
    assert other.wait(60)
    np.testing.assert_array_equal(other.sources["sweep"].data["y"], c.sources["sweep"].data["y"])
    with pytest.raises(ValueError, match=r"no saved sweep named '../secret.npz'"):
        other.load_saved("../secret.npz")


def test_a_sweep_bomb_is_refused_from_its_zip_directory_and_the_controller_stays_as_it_was(tmp_path):
    bomb = zip_bomb("values")
    message = (f"not a saved sweep (.npz written by SweepResult.save): {{}}: member 'values.npy' unpacks to "
               f"{BOMB_BYTES + 128:,} bytes; at most 67,108,864 are allowed")
    (tmp_path / "kept").mkdir()
    (tmp_path / "kept" / "evil.npz").write_bytes(bomb)
    peak, error = peak_bytes(lambda: bw.SweepResult.load(bomb))
    assert str(error) == message.format("the file") and peak < 5 * 2**20
    c = SweepController("HopfStep", autosave=tmp_path / "kept")
    before = c.options
    attempts = ((c.load, bomb, "the file"), (c.load, tmp_path / "kept" / "evil.npz", "evil.npz"),
                (c.load_saved, "evil.npz", "evil.npz"))
    for load, source, name in attempts:
        peak, error = peak_bytes(functools.partial(load, source))
        assert str(error) == message.format(name) and peak < 5 * 2**20
        assert c.options == before and c.status.kind == "error"
    c.close()


def test_a_sweep_says_press_run_until_its_first_values_arrive():
    c = SweepController("HopfStep", axes={"a": (0.0, 1.0, 4)}, duration=50.0)
    hint = next(m for m in c.figures["sweep"].above if m.name == "hint")
    assert hint.visible and c.figures["sweep"].xaxis.axis_label
    c.run()
    assert c.wait(120)
    assert not hint.visible
    c.close()


def test_a_waiting_sweep_spans_its_swept_range():
    c = SweepController("HopfStep", axes={"a": (-1.0, 1.5, 8)}, duration=50.0)
    extent = c.figures["sweep"].select_one({"name": "extent"}).data_source
    assert list(extent.data["x"]) == [-1.0, 1.5]
    c.configure(axes={"a": (0.0, 1.0, 4), "w": (0.1, 0.5, 3)})
    heatmap = c.figures["heatmap"]  # fixed ranges: the grid's cells, half a step beyond its ends
    assert (heatmap.x_range.start, heatmap.x_range.end) == pytest.approx((-1 / 6, 7 / 6))
    assert (heatmap.y_range.start, heatmap.y_range.end) == pytest.approx((0.0, 0.6))
    c.close()


# ----------------------------------------------------------------------------- the one template

TEMPLATE_CASES = {  # a constructor, a good change, a bad one and what its message names, the state type
    "model": (lambda: bw.ModelController(autorun=False), dict(seed=3), dict(seed=-1), "seed", bw.ModelState),
    "sweep": (lambda: bw.SweepController(), dict(metric="std"), dict(metric="median"), "median",
              bw.SweepState),
    "phase": (lambda: bw.PhasePlaneController(autorun=False), dict(grid=40), dict(grid=3), "grid",
              bw.PhaseState),
    "bifurcation": (lambda: bw.BifurcationController(autorun=False), dict(points=50), dict(points=1),
                    "points", bw.BifurcationState),
    "network": (lambda: bw.NetworkController(autorun=False), dict(seed=2), dict(sweep=("k", 1.0, 0.0, 8)),
                "from < to", bw.NetworkState),
    "fit": (lambda: bw.FitController(), dict(lr=0.01), dict(n_steps=0), "n_steps", bw.FitState),
}


@pytest.mark.parametrize("name", list(TEMPLATE_CASES))
def test_every_controller_validates_a_change_into_a_new_frozen_state(name):
    make, good, bad, named, state_type = TEMPLATE_CASES[name]
    c = make()
    first = c.state
    assert type(first) is state_type
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.seed = 5  # a running computation's state cannot change under it
    assert c.options == {k: getattr(first, k) for k in c.options}
    assert set(c.options) <= {f.name for f in dataclasses.fields(state_type)}

    seen = []
    c.on_state(lambda: seen.append(c.state))
    c.configure(**good)
    (key, value), = good.items()
    assert getattr(c.state, key) == value and c.state is not first
    assert getattr(first, key) != value  # the old state is untouched
    assert seen == [c.state]  # front ends are told once, after the new state is in place

    with pytest.raises(ValueError, match=named):
        c.configure(**bad)
    assert c.state is seen[-1] and len(seen) == 1  # a refused change changes nothing, tells no one
    assert c.status.kind == "error"
    c.close()


def test_a_model_parameter_change_keeps_the_structure_and_runs_the_new_state():
    c = bw.ModelController(autorun=False)
    before = c.state
    runs = []
    c.run = lambda: runs.append(c.state)
    c.autorun = True
    c.set(a=0.1)
    assert c.state.params["a"] == 0.1 and before.params["a"] == 0.25
    assert c.state.sim is before.sim and c.state.monitors is before.monitors
    assert runs == [c.state]
    with pytest.raises(ValueError, match="bogus"):
        c.set(bogus=1.0)
    assert runs == [c.state] and "bogus" not in c.state.params


def test_a_sweep_cancelled_while_it_waits_for_a_compute_slot_says_cancelled():
    pool = bw.compute_pool()
    taken = [pool.acquire() for _ in range(pool.slots)]
    assert all(taken)
    c = SweepController("HopfStep", axes={"a": (0.0, 1.0, 8)}, duration=100.0)
    try:
        c.run()
        deadline = time.monotonic() + 60
        while pool.waiting == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert pool.waiting == 1 and c.status.kind == "running"
        c.cancel()
        while pool.waiting and time.monotonic() < deadline:  # it gives up its place in the queue
            time.sleep(0.01)
        assert pool.waiting == 0
    finally:
        for _ in taken:
            pool.release(False)
    assert c.wait(60)
    assert c.status.kind == "cancelled" and "before it started (0 of 8 points)" in c.status.message, c.status
    c.close()


def test_a_sweep_cancelled_after_its_last_block_says_done():
    """A cancel that arrives once the last block is computed leaves a whole sweep: its status says
    done (it used to stay "running", its token being superseded)."""
    c = SweepController("HopfStep", axes={"a": (0.0, 1.0, 8)}, duration=100.0)
    c.on_status(lambda status: status.kind == "running" and status.progress == 1.0 and c.cancel())
    c.run()
    assert c.wait(120)
    assert c.status.kind == "done" and c.result.done == 8, c.status
    c.close()


def test_a_running_sweeps_progress_line_names_the_points_its_plot_shows():
    """The progress line of a running sweep is sent with its draws, not for every block: each one
    names as many points as the heatmap then shows. Sent for every fast block, the lines outran the
    plot and kept a browser busy laying them out (a 128 x 128 sweep in the served app took 1.5x the
    engine's time; with the lines sent per draw, 1.0-1.2x: ``benchmarks/bench_attacks.py``)."""
    c = SweepController("HopfStep", axes={"a": (0.0, 1.0, 8), "w": (0.1, 1.0, 8)}, duration=20.0,
                        transient=0.0, chunk_size=2)
    c.draw_every = 3600.0  # only the first and the last block are drawn
    seen = []

    def record(status) -> None:
        if status.kind == "running":
            shown = np.isfinite(c.sources["heatmap"].data["image"][0]).sum()
            seen.append((status.message, int(shown)))

    c.on_status(record)
    c.run()
    assert c.wait(120)
    assert c.status.kind == "done" and c.result.done == 64, c.status
    assert seen == [("sweep: 0 of 64 points", 0), ("sweep: 2 of 64 points", 2),
                    ("sweep: 64 of 64 points", 64)]
    c.close()
