"""The fitting explorer for JupyterLab: ipywidgets controls, the fit's plots through jupyter_bokeh."""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as w
from bokeh.layouts import column, row
from jupyter_bokeh.widgets import BokehModel

from .._catalog import model_spec
from .._controller import Status
from .._fit import BACKENDS, LOOPS, OBJECTIVES, OPTIMIZERS
from .._fit_controller import TARGETS, FitController, fittable_models
from .._frontend import FitExplorerBase, slider_tooltip
from ._explorers import LABEL, ROW, Explorer, float_slider, set_slider

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

        def text(cls: type, label: str, tooltip: str = "", **kw: Any) -> w.Widget:
            return cls(description=label, tooltip=tooltip, style=LABEL, layout=ROW, **kw)

        self._model = text(w.Dropdown, "model", options=fittable_models())
        self._network = w.Checkbox(description="network (8-region connectome, fits k too)", indent=False)
        self._fit_checks: dict[str, w.Checkbox] = {}
        self._fit_box = w.HBox(layout=w.Layout(flex_flow="row wrap"))
        self._initial: dict[str, w.FloatSlider] = {}
        self._initial_box = w.VBox()
        self._target = text(w.Dropdown, "target", "What the model is fitted to", options=list(TARGETS))
        self._truth: dict[str, w.FloatSlider] = {}
        self._truth_title = w.HTML("true values (synthetic target)")
        self._truth_box = w.VBox()
        self._upload = w.FileUpload(accept=".npz,.npy,.csv", multiple=False, description="Target file",
                                    tooltip="(samples, regions) data: .npz, .npy or .csv")
        self._objective = text(w.Dropdown, "objective", options=list(OBJECTIVES))
        self._weights = {name: text(w.BoundedFloatText, f"weight of {name}", "0 leaves it out of the loss",
                                    min=0.0, max=1e6, step=0.1) for name in OBJECTIVES}
        self._optimizer = text(w.Dropdown, "optimizer", options=list(OPTIMIZERS))
        self._lr = text(w.FloatText, "learning rate", "Step size of the optimizer (> 0)")
        self._steps = text(w.IntText, "steps",
                           "Gradient steps (generations for nevergrad, loss evaluations for scipy)")
        self._backend = text(w.Dropdown, "backend",
                             "grad: compiled gradient step; gradient-free: nevergrad (DE), "
                             "scipy (Nelder-Mead)",
                             options=list(BACKENDS))
        self._loop = text(w.Dropdown, "loop", "checkpointed recomputes activations: less memory",
                          options=list(LOOPS))
        self._run = w.Button(description="Fit", button_style="primary", icon="play")
        self._stop = w.Button(description="Stop", icon="stop")
        self._use = w.Button(description="Use these parameters", icon="share",
                             tooltip="Send the best parameters to the linked explorer")
        self._memory = w.HTML()

        self._model.observe(self._handler(lambda v: c.configure(model=v)), "value")
        self._network.observe(self._handler(lambda v: c.configure(network=v)), "value")
        self._target.observe(self._handler(lambda v: c.configure(target=v)), "value")
        self._objective.observe(self._handler(lambda v: c.configure(objective=v)), "value")
        for name, box in self._weights.items():
            box.observe(self._handler(lambda v, name=name: self.set_weight(name, v)), "value")
        self._optimizer.observe(self._handler(lambda v: c.configure(optimizer=v)), "value")
        self._lr.observe(self._handler(lambda v: c.configure(lr=v)), "value")
        self._steps.observe(self._handler(lambda v: c.configure(n_steps=v)), "value")
        self._backend.observe(self._handler(lambda v: c.configure(backend=v)), "value")
        self._loop.observe(self._handler(lambda v: c.configure(loop=v)), "value")
        self._upload.observe(self._on_upload, "value")
        self._run.on_click(lambda _b: self.run())
        self._stop.on_click(lambda _b: self.stop())
        self._use.on_click(lambda _b: self._guard(self.use_parameters))
        self._watch_fit()

        figs = c.figures
        self._fc_row = row(figs["fc_pred"], figs["fc_target"], sizing_mode="stretch_width")
        self._plot = BokehModel(column(figs["loss"], figs["paths"], figs["fit"], self._fc_row,
                                       sizing_mode="stretch_width"))
        self._watch_views()
        weights = w.HTML("objective weights (the loss is their weighted sum)")
        settings = w.Accordion(children=[w.VBox([self._objective, weights, *self._weights.values(),
                                                 self._optimizer, self._lr, self._steps,
                                                 self._backend, self._loop, self._memory])],
                               titles=("Objective and optimizer",))
        super().__init__(self._page(self._model, self._network, w.HTML("fitted parameters"), self._fit_box,
                                    w.HTML("starting values"), self._initial_box, self._target,
                                    self._truth_title, self._truth_box, self._upload, settings,
                                    w.HBox([self._run, self._stop]), self._use))
        self._pull()
        c.on_state(self._pull)

    # ------------------------------------------------------------------ widgets -> controller

    def _on_upload(self, change: dict) -> None:
        self._take_upload(self._upload, change, self.set_target)

    def _on_fit_check(self, _value: Any) -> None:
        self._controller.configure(fit=tuple(n for n, box in self._fit_checks.items() if box.value))

    def _on_initial(self, name: str, value: float) -> None:
        self._controller.configure(initial={**self._controller.options["initial"], name: value})

    def _on_truth(self, name: str, value: float) -> None:
        self._controller.configure(truth={**self._controller.options["truth"], name: value})

    def _on_status(self, status: Status) -> None:
        super()._on_status(status)
        self._memory.value = self._memory_html()

    # ------------------------------------------------------------------ controller -> widgets

    def _show_buttons(self, fitting: bool) -> None:
        """Fit while no fit runs, Stop while one does, "Use these parameters" once one has ended."""
        self._run.disabled = fitting
        self._stop.disabled = not fitting
        self._use.disabled = fitting or self._controller.result is None

    def _memory_html(self) -> str:
        return f'<span class="bmw-memory">{html.escape(self._controller.memory_line)}</span>'

    def _sliders_for(self, names: tuple[str, ...], values: dict[str, float],
                     current: dict[str, w.FloatSlider], box: w.VBox, action: Any) -> dict[str, w.FloatSlider]:
        """One slider per fitted parameter over its bounds, rebuilt when the fitted set or the
        bounds change."""
        fitter = self._controller.fitter
        opts = self._controller.options
        key = (opts["model"], opts["network"], names, tuple(fitter.bounds[n] for n in names))
        if getattr(box, "_bmw_key", None) == key and set(current) == set(names):
            for n in names:
                set_slider(current[n], values[n])
            return current
        box._bmw_key = key
        specs = fitter.sim.adapter.params
        sliders = {}
        for n in names:
            lo, hi = fitter.bounds[n]
            s = float_slider(specs[n].label, lo, hi, (hi - lo) / 200, values[n],
                              slider_tooltip(specs[n], lo, hi))
            s.observe(self._handler(lambda v, n=n: action(n, v)), "value")
            sliders[n] = s
        box.children = tuple(sliders.values())
        return sliders

    def _pull(self) -> None:
        """Bring every control in line with the controller's settings."""
        c = self._controller
        opts = c.options
        self._syncing = True
        try:
            self._model.value = opts["model"]
            self._network.value = bool(opts["network"])
            candidates = [n for n, p in model_spec(opts["model"]).params.items() if p.role == "param"]
            if opts["network"]:
                candidates.append("k")
            if list(self._fit_checks) != candidates:
                self._fit_checks = {n: w.Checkbox(description=n, indent=False, layout=w.Layout(width="auto"))
                                    for n in candidates}
                for box in self._fit_checks.values():
                    box.observe(self._handler(self._on_fit_check), "value")
                self._fit_box.children = tuple(self._fit_checks.values())
            for n, box in self._fit_checks.items():
                box.value = n in opts["fit"]
            fit = tuple(opts["fit"])
            self._initial = self._sliders_for(fit, opts["initial"], self._initial, self._initial_box,
                                              self._on_initial)
            self._truth = self._sliders_for(fit, opts["truth"], self._truth, self._truth_box, self._on_truth)
            synthetic = opts["target"] == "synthetic"
            self._truth_title.layout.display = None if synthetic else "none"
            self._truth_box.layout.display = None if synthetic else "none"
            self._target.value = opts["target"]
            objective = opts["objective"]
            self._objective.value = objective if isinstance(objective, str) else None
            for name, weight in self.objective_weights().items():
                self._weights[name].value = weight
            self._optimizer.value = opts["optimizer"]
            self._lr.value = float(opts["lr"])
            self._steps.value = int(opts["n_steps"])
            self._backend.value = opts["backend"]
            self._loop.value = opts["loop"]
            self._loop.disabled = opts["backend"] != "grad"
            self._fc_row.visible = c.fitter.regions > 1
            self._memory.value = self._memory_html()
        finally:
            self._syncing = False

    _sync = _pull

    # ------------------------------------------------------------------ public

    @property
    def fit_checkboxes(self) -> dict[str, w.Checkbox]:
        """The "fit this parameter" checkboxes by parameter name."""
        return dict(self._fit_checks)

    @property
    def initial_sliders(self) -> dict[str, w.FloatSlider]:
        """The starting-value sliders of the fitted parameters by name."""
        return dict(self._initial)

    @property
    def truth_sliders(self) -> dict[str, w.FloatSlider]:
        """The sliders of the true values a synthetic target is made from, by name."""
        return dict(self._truth)
