"""The ipywidgets explorers without a browser: widgets drive the controller, sources follow."""

import datetime

import brainunit as u
import numpy as np
import pytest
from progress import start_and_wait_running

import brainmass_widgets as bw
from brainmass_widgets.ipywidgets import ModelExplorer, SweepExplorer


def mag(x):
    return np.asarray(u.get_magnitude(x))


def run(name, **kw):
    spec = bw.model_spec(name)
    return bw.CachedSimulator(name).run(kw.pop("duration", spec.duration), **kw)


@pytest.fixture
def explorer():
    e = ModelExplorer("HopfStep")
    assert e.wait(120)
    yield e
    e.close()


def test_slider_moves_update_the_trajectory_source(explorer):
    explorer.sliders["a"].value = 0.8
    explorer.sliders["w"].value = 0.5
    assert explorer.wait(60)
    ref = run("HopfStep", params={"a": 0.8, "w": 0.5})
    np.testing.assert_allclose(explorer.sources["trajectory"].data["x[0]"], mag(ref["x"])[:, 0], rtol=1e-6)
    assert explorer.sources["trajectory"].name == "trajectory"
    assert "done" in explorer._status.value


def test_set_moves_the_sliders_and_widens_their_range(explorer):
    explorer.set(a=2.5)
    assert explorer.wait(60)
    assert explorer.sliders["a"].value == 2.5 and explorer.sliders["a"].max >= 2.5
    ref = run("HopfStep", params={"a": 2.5})
    np.testing.assert_allclose(explorer.result["x"], ref["x"], rtol=1e-6)


def hints_shown(plot):
    """Whether each "hint" title is visible in the document a new view of ``plot`` is drawn from."""
    shown = []

    def walk(node):
        if isinstance(node, dict):
            attrs = node.get("attributes")
            if node.get("name") == "Title" and isinstance(attrs, dict) and attrs.get("name") == "hint":
                shown.append(attrs.get("visible", True))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(plot.render_bundle["docs_json"])
    return shown


def test_a_new_view_of_the_plot_is_drawn_from_the_document_as_it_is_now(explorer):
    plot = explorer._plot
    shown = hints_shown(plot)
    assert len(shown) == 3 and all(shown), "the plot was built before the first run"
    plot._view_count = 1  # what the page reports once it shows the plot
    assert explorer.wait(60)
    assert hints_shown(plot) == [False, False, False]


def test_the_plot_sends_patches_only_once_a_view_shows_it(explorer, monkeypatch):
    plot = explorer._plot
    sent = []
    monkeypatch.setattr(plot, "send", lambda content, buffers=None: sent.append(content))
    assert plot._view_count == 0
    explorer.set(a=0.4)
    assert explorer.wait(60)
    # no view yet: nothing a view could start reading halfway through
    assert sent == []
    plot._view_count = 1
    assert explorer.wait(60)
    # the view that appeared was sent the whole document, patches go to it from now on
    assert hints_shown(plot) == [False, False, False]
    explorer.set(a=0.5)
    assert explorer.wait(60)
    assert sent and all(content["msg"] == "patch" for content in sent)


def test_slider_labels_carry_units():
    e = ModelExplorer("JansenRitStep", duration=50.0)
    assert e.wait(120)
    assert e.sliders["E_inp"].description == "E_inp [Hz]"
    assert e.sliders["a1"].description == "a1"
    assert "[mV]" in e.controller.figures["trajectory"].yaxis.axis_label
    e.close()


def test_slider_storm_computes_a_few_not_a_hundred(explorer):
    explorer.configure(duration=1000.0)
    assert explorer.wait(60)
    before = explorer.controller.computations
    for a in np.linspace(0.1, 1.0, 100):
        explorer.sliders["a"].value = float(a)
    assert explorer.wait(60)
    assert explorer.controller.computations - before <= 10
    ref = run("HopfStep", duration=1000 * u.ms, params={"a": explorer.sliders["a"].value})
    np.testing.assert_allclose(explorer.sources["trajectory"].data["x[0]"], mag(ref["x"])[:, 0], rtol=1e-6)


