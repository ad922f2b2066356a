"""The Panel phase-plane explorer: typed state and widgets drive the controller."""

from brainmass_widgets.panel import PhasePlaneExplorer


def test_param_state_and_widgets_drive_the_plane():
    e = PhasePlaneExplorer("HopfStep", params={"a": -0.2})
    assert e.wait(120)
    assert [fp.stability for fp in e.fixed_points] == ["stable focus"]
    e.param.update(values={**e.values, "a": 0.4})
    assert e.wait(60)
    assert e.controller.params["a"] == 0.4
    assert [fp.stability for fp in e.fixed_points] == ["unstable focus"]
    e.sliders["a"].value = -0.1
    assert e.wait(60)
    assert e.values["a"] == -0.1
    e.x_range = (-2.0, 2.0)
    assert e.wait(60)
    assert e.controller.options["x_range"] == (-2.0, 2.0)
    assert e.controls["x_from"].value == -2.0


def test_bad_input_shows_a_notice_and_keeps_the_state():
    e = PhasePlaneExplorer("EpileptorStep")
    assert e.wait(120)
    assert set(e.held_sliders) == {"z", "x2", "y2", "g"}
    e.controls["y"].value = "x1"
    assert "different state variables" in e.notice
    assert e.y == "y1" and e.controls["y"].value == "y1"
    e.held_sliders["z"].value = 3.0
    assert e.wait(60)
    assert e.held["z"] == 3.0
