"""Explorers described once: the forms, and both front ends rendering them alike."""

import pytest

import brainmass_widgets as bw
from brainmass_widgets import ModelController, SweepController
from brainmass_widgets import ipywidgets as lab_explorers
from brainmass_widgets import panel as panel_explorers
from brainmass_widgets._controls import NO_SECOND, Control, ModelForm, SweepForm, form_for
from brainmass_widgets._network import network_models
from brainmass_widgets._phase import planar_models
from brainmass_widgets.ipywidgets import ModelExplorer as LabModel
from brainmass_widgets.ipywidgets import SweepExplorer as LabSweep
from brainmass_widgets.panel import ModelExplorer as PanelModel
from brainmass_widgets.panel import SweepExplorer as PanelSweep
from brainmass_widgets.panel._widgets import Slider


def _lab(widget):
    """What an ipywidgets control shows: label, range, step, choices, tooltip, enabled, shown."""
    shown = {"label": widget.description, "doc": widget.tooltip or "", "enabled": not widget.disabled,
             "visible": widget.layout.display != "none", "value": widget.value}
    if hasattr(widget, "min"):
        shown.update(low=widget.min, high=widget.max, step=widget.step)
    if hasattr(widget, "options"):
        shown["choices"] = [tuple(pair) for pair in widget.options]
        shown["value"] = tuple(widget.value) if isinstance(widget.value, tuple) else widget.value
    return shown


def _panel(widget):
    """What a Panel control shows, in the same terms as :func:`_lab`."""
    if isinstance(widget, Slider):
        doc = widget.box.description or ""
    else:
        doc = (widget.description or "") if "description" in widget.param else None
    shown = {"label": widget.name, "doc": doc, "enabled": not widget.disabled,
             "visible": widget.visible, "value": widget.value}
    if getattr(widget, "start", None) is not None:
        shown.update(low=widget.start, high=widget.end, step=widget.step)
    if hasattr(widget, "options"):
        shown["choices"] = list(widget.options.items())
        shown["value"] = tuple(widget.value) if isinstance(widget.value, list) else widget.value
    return shown


def _plot_text(controller):
    """What each figure says: title, axis labels and legend entries."""
    said = {}
    for name, fig in controller.figures.items():
        legend = [str(getattr(item.label, "value", item.label)) for leg in fig.legend for item in leg.items]
        said[name] = (fig.title.text, [a.axis_label for a in fig.xaxis], [a.axis_label for a in fig.yaxis],
                      legend)
    return said


def _same_controls(lab, served):
    assert list(lab.controls) == list(served.controls)
    for name in lab.controls:
        a, b = _lab(lab.controls[name]), _panel(served.controls[name])
        if b["doc"] is None:  # a Panel check box takes no tooltip
            a.pop("doc"), b.pop("doc")
        assert a == pytest.approx(b), name
    assert set(lab.sources) == set(served.sources)
    assert _plot_text(lab.controller) == _plot_text(served.controller)  # plots are described once too
    one_d = len(getattr(lab.controller.state, "axes", (1, 2))) == 1
    for name, (title, xs, ys, _) in _plot_text(lab.controller).items():
        waiting = (name == "heatmap" and one_d) or "choose a second parameter" in title  # shown empty
        assert title and (waiting or (all(xs) and all(ys))), (name, title, xs, ys)


@pytest.mark.parametrize("spec", bw.catalog(), ids=lambda s: s.name)
def test_both_front_ends_show_the_same_model_controls(spec):
    lab, served = LabModel(spec.name, autorun=False), PanelModel(spec.name, autorun=False)
    _same_controls(lab, served)
    form = ModelForm(lab.controller)
    for control in form.controls():
        if control.kind == "slider":
            p = lab.controller.simulator.adapter.params[control.name]
            assert control.label == p.label and (p.unit is None) == (control.unit == "")
            assert f"Range {p.low:g} to {p.high:g}" in control.doc
            assert control.low <= p.default <= control.high
    assert {"monitors", "phase_x", "phase_y"} <= set(served.controls)
    lab.close()


