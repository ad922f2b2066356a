"""The Panel bifurcation explorer: widgets drive the controller, bad input reverts, and it offers
the same controls as the ipywidgets one."""

import pytest

from brainmass_widgets.ipywidgets import BifurcationExplorer as LabExplorer
from brainmass_widgets.panel import BifurcationExplorer


def test_widgets_drive_the_diagram_and_bad_input_reverts():
    e = BifurcationExplorer("HopfStep", param_range=(-0.5, 0.5), cycles=10)
    assert e.wait(300)
    assert [sp.kind for sp in e.diagram.special] == ["hopf"]
    assert "a" not in e.sliders and set(e.sliders) == {"w", "beta"}
    e.sliders["w"].value = 0.3
    assert e.wait(120)
    # onset frequency of the Hopf normal form: w / 2 pi per ms
    assert e.diagram.special[0].frequency_hz == pytest.approx(300 / (2 * 3.141592653589793), rel=1e-4)
    e.controls["high"].value = -0.6
    assert "low < high" in e.notice
    assert e.controls["high"].value == 0.5 and e.controller.options["param_range"] == (-0.5, 0.5)
    e.controls["second"].value = "beta"
    assert e.wait(300)
    assert e.controller.options["second"] == "beta"
    assert e.sources["curves"].data["label"] == ["Hopf curve"]
    e.controls["model"].value = "FitzHughNagumoStep"
    assert e.wait(300)
    assert e.controls["param"].value == "V_inp" and e.controls["second"].value == ""
    e.controller.close()


@pytest.mark.parametrize("model", ["HopfStep", "JansenRitStep"])
def test_both_front_ends_offer_the_same_controls(model):
    panel = BifurcationExplorer(model, autorun=False)
    lab = LabExplorer(model, autorun=False)
    assert list(panel.sliders) == list(lab.sliders)
    for name, slider in panel.sliders.items():
        other = lab.sliders[name]
        assert (slider.start, slider.end) == (other.min, other.max)
        assert slider.label == other.description
    assert list(panel.controls["param"].options.items()) == list(lab.controls["param"].options)
    assert list(panel.controls["second"].options.items()) == list(lab.controls["second"].options)
    assert sorted(panel.sources) == sorted(lab.sources)
    panel.controller.close()
    lab.controller.close()
