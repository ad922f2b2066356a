"""The fitting explorer as a Panel component."""

from __future__ import annotations

import html
from typing import Any

import panel as pn
import param

from .._controls import INITIAL, OBJECTIVE, OPTIMIZER, RUN, TARGET, TRUTH, WEIGHTS, FitForm
from .._fit import BACKENDS, LOOPS, OPTIMIZERS, load_target
from .._fit_controller import TARGETS, FitController, fittable_models
from .._frontend import FitExplorerBase
from ._explorers import Panel, served_doc
from ._form import FormView
from ._upload import UploadBox
from ._widgets import Fold

__all__ = ["FitExplorer"]


class FitExplorer(FitExplorerBase, Panel):
    """A model (or a network of it) fitted live to a target, as a Panel component: the loss, the
    parameter paths, the prediction over the target and, for a network, both FC matrices grow as
    the fit goes. Nothing is computed until Fit is pressed; Stop keeps the best parameters, and
    "Use these parameters" sends them to the linked explorer (:meth:`link`). Fit is disabled while
    a fit runs, Stop while none does, and "Use these parameters" until a fit has ended.

    Parameters
    ----------
    model : str, default "HopfStep"
        A catalogue model with at least one model parameter.
    explorer : ModelExplorer or NetworkExplorer, optional
        Where "Use these parameters" sends the best values (see :meth:`link`).
    **options
        As for :class:`brainmass_widgets.FitController`: ``network``, ``fit``, ``initial``,
        ``params``, ``target``, ``truth``, ``objective``, ``optimizer``, ``lr``, ``n_steps``,
        ``backend``, ``loop``, ``duration``, ``sample_every``, ``region``.
    """

    model = param.Selector(default="HopfStep", objects=fittable_models(),
                           doc="Catalogue model (the node model of a network fit).")
    network = param.Boolean(default=False, doc="Fit a network of the model over the bundled connectome.")
    fit = param.ListSelector(default=[], objects=[], doc="The fitted parameters.")
    target = param.Selector(default="synthetic", objects=list(TARGETS),
                            doc="synthetic (from the true values), example_signal or custom (uploaded).")
    optimizer = param.Selector(default="adam", objects=list(OPTIMIZERS), doc="Gradient transformation.")
    lr = param.Number(default=0.05, doc="Learning rate.")
    n_steps = param.Integer(default=300, doc="Gradient steps (generations for nevergrad, loss evaluations "
                                             "for scipy).")
    backend = param.Selector(default="grad", objects=list(BACKENDS),
                             doc="grad, or gradient-free: nevergrad (DE) or scipy (Nelder-Mead).")
    loop = param.Selector(default="for_loop", objects=list(LOOPS),
                          doc="for_loop, or checkpointed (activations recomputed on the backward pass).")
    duration = param.Number(default=200.0, doc="Length of the run compared with the target [ms].")
    region = param.Integer(default=0, doc="The region drawn in the prediction over the target.")

    _STATE = ("model", "network", "fit", "target", "optimizer", "lr", "n_steps", "backend", "loop",
              "duration", "region")

    def __init__(self, model: str = "HopfStep", *, explorer: Any = None, **options: Any):
        super().__init__()
        self._doc = served_doc()
        self._controller = FitController(model, dispatch=self._session_dispatch(), **options)
        self._setup()
        self._explorer = explorer
        c = self._controller
        self._form = FormView(FitForm(c), self._guard)
        self._truth_title = pn.widgets.StaticText(value=f"<b>{TRUTH}</b>")
        self._file = pn.widgets.FileInput(accept=".npz,.npy,.csv", css_classes=["bmw-fit-upload"],
                                          sizing_mode="stretch_width")
        self._file.param.watch(self._on_upload, "value")
        self._run_button = pn.widgets.Button(label="Fit", color="primary", css_classes=["bmw-fit-run"])
        self._stop_button = pn.widgets.Button(label="Stop", css_classes=["bmw-fit-stop"])
        self._use_button = pn.widgets.Button(label="Use these parameters", css_classes=["bmw-fit-use"])
        self._run_button.on_click(lambda _e: self._guard(self.run))  # clears a stale notice
        self._stop_button.on_click(lambda _e: self.stop())
        self._use_button.on_click(lambda _e: self._guard(self.use_parameters))
        self._watch_fit()
        self._memory = pn.widgets.StaticText(value="", sizing_mode="stretch_width",
                                             css_classes=["bmw-fit-memory"])
        figs = c.figures
        self._fc_panes = [pn.pane.Bokeh(figs["fc_pred"]), pn.pane.Bokeh(figs["fc_target"])]
        self._fc_row = pn.Row(*self._fc_panes)
        self._pull()
        c.on_state(self._pull)
        c.on_status(self._on_fit_status)
        self.param.watch(self._on_param, list(self._STATE))
        f = self._form
        self._layout = self._page(
            [f.box(""), pn.widgets.StaticText(value=f"<b>{INITIAL}</b>"), f.box(INITIAL), f.box(TARGET),
             self._truth_title, f.box(TRUTH),
             pn.widgets.StaticText(value="custom target (.npz with 'signal', .npy or .csv; "
                                         "samples × regions)"),
             UploadBox(self._file, self.notify), f.box(OBJECTIVE), Fold(f.box(WEIGHTS), title=WEIGHTS),
             f.box(OPTIMIZER), Fold(f.box(RUN), title="Run options"),
             pn.Row(self._run_button, self._stop_button), self._use_button, self._memory],
            [pn.pane.Bokeh(figs["loss"], sizing_mode="stretch_width"),
             pn.pane.Bokeh(figs["paths"], sizing_mode="stretch_width"),
             pn.pane.Bokeh(figs["fit"], sizing_mode="stretch_width"),
             self._fc_row])

    def _pull(self) -> None:
        """The controls, the ``param`` state and the plots shown from the controller."""
        self._form.refresh()
        c = self._controller
        opts = c.options
        self.param.fit.objects = [value for _, value in self._form.controls["fit"].choices]
        self._mirror(**{**self._form.form.values(), "fit": list(opts["fit"])})
        self._truth_title.visible = opts["target"] == "synthetic"
        two = c.fitter.regions > 1
        for pane in self._fc_panes:
            pane.object.visible = two
            pane.visible = two
        self._fc_row.visible = two
        self._show_memory()
        self._refresh_code()

    def _show_memory(self) -> None:
        self._memory.value = html.escape(self._controller.memory_line)

    def _on_fit_status(self, status: Any) -> None:
        self._show_memory()

    def _show_buttons(self, fitting: bool) -> None:
        """Fit while no fit runs, Stop while one does, "Use these parameters" once one has ended."""
        self._run_button.disabled = fitting
        self._stop_button.disabled = not fitting
        self._use_button.disabled = fitting or self._controller.result is None

    def _on_upload(self, event: param.parameterized.Event) -> None:
        self._take_upload(self._file, event, "target", lambda data, name: load_target(data, name=name),
                          self.set_target)

    @property
    def widgets(self) -> dict[str, pn.widgets.Widget]:
        """The setting controls by name."""
        return {name: w for name, w in self._form.widgets.items()
                if self._form.controls[name].group not in (INITIAL, TRUTH, WEIGHTS)}

    @property
    def initial_sliders(self) -> dict[str, pn.widgets.FloatSlider]:
        """The starting-value sliders by fitted parameter."""
        return {n.removeprefix("initial_"): s for n, s in self._form.group(INITIAL).items()}

    @property
    def truth_sliders(self) -> dict[str, pn.widgets.FloatSlider]:
        """The true-value sliders (synthetic target) by fitted parameter."""
        return {n.removeprefix("truth_"): s for n, s in self._form.group(TRUTH).items()}
