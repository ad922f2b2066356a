"""The bifurcation explorer as a Panel component."""

from __future__ import annotations

from typing import Any

import panel as pn
import param

from .._bifurcation_controller import BifurcationController
from .._controls import PARAMETERS, RESOLUTION, BifurcationForm
from .._frontend import BifurcationExplorerBase
from .._phase import planar_models
from ._explorers import Panel, served_doc
from ._form import FormView
from ._widgets import Fold

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
        self._controller = BifurcationController(model, autorun=False, dispatch=self._session_dispatch(),
                                                 **options)
        self._setup()
        c = self._controller
        self._form = FormView(BifurcationForm(c), self._guard)
        self._pull()
        c.on_state(self._pull)
        figs = c.figures
        self._layout = self._page(
            [self._form.box(""), self._form.box(PARAMETERS),
             Fold(self._form.box(RESOLUTION), title=RESOLUTION)],
            [pn.pane.Bokeh(figs["diagram"], sizing_mode="stretch_width"),
             pn.pane.Bokeh(figs["plane"], sizing_mode="stretch_width")])
        c.autorun = autorun
        if autorun:
            c.run()

    def _pull(self) -> None:
        """The controls and the ``param`` state from the controller."""
        self._form.refresh()
        c = self._controller
        self._mirror(model=c.spec.name, values=dict(c.options["params"]))
        self._refresh_code()

