"""The served app: Model, Sweep, Phase plane, Network, Fit and Bifurcation tabs, the backend in
the header, state in the URL.

Served by ``brainmass-widgets serve`` at ``/``, or by ``panel serve`` on this file (hence the
absolute imports: panel runs it as a script).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
import panel as pn
from bokeh.server.views.auth_request_handler import AuthRequestHandler
from tornado.web import authenticated

from brainmass_widgets._controller import Session
from brainmass_widgets._fit_controller import fittable_models
from brainmass_widgets._limits import compute_pool, limits
from brainmass_widgets._network import network_models
from brainmass_widgets._pacing import build_pacer
from brainmass_widgets._phase import planar_models
from brainmass_widgets._serving import session_registry, visitor_folder
from brainmass_widgets._url import UrlFollower
from brainmass_widgets.panel._bifurcation import BifurcationExplorer
from brainmass_widgets.panel._explorers import ModelExplorer, SweepExplorer
from brainmass_widgets.panel._fit import FitExplorer
from brainmass_widgets.panel._network import NetworkExplorer
from brainmass_widgets.panel._phase import PhasePlaneExplorer

__all__ = ["create_app", "backend_label"]

TITLE = "brainmass-widgets"
#: Steps x points x regions of one compiled sweep block in the app: about 10 ms of HopfStep on one
#: CPU core, so a slider's run waits for little more than that behind a sweep (blocks keep at
#: least 16 points), while a sweep of short runs goes in blocks large enough to run near the
#: engine's own speed.
SWEEP_BLOCK_WORK = 2**20


def backend_label() -> str:
    """Where the app computes, in words: ``"computing on the CPU"``, ``"computing on 2 GPUs (NVIDIA
    H200)"``: the JAX platform, the device count, and the device kind where it says more."""
    devices = jax.devices()
    platform = jax.default_backend()
    name = platform.upper()
    kind = str(getattr(devices[0], "device_kind", "") or "")
    detail = f" ({kind})" if kind and kind.lower() != platform else ""
    count = "the" if len(devices) == 1 else str(len(devices))
    return f"computing on {count} {name}{'s' if len(devices) > 1 else ''}{detail}"


def _query() -> dict[str, str]:
    """The page's query values as strings (never evaluated)."""
    args = pn.state.session_args or {}
    out = {}
    for key, values in args.items():
        if values:
            raw = values[-1]
            out[key] = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return out


