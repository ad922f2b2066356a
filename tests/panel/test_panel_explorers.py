"""Panel explorers outside a server: typed state, sources equal the engine, URL query parsing."""

import io
import subprocess
import sys
import threading
import time

import brainunit as u
import numpy as np
import panel as pn
import pytest
from attacks import BOMB_BYTES, zip_bomb
from bokeh.document import Document
from browser import free_port, wait_http
from ticks import run_next_ticks

import brainmass_widgets as bw
from brainmass_widgets.cli import main
from brainmass_widgets.panel import (
    BifurcationExplorer,
    FitExplorer,
    ModelExplorer,
    NetworkExplorer,
    PhasePlaneExplorer,
    SweepExplorer,
    create_app,
)


def mag(x):
    return np.asarray(u.get_magnitude(x))


@pytest.fixture
def explorer():
    e = ModelExplorer("HopfStep")
    assert e.wait(120)
    return e


def test_state_is_typed_param_parameters_with_docs():
    for name in ("model", "values", "duration", "dt", "transient", "in_size", "regions", "noise", "seed",
                 "batch_size"):
        p = ModelExplorer.param[name]
        assert p.doc, name
    assert ModelExplorer.param["model"].objects == [s.name for s in bw.catalog()]


def test_sliders_and_params_drive_the_controller(explorer):
    explorer.sliders["a"].value = 0.7
    assert explorer.wait(60)
    ref = bw.CachedSimulator("HopfStep").run(200 * u.ms, params={"a": 0.7})
    np.testing.assert_allclose(explorer.sources["trajectory"].data["x[0]"], mag(ref["x"])[:, 0], rtol=1e-6)
    assert explorer.values["a"] == 0.7
    explorer.duration = 50.0
    assert explorer.wait(60)
    assert len(explorer.sources["trajectory"].data["t"]) == 500
    explorer.model = "VanDerPolStep"
    assert explorer.wait(120)
    assert list(explorer.sliders) == ["mu"] and explorer.duration == 100.0


def test_bad_values_notify_and_revert(explorer):
    explorer.option_widgets["duration"].value = -1.0
    assert explorer._notice.visible and "duration" in explorer.notice
    assert explorer.duration == 200.0 and explorer.option_widgets["duration"].value == 200.0
    with pytest.raises(ValueError, match="'a'"):
        explorer.set(a=float("nan"))
    explorer.set(a=0.3)
    assert explorer.wait(60) and explorer.status.kind == "done"


def test_query_round_trip_and_ignored_values(explorer):
    explorer.set(a=0.61)
    explorer.configure(seed=3, noise=True)
    q = explorer.query()
    assert q["a"] == "0.61" and q["seed"] == "3" and q["noise"] == "1"
    other = ModelExplorer("HopfStep", autorun=False)
    assert other.apply_query(q) == []
    assert other.controller.params == explorer.controller.params
    assert other.controller.options["seed"] == 3 and other.controller.options["noise"]
    ignored = other.apply_query({"model": "Nope", "a": "1e999", "beta": "__import__('os')", "x": "1"})
    assert any("model='Nope'" in s for s in ignored)
    assert any(s.startswith("a=") for s in ignored)
    assert any(s.startswith("beta=") and "not a number" in s for s in ignored)
    assert "x: unknown name" in ignored
    assert ignored[-1].startswith("valid names for HopfStep: model, a, w,") and "duration" in ignored[-1]
    fhn = ModelExplorer("HopfStep", autorun=False).apply_query({"model": "FitzHughNagumoStep", "a": "0.6"})
    assert fhn[0] == "a: unknown name"
    assert fhn[1].startswith("valid names for FitzHughNagumoStep: model, ") and ", alpha," in fhn[1], fhn
    assert other.controller.spec.name == "HopfStep"


def test_sweep_explorer_and_pick_to_model(explorer):
    s = SweepExplorer("HopfStep", explorer=explorer, axes={"a": (0.0, 1.0, 8)}, duration=60.0)
    s.run()
    assert s.wait(120) and s.status.kind == "done"
    assert np.isfinite(np.asarray(s.sources["sweep"].data["y"], float)).all()
    s.pick(6)
    assert explorer.wait(60)
    assert explorer.controller.params["a"] == pytest.approx(6 / 7)
    s.parameter2 = "w"
    assert list(s.controller.options["axes"]) == ["a", "w"] and s._heat.visible


