"""The phase-plane explorer for JupyterLab: ipywidgets controls, the plane through jupyter_bokeh."""

from __future__ import annotations

from typing import Any

import brainunit as u
import ipywidgets as w
from bokeh.layouts import column
from jupyter_bokeh.widgets import BokehModel

from .._frontend import PhasePlaneExplorerBase
from .._phase import planar_models
from .._phase_controller import PhasePlaneController
from ._explorers import LABEL, ROW, Explorer, float_slider, param_slider, set_slider

__all__ = ["PhasePlaneExplorer"]


class PhasePlaneExplorer(PhasePlaneExplorerBase, Explorer):
    """Vector field, nullclines and fixed points of a model in a plane of two state variables;
    a tap on the plane launches a trajectory.

    Parameters
    ----------
    model : str, default "HopfStep"
        A catalogue model with at least two state variables.
    **options
        As for :class:`brainmass_widgets.PhasePlaneController`: ``x``, ``y``, ``params``, ``held``,
        ``x_range``, ``y_range``, ``grid``, ``arrows``, ``duration``, ``noise``, ``seed``.

    Examples
    --------
    >>> from brainmass_widgets.ipywidgets import PhasePlaneExplorer
    >>> PhasePlaneExplorer("FitzHughNagumoStep")  # doctest: +SKIP
    """

    def __init__(self, model: str = "HopfStep", **options: Any):
        autorun = options.pop("autorun", True)
        self._controller = PhasePlaneController(model, autorun=False, **options)
        self._common()
        c = self._controller
        self._model = w.Dropdown(options=[s.name for s in planar_models()], value=c.spec.name,
                                 description="model", style=LABEL, layout=ROW)
        self._axes = (w.Dropdown(description="x axis", style=LABEL, layout=ROW),
                      w.Dropdown(description="y axis", style=LABEL, layout=ROW))
        self._ranges = {key: w.FloatText(description=key, style=LABEL, layout=ROW)
                        for key in ("x from", "x to", "y from", "y to")}
        self._sliders: dict[str, w.FloatSlider] = {}
        self._held: dict[str, w.FloatSlider] = {}
        self._noise: dict[str, w.Checkbox] = {}
        self._param_box, self._held_box, self._noise_box = w.VBox(), w.VBox(), w.VBox()
        self._seed = w.IntText(description="seed", style=LABEL, layout=ROW)
        self._duration = w.FloatText(description="trajectory [ms]", style=LABEL, layout=ROW)
        self._clear = w.Button(description="Clear trajectories", icon="eraser")
        self._clear.on_click(lambda _b: self.clear())
        self._model.observe(self._handler(lambda v: c.configure(model=v)), "value")
        for dd in self._axes:
            dd.observe(self._handler(lambda _v: c.configure(x=self._axes[0].value, y=self._axes[1].value)),
                       "value")
        for widget in self._ranges.values():
            widget.observe(self._handler(lambda _v: c.configure(
                x_range=(self._ranges["x from"].value, self._ranges["x to"].value),
                y_range=(self._ranges["y from"].value, self._ranges["y to"].value))), "value")
        self._seed.observe(self._handler(lambda v: c.configure(seed=v)), "value")
        self._duration.observe(self._handler(lambda v: c.configure(duration=v)), "value")
        figs = c.figures
        self._plot = BokehModel(column(figs["plane"], figs["timeseries"], sizing_mode="stretch_width"))
        self._watch_views()
        options_box = w.Accordion(children=[w.VBox([*self._ranges.values(), self._duration,
                                                    w.HTML("noise on"), self._noise_box, self._seed])],
                                  titles=("Ranges, trajectory and noise",))
        self._held_title = w.HTML("held state variables", layout=w.Layout(display="none"))
        super().__init__(self._page(self._model, *self._axes, self._param_box, self._held_title,
                                    self._held_box, options_box, self._clear))
        self._sync()
        c.on_state(self._sync)
        c.autorun = autorun
        if autorun:
            c.run()

    def _sync(self) -> None:
        c = self._controller
        opts = c.options
        spec = c.spec
        self._syncing = True
        try:
            self._model.value = spec.name
            for dd, name in zip(self._axes, (opts["x"], opts["y"]), strict=True):
                dd.options = spec.states
                dd.value = name
            for key, value in zip(self._ranges, (*opts["x_range"], *opts["y_range"]), strict=True):
                self._ranges[key].value = value
            self._seed.value = int(opts["seed"])
            self._duration.value = float(opts["duration"].to_decimal(u.ms))
            if set(self._sliders) != set(opts["params"]) or self._param_box.children == ():
                specs = c.simulator.adapter.params
                self._sliders = {n: param_slider(specs[n], v) for n, v in opts["params"].items()}
                for n, s in self._sliders.items():
                    s.observe(self._handler(lambda v, n=n: c.set(**{n: v})), "value")
                self._param_box.children = tuple(self._sliders.values())
            else:
                for n, v in opts["params"].items():
                    set_slider(self._sliders[n], v)
            if set(self._held) != set(opts["held"]):
                ranges = c.state_ranges
                self._held = {}
                for n, v in opts["held"].items():
                    lo, hi = ranges[n]
                    unit = spec.state_units.get(n)
                    label = n if unit is None else f"{n} [{unit}]"
                    s = float_slider(label, lo, hi, (hi - lo) / 200, v, f"{n} is held at this value")
                    s.observe(self._handler(lambda v, n=n: c.hold(**{n: v})), "value")
                    self._held[n] = s
                self._held_box.children = tuple(self._held.values())
                self._held_title.layout.display = None if self._held else "none"
            else:
                for n, v in opts["held"].items():
                    set_slider(self._held[n], v)
            if set(self._noise) != set(spec.noise_args):
                self._noise = {n: w.Checkbox(description=n, indent=False) for n in spec.noise_args}
                for box in self._noise.values():
                    box.observe(self._handler(lambda _v: c.configure(
                        noise=tuple(n for n, b in self._noise.items() if b.value))), "value")
                self._noise_box.children = tuple(self._noise.values())
            for n, box in self._noise.items():
                box.value = n in opts["noise"]
        finally:
            self._syncing = False

    @property
    def sliders(self) -> dict[str, w.FloatSlider]:
        """The parameter sliders by parameter name."""
        return dict(self._sliders)

    @property
    def held_sliders(self) -> dict[str, w.FloatSlider]:
        """The sliders of the held state variables by name."""
        return dict(self._held)
