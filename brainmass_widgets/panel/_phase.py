"""The phase-plane explorer as a Panel component."""

from __future__ import annotations

from typing import Any

import panel as pn
import param

from .._controls import HELD, PARAMETERS, RANGES, PhaseForm
from .._frontend import PhasePlaneExplorerBase
from .._phase import planar_models
from .._phase_controller import PhasePlaneController
from ._explorers import Panel, served_doc
from ._form import FormView
from ._widgets import Fold

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
        self._form = FormView(PhaseForm(c), self._guard)
        self._held_title = pn.widgets.StaticText(value=f"<b>{HELD}</b>", visible=False)
        self._clear = pn.widgets.Button(label="Clear trajectories", css_classes=["bmw-clear"])
        self._clear.on_click(lambda _e: self.clear())
        self._pull()
        c.on_state(self._pull)
        self.param.watch(self._on_param, list(self._STATE))
        figs = c.figures
        self._layout = self._page(
            [self._form.box(""), self._form.box(PARAMETERS), self._held_title, self._form.box(HELD),
             Fold(self._form.box(RANGES), title=RANGES), self._clear],
            [pn.pane.Bokeh(figs["plane"], sizing_mode="stretch_width"),
             pn.pane.Bokeh(figs["timeseries"], sizing_mode="stretch_width")])
        c.autorun = autorun
        if autorun:
            c.run()

    def _pull(self) -> None:
        """The controls and the ``param`` state from the controller."""
        self._form.refresh()
        c = self._controller
        opts = c.options
        self._held_title.visible = bool(opts["held"])
        self.param.noise.objects = list(c.spec.noise_args)
        self._mirror(**{**self._form.form.values(), "values": dict(opts["params"]),
                        "held": dict(opts["held"]), "x_range": opts["x_range"], "y_range": opts["y_range"],
                        "noise": list(opts["noise"])})
        self._refresh_code()

    @property
    def held_sliders(self) -> dict[str, pn.widgets.FloatSlider]:
        """The sliders of the held state variables by name."""
        return {name.removeprefix("held_"): widget for name, widget in self._form.group(HELD).items()}
