"""The network explorer as a Panel component."""

from __future__ import annotations

import html
from typing import Any

import panel as pn
import param

from .._controls import NETWORK, PARAMETERS, SWEEP, NetworkForm
from .._frontend import NetworkExplorerBase
from .._network import COUPLINGS, network_models
from .._network_controller import NetworkController
from ._explorers import Panel, served_doc
from ._form import FormView
from ._upload import UploadBox

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

    def __init__(self, node: str = "HopfStep", **options: Any):
        super().__init__()
        autorun = options.pop("autorun", True)
        self._doc = served_doc()
        self._controller = NetworkController(node, autorun=False, dispatch=self._session_dispatch(),
                                             **options)
        self._setup()
        c = self._controller
        self._form = FormView(NetworkForm(c), self._guard)
        self._file = pn.widgets.FileInput(accept=".npz,.npy,.csv", css_classes=["bmw-net-upload"],
                                          sizing_mode="stretch_width")
        self._file.param.watch(self._on_upload, "value")
        self._example = pn.widgets.Button(label="Bundled example", css_classes=["bmw-net-example"], width=120)
        self._example.on_click(lambda _e: self._guard(self.reset_connectome, self._pull))
        self._connectome = pn.widgets.StaticText(value="", css_classes=["bmw-connectome"],
                                                 sizing_mode="stretch_width")
        self._run_sweep = pn.widgets.Button(label="Run sweep", color="primary",
                                            css_classes=["bmw-net-run-sweep"])
        self._cancel = pn.widgets.Button(label="Cancel", css_classes=["bmw-net-cancel"])
        self._run_sweep.on_click(lambda _e: self._guard(self.sweep))
        self._cancel.on_click(lambda _e: self.cancel_sweep())
        self._watch_sweep()
        self._pull()
        c.on_state(self._pull)
        self.param.watch(self._on_param, list(self._STATE))
        figs = c.figures
        self._layout = self._page(
            [self._form.box(""), self._form.box(PARAMETERS), self._form.box(NETWORK),
             pn.widgets.StaticText(value="<b>connectome</b> (.npz with weights, distances, labels; or .npy, "
                                         ".csv weights)"),
             UploadBox(self._file, self.notify), self._example, self._connectome,
             pn.widgets.StaticText(value=f"<b>{SWEEP}</b>"), self._form.box(SWEEP),
             pn.Row(self._run_sweep, self._cancel)],
            [pn.pane.Bokeh(figs["regions"], sizing_mode="stretch_width"),
             pn.Row(pn.pane.Bokeh(figs["connectivity"]), pn.pane.Bokeh(figs["fc"])),
             pn.pane.Bokeh(figs["order"], sizing_mode="stretch_width"),
             pn.pane.Bokeh(figs["coupling_sweep"], sizing_mode="stretch_width")])
        c.autorun = autorun
        if autorun:
            c.run()

    def _pull(self) -> None:
        """The controls, the ``param`` state and the connectome line from the controller."""
        self._form.refresh()
        self._mirror(**{**self._form.form.values(), "values": dict(self._controller.params),
                        "speed": self._controller.network.speed})
        self._connectome.value = html.escape(self._connectome_text())
        self._refresh_code()

    def _show_sweep_buttons(self, sweeping: bool) -> None:
        """Run sweep while no coupling sweep runs, Cancel while one does."""
        self._run_sweep.disabled = sweeping
        self._cancel.disabled = not sweeping

    def _apply_param(self, new: dict[str, Any]) -> None:
        if "speed" in new:
            new["speed"] = NetworkForm.speed(new["speed"])
        super()._apply_param(new)

    def _on_upload(self, event: param.parameterized.Event) -> None:
        self._take_upload(self._file, event, "connectome", self.read_connectome, self.load_connectome)

    @property
    def widgets(self) -> dict[str, pn.widgets.Widget]:
        """The node, coupling, run and sweep controls by name."""
        return {name: w for name, w in self._form.widgets.items() if name not in self.sliders}
