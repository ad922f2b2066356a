"""The ipywidgets phase-plane explorer: controls drive the controller, bad input reverts."""

import threading

import numpy as np

from brainmass_widgets._phase import PhasePlane
from brainmass_widgets.ipywidgets import PhasePlaneExplorer


def test_sliders_update_the_plane_and_fixed_points():
    e = PhasePlaneExplorer("HopfStep", params={"a": -0.2}, x_range=(-1, 1), y_range=(-1, 1))
    assert e.wait(120)
    assert [fp.stability for fp in e.fixed_points] == ["stable focus"]
    assert e.sliders["a"].description == "a"
    e.sliders["a"].value = 0.3
    assert e.wait(60)
    assert [fp.stability for fp in e.fixed_points] == ["unstable focus"]
    field = PhasePlane("HopfStep").field((-1, 1), (-1, 1), 100, params={"a": 0.3})
    xs = e.sources["nullclines"].data["xs"][0]
    np.testing.assert_allclose(xs, PhasePlane("HopfStep").nullclines(field)["x"][0], equal_nan=True)
    e.close()


def test_held_sliders_axes_and_noise_follow_the_model():
    e = PhasePlaneExplorer("LorenzStep")
    assert e.wait(120)
    assert list(e.held_sliders) == ["z"]
    e.controls["y"].value = "x"
    assert "different state variables" in e._status.value
    assert e.controls["y"].value == "y" and e.controller.options["y"] == "y"
    e.controls["y"].value = "z"
    assert e.wait(120)
    assert list(e.held_sliders) == ["y"]
    e.held_sliders["y"].value = 2.0
    assert e.wait(60)
    assert e.controller.options["held"] == {"y": 2.0}
    e.controls["noise"].value = ("x",)
    assert e.controller.options["noise"] == ("x",)
    assert "noise_sigma" in e.sliders
    e.close()


def test_an_event_from_the_page_waits_while_the_computing_thread_changes_the_document():
    """An event from the page (here: the plane's x range moved) is applied by the kernel's thread;
    while the computing thread changes the document under the controller's lock, the event waits
    for it instead of changing the document at the same time."""
    e = PhasePlaneExplorer("HopfStep", autorun=False)
    x_range = e.controller.figures["plane"].x_range
    message = {"event": "jsevent", "kind": "ModelChanged", "model": {"id": x_range.id},
               "attr": "start", "new": -0.25}
    applied = threading.Event()

    def from_the_page():
        e._plot._sync_model(e._plot, dict(message), [])
        applied.set()

    with e.controller.document_lock:
        page = threading.Thread(target=from_the_page)
        page.start()
        assert not applied.wait(0.5), "the page's event changed the document while it was locked"
        assert x_range.start != -0.25
    assert applied.wait(10)
    page.join()
    assert x_range.start == -0.25
    e.close()