@pytest.mark.parametrize("spec", bw.catalog(), ids=lambda s: s.name)
def test_model_switch_rebuilds_sliders_and_plots(explorer, spec):
    explorer.controls["model"].value = spec.name
    assert explorer.wait(180)
    assert explorer.status.kind in ("done", "diverged"), explorer.status
    noisy = ["noise_sigma", "noise_tau"] if spec.default_noise else []
    assert list(explorer.sliders) == [*spec.params, *noisy]
    assert [v for _, v in explorer.option_widgets["monitors"].options] == list(spec.states)
    assert explorer.option_widgets["noise"].value == bool(spec.default_noise)
    sim = bw.CachedSimulator(spec.name, noise=spec.default_noise or False)
    ref = sim.run(spec.duration, monitors=[spec.default_monitor, *spec.states[:2]],
                  params=dict(spec.default_noise_params), seed=0)
    col = f"{spec.default_monitor}[0]"
    assert explorer.controller.lines == (col,)
    np.testing.assert_allclose(explorer.sources["trajectory"].data[col],
                               mag(ref[spec.default_monitor])[:, 0], rtol=1e-5, atol=1e-6)


def test_bad_typed_values_show_a_message_and_change_nothing(explorer):
    duration = explorer.option_widgets["duration"]
    duration.value = -5.0
    assert "duration" in explorer._status.value and "bmw-error" in explorer._status.value
    assert duration.value == 200.0
    explorer.option_widgets["regions"].value = 0
    assert "regions must be an integer &gt;= 1" in explorer._status.value
    assert explorer.option_widgets["regions"].value == 1  # at most the one region simulated
    with pytest.raises(ValueError, match="'w'"):
        explorer.set(w="fast")
    assert "&#x27;w&#x27;" in explorer._status.value
    explorer.sliders["a"].value = 0.4
    assert explorer.wait(60) and explorer.status.kind == "done"
    np.testing.assert_allclose(explorer.result["x"], run("HopfStep", params={"a": 0.4})["x"], rtol=1e-6)


def test_noise_ensemble_option_draws_a_band(explorer):
    explorer.option_widgets["noise"].value = True
    assert "noise_sigma" in explorer.sliders
    explorer.option_widgets["batch_size"].value = 5
    assert explorer.wait(120)
    data = explorer.sources["trajectory"].data
    assert {"x[0] lo", "x[0] hi"} <= set(data)
    assert np.all(np.asarray(data["x[0] hi"]) >= np.asarray(data["x[0] lo"]))
    assert explorer.result["x"].shape == (2000, 5, 1)


def test_copy_as_code_shows_a_script_that_reproduces_the_result(explorer):
    explorer.set(a=0.7)
    assert explorer.wait(60)
    explorer._code_button.click()
    assert explorer._code_area.layout.display is None
    assert explorer._code_area.value == explorer.code()
    namespace = {}
    exec(explorer.code(), namespace)
    np.testing.assert_allclose(mag(namespace["result"]["x"]), mag(explorer.result["x"]), rtol=1e-5, atol=1e-6)


def test_sweep_explorer_fills_the_curve_and_sends_picks_to_a_linked_explorer(explorer):
    s = SweepExplorer("HopfStep", explorer=explorer, axes={"a": (-0.5, 1.5, 16)}, duration=100.0)
    s._run.click()
    assert s.wait(120)
    assert "swept 16 points" in s._status.value and s._progress.value == 1.0
    ref = bw.CachedSimulator("HopfStep").sweep({"a": np.linspace(-0.5, 1.5, 16)}, duration=100 * u.ms,
                                               transient=25 * u.ms)
    np.testing.assert_allclose(s.sources["sweep"].data["y"], ref.values, rtol=1e-5, atol=1e-7)
    picked = s.pick(12)
    assert explorer.wait(60)
    assert explorer.controller.params["a"] == pytest.approx(picked["a"])
    assert explorer.sliders["a"].value == pytest.approx(picked["a"])
    s.close()


