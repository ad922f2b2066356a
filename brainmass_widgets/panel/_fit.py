"""The fitting explorer as a Panel component."""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from typing import Any

import brainunit as u
import panel as pn
import param

from .._fit import BACKENDS, LOOPS, OBJECTIVES, OPTIMIZERS, load_target
from .._fit_controller import TARGETS, FitController, fittable_models
from .._frontend import FitExplorerBase, slider_tooltip
from .._network import network_models
from ._explorers import Panel, served_doc
from ._upload import UploadBox
from ._widgets import Fold, Slider

__all__ = ["FitExplorer"]


def _objective_label(objective: str | Mapping[str, float]) -> str:
    """How the objective Select shows the current objective (a weighted combination as one entry)."""
    if isinstance(objective, str):
        return objective
    weights = dict(objective)
    if len(weights) == 1 and next(iter(weights.values())) == 1.0:
        return next(iter(weights))
    return "weighted: " + " + ".join(f"{w:g} {name}" for name, w in weights.items())


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
        self._initial: dict[str, Slider] = {}
        self._truth: dict[str, Slider] = {}
        self._slider_key: tuple = ()
        self._initial_box = pn.Column(sizing_mode="stretch_width")
        self._truth_box = pn.Column(sizing_mode="stretch_width")
        self._truth_title = pn.widgets.StaticText(value="<b>true values</b> (the synthetic target's)")
        self._widgets = {
            "model": pn.widgets.Select(label="model", options=self.param.model.objects),
            "network": pn.widgets.Checkbox(label="network (bundled connectome, adds k)"),
            "fit": pn.widgets.CheckBoxGroup(inline=True),
            "target": pn.widgets.Select(label="target", options=list(TARGETS)),
            "objective": pn.widgets.Select(label="objective", options=list(OBJECTIVES)),
            "optimizer": pn.widgets.Select(label="optimizer", options=list(OPTIMIZERS)),
            "lr": pn.widgets.FloatInput(label="learning rate", width=150),
            "n_steps": pn.widgets.IntInput(label="steps", width=150),
            "backend": pn.widgets.Select(label="backend", options=list(BACKENDS), width=150),
            "loop": pn.widgets.Select(label="loop", options=list(LOOPS), width=150),
            "duration": pn.widgets.FloatInput(label="duration [ms]", width=150),
            "region": pn.widgets.IntInput(label="region drawn", width=150),
        }
        for name, widget in self._widgets.items():
            widget.css_classes = [f"bmw-fit-{name.replace('_', '-')}"]
            widget.param.watch(self._on_widget, "value")
        self._weights = {
            name: pn.widgets.FloatInput(label=f"weight of {name}", start=0.0, step=0.1, width=150,
                                        css_classes=[f"bmw-fit-weight-{name.replace('_', '-')}"])
            for name in OBJECTIVES}
        for name, box in self._weights.items():
            box.param.watch(lambda event, name=name: self._on_weight(name, event), "value")
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
        w = self._widgets
        self._layout = self._page(
            [w["model"], w["network"], pn.widgets.StaticText(value="<b>fitted parameters</b>"), w["fit"],
             pn.widgets.StaticText(value="<b>starting values</b>"), self._initial_box,
             w["target"], self._truth_title, self._truth_box,
             pn.widgets.StaticText(value="custom target (.npz with 'signal', .npy or .csv; "
                                         "samples × regions)"),
             UploadBox(self._file, self.notify), w["objective"],
             Fold(*(pn.Row(*pair) for pair in zip(*[iter(self._weights.values())] * 2, strict=True)),
                  title="Objective weights (the loss is their weighted sum)"),
             w["optimizer"], pn.Row(w["lr"], w["n_steps"]),
             pn.Row(w["backend"], w["loop"]),
             Fold(pn.Row(w["duration"], w["region"]), title="Run options"),
             pn.Row(self._run_button, self._stop_button), self._use_button, self._memory],
            [pn.pane.Bokeh(figs["loss"], sizing_mode="stretch_width"),
             pn.pane.Bokeh(figs["paths"], sizing_mode="stretch_width"),
             pn.pane.Bokeh(figs["fit"], sizing_mode="stretch_width"),
             self._fc_row])

    # ------------------------------------------------------------------ controller -> widgets, state

    def _pull(self) -> None:
        c = self._controller
        opts = c.options
        fitter = c.fitter
        self._syncing = True
        try:
            specs = fitter.sim.adapter.params
            choices = [n for n, p in specs.items() if p.role == "param"]
            if opts["network"] and "k" not in choices:
                choices.append("k")
            self.param.fit.objects = choices
            self.param.update(model=opts["model"], network=bool(opts["network"]), fit=list(opts["fit"]),
                              target=opts["target"], optimizer=opts["optimizer"], lr=float(opts["lr"]),
                              n_steps=int(opts["n_steps"]), backend=opts["backend"], loop=opts["loop"],
                              duration=float(opts["duration"].to_decimal(u.ms)), region=int(opts["region"]))
            w = self._widgets
            w["fit"].options = choices
            objective = _objective_label(opts["objective"])
            w["objective"].options = list(OBJECTIVES) + ([] if objective in OBJECTIVES else [objective])
            for key in self._STATE:
                w[key].value = getattr(self, key)
            w["objective"].value = objective
            for name, weight in self.objective_weights().items():
                self._weights[name].value = weight
            w["network"].disabled = opts["model"] not in {s.name for s in network_models()}
            w["region"].visible = fitter.regions > 1
            w["loop"].disabled = opts["backend"] != "grad"
            w["lr"].disabled = opts["backend"] != "grad"
            key = tuple(fitter.bounds.items())
            if key != self._slider_key:
                self._slider_key = key
                self._initial = {n: self._slider("initial", n, specs[n], lo, hi)
                                 for n, (lo, hi) in fitter.bounds.items()}
                self._truth = {n: self._slider("truth", n, specs[n], lo, hi)
                               for n, (lo, hi) in fitter.bounds.items()}
                self._initial_box.objects = [s.row for s in self._initial.values()]
                self._truth_box.objects = [s.row for s in self._truth.values()]
            for sliders, values in ((self._initial, opts["initial"]), (self._truth, opts["truth"])):
                for n, v in values.items():
                    sliders[n].value = float(v)
            synthetic = opts["target"] == "synthetic"
            self._truth_title.visible = self._truth_box.visible = synthetic
            two = fitter.regions > 1
            for pane in self._fc_panes:
                pane.object.visible = two
                pane.visible = two
            self._fc_row.visible = two
        finally:
            self._syncing = False
        self._show_memory()
        self._refresh_code()

    def _slider(self, kind: str, name: str, spec: Any, low: float, high: float) -> Slider:
        """A slider over a fitted parameter's bounds setting its ``kind`` value (initial or truth)."""
        s = Slider(label=spec.label, start=low, end=high, step=min(spec.step, (high - low) / 100),
                    doc=slider_tooltip(spec, low, high), css_classes=[f"bmw-fit-{kind}-{name}"],
                    sizing_mode="stretch_width")

        def handler(event: param.parameterized.Event) -> None:
            if not self._syncing:
                c = self._controller
                self._guard(lambda: c.configure(**{kind: {**c.options[kind], name: event.new}}), self._pull)

        s.param.watch(handler, "value")
        return s

    def _show_memory(self) -> None:
        self._memory.value = html.escape(self._controller.memory_line)

    def _on_fit_status(self, status: Any) -> None:
        self._show_memory()

    def _show_buttons(self, fitting: bool) -> None:
        """Fit while no fit runs, Stop while one does, "Use these parameters" once one has ended."""
        self._run_button.disabled = fitting
        self._stop_button.disabled = not fitting
        self._use_button.disabled = fitting or self._controller.result is None

    # ------------------------------------------------------------------ widgets, state -> controller

    def _on_weight(self, name: str, event: param.parameterized.Event) -> None:
        if not self._syncing:
            self._guard(lambda: self.set_weight(name, event.new), self._pull)

    def _on_widget(self, event: param.parameterized.Event) -> None:
        if self._syncing:
            return
        name = next(k for k, v in self._widgets.items() if v is event.obj)
        action: Callable[[], None]
        if name == "fit":
            action = lambda: self.configure(fit=tuple(event.new))  # noqa: E731
        elif name == "objective" and event.new not in OBJECTIVES:
            return  # the weighted combination already in use
        else:
            action = lambda: self.configure(**{name: event.new})  # noqa: E731
        self._guard(action, self._pull)

    def _on_param(self, *events: param.parameterized.Event) -> None:
        if self._syncing:
            return
        new = {e.name: e.new for e in events}
        if "fit" in new:
            new["fit"] = tuple(new["fit"])
        self._guard(lambda: self.configure(**new), self._pull)

    def _on_upload(self, event: param.parameterized.Event) -> None:
        self._take_upload(self._file, event, "target", lambda data, name: load_target(data, name=name),
                          self.set_target)

    # ------------------------------------------------------------------ public

    @property
    def widgets(self) -> dict[str, pn.widgets.Widget]:
        """The setting controls by name."""
        return dict(self._widgets)

    @property
    def initial_sliders(self) -> dict[str, pn.widgets.FloatSlider]:
        """The starting-value sliders by fitted parameter."""
        return dict(self._initial)

    @property
    def truth_sliders(self) -> dict[str, pn.widgets.FloatSlider]:
        """The true-value sliders (synthetic target) by fitted parameter."""
        return dict(self._truth)