@pytest.mark.parametrize("spec", bw.catalog(), ids=lambda s: s.name)
def test_both_front_ends_show_the_same_sweep_controls(spec):
    lab, served = LabSweep(spec.name), PanelSweep(spec.name)
    _same_controls(lab, served)
    assert [v for _, v in served.controls["monitor"].options.items()] == list(spec.states)
    lab.close()


@pytest.mark.parametrize("explorer", ["PhasePlaneExplorer", "BifurcationExplorer"])
@pytest.mark.parametrize("spec", planar_models(), ids=lambda s: s.name)
def test_both_front_ends_show_the_same_plane_and_diagram_controls(spec, explorer):
    lab = getattr(lab_explorers, explorer)(spec.name, autorun=False)
    served = getattr(panel_explorers, explorer)(spec.name, autorun=False)
    _same_controls(lab, served)
    assert list(lab.sliders) == list(served.sliders)
    lab.close()


@pytest.mark.parametrize("spec", network_models(), ids=lambda s: s.name)
def test_both_front_ends_show_the_same_network_controls(spec):
    lab = lab_explorers.NetworkExplorer(spec.name, autorun=False)
    served = panel_explorers.NetworkExplorer(spec.name, autorun=False)
    _same_controls(lab, served)
    assert "k" in served.sliders and not served.controls["speed"].disabled
    lab.close()


@pytest.mark.parametrize("options", [{}, {"model": "JansenRitStep", "fit": ("C",)}, {"network": True},
                                     {"network": True, "target": "example_signal"},
                                     {"objective": {"fc_rmse": 2.0, "cosine_sim": 1.0}}])
def test_both_front_ends_show_the_same_fit_controls(options):
    lab, served = lab_explorers.FitExplorer(**options), panel_explorers.FitExplorer(**options)
    _same_controls(lab, served)
    assert list(lab.fit_checkboxes) == [v for _, v in served.controls["fit"].options.items()]
    lab.close()


def test_a_control_change_in_either_front_end_reaches_the_controller_and_the_other_controls():
    served = PanelModel("WilsonCowanStep", autorun=False)
    served.controls["monitors"].value = ["rE", "rI"]
    assert served.controller.options["monitors"] == ("rE", "rI")
    served.controls["phase_y"].value = "rE"
    assert served.controller.options["phase"] == ("rE", "rE")
    lab = LabModel("WilsonCowanStep", autorun=False)
    lab.controls["phase_x"].value = "rI"
    assert lab.controller.options["phase"] == ("rI", "rI")
    lab.controls["model"].value = "HopfStep"
    assert list(lab.sliders) == ["a", "w", "beta"] and lab.controls["phase_x"].value == "x"
    lab.close()


def test_a_refused_value_is_named_and_the_control_goes_back():
    served = PanelSweep("HopfStep", duration=60.0)
    served.controls["points"].value = 0
    assert "points for 'a' must be an integer in 1 .. 10000; got 0" in served.notice
    assert served.controls["points"].value == 32 and served.controller.options["axes"]["a"][2] == 32
    lab = LabModel("HopfStep", autorun=False)
    lab.controls["dt"].value = -1.0
    assert "dt" in lab.status.message and "-1" in lab.status.message
    assert lab.controls["dt"].value == pytest.approx(0.1)
    lab.close()


def test_the_sweep_form_enables_the_second_range_only_with_a_second_parameter():
    form = SweepForm(SweepController("HopfStep", duration=60.0))
    enabled = {c.name: c.enabled for c in form.controls()}
    assert not enabled["low2"] and enabled["low"] and form.values()["parameter2"] == NO_SECOND
    form.update({"parameter2": "w", "points2": 4})
    assert form.controller.options["axes"]["w"] == (0.0, 1.0, 4)
    assert all(c.enabled for c in form.controls())
    with pytest.raises(ValueError, match="'w' is chosen twice"):
        form.apply("parameter", "w")
    assert list(form.controller.options["axes"]) == ["a", "w"]


def test_controls_refuse_an_unknown_kind_and_forms_exist_for_model_and_sweep_controllers():
    with pytest.raises(ValueError, match="unknown control kind 'knob'; valid: slider, float"):
        Control("x", "knob", "x")
    assert isinstance(form_for(ModelController("HopfStep", autorun=False)), ModelForm)
    with pytest.raises(TypeError, match="no form for str"):
        form_for("HopfStep")