def test_sweep_explorer_offers_dask_and_saves_and_opens_sweeps(dask_client, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = SweepExplorer("HopfStep", axes={"a": (0.0, 1.0, 8)}, duration=60.0, chunk_size=4, client=dask_client)
    executor = s.controls["executor"]
    assert executor.layout.display is None and dict(executor.options)[executor.label] == "local"
    s.controls["executor"].value = "dask"
    s._run.click()
    assert s.wait(120) and "on Dask cluster" in s._status.value
    s._save_path.value = "runs/first.npz"
    s._save.click()
    assert "No such file or directory" in s._status.value
    s._save_path.value = "first.npz"
    s._save.click()
    assert "saved the sweep (8 of 8 points) to first.npz" in s._status.value
    other = SweepExplorer("FitzHughNagumoStep")
    assert other.controls["executor"].layout.display == "none"
    content = (tmp_path / "first.npz").read_bytes()
    now = datetime.datetime.now(datetime.UTC)
    other._open.value = ({"name": "first.npz", "type": "", "size": len(content),
                          "content": memoryview(content), "last_modified": now},)
    assert other.wait(60)
    assert other.controls["model"].value == "HopfStep" and other.controls["points"].value == 8
    np.testing.assert_array_equal(other.sources["sweep"].data["y"], s.sources["sweep"].data["y"])
    s.close()
    other.close()


def test_sweep_explorer_second_parameter_switches_to_the_heatmap():
    s = SweepExplorer("HopfStep", duration=60.0)
    s.controls["parameter2"].value = "w"
    s.controls["points2"].value = 4
    assert list(s.controller.options["axes"]) == ["a", "w"]
    assert s.controller.figures["heatmap"].visible and not s.controller.figures["sweep"].visible
    s.run()
    assert s.wait(120)
    assert s.sources["heatmap"].data["image"][0].shape == (4, 32)  # rows: w, columns: a
    s.controls["parameter2"].value = "a"
    assert "chosen twice" in s._status.value
    assert list(s.controller.options["axes"]) == ["a", "w"]
    s.close()


def test_sweep_explorer_cancel_button_stops_the_sweep():
    s = SweepExplorer("HopfStep", axes={"a": (-0.5, 1.5, 64)}, duration=2000.0, chunk_size=4)
    start_and_wait_running(s.controller, s._run.click)
    s._cancel.click()
    assert s.wait(120)
    assert s.status.kind == "cancelled" and "cancelled after" in s._status.value
    assert s.result.cancelled and s.result.done < 64
    s.close()


def test_sliders_tell_their_doc_and_range_and_the_about_box_follows_the_model():
    e = ModelExplorer("HopfStep", autorun=False)
    assert e.sliders["w"].tooltip == ("Angular frequency \u03c9 (dimensionless in this implementation). "
                                      "Range 0 to 1, default 0.2; type a value for an exact one.")
    assert e._about_box.get_title(0) == "About HopfStep" and "Normal-form Hopf" in e._about.value
    e.configure(model="ThresholdLinearStep")
    assert e._about_box.get_title(0) == "About ThresholdLinearStep"
    assert "opposite sign of its own docstring" in e._about.value
    e.close()


def test_sweep_cancel_works_only_while_sweeping_and_a_missing_second_parameter_locks_its_inputs():
    s = SweepExplorer("HopfStep", axes={"a": (0.0, 1.0, 64)}, duration=2000.0, chunk_size=4)
    second = [s.controls[name] for name in ("parameter2", "low2", "high2", "points2")]
    assert s._cancel.disabled and all(x.disabled for x in second[1:])
    second[0].value = "w"
    assert not any(x.disabled for x in second[1:])
    start_and_wait_running(s.controller)
    assert not s._cancel.disabled
    s.cancel()
    assert s.wait(120) and s._cancel.disabled
    s.close()
