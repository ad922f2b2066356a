"""The network explorer for JupyterLab: ipywidgets controls, the plots through jupyter_bokeh."""

from __future__ import annotations

import html
from typing import Any

import brainunit as u
import ipywidgets as w
from bokeh.layouts import column, row
from jupyter_bokeh.widgets import BokehModel

from .._frontend import NetworkExplorerBase
from .._network import COUPLINGS, network_models
from .._network_controller import NetworkController
from ._explorers import LABEL, ROW, Explorer, param_slider, set_slider

__all__ = ["NetworkExplorer"]


class NetworkExplorer(NetworkExplorerBase, Explorer):
    """A node model on a connectome: region time series, structural and functional connectivity,
    the order parameter R(t) and a coupling sweep (a tap on a point loads its value). Run sweep is
    disabled while the coupling sweep runs and Cancel while it does not (the run a parameter change
    starts is not Cancel's to stop: a newer one supersedes it).

    Parameters
    ----------
    node : str, default "HopfStep"
        Catalogue node model (any but the Kuramoto network).
    **options
        As for :class:`brainmass_widgets.NetworkController`: ``connectome``, ``coupled_var``,
        ``coupling``, ``speed``, ``noise``, ``params``, ``duration``, ``transient``, ``seed``,
        ``sweep``.

    Examples
    --------
    >>> from brainmass_widgets.ipywidgets import NetworkExplorer
    >>> NetworkExplorer("HopfStep", params={"k": 1.0})  # doctest: +SKIP
    """

    def __init__(self, node: str = "HopfStep", **options: Any):
        autorun = options.pop("autorun", True)
        self._controller = NetworkController(node, autorun=False, **options)
        self._common()
        c = self._controller

        def text(cls: type, label: str, tooltip: str = "") -> w.Widget:
            return cls(description=label, tooltip=tooltip, style=LABEL, layout=ROW)

        self._node = w.Dropdown(options=[s.name for s in network_models()], description="node model",
                                style=LABEL, layout=ROW)
        self._coupled_var = text(w.Dropdown, "coupled variable", "The node state that couples the regions")
        self._coupling = text(w.Dropdown, "coupling")
        self._coupling.options = list(COUPLINGS)
        self._sliders: dict[str, w.FloatSlider] = {}
        self._param_box = w.VBox()
        self._speed = text(w.FloatText, "speed [m/s]", "Conduction speed; 0: no delays")
        self._noise = w.Checkbox(description="noise (Ornstein-Uhlenbeck)", indent=False)
        self._seed = text(w.IntText, "seed")
        self._duration = text(w.FloatText, "duration [ms]")
        self._upload = w.FileUpload(accept=".npz,.npy,.csv", multiple=False, description="Connectome file",
                                    tooltip=".npz (weights, distances, labels), .npy or .csv weights")
        self._example = w.Button(description="Bundled example", icon="undo",
                                 tooltip="Go back to brainmass's 8-region example connectome")
        self._connectome = w.HTML()
        self._sweep_name = text(w.Dropdown, "sweep parameter")
        self._sweep_low = text(w.FloatText, "from")
        self._sweep_high = text(w.FloatText, "to")
        self._sweep_points = text(w.IntText, "points")
        self._run_sweep = w.Button(description="Run sweep", button_style="primary", icon="play")
        self._cancel = w.Button(description="Cancel", icon="stop")

        self._node.observe(self._handler(lambda v: self.configure(node=v)), "value")
        self._coupled_var.observe(self._handler(lambda v: c.configure(coupled_var=v)), "value")
        self._coupling.observe(self._handler(lambda v: c.configure(coupling=v)), "value")
        self._speed.observe(self._handler(lambda v: c.configure(speed=self._speed_in(v))), "value")
        self._noise.observe(self._handler(lambda v: self.configure(noise=v)), "value")
        self._seed.observe(self._handler(lambda v: c.configure(seed=v)), "value")
        self._duration.observe(self._handler(lambda v: c.configure(duration=v)), "value")
        for widget in (self._sweep_name, self._sweep_low, self._sweep_high, self._sweep_points):
            widget.observe(self._handler(lambda _v: c.configure(sweep=self._sweep_option(
                self._sweep_name.value, self._sweep_low.value, self._sweep_high.value,
                self._sweep_points.value))), "value")
        self._upload.observe(self._on_upload, "value")
        self._example.on_click(lambda _b: self._guard(self.reset_connectome, self._sync))
        self._run_sweep.on_click(lambda _b: self._guard(self.sweep))
        self._cancel.on_click(lambda _b: self.cancel_sweep())
        self._watch_sweep()

        figs = c.figures
        self._plot = BokehModel(column(figs["regions"], row(figs["connectivity"], figs["fc"]), figs["order"],
                                       figs["coupling_sweep"], sizing_mode="stretch_width"))
        self._watch_views()
        network_box = w.Accordion(
            children=[w.VBox([self._speed, self._noise, self._seed, self._duration,
                              w.HBox([self._upload, self._example]), self._connectome])],
            titles=("Delays, noise, run and connectome",))
        sweep_box = w.VBox([w.HTML("<b>coupling sweep</b>"), self._sweep_name, self._sweep_low,
                            self._sweep_high, self._sweep_points, w.HBox([self._run_sweep, self._cancel])])
        super().__init__(self._page(self._node, self._coupled_var, self._coupling, self._param_box,
                                    network_box, sweep_box))
        self._sync()
        c.on_state(self._sync)
        c.autorun = autorun
        if autorun:
            c.run()

    # ------------------------------------------------------------------ widgets -> controller

    def _on_upload(self, change: dict) -> None:
        self._take_upload(self._upload, change, self.load_connectome)

    # ------------------------------------------------------------------ controller -> widgets

    def _show_sweep_buttons(self, sweeping: bool) -> None:
        """Run sweep while no coupling sweep runs, Cancel while one does."""
        self._run_sweep.disabled = sweeping
        self._cancel.disabled = not sweeping

    def _sync(self) -> None:
        c = self._controller
        opts = c.options
        net = c.network
        self._syncing = True
        try:
            self._node.value = net.spec.name
            self._coupled_var.options = list(net.spec.states)
            self._coupled_var.value = net.coupled_var
            self._coupling.value = net.coupling
            self._speed.value = self._speed_out(net.speed)
            self._speed.disabled = net.connectome.distances is None
            self._noise.value = net.noise
            self._seed.value = int(opts["seed"])
            self._duration.value = float(opts["duration"].to_decimal(u.ms))
            params = c.params
            if set(self._sliders) != set(params) or not self._param_box.children:
                specs = c.simulator.adapter.params
                self._sliders = {n: param_slider(specs[n], v) for n, v in params.items()}
                for n, s in self._sliders.items():
                    s.add_class(f"bmw-param-{n}")
                    s.observe(self._handler(lambda v, n=n: c.set(**{n: v})), "value")
                self._param_box.children = tuple(self._sliders.values())
            else:
                for n, v in params.items():
                    set_slider(self._sliders[n], v)
            name, low, high, points = opts["sweep"]
            self._sweep_name.options = list(params)
            self._sweep_name.value = name
            self._sweep_low.value, self._sweep_high.value, self._sweep_points.value = low, high, points
            line = html.escape(self._connectome_text())
            self._connectome.value = f'<span class="bmw-connectome">{line}</span>'
        finally:
            self._syncing = False

    # ------------------------------------------------------------------ public

    @property
    def sliders(self) -> dict[str, w.FloatSlider]:
        """The parameter sliders by parameter name."""
        return dict(self._sliders)
