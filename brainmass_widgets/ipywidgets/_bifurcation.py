"""The bifurcation explorer for JupyterLab: ipywidgets controls, the diagram through jupyter_bokeh."""

from __future__ import annotations

from typing import Any

import ipywidgets as w
from bokeh.layouts import column

from .._bifurcation_controller import BifurcationController
from .._controls import PARAMETERS, RESOLUTION, BifurcationForm
from .._frontend import BifurcationExplorerBase
from ._explorers import Explorer
from ._form import FormView

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
        self._form = FormView(BifurcationForm(c), self._guard)
        figs = c.figures
        self._plot = self._bokeh(column(figs["diagram"], figs["plane"], sizing_mode="stretch_width"))
        resolution = w.Accordion(children=[self._form.box(RESOLUTION)], titles=(RESOLUTION,))
        super().__init__(self._page(self._form.box(""), self._form.box(PARAMETERS), resolution))
        c.on_state(self._on_state)
        c.autorun = autorun
        if autorun:
            c.run()

