"""The phase-plane explorer for JupyterLab: ipywidgets controls, the plane through jupyter_bokeh."""

from __future__ import annotations

from typing import Any

import ipywidgets as w
from bokeh.layouts import column

from .._controls import HELD, PARAMETERS, RANGES, PhaseForm
from .._frontend import PhasePlaneExplorerBase
from .._phase_controller import PhasePlaneController
from ._explorers import Explorer
from ._form import FormView

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
        self._form = FormView(PhaseForm(c), self._guard)
        self._clear = w.Button(description="Clear trajectories", icon="eraser")
        self._clear.on_click(lambda _b: self.clear())
        figs = c.figures
        self._plot = self._bokeh(column(figs["plane"], figs["timeseries"], sizing_mode="stretch_width"))
        options_box = w.Accordion(children=[self._form.box(RANGES)], titles=(RANGES,))
        self._held_title = w.HTML(HELD, layout=w.Layout(display="none"))
        super().__init__(self._page(self._form.box(""), self._form.box(PARAMETERS), self._held_title,
                                    self._form.box(HELD), options_box, self._clear))
        self._on_state()
        c.on_state(self._on_state)
        c.autorun = autorun
        if autorun:
            c.run()

    def _on_state(self) -> None:
        self._form.refresh()
        self._held_title.layout.display = None if self._form.group(HELD) else "none"

    @property
    def held_sliders(self) -> dict[str, w.FloatSlider]:
        """The sliders of the held state variables by name."""
        return {name.removeprefix("held_"): widget for name, widget in self._form.group(HELD).items()}
