"""The fitting explorer for JupyterLab: ipywidgets controls, the fit's plots through jupyter_bokeh."""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as w
from bokeh.layouts import column, row

from .._controller import Status
from .._controls import INITIAL, OBJECTIVE, OPTIMIZER, RUN, TARGET, TRUTH, WEIGHTS, FitForm
from .._fit_controller import FitController
from .._frontend import FitExplorerBase
from ._explorers import Explorer
from ._form import FormView

__all__ = ["FitExplorer"]


class FitExplorer(FitExplorerBase, Explorer):
    """A model (or a network of it) fitted live to a target: the loss, the parameter paths and the
    prediction over the target grow as the fit goes; "Use these parameters" sends the best values to
    a linked explorer.

    Parameters
    ----------
    model : str, default "HopfStep"
        Catalogue model (the node model when ``network``).
    explorer : ModelExplorer or NetworkExplorer, optional
        Where "Use these parameters" sends the best values (see :meth:`link`).
    **options
        As for :class:`brainmass_widgets.FitController`: ``network``, ``fit``, ``initial``,
        ``params``, ``target``, ``truth``, ``objective``, ``optimizer``, ``lr``, ``n_steps``,
        ``backend``, ``loop``, ``duration``, ``sample_every``, ``region``.

    Notes
    -----
    Nothing is computed until Fit is pressed (or :meth:`run` called). Fit is disabled while a fit
    runs, Stop while none does, and "Use these parameters" until a fit has ended.

    Examples
    --------
    >>> from brainmass_widgets.ipywidgets import FitExplorer
    >>> FitExplorer("HopfStep", fit=("a", "w"), n_steps=200)  # doctest: +SKIP
    """

    def __init__(self, model: str = "HopfStep", *, explorer: Any = None, **options: Any):
        self._controller = FitController(model, **options)
        self._common()
        self._explorer = explorer
        c = self._controller
        self._form = FormView(FitForm(c), self._guard)
        self._truth_title = w.HTML(TRUTH)
        self._upload = w.FileUpload(accept=".npz,.npy,.csv", multiple=False, description="Target file",
                                    tooltip="(samples, regions) data: .npz, .npy or .csv")
        self._run = w.Button(description="Fit", button_style="primary", icon="play")
        self._stop = w.Button(description="Stop", icon="stop")
        self._use = w.Button(description="Use these parameters", icon="share",
                             tooltip="Send the best parameters to the linked explorer")
        self._memory = w.HTML()
        self._upload.observe(self._on_upload, "value")
        self._run.on_click(lambda _b: self.run())
        self._stop.on_click(lambda _b: self.stop())
        self._use.on_click(lambda _b: self._guard(self.use_parameters))
        self._watch_fit()
        figs = c.figures
        self._fc_row = row(figs["fc_pred"], figs["fc_target"], sizing_mode="stretch_width")
        self._plot = self._bokeh(column(figs["loss"], figs["paths"], figs["fit"], self._fc_row,
                                       sizing_mode="stretch_width"))
        f = self._form
        settings = w.Accordion(children=[w.VBox([f.box(OBJECTIVE), w.HTML(WEIGHTS), f.box(WEIGHTS),
                                                 f.box(OPTIMIZER), self._memory])],
                               titles=("Objective and optimizer",))
        run = w.Accordion(children=[f.box(RUN)], titles=("Run options",))
        super().__init__(self._page(f.box(""), w.HTML(INITIAL), f.box(INITIAL), f.box(TARGET),
                                    self._truth_title, f.box(TRUTH), self._upload, settings, run,
                                    w.HBox([self._run, self._stop]), self._use))
        self._on_state()
        c.on_state(self._on_state)

    def _on_upload(self, change: dict) -> None:
        self._take_upload(self._upload, change, self.set_target)

    def _on_status(self, status: Status) -> None:
        super()._on_status(status)
        self._memory.value = self._memory_html()

    def _show_buttons(self, fitting: bool) -> None:
        """Fit while no fit runs, Stop while one does, "Use these parameters" once one has ended."""
        self._run.disabled = fitting
        self._stop.disabled = not fitting
        self._use.disabled = fitting or self._controller.result is None

    def _memory_html(self) -> str:
        return f'<span class="bmw-memory">{html.escape(self._controller.memory_line)}</span>'

    def _on_state(self) -> None:
        """Bring every control in line with the controller's settings."""
        self._form.refresh()
        synthetic = self._controller.options["target"] == "synthetic"
        self._truth_title.layout.display = None if synthetic else "none"
        regions = self._controller.fitter.regions
        self._controller.post(lambda: setattr(self._fc_row, "visible", regions > 1))
        self._memory.value = self._memory_html()

    @property
    def fit_checkboxes(self) -> dict[str, w.Checkbox]:
        """The "fit this parameter" checkboxes by parameter name."""
        return dict(self._form.widgets["fit"].boxes)

    @property
    def initial_sliders(self) -> dict[str, w.FloatSlider]:
        """The starting-value sliders of the fitted parameters by name."""
        return {n.removeprefix("initial_"): s for n, s in self._form.group(INITIAL).items()}

    @property
    def truth_sliders(self) -> dict[str, w.FloatSlider]:
        """The sliders of the true values a synthetic target is made from, by name."""
        return {n.removeprefix("truth_"): s for n, s in self._form.group(TRUTH).items()}
