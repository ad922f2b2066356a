"""The network explorer as a Panel component."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import brainunit as u
import numpy as np
import panel as pn
import param

from .._frontend import NetworkExplorerBase, slider_tooltip
from .._network import COUPLINGS, network_models
from .._network_controller import NetworkController
from ._explorers import Panel, served_doc
from ._upload import UploadBox
from ._widgets import Slider

__all__ = ["NetworkExplorer"]


class NetworkExplorer(NetworkExplorerBase, Panel):
    """A node model on a connectome, as a Panel component: region time series, structural and
    functional connectivity, the order parameter R(t) and a coupling sweep (a tap on a point
    loads its value). Run sweep is disabled while the coupling sweep runs and Cancel while it does
    not (the run a parameter change starts is not Cancel's to stop: a newer one supersedes it).

    Parameters
    ----------
    node : str, default "HopfStep"
        Catalogue node model (any but the Kuramoto network).
    **options
        As for :class:`brainmass_widgets.NetworkController`: ``connectome``, ``coupled_var``,
        ``coupling``, ``speed``, ``noise``, ``params``, ``duration``, ``transient``, ``seed``,
        ``sweep``.
    """

    node = param.Selector(default="HopfStep", objects=[s.name for s in network_models()],
                          doc="Catalogue node model; switching resets its parameters and coupled variable.")
    coupled_var = param.String(default="x", doc="The node state that couples the regions.")
    coupling = param.Selector(default="diffusive", objects=list(COUPLINGS),
                              doc="Coupling kind: diffusive k Σ w_ij (x_j − x_i), additive k Σ w_ij x_j, "
                                  "or a sigmoidal or tanh function of the source.")
    values = param.Dict(default={}, doc="Parameter values: the node's, the global coupling k and, with "
                                        "noise, noise_sigma and noise_tau, in catalogue units.")
    speed = param.Number(default=5.0, allow_None=True,
                         doc="Conduction speed [m/s]: delays are distance / speed; None: no delays.")
    noise = param.Boolean(default=True, doc="Ornstein-Uhlenbeck noise on every node state that takes it.")
    seed = param.Integer(default=0, doc="Seed of the random initial states and noise.")
    duration = param.Number(default=2000.0, doc="Run length [ms].")

    _STATE = ("node", "coupled_var", "coupling", "values", "speed", "noise", "seed", "duration")
    _SWEEP = ("sweep", "from", "to", "points")

    def __init__(self, node: str = "HopfStep", **options: Any):
        super().__init__()
        autorun = options.pop("autorun", True)
        self._doc = served_doc()
        self._controller = NetworkController(node, autorun=False, dispatch=self._session_dispatch(),
                                             **options)
        self._setup()
        c = self._controller
        self._sliders: dict[str, Slider] = {}
        self._slider_box = pn.Column(sizing_mode="stretch_width")
        self._widgets = {
            "node": pn.widgets.Select(label="node model", options=self.param.node.objects),
            "coupled_var": pn.widgets.Select(label="coupled variable"),
            "coupling": pn.widgets.Select(label="coupling", options=list(COUPLINGS)),
            "speed": pn.widgets.FloatInput(label="speed [m/s]", placeholder="empty or 0: no delays"),
            "noise": pn.widgets.Checkbox(label="noise (Ornstein-Uhlenbeck)"),
            "seed": pn.widgets.IntInput(label="seed"),
            "duration": pn.widgets.FloatInput(label="duration [ms]"),
            "sweep": pn.widgets.Select(label="sweep parameter"),
            "from": pn.widgets.FloatInput(label="from"),
            "to": pn.widgets.FloatInput(label="to"),
            "points": pn.widgets.IntInput(label="points"),
        }
        for name in ("speed", "duration", "seed", "from", "to", "points"):
            self._widgets[name].width = 150
        for name, widget in self._widgets.items():
            widget.css_classes = [f"bmw-net-{name.replace('_', '-')}"]
            widget.param.watch(self._on_widget, "value")
        self._file = pn.widgets.FileInput(accept=".npz,.npy,.csv", css_classes=["bmw-net-upload"],
                                          sizing_mode="stretch_width")
        self._file.param.watch(self._on_upload, "value")
        self._example = pn.widgets.Button(label="Bundled example", css_classes=["bmw-net-example"], width=120)
        self._example.on_click(lambda _e: self._guard(self.reset_connectome, self._pull))
        self._connectome = pn.pane.HTML("", css_classes=["bmw-connectome"], sizing_mode="stretch_width")
        self._run_sweep = pn.widgets.Button(label="Run sweep", color="primary",
                                            css_classes=["bmw-net-run-sweep"])
        self._cancel = pn.widgets.Button(label="Cancel", css_classes=["bmw-net-cancel"])
        self._run_sweep.on_click(lambda _e: self._guard(self.sweep))
        self._cancel.on_click(lambda _e: self.cancel_sweep())
        self._watch_sweep()
        self._pull()
        c.on_state(self._pull)
        self.param.watch(self._on_param, list(self._STATE))
        w = self._widgets
        figs = c.figures
        self._layout = self._page(
            [w["node"], w["coupled_var"], w["coupling"], self._slider_box,
             pn.Row(w["speed"], w["duration"]), w["seed"], w["noise"],
             pn.pane.HTML("<b>connectome</b> (.npz with weights, distances, labels; or .npy, .csv weights)"),
             UploadBox(self._file, self.notify), self._example, self._connectome,
             pn.pane.HTML("<b>coupling sweep</b>"), w["sweep"], pn.Row(w["from"], w["to"]),
             w["points"], pn.Row(self._run_sweep, self._cancel)],
            [pn.pane.Bokeh(figs["regions"], sizing_mode="stretch_width"),
             pn.Row(pn.pane.Bokeh(figs["connectivity"]), pn.pane.Bokeh(figs["fc"])),
             pn.pane.Bokeh(figs["order"], sizing_mode="stretch_width"),
             pn.pane.Bokeh(figs["coupling_sweep"], sizing_mode="stretch_width")])
        c.autorun = autorun
        if autorun:
            c.run()

    # ------------------------------------------------------------------ controller -> widgets, state

    def _pull(self) -> None:
        c = self._controller
        opts = c.options
        net = c.network
        params = c.params
        self._syncing = True
        try:
            self.param.update(node=net.spec.name, coupled_var=net.coupled_var, coupling=net.coupling,
                              values=dict(params), speed=net.speed, noise=net.noise, seed=int(opts["seed"]),
                              duration=float(opts["duration"].to_decimal(u.ms)))
            w = self._widgets
            w["coupled_var"].options = list(net.spec.states)
            w["sweep"].options = list(params)
            name, low, high, points = opts["sweep"]
            for key, value in (("node", self.node), ("coupled_var", self.coupled_var),
                               ("coupling", self.coupling), ("speed", self._speed_out(self.speed)),
                               ("noise", self.noise),
                               ("seed", self.seed), ("duration", self.duration), ("sweep", name),
                               ("from", low), ("to", high), ("points", points)):
                w[key].value = value
            w["speed"].disabled = net.connectome.distances is None
            if set(self._sliders) != set(params):
                specs = c.simulator.adapter.params
                self._sliders = {n: self._slider(n, specs[n]) for n in params}
                self._slider_box.objects = [s.row for s in self._sliders.values()]
            for n, v in params.items():
                s, v = self._sliders[n], float(np.mean(v))
                s.start, s.end = min(s.start, v), max(s.end, v)
                s.value = v
            self._connectome.object = html.escape(self._connectome_text())
        finally:
            self._syncing = False
        self._refresh_code()

    def _show_sweep_buttons(self, sweeping: bool) -> None:
        """Run sweep while no coupling sweep runs, Cancel while one does."""
        self._run_sweep.disabled = sweeping
        self._cancel.disabled = not sweeping

    def _slider(self, name: str, spec: Any) -> Slider:
        s = Slider(label=spec.label, start=spec.low, end=spec.high, step=spec.step, doc=slider_tooltip(spec),
                    css_classes=[f"bmw-param-{name}"], sizing_mode="stretch_width")

        def handler(event: param.parameterized.Event) -> None:
            if not self._syncing:
                self._guard(lambda: self._controller.set(**{name: event.new}), self._pull)

        s.param.watch(handler, "value")
        return s

    # ------------------------------------------------------------------ widgets, state -> controller

    def _on_widget(self, event: param.parameterized.Event) -> None:
        if self._syncing:
            return
        w = self._widgets
        name = next(k for k, v in w.items() if v is event.obj)
        action: Callable[[], None]
        if name in self._SWEEP:
            action = lambda: self.configure(sweep=self._sweep_option(  # noqa: E731
                w["sweep"].value, w["from"].value, w["to"].value, w["points"].value))
        elif name == "speed":
            action = lambda: self.configure(speed=self._speed_in(event.new))  # noqa: E731
        else:
            action = lambda: self.configure(**{name: event.new})  # noqa: E731
        self._guard(action, self._pull)

    def _on_param(self, *events: param.parameterized.Event) -> None:
        if self._syncing:
            return
        new = {e.name: e.new for e in events}
        if "values" in new:
            new["params"] = new.pop("values")
        if "speed" in new:
            new["speed"] = self._speed_in(new["speed"])
        self._guard(lambda: self.configure(**new), self._pull)

    def _on_upload(self, event: param.parameterized.Event) -> None:
        self._take_upload(self._file, event, "connectome", self.read_connectome, self.load_connectome)

    @property
    def sliders(self) -> dict[str, pn.widgets.FloatSlider]:
        """The parameter sliders by parameter name."""
        return dict(self._sliders)

    @property
    def widgets(self) -> dict[str, pn.widgets.Widget]:
        """The node, coupling, run and sweep controls by name."""
        return dict(self._widgets)
