"""The bifurcation explorer as a Panel component."""

from __future__ import annotations

from typing import Any

import panel as pn
import param

from .._bifurcation_controller import BifurcationController
from .._frontend import BifurcationExplorerBase, slider_tooltip
from .._phase import planar_models
from ._explorers import Panel, served_doc
from ._widgets import Fold, Slider

__all__ = ["BifurcationExplorer"]


class BifurcationExplorer(BifurcationExplorerBase, Panel):
    """Equilibrium branches, fold and Hopf points and limit cycles of a model against one
    parameter, redrawn as any other parameter's slider moves, as a Panel component; with a second
    parameter, its fold and Hopf curves in the plane of the two. A tap on the diagram picks a
    parameter value (:meth:`on_pick`).

    Parameters
    ----------
    model : str, default "HopfStep"
        A catalogue model with at least two state variables.
    **options
        As for :class:`brainmass_widgets.BifurcationController`: ``param``, ``variable``,
        ``param_range``, ``params``, ``second``, ``second_range``, ``points``, ``cycles``.
    """

    model = param.Selector(
        default="HopfStep",
        objects=[s.name for s in planar_models()],
        doc="Catalogue model with two or more state variables.",
    )
    values = param.Dict(default={}, doc="Parameter values of the model, in catalogue units.")

    def __init__(self, model: str = "HopfStep", **options: Any):
        super().__init__()
        autorun = options.pop("autorun", True)
        self._doc = served_doc()
        self._controller = BifurcationController(
            model, autorun=False, dispatch=self._session_dispatch(), **options
        )
        self._setup()
        c = self._controller
        self._sliders: dict[str, Slider] = {}
        self._slider_box = pn.Column(sizing_mode="stretch_width")
        self._widgets = {
            "model": pn.widgets.Select(label="model", options=self.param.model.objects),
            "param": pn.widgets.Select(label="parameter (horizontal)"),
            "variable": pn.widgets.Select(label="state (vertical)"),
            "from": pn.widgets.FloatInput(label="from", width=120),
            "to": pn.widgets.FloatInput(label="to", width=120),
            "second": pn.widgets.Select(label="second parameter (curves)"),
            "points": pn.widgets.IntInput(label="continuation steps", start=10, end=2000),
            "cycles": pn.widgets.IntInput(label="limit-cycle runs (0: none)", start=0, end=1000),
        }
        for name, widget in self._widgets.items():
            widget.css_classes = [f"bmw-bif-{name}"]
            widget.param.watch(self._on_widget, "value")
        self._pull()
        c.on_state(self._pull)
        w = self._widgets
        figs = c.figures
        self._layout = self._page(
            [
                w["model"],
                w["param"],
                w["variable"],
                pn.Row(w["from"], w["to"]),
                w["second"],
                self._slider_box,
                Fold(w["points"], w["cycles"], title="Resolution"),
            ],
            [
                pn.pane.Bokeh(figs["diagram"], sizing_mode="stretch_width"),
                pn.pane.Bokeh(figs["plane"], sizing_mode="stretch_width"),
            ],
        )
        c.autorun = autorun
        if autorun:
            c.run()

    def _pull(self) -> None:
        c = self._controller
        opts = c.options
        spec = c.spec
        self._syncing = True
        try:
            self.param.update(model=spec.name, values=dict(opts["params"]))
            w = self._widgets
            names = list(spec.params)
            w["param"].options = names
            w["variable"].options = list(spec.states)
            w["second"].options = self._second_choices()
            for key, value in (
                ("model", spec.name),
                ("param", opts["param"]),
                ("variable", opts["variable"]),
                ("from", opts["param_range"][0]),
                ("to", opts["param_range"][1]),
                ("second", opts["second"] or self.NO_SECOND),
                ("points", opts["points"]),
                ("cycles", opts["cycles"]),
            ):
                w[key].value = value
            others = list(c.slider_params)
            if list(self._sliders) != others:
                self._sliders = {n: self._slider(n) for n in others}
                self._slider_box.objects = [s.row for s in self._sliders.values()]
            for n in others:
                s, v = self._sliders[n], float(opts["params"][n])
                s.start, s.end = min(s.start, v), max(s.end, v)
                s.value = v
        finally:
            self._syncing = False
        self._refresh_code()

    def _slider(self, name: str) -> Slider:
        p = self._controller.spec.params[name]
        s = Slider(
            label=p.label,
            start=p.low,
            end=p.high,
            step=p.step,
            doc=slider_tooltip(p),
            css_classes=[f"bmw-param-{name}"],
            sizing_mode="stretch_width",
        )

        def handler(event: param.parameterized.Event) -> None:
            if not self._syncing:
                self._guard(lambda: self._controller.set(**{name: event.new}), self._pull)

        s.param.watch(handler, "value")
        return s

    def _on_widget(self, event: param.parameterized.Event) -> None:
        if self._syncing:
            return
        w = self._widgets
        name = next(k for k, v in w.items() if v is event.obj)
        c = self._controller
        actions = {
            "model": lambda: c.configure(model=event.new),
            "param": lambda: c.configure(param=event.new),
            "variable": lambda: c.configure(variable=event.new),
            "second": lambda: self._choose_second(event.new),
            "points": lambda: c.configure(points=event.new),
            "cycles": lambda: c.configure(cycles=event.new),
        }
        ranges = lambda: c.configure(param_range=(w["from"].value, w["to"].value))  # noqa: E731
        self._guard(actions.get(name, ranges), self._pull)

    @property
    def sliders(self) -> dict[str, pn.widgets.FloatSlider]:
        """The sliders of the parameters not on the horizontal axis, by name."""
        return dict(self._sliders)