def test_sweep_explorer_offers_dask_and_saves_and_opens_sweeps(dask_client):
    s = SweepExplorer("HopfStep", axes={"a": (0.0, 1.0, 8)}, duration=60.0, chunk_size=4, client=dask_client)
    executor = s.controls["executor"]
    assert executor.visible and set(executor.options.values()) == {"local", "dask"}
    assert s._save.disabled
    s.controls["executor"].value = "dask"
    assert s.controller.options["executor"] == "dask"
    s.run()
    assert s.wait(120) and "on Dask cluster" in s.status.message
    assert not s._save.disabled
    saved = bw.SweepResult.load(s._saved_bytes())
    np.testing.assert_array_equal(saved.values, s.controller.result.values)
    other = SweepExplorer("FitzHughNagumoStep")
    assert not other.controls["executor"].visible
    other._open.value = s._saved_bytes().getvalue()
    assert other.wait(60)
    assert other.model == "HopfStep" and other.points == 8 and other.duration == 60.0
    np.testing.assert_array_equal(other.sources["sweep"].data["y"], s.sources["sweep"].data["y"])
    other._open.value = b"not a sweep"
    assert "not a saved sweep" in other.notice
    assert other.model == "HopfStep"


def test_a_served_sweep_file_is_read_off_the_event_loop(monkeypatch):
    saved = io.BytesIO()
    bw.CachedSimulator("HopfStep").sweep({"w": np.linspace(0.1, 0.9, 5)}, duration=60 * u.ms).save(saved)
    s = SweepExplorer("FitzHughNagumoStep")
    doc = Document()
    s._doc, s._page_ready = doc, True
    readers = []
    read = bw.SweepResult.load

    def watched(file, **options):
        readers.append(threading.current_thread())
        return read(file, **options)

    monkeypatch.setattr(bw.SweepResult, "load", watched)
    s._open.value = zip_bomb("values")
    assert s.notice == ""
    run_next_ticks(doc)
    assert readers and readers[0] is not threading.main_thread()
    assert s.notice == ("not a saved sweep (.npz written by SweepResult.save): the file: member 'values.npy' "
                        f"unpacks to {BOMB_BYTES + 128:,} bytes; at most 67,108,864 are allowed")
    assert s.status.kind == "error" and s.model == "FitzHughNagumoStep"
    s._open.value = saved.getvalue()
    assert s.model == "FitzHughNagumoStep"
    run_next_ticks(doc)
    assert len(readers) == 2 and readers[1] is not threading.main_thread()
    assert s.notice == "" and s.model == "HopfStep" and s.parameter == "w" and s.points == 5
    s.controller.close()


def test_create_app_has_model_and_sweep_tabs():
    app = create_app()
    assert set(app.explorers) == {"model"}
    assert app.explorers["model"].wait(120)
    app.tabs.active = 1
    assert set(app.explorers) == {"model", "sweep"}
    assert app.explorers["sweep"].controller.options["model"] == "HopfStep"


def test_serve_rejects_an_unknown_model(capsys):
    with pytest.raises(SystemExit):
        main(["serve", "--model", "Nope"])
    assert "unknown model 'Nope'" in capsys.readouterr().err


