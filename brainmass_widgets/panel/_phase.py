"""The phase-plane explorer as a Panel component."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import brainunit as u
import panel as pn
import param

from .._frontend import PhasePlaneExplorerBase, slider_tooltip
from .._phase import planar_models
from .._phase_controller import PhasePlaneController
from ._explorers import Panel, served_doc
from ._widgets import Fold, Slider

__all__ = ["PhasePlaneExplorer"]


class PhasePlaneExplorer(PhasePlaneExplorerBase, Panel):
    """Vector field, nullclines and fixed points of a model in a plane of two state variables,
    as a Panel component; a tap on the plane launches a trajectory.

    Parameters
    ----------
    model : str, default "HopfStep"
        A catalogue model with at least two state variables.
    **options
        As for :class:`brainmass_widgets.PhasePlaneController`: ``x``, ``y``, ``params``, ``held``,
        ``x_range``, ``y_range``, ``grid``, ``arrows``, ``duration``, ``noise``, ``seed``.
    """

    model = param.Selector(default="HopfStep", objects=[s.name for s in planar_models()],
                           doc="Catalogue model with two or more state variables.")
    x = param.String(default="x", doc="State variable on the horizontal axis.")
    y = param.String(default="y", doc="State variable on the vertical axis.")
    values = param.Dict(default={}, doc="Parameter values of the model, in catalogue units.")
    held = param.Dict(default={}, doc="Values of the state variables not on an axis.")
    x_range = param.Range(default=(-1.0, 1.0), doc="Horizontal axis range.")
    y_range = param.Range(default=(-1.0, 1.0), doc="Vertical axis range.")
    noise = param.ListSelector(default=[], objects=[], doc="State variables with noise in trajectories.")
    seed = param.Integer(default=0, doc="Seed of the trajectories' noise.")
    duration = param.Number(default=200.0, doc="Length of a launched trajectory [ms].")

    _STATE = ("model", "x", "y", "values", "held", "x_range", "y_range", "noise", "seed", "duration")

    def __init__(self, model: str = "HopfStep", **options: Any):
        super().__init__()
        autorun = options.pop("autorun", True)
        self._doc = served_doc()
        self._controller = PhasePlaneController(model, autorun=False, dispatch=self._session_dispatch(),
                                                **options)
        self._setup()
        c = self._controller
        self._sliders: dict[str, Slider] = {}
        self._held: dict[str, Slider] = {}
        self._slider_box = pn.Column(sizing_mode="stretch_width")
        self._held_box = pn.Column(sizing_mode="stretch_width")
        self._held_title = pn.pane.HTML("<b>held state variables</b>", visible=False)
        self._widgets = {
            "model": pn.widgets.Select(label="model", options=self.param.model.objects),
            "x": pn.widgets.Select(label="x axis", width=150),
            "y": pn.widgets.Select(label="y axis", width=150),
            "x from": pn.widgets.FloatInput(label="x from"),
            "x to": pn.widgets.FloatInput(label="x to"),
            "y from": pn.widgets.FloatInput(label="y from"),
            "y to": pn.widgets.FloatInput(label="y to"),
            "noise": pn.widgets.CheckBoxGroup(inline=True),
            "seed": pn.widgets.IntInput(label="seed"),
            "duration": pn.widgets.FloatInput(label="trajectory [ms]"),
        }
        for name, widget in self._widgets.items():
            widget.css_classes = [f"bmw-phase-{name.replace(' ', '-')}"]
            widget.param.watch(self._on_widget, "value")
        self._clear = pn.widgets.Button(label="Clear trajectories", css_classes=["bmw-clear"])
        self._clear.on_click(lambda _e: self.clear())
        self._pull()
        c.on_state(self._pull)
        self.param.watch(self._on_param, list(self._STATE))
        w = self._widgets
        figs = c.figures
        self._layout = self._page(
            [w["model"], pn.Row(w["x"], w["y"]), self._slider_box, self._held_title, self._held_box,
             Fold(pn.Row(w["x from"], w["x to"]), pn.Row(w["y from"], w["y to"]), w["duration"],
                  pn.pane.HTML("noise on"), w["noise"], w["seed"], title="Ranges, trajectory and noise"),
             self._clear],
            [pn.pane.Bokeh(figs["plane"], sizing_mode="stretch_width"),
             pn.pane.Bokeh(figs["timeseries"], sizing_mode="stretch_width")])
        c.autorun = autorun
        if autorun:
            c.run()

    # ------------------------------------------------------------------ controller -> widgets, state

    def _pull(self) -> None:
        c = self._controller
        opts = c.options
        spec = c.spec
        self._syncing = True
        try:
            self.param.noise.objects = list(spec.noise_args)
            self.param.update(model=spec.name, x=opts["x"], y=opts["y"], values=dict(opts["params"]),
                              held=dict(opts["held"]), x_range=opts["x_range"], y_range=opts["y_range"],
                              noise=list(opts["noise"]), seed=int(opts["seed"]),
                              duration=float(opts["duration"].to_decimal(u.ms)))
            w = self._widgets
            w["x"].options = w["y"].options = list(spec.states)
            w["noise"].options = list(spec.noise_args)
            for key, value in (("model", spec.name), ("x", opts["x"]), ("y", opts["y"]),
                               ("x from", opts["x_range"][0]), ("x to", opts["x_range"][1]),
                               ("y from", opts["y_range"][0]), ("y to", opts["y_range"][1]),
                               ("noise", list(opts["noise"])), ("seed", int(opts["seed"])),
                               ("duration", self.duration)):
                w[key].value = value
            specs = c.simulator.adapter.params
            if set(self._sliders) != set(opts["params"]):
                self._sliders = {n: self._slider(n, p.label, p.low, p.high, p.step,
                                                 lambda v, n=n: c.set(**{n: v}), slider_tooltip(p))
                                 for n, p in ((n, specs[n]) for n in opts["params"])}
                self._slider_box.objects = [s.row for s in self._sliders.values()]
            if set(self._held) != set(opts["held"]):
                ranges = c.state_ranges
                self._held = {}
                for n in opts["held"]:
                    lo, hi = ranges[n]
                    unit = spec.state_units.get(n)
                    label = n if unit is None else f"{n} [{unit}]"
                    self._held[n] = self._slider(f"held-{n}", label, lo, hi, (hi - lo) / 200,
                                                 lambda v, n=n: c.hold(**{n: v}),
                                                 f"The state {n} is held at this value on the plane.")
                self._held_box.objects = [s.row for s in self._held.values()]
                self._held_title.visible = bool(self._held)
            for sliders, values in ((self._sliders, opts["params"]), (self._held, opts["held"])):
                for n, v in values.items():
                    s, v = sliders[n], float(v)
                    s.start, s.end = min(s.start, v), max(s.end, v)
                    s.value = v
        finally:
            self._syncing = False
        self._refresh_code()

    def _slider(self, name: str, label: str, low: float, high: float, step: float,
                action: Callable[[float], None], doc: str) -> Slider:
        s = Slider(label=label, start=low, end=high, step=step, doc=doc,
                    css_classes=[f"bmw-param-{name}"], sizing_mode="stretch_width")

        def handler(event: param.parameterized.Event) -> None:
            if not self._syncing:
                self._guard(lambda: action(event.new), self._pull)

        s.param.watch(handler, "value")
        return s

    # ------------------------------------------------------------------ widgets, state -> controller

    def _on_widget(self, event: param.parameterized.Event) -> None:
        if self._syncing:
            return
        w = self._widgets
        name = next(k for k, v in w.items() if v is event.obj)
        c = self._controller
        actions = {
            "model": lambda: c.configure(model=event.new),
            "x": lambda: c.configure(x=w["x"].value, y=w["y"].value),
            "y": lambda: c.configure(x=w["x"].value, y=w["y"].value),
            "noise": lambda: c.configure(noise=tuple(event.new)),
            "seed": lambda: c.configure(seed=event.new),
            "duration": lambda: c.configure(duration=event.new),
        }
        ranges = lambda: c.configure(x_range=(w["x from"].value, w["x to"].value),  # noqa: E731
                                     y_range=(w["y from"].value, w["y to"].value))
        self._guard(actions.get(name, ranges), self._pull)

    def _on_param(self, *events: param.parameterized.Event) -> None:
        if self._syncing:
            return
        new = {e.name: e.new for e in events}
        if "values" in new:
            new["params"] = new.pop("values")
        if "noise" in new:
            new["noise"] = tuple(new["noise"])
        self._guard(lambda: self._controller.configure(**new), self._pull)

    @property
    def sliders(self) -> dict[str, pn.widgets.FloatSlider]:
        """The parameter sliders by parameter name."""
        return dict(self._sliders)

    @property
    def held_sliders(self) -> dict[str, pn.widgets.FloatSlider]:
        """The sliders of the held state variables by name."""
        return dict(self._held)
