"""Panel rendering of any explorer :class:`~brainmass_widgets.Form`: a widget per control, kept in
step with the controller through one ``param.watch`` path."""

from __future__ import annotations

from typing import Any

import panel as pn

from .._controls import Binding, Control
from ._widgets import Slider

__all__ = ["FormView"]


def _widget(control: Control, css_class: str) -> pn.widgets.Widget:
    """A new widget of the control's kind (its label, range and value are set by ``FormView``)."""
    css = [css_class]
    if control.kind == "slider":
        return Slider(start=control.low, end=control.high, step=control.step, doc=control.doc,
                      css_classes=css, sizing_mode="stretch_width")
    if control.kind == "bool":
        return pn.widgets.Checkbox(css_classes=css)
    if control.kind == "checks":
        return pn.widgets.CheckBoxGroup(css_classes=css, inline=True)
    kind = {"float": pn.widgets.FloatInput, "int": pn.widgets.IntInput, "choice": pn.widgets.Select,
            "choices": pn.widgets.MultiSelect}[control.kind]
    extra: dict[str, Any] = {"size": 3} if control.kind == "choices" else {}
    if control.kind == "int" and control.low is not None:
        extra = {"start": control.low, "end": control.high}
    return kind(css_classes=css, description=control.doc or None, sizing_mode="stretch_width", **extra)


class FormView(Binding):
    """The Panel widgets of a :class:`~brainmass_widgets.Form`, grouped in columns (see
    :class:`~brainmass_widgets.Binding`). A slider is laid out with the box beside it to type an
    exact value, a row of check boxes after its label."""

    def new_box(self) -> pn.Column:
        return pn.Column(sizing_mode="stretch_width", margin=0)

    def make(self, control: Control) -> pn.widgets.Widget:
        widget = _widget(control, self.form.css(control))
        widget.param.watch(lambda event: self.changed(control.name, event.new), "value")
        return widget

    def show(self, widget: pn.widgets.Widget, control: Control, old: Control | None, value: Any) -> None:
        if control != old:
            update: dict[str, Any] = {"name": control.label, "disabled": not control.enabled,
                                      "visible": control.visible}
            if control.kind in ("choice", "choices", "checks"):
                update["options"] = {label: v for label, v in control.choices}
            if control.kind == "slider":
                update["step"] = control.step
                widget.box.description = control.doc or None
                widget.row.visible = control.visible
            elif "description" in widget.param:
                update["description"] = control.doc or None
            widget.param.update(**update)
        if control.kind == "slider":
            start, end = min(control.low, value), max(control.high, value)
            if (widget.start, widget.end) != (start, end):
                widget.param.update(start=start, end=end)
        if control.kind in ("choices", "checks"):
            value = list(value)
        if widget.value != value:
            widget.value = value

    def place(self, box: pn.Column, names: list[str]) -> None:
        box.objects = [self._row(name) for name in names]

    def _row(self, name: str) -> Any:
        """What the page lays out for control ``name``: a slider with its box, a row of check boxes
        after its label, or the widget."""
        widget = self.widgets[name]
        if isinstance(widget, Slider):
            return widget.row
        if isinstance(widget, pn.widgets.CheckBoxGroup):
            return pn.Column(pn.widgets.StaticText(value=self.controls[name].label), widget,
                             sizing_mode="stretch_width")
        return widget