def create_app(model: str = "HopfStep", client: Any = None, sweep_dir: Any = None,
               sweep_keep: int | None = 20, sweep_quota_mb: float | None = 256) -> pn.Column:
    """Build one session's app.

    Parameters
    ----------
    model : str
        The model shown when the URL names none.
    client : dask.distributed.Client, optional
        A Dask cluster the Sweep tab offers to run sweeps on.
    sweep_dir : str or path-like, optional
        A folder where every sweep of the Sweep tab is saved as it fills (a closed tab loses
        nothing), in a subfolder of its own for each logged-in user, else for each browser (its
        visitor cookie); the tab lists that visitor's saved sweeps only, to open again.
    sweep_keep, sweep_quota_mb : int or float or None
        Files and MiB each visitor's folder keeps; the oldest go first.

    Returns
    -------
    panel.Column
        A header with the JAX backend above tabs "Model", "Sweep", "Phase plane", "Network", "Fit" and
        "Bifurcation"; the Model tab's state follows the URL query and the URL follows it back, so a
        link reproduces the view. Tapping a sweep point loads it in the Model tab. The other tabs
        are built on their first visit, with the Model tab's model (and,
        for the phase plane and the network, its parameter values) where that model fits. The Fit
        tab's "Use these parameters" sends a single-node fit to the Model tab and a network fit to
        the Network tab (once that tab is open). A tap on the bifurcation diagram sends its
        parameter values to the Model and Phase plane tabs when they show the same model.
    """
    pn.extension()
    query = _query()
    context = pn.state.curdoc.session_context if pn.state.curdoc is not None else None
    address = (getattr(context.request, "remote_ip", None) or "") if context is not None else None
    session = Session(address)
    if context is not None:
        registry = session_registry()
        registry.add(context.id, address)
        pn.state.on_session_destroyed(lambda ctx: registry.discard(ctx.id))
    autosave = None if sweep_dir is None else visitor_folder(sweep_dir, pn.state.user, pn.state.cookies)
    explorer = ModelExplorer(model, autorun=False, session=session)
    try:
        if query:
            explorer.apply_query(query)
        location = pn.state.location
    except BaseException:
        explorer.controller.close()
        if context is not None:
            registry.discard(context.id)
        raise

    url = None if location is None else UrlFollower(
        location, explorer.query_string, lambda: explorer.controller.status.busy,
        pn.state.curdoc.add_timeout_callback)

    def follow_url() -> None:
        if url is not None:
            url.follow()

    def start() -> None:
        # The first run waits for the page to connect: a plain GET that never opens the
        # websocket costs the page build only, no computation.
        follow_url()
        explorer.controller.autorun = True
        explorer.controller.run()

    # The URL follows each finished computation, after its plots: a slider move's own round trip
    # is not slowed by the history update.
    explorer.controller.on_status(lambda status: status.kind in ("done", "diverged") and follow_url())
    pn.state.onload(start)
    # A plain header row rather than a Panel template: every template carries Panel HTML panes,
    # which make Panel ship the 1.8 MB MathJax bundle with the page (nothing here needs math).
    header = pn.Row(
        pn.widgets.StaticText(value=f"<b>{TITLE}</b>", styles={"font-size": "1.4em"}),
        pn.widgets.StaticText(value="explore brainmass neural-mass models by hand",
                              css_classes=["bmw-tagline"], styles={"margin-top": "0.55em"}),
        pn.widgets.StaticText(value=f'<span class="bmw-backend">{backend_label()}</span>',
                              styles={"margin-top": "0.55em"}),
        styles={"background": "#0072b5", "color": "white", "padding": "6px 10px"},
        sizing_mode="stretch_width")
    sweep_tab = pn.Column(sizing_mode="stretch_width")
    phase_tab = pn.Column(sizing_mode="stretch_width")
    network_tab = pn.Column(sizing_mode="stretch_width")
    fit_tab = pn.Column(sizing_mode="stretch_width")
    bifurcation_tab = pn.Column(sizing_mode="stretch_width")
    tabs = pn.Tabs(("Model", explorer), ("Sweep", sweep_tab), ("Phase plane", phase_tab),
                   ("Network", network_tab), ("Fit", fit_tab), ("Bifurcation", bifurcation_tab), dynamic=True,
                   sizing_mode="stretch_width")
    template = pn.Column(header, tabs, sizing_mode="stretch_width")
    template.explorers = {"model": explorer}

    def relink() -> None:
        # "Use these parameters": a single-node fit goes to the Model tab, a network fit to the
        # Network tab once it exists.
        fit = template.explorers.get("fit")
        if fit is not None:
            fit.link(template.explorers.get("network") if fit.controller.options["network"] else explorer)

    # Each tab is built with the model the Model tab shows when the tab is built.
    def planar() -> bool:
        return explorer.controller.spec.name in {s.name for s in planar_models()}

    def build_sweep() -> SweepExplorer:
        return SweepExplorer(explorer.controller.spec.name, explorer=explorer, block_work=SWEEP_BLOCK_WORK,
                             client=client, session=session, autosave=autosave, autosave_keep=sweep_keep,
                             autosave_mb=sweep_quota_mb)

    def build_phase() -> PhasePlaneExplorer:
        return (PhasePlaneExplorer(explorer.controller.spec.name, params=dict(explorer.controller.params),
                                   session=session)
                if planar() else PhasePlaneExplorer(session=session))

    def build_network() -> NetworkExplorer:
        spec = explorer.controller.spec
        network = None
        if spec.name in {s.name for s in network_models()}:
            # the values moved on the Model tab; the rest keep the network's own defaults
            scalars = {k: v for k, v in explorer.controller.params.items() if np.ndim(v) == 0
                       and k in spec.params and not np.isclose(float(v), spec.params[k].default)}
            try:
                network = NetworkExplorer(spec.name, params=scalars, session=session)
            except ValueError:
                network = None
        network = network or NetworkExplorer(session=session)
        template.explorers["network"] = network
        relink()
        return network

    def build_fit() -> FitExplorer:
        name = explorer.controller.spec.name
        fit = FitExplorer(name if name in fittable_models() else "HopfStep", session=session)
        template.explorers["fit"] = fit
        fit.controller.on_state(relink)
        relink()
        return fit

    def build_bifurcation() -> BifurcationExplorer:
        bif = (BifurcationExplorer(explorer.controller.spec.name, params=dict(explorer.controller.params),
                                   session=session)
               if planar() else BifurcationExplorer(session=session))
        bif.on_pick(picked)
        return bif

    builders = {1: ("sweep", sweep_tab, build_sweep), 2: ("phase", phase_tab, build_phase),
                3: ("network", network_tab, build_network), 4: ("fit", fit_tab, build_fit),
                5: ("bifurcation", bifurcation_tab, build_bifurcation)}
    booked: set[str] = set()

    def open_tab(event: Any) -> None:
        # Built on the first visit to its tab: a first page load carries only the Model tab. Served,
        # the build takes its turn among all sessions' builds (see BuildPacer).
        if event.new not in builders:
            return
        key, tab, build = builders[event.new]
        if key in template.explorers or key in booked:
            return
        doc = pn.state.curdoc
        served = doc is not None and doc.session_context is not None
        wait = build_pacer().book() if served else 0.0
        if wait <= 0:
            finish(key, tab, build, served)
            return
        booked.add(key)
        tab.objects = [pn.widgets.StaticText(
            value=f"Building this tab in about {max(1, round(wait))} s: the server builds one page or tab "
                  f"at a time, with pauses that keep open pages responsive.", css_classes=["bmw-booked"])]
        doc.add_timeout_callback(lambda: finish(key, tab, build, served), int(wait * 1000))

    def finish(key: str, tab: pn.Column, build: Callable[[], Any], served: bool) -> None:
        booked.discard(key)
        t0 = time.perf_counter()
        built = build()
        template.explorers[key] = built
        tab.objects = [built]
        if served:
            build_pacer().done(time.perf_counter() - t0)

    def picked(params: dict[str, float]) -> None:
        # A tap on the diagram: its parameter values go to the Model and Phase plane tabs showing
        # the same model.
        name = template.explorers["bifurcation"].controller.spec.name
        for key in ("model", "phase"):
            target = template.explorers.get(key)
            if target is not None and target.controller.spec.name == name:
                target.set(**{k: v for k, v in params.items() if k in target.controller.params})

    tabs.param.watch(open_tab, "active")
    template.tabs = tabs
    return template


def server_status() -> dict[str, Any]:
    """What the server is doing, for operators: open ``sessions``, computations ``running`` and
    ``waiting`` in the compute pool, its ``slots``, and the ``limits`` in force (no user data)."""
    pool = compute_pool()
    return {"sessions": session_registry().count(), "running": pool.running, "waiting": pool.waiting,
            "slots": pool.slots, "limits": dataclasses.asdict(limits())}


class StatusHandler(AuthRequestHandler):
    """``GET /brainmass-status``: :func:`server_status` as JSON (behind the login when the server
    has one)."""

    @authenticated
    def get(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.write(json.dumps(server_status()))


def warm(model: str = "HopfStep") -> None:
    """Compile the first view's programs before the first visitor arrives."""
    from brainmass_widgets._model_controller import ModelController

    c = ModelController(model)
    c.wait(600)
    c.close()


if __name__.startswith("bokeh_app"):
    app: Any = create_app()
    app.servable(title=TITLE)
