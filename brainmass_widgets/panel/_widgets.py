"""Panel widget pieces the explorers share: a parameter slider with a box to type an exact value,
and a collapsible section."""

from __future__ import annotations

from typing import Any

import panel as pn
import param
from panel.viewable import Viewer

__all__ = ["Fold", "Slider"]


class Slider(pn.widgets.FloatSlider):
    """A parameter slider with a box beside it to type an exact value.

    The box is labelled with the slider's range and shows the parameter's doc when its info icon
    is hovered. Panel's ``link`` copies the slider's value into the box; a typed value is given to
    the slider, widening its range first when the value lies beyond it (the controller decides
    whether the value is allowed; a refused value leaves the range as it was). An emptied box
    shows the slider's value again. Lay out ``row``, not the slider alone.

    Panel holds every server-side widget change for ``Syncable._debounce`` (50 ms) to merge
    bursts; the controller's latest-wins worker already absorbs drag storms, so this slider sets
    that hold to 0 ms: changes arriving in the same event-loop tick are still merged.
    """

    _debounce = 0

    def __init__(self, doc: str = "", **params: Any):
        params.setdefault("format", "0.[0000]")
        super().__init__(**params)
        self.box = pn.widgets.FloatInput(value=self.value, step=self.step, description=doc or None,
                                         format="0.[000000]", width=110,
                                         css_classes=[f"{c}-value" for c in self.css_classes])
        self.link(self.box, value="value")
        self.box.param.watch(self._take, "value")
        self.param.watch(self._show_range, ["start", "end"])
        self._show_range()
        self.row = pn.Row(self, self.box, sizing_mode="stretch_width")

    def _take(self, event: param.parameterized.Event) -> None:
        v = event.new
        if v is None:
            self.box.value = self.value
        if v is None or v == self.value:
            return
        start, end = self.start, self.end
        self.param.update(start=min(start, v), end=max(end, v), value=v)
        if self.value != v:
            # refused (the slider was put back): so is its range
            self.param.update(start=start, end=end)

    def _show_range(self, *_: Any) -> None:
        self.box.name = f"{self.start:g} \u2026 {self.end:g}"


class Fold(Viewer):
    """A collapsible section whose header is a toggle button.

    Used instead of ``pn.Card``: a Card's header is a Panel HTML pane, and any Panel HTML pane
    on a page makes Panel ship the 1.8 MB MathJax bundle with it (none of these pages needs math).
    """

    collapsed = param.Boolean(default=True, doc="Whether the contents are hidden.")
    title = param.String(default="", doc="The header's text.")

    def __init__(self, *objects: Any, title: str, **params: Any):
        super().__init__(title=title, **params)
        self._toggle = pn.widgets.Toggle(label=self._label(), value=not self.collapsed, color="light",
                                         sizing_mode="stretch_width", css_classes=["bmw-fold"])
        self._body = pn.Column(*objects, visible=not self.collapsed, sizing_mode="stretch_width")
        self._toggle.param.watch(lambda e: setattr(self, "collapsed", not e.new), "value")
        self.param.watch(self._show, "collapsed")
        self.param.watch(lambda _e: setattr(self._toggle, "label", self._label()), "title")
        self._layout = pn.Column(self._toggle, self._body, sizing_mode="stretch_width")

    def _label(self) -> str:
        return ("\u25b8 " if self.collapsed else "\u25be ") + self.title

    def _show(self, event: param.parameterized.Event) -> None:
        self._body.visible = not event.new
        self._toggle.param.update(value=not event.new, label=self._label())

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout
