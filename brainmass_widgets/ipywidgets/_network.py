"""The network explorer for JupyterLab: ipywidgets controls, the plots through jupyter_bokeh."""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as w
from bokeh.layouts import column, row

from .._controls import NETWORK, PARAMETERS, SWEEP, NetworkForm
from .._frontend import NetworkExplorerBase
from .._network_controller import NetworkController
from ._explorers import Explorer
from ._form import FormView

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
        self._form = FormView(NetworkForm(c), self._guard)
        self._upload = w.FileUpload(accept=".npz,.npy,.csv", multiple=False, description="Connectome file",
                                    tooltip=".npz (weights, distances, labels), .npy or .csv weights")
        self._example = w.Button(description="Bundled example", icon="undo",
                                 tooltip="Go back to brainmass's 8-region example connectome")
        self._connectome = w.HTML()
        self._run_sweep = w.Button(description="Run sweep", button_style="primary", icon="play")
        self._cancel = w.Button(description="Cancel", icon="stop")
        self._upload.observe(self._on_upload, "value")
        self._example.on_click(lambda _b: self._guard(self.reset_connectome, self._on_state))
        self._run_sweep.on_click(lambda _b: self._guard(self.sweep))
        self._cancel.on_click(lambda _b: self.cancel_sweep())
        self._watch_sweep()
        figs = c.figures
        self._plot = self._bokeh(column(figs["regions"], row(figs["connectivity"], figs["fc"]), figs["order"],
                                       figs["coupling_sweep"], sizing_mode="stretch_width"))
        network_box = w.Accordion(
            children=[w.VBox([self._form.box(NETWORK), w.HBox([self._upload, self._example]),
                              self._connectome])],
            titles=(f"{NETWORK} and connectome",))
        sweep_box = w.VBox([w.HTML(f"<b>{SWEEP}</b>"), self._form.box(SWEEP),
                            w.HBox([self._run_sweep, self._cancel])])
        super().__init__(self._page(self._form.box(""), self._form.box(PARAMETERS), network_box, sweep_box))
        self._on_state()
        c.on_state(self._on_state)
        c.autorun = autorun
        if autorun:
            c.run()

    def _on_upload(self, change: dict) -> None:
        self._take_upload(self._upload, change, self.load_connectome)

    def _show_sweep_buttons(self, sweeping: bool) -> None:
        """Run sweep while no coupling sweep runs, Cancel while one does."""
        self._run_sweep.disabled = sweeping
        self._cancel.disabled = not sweeping

    def _on_state(self) -> None:
        self._form.refresh()
        line = html.escape(self._connectome_text())
        self._connectome.value = f'<span class="bmw-connectome">{line}</span>'

