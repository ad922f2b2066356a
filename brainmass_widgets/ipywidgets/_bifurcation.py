"""The bifurcation explorer for JupyterLab: ipywidgets controls, the diagram through jupyter_bokeh."""

from __future__ import annotations

from typing import Any

import ipywidgets as w
from bokeh.layouts import column
from jupyter_bokeh.widgets import BokehModel

from .._bifurcation_controller import BifurcationController
from .._frontend import BifurcationExplorerBase
from .._phase import planar_models
from ._explorers import LABEL, ROW, Explorer, param_slider, set_slider

__all__ = ["BifurcationExplorer"]


class BifurcationExplorer(BifurcationExplorerBase, Explorer):
    """Equilibrium branches, fold and Hopf points and limit cycles of a model against one
    parameter, redrawn as any other parameter's slider moves; with a second parameter, its fold
    and Hopf curves in the plane of the two. A tap on the diagram picks a parameter value
    (:meth:`on_pick`).

    Parameters
    ----------
    model : str, default "HopfStep"
        A catalogue model with at least two state variables.
    **options
        As for :class:`brainmass_widgets.BifurcationController`: ``param``, ``variable``,
        ``param_range``, ``params``, ``second``, ``second_range``, ``points``, ``cycles``.

    Examples
    --------
    >>> from brainmass_widgets.ipywidgets import BifurcationExplorer
    >>> BifurcationExplorer("FitzHughNagumoStep", second="beta")  # doctest: +SKIP
    """

    def __init__(self, model: str = "HopfStep", **options: Any):
        autorun = options.pop("autorun", True)
        self._controller = BifurcationController(model, autorun=False, **options)
        self._common()
        c = self._controller
        self._model = w.Dropdown(
            options=[s.name for s in planar_models()],
            value=c.spec.name,
            description="model",
            style=LABEL,
            layout=ROW,
        )
        self._param = w.Dropdown(description="parameter", style=LABEL, layout=ROW)
        self._variable = w.Dropdown(description="state", style=LABEL, layout=ROW)
        self._second = w.Dropdown(description="second parameter", style=LABEL, layout=ROW)
        self._range = (
            w.FloatText(description="from", style=LABEL, layout=ROW),
            w.FloatText(description="to", style=LABEL, layout=ROW),
        )
        self._points = w.BoundedIntText(
            min=10, max=2000, description="continuation steps", style=LABEL, layout=ROW
        )
        self._cycles = w.BoundedIntText(
            min=0, max=1000, description="limit-cycle runs (0: none)", style=LABEL, layout=ROW
        )
        self._sliders: dict[str, w.FloatSlider] = {}
        self._param_box = w.VBox()
        self._model.observe(self._handler(lambda v: c.configure(model=v)), "value")
        self._param.observe(self._handler(lambda v: c.configure(param=v)), "value")
        self._variable.observe(self._handler(lambda v: c.configure(variable=v)), "value")
        self._second.observe(self._handler(self._choose_second), "value")
        for box in self._range:
            box.observe(
                self._handler(
                    lambda _v: c.configure(param_range=(self._range[0].value, self._range[1].value))
                ),
                "value",
            )
        self._points.observe(self._handler(lambda v: c.configure(points=v)), "value")
        self._cycles.observe(self._handler(lambda v: c.configure(cycles=v)), "value")
        figs = c.figures
        self._plot = BokehModel(column(figs["diagram"], figs["plane"], sizing_mode="stretch_width"))
        self._watch_views()
        resolution = w.Accordion(children=[w.VBox([self._points, self._cycles])], titles=("Resolution",))
        super().__init__(
            self._page(
                self._model,
                self._param,
                self._variable,
                *self._range,
                self._second,
                self._param_box,
                resolution,
            )
        )
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
            names = list(spec.params)
            self._model.value = spec.name
            self._param.options = names
            self._param.value = opts["param"]
            self._variable.options = list(spec.states)
            self._variable.value = opts["variable"]
            self._second.options = self._second_choices()
            self._second.value = opts["second"] or self.NO_SECOND
            for box, value in zip(self._range, opts["param_range"], strict=True):
                box.value = value
            self._points.value, self._cycles.value = opts["points"], opts["cycles"]
            others = list(c.slider_params)
            if list(self._sliders) != others:
                self._sliders = {n: param_slider(spec.params[n], opts["params"][n]) for n in others}
                for n, s in self._sliders.items():
                    s.observe(self._handler(lambda v, n=n: c.set(**{n: v})), "value")
                self._param_box.children = tuple(self._sliders.values())
            else:
                for n in others:
                    set_slider(self._sliders[n], opts["params"][n])
        finally:
            self._syncing = False

    @property
    def sliders(self) -> dict[str, w.FloatSlider]:
        """The sliders of the parameters not on the horizontal axis, by name."""
        return dict(self._sliders)