def test_panel_serve_on_the_app_module_works():
    port = free_port()
    import brainmass_widgets.panel.app as app_module

    proc = subprocess.Popen([sys.executable, "-m", "panel", "serve", app_module.__file__, "--port", str(port),
                             "--address", "127.0.0.1", "--allow-websocket-origin", f"127.0.0.1:{port}"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_http(f"http://127.0.0.1:{port}/app", 120, proc)
    finally:
        proc.terminate()
        out = proc.communicate(timeout=30)[0].decode()
    assert "Traceback" not in out, out


def test_copy_as_code_card_shows_the_reproducing_script(explorer):
    explorer.set(a=0.45)
    assert explorer.wait(60)
    assert explorer._code.value == ""
    explorer._code_card.collapsed = False
    import html

    shown = html.unescape(explorer._code.value.removeprefix("<pre>").removesuffix("</pre>"))
    assert shown == explorer.code() and "brainmass_widgets" not in shown
    namespace = {}
    exec(shown, namespace)
    np.testing.assert_allclose(mag(namespace["result"]["x"]), mag(explorer.result["x"]), rtol=1e-5, atol=1e-6)


def test_a_computation_that_raises_shows_its_message_in_that_session_only():
    broken = ModelExplorer("HopfStep", session=bw.Session())
    fine = ModelExplorer("HopfStep", session=bw.Session())
    assert broken.wait(120) and fine.wait(120)

    def explode(*args, **kwargs):
        raise RuntimeError("model exploded")

    broken.controller.simulator.run = explode
    broken.set(a=0.3)
    fine.set(a=0.3)
    assert broken.wait(60) and fine.wait(60)
    assert broken.status.kind == "error" and broken.status.message == "RuntimeError: model exploded"
    assert "model exploded" in broken._status.value
    assert fine.status.kind == "done" and "exploded" not in fine._status.value
    ref = bw.CachedSimulator("HopfStep").run(bw.model_spec("HopfStep").duration, params={"a": 0.3})
    np.testing.assert_allclose(fine.sources["trajectory"].data["x[0]"], np.asarray(ref["x"])[:, 0], rtol=1e-6)
    broken.set(a=0.35)
    assert broken.wait(60) and broken.status.kind == "error"


class _Doc:
    """A Bokeh document's next-tick scheduling, run by hand; ``fail`` makes the next add raise."""

    def __init__(self):
        self.callbacks, self.fail = [], False

    def add_next_tick_callback(self, callback):
        if self.fail:
            self.fail = False
            raise RuntimeError("no session")
        self.callbacks.append(callback)

    def tick(self):
        while self.callbacks:
            self.callbacks.pop(0)()


def test_served_updates_wait_for_the_page_then_apply_in_order(explorer):
    doc, applied = _Doc(), []
    explorer._doc, explorer._page_ready = doc, False
    for i in range(3):
        explorer._dispatch(lambda i=i: applied.append(i))
    assert doc.callbacks == [] and applied == []  # no session yet: nothing is scheduled
    explorer._on_page_ready()
    assert len(doc.callbacks) == 1
    explorer._dispatch(lambda: applied.append(3))
    assert len(doc.callbacks) == 1  # one drain at a time
    doc.tick()
    assert applied == [0, 1, 2, 3] and not explorer._drain_scheduled
    doc.fail = True
    with pytest.raises(RuntimeError):
        explorer._dispatch(lambda: applied.append(4))
    explorer._dispatch(lambda: applied.append(5))  # a failed scheduling does not block the queue
    doc.tick()
    assert applied == [0, 1, 2, 3, 4, 5]
    explorer._drain()  # a stray drain on an empty queue does nothing
    assert applied == [0, 1, 2, 3, 4, 5] and not explorer._drain_scheduled


def test_run_options_read_the_same_in_both_front_ends():
    from brainmass_widgets.ipywidgets import ModelExplorer as NotebookExplorer

    served = ModelExplorer("HopfStep", autorun=False)
    notebook = NotebookExplorer("HopfStep", autorun=False)
    for name in ("duration", "dt", "transient", "in_size", "regions", "seed", "batch_size", "noise"):
        panel_widget, lab_widget = served.option_widgets[name], notebook.option_widgets[name]
        assert panel_widget.name == lab_widget.description, name
        if name != "noise":  # Panel's Checkbox has no tooltip
            assert panel_widget.description and panel_widget.description == lab_widget.tooltip, name
    assert "0" in served.option_widgets["batch_size"].name  # what 0 means is in the label itself
    # the default regions option (4) is shown as the one region simulated, then as 4 of 8
    assert served.option_widgets["regions"].value == notebook.option_widgets["regions"].value == 1
    served.configure(in_size=8)
    notebook.configure(in_size=8)
    assert served.option_widgets["regions"].value == notebook.option_widgets["regions"].value == 4
    served.controller.close()
    notebook.close()


def test_sliders_show_their_doc_and_range_and_take_a_typed_exact_value():
    e = ModelExplorer("HopfStep", autorun=False)
    slider = e.sliders["w"]
    box = slider.box
    assert box.description.startswith("Angular frequency \u03c9 (dimensionless in this implementation). "
                                      "Range 0 to 1, default 0.2;")
    assert box.name == "0 \u2026 1" and box.value == pytest.approx(0.2)
    box.value = 0.3333
    assert e.controller.params["w"] == pytest.approx(0.3333) and slider.value == pytest.approx(0.3333)
    slider.value = 0.5
    assert box.value == pytest.approx(0.5) and e.controller.params["w"] == pytest.approx(0.5)
    box.value = 1.7
    assert e.controller.params["w"] == pytest.approx(1.7)
    assert slider.end == pytest.approx(1.7) and box.name == "0 \u2026 1.7"
    # a value the controller refuses puts the slider and its box back
    box.value = 1e39
    assert e.controller.params["w"] == pytest.approx(1.7)
    assert slider.value == pytest.approx(1.7) and box.value == pytest.approx(1.7)
    assert slider.end == pytest.approx(1.7) and box.name == "0 \u2026 1.7"
    assert "w" in e.notice


def test_every_panel_explorer_lays_out_a_box_beside_each_slider():
    for explorer, sliders in ((ModelExplorer("FitzHughNagumoStep", autorun=False), "sliders"),
                              (PhasePlaneExplorer("FitzHughNagumoStep"), "sliders"),
                              (NetworkExplorer(autorun=False), "sliders"),
                              (FitExplorer(), "initial_sliders"),
                              (BifurcationExplorer("FitzHughNagumoStep"), "sliders")):
        shown = explorer.__panel__().select(pn.widgets.FloatInput)
        for name, slider in getattr(explorer, sliders).items():
            assert any(b is slider.box for b in shown), (type(explorer).__name__, name)
            assert slider.box.description, (type(explorer).__name__, name)
        explorer.controller.close()


def test_a_rejected_option_is_shown_once_in_a_persons_words():
    e = ModelExplorer("HopfStep", autorun=False)
    e.option_widgets["dt"].value = -1.0
    assert e.notice == "dt must be a positive time such as 0.1 ms (0.1 * u.ms); got -1 ms"
    assert e.status.kind == "error" and "must be" not in e._status.value
    assert "Not applied: see the message above" in e._status.value
    assert e.option_widgets["dt"].value == pytest.approx(0.1)
    e.sliders["a"].value = 0.3
    assert e.notice == "" and "Not applied" not in e._status.value


def test_about_panel_tells_the_models_docs_and_follows_a_switch():
    e = ModelExplorer("HopfStep", autorun=False)
    assert e._about_fold.title == "About HopfStep"
    assert "Normal-form Hopf oscillator" in e._about.value and "Oscillation onset" in e._about.value
    e.configure(model="ThresholdLinearStep")
    assert e._about_fold.title == "About ThresholdLinearStep"
    assert "opposite sign of its own docstring" in e._about.value and "Hopf" not in e._about.value


def test_sweep_cancel_works_only_while_sweeping_and_a_missing_second_parameter_locks_its_inputs():
    s = SweepExplorer("HopfStep", axes={"a": (0.0, 1.0, 64)}, duration=2000.0, chunk_size=4)
    assert s._cancel.disabled
    assert all(s.controls[k].disabled for k in ("low2", "high2", "points2"))
    s.parameter2 = "w"
    assert not any(s.controls[k].disabled for k in ("low2", "high2", "points2"))
    s.parameter2 = ""
    assert s.controls["low2"].disabled
    s.run()
    deadline = time.monotonic() + 120
    while not s.status.busy and time.monotonic() < deadline:
        time.sleep(0.01)
    assert s.status.busy and not s._cancel.disabled
    s.cancel()
    assert s.wait(120) and s.status.kind in ("cancelled", "done")
    assert s._cancel.disabled
