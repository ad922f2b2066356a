"""ipywidgets rendering of any explorer :class:`~brainmass_widgets.Form`: a widget per control,
kept in step with the controller through one ``observe`` path."""

from __future__ import annotations

from typing import Any

import ipywidgets as w
import traitlets

from .._controls import Binding, Control

__all__ = ["LABEL", "Checks", "FormView", "set_range"]

LABEL = {"description_width": "120px"}
"""The style of every labelled control: labels 120 px wide, so that controls line up."""


def set_range(slider: w.FloatSlider, low: float, high: float) -> None:
    """Set a slider's range in an order that never passes through ``min > max``."""
    if low > slider.max:
        slider.max, slider.min = high, low
    else:
        slider.min, slider.max = low, high


class Checks(w.HBox):
    """A row of check boxes after a label, one per choice; ``value`` is the tuple of the checked
    choices' values, ``options`` the ``(label, value)`` pairs."""

    value = traitlets.Tuple()
    options = traitlets.Tuple()
    description = traitlets.Unicode()
    disabled = traitlets.Bool(False)

    def __init__(self, **kwargs: Any):
        super().__init__(layout=w.Layout(flex_flow="row wrap", width="100%"), **kwargs)
        self.label = w.Label(self.description, layout=w.Layout(width="120px"))
        self.boxes: dict[Any, w.Checkbox] = {}
        self._showing = False
        self.observe(self._rebuild, "options")
        self.observe(self._show, ["value", "disabled", "description"])
        self._rebuild()

    def _rebuild(self, _change: Any = None) -> None:
        self.boxes = {value: w.Checkbox(description=label, indent=False, layout=w.Layout(width="auto"))
                      for label, value in self.options}
        for box in self.boxes.values():
            box.observe(self._take, "value")
        self.children = (self.label, *self.boxes.values())
        self._show()

    def _show(self, _change: Any = None) -> None:
        self._showing = True
        try:
            self.label.value = self.description
            for value, box in self.boxes.items():
                box.value, box.disabled = value in self.value, self.disabled
        finally:
            self._showing = False

    def _take(self, _change: Any) -> None:
        if not self._showing:
            self.value = tuple(value for value, box in self.boxes.items() if box.value)


def _widget(control: Control) -> w.Widget:
    """A new widget of the control's kind (its label, range and value are set by ``FormView``), with
    a layout of its own (hiding it must not hide others)."""
    wide: dict[str, Any] = {"style": LABEL, "layout": w.Layout(width="100%")}
    if control.kind == "slider":
        return w.FloatSlider(continuous_update=True, readout_format=".4g", **wide)
    if control.kind == "bool":
        return w.Checkbox(indent=False)
    if control.kind == "checks":
        return Checks()
    if control.kind == "choices":
        return w.SelectMultiple(rows=3, **wide)
    if control.kind == "int" and control.low is not None:
        return w.BoundedIntText(min=control.low, max=control.high, **wide)
    return {"float": w.FloatText, "int": w.IntText, "choice": w.Dropdown}[control.kind](**wide)


class FormView(Binding):
    """The ipywidgets widgets of a :class:`~brainmass_widgets.Form`, grouped in boxes (see
    :class:`~brainmass_widgets.Binding`)."""

    def new_box(self) -> w.VBox:
        return w.VBox(layout=w.Layout(width="100%"))

    def make(self, control: Control) -> w.Widget:
        widget = _widget(control)
        widget.add_class(self.form.css(control))
        widget.observe(lambda change: self.changed(control.name, change["new"]), "value")
        return widget

    def show(self, widget: w.Widget, control: Control, old: Control | None, value: Any) -> None:
        if control != old:
            widget.description = control.label
            widget.tooltip = control.doc or None
            widget.disabled = not control.enabled
            widget.layout.display = None if control.visible else "none"
            if control.kind in ("choice", "choices", "checks") and tuple(widget.options) != control.choices:
                widget.options = control.choices
            if control.kind == "slider":
                widget.step = control.step
        if control.kind == "slider":
            low, high = min(control.low, value), max(control.high, value)
            if (widget.min, widget.max) != (low, high):
                set_range(widget, low, high)
        value = tuple(value) if control.kind in ("choices", "checks") else value
        if widget.value != value:
            widget.value = value

    def place(self, box: w.VBox, names: list[str]) -> None:
        box.children = tuple(self.widgets[name] for name in names)
