"""What every explorer front end shares, whatever its widget toolkit."""

from __future__ import annotations

import html
import inspect
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from ._busy import BusyWatch
from ._catalog import ModelSpec
from ._controller import Status
from ._controls import NO_SECOND_LABEL, PARAMETERS, RUN_OPTIONS, shown_regions
from ._export import export_page, page_html
from ._fit import OBJECTIVES
from ._model_controller import ModelController
from ._network import Connectome, load_connectome
from ._network_controller import example_digest
from ._text import plain_text, slider_tooltip

__all__ = ["PAGE_AXES", "PAGE_VALUES", "RUN_OPTIONS", "BifurcationExplorerBase", "ExplorerBase",
           "FitExplorerBase", "NetworkExplorerBase", "PhasePlaneExplorerBase", "SweepExplorerBase",
           "about_html", "page_bytes", "page_grid", "page_name", "plain_text", "save_page", "shown_regions",
           "slider_tooltip", "status_html"]

_STATUS_COLORS = {"error": "#b00020", "diverged": "#b35900", "cancelled": "#b35900", "done": "#1b5e20"}


def status_html(status: Status) -> str:
    """The status line as HTML: the message (or the kind), coloured by kind, with the CSS classes
    ``bmw-status`` and ``bmw-<kind>``."""
    color = _STATUS_COLORS.get(status.kind, "#555555")
    return (f'<span class="bmw-status bmw-{status.kind}" style="color:{color}">'
            f"{html.escape(status.message or status.kind)}</span>")


PAGE_AXES = 2
"""Parameters varied by the default grid of "Save as page"."""
PAGE_VALUES = 5
"""Values of each parameter in the default grid of "Save as page"."""


_SECTION = re.compile(r"^\s*(\.\. |[A-Z][a-z]+\n\s*-{3,})", re.MULTILINE)


def about_html(spec: ModelSpec) -> str:
    """The "About this model" text of a catalogue model, as HTML: what the model is (its
    docstring's opening paragraphs), what it is used for, why its default view differs from the
    constructor's, its states and a table of its parameters. Every text is escaped."""
    doc = inspect.getdoc(spec.model_class) or ""
    intro = _SECTION.split(doc)[0]
    paragraphs = []
    for par in (plain_text(par) for par in intro.split("\n\n") if par.strip()):
        if "$" in par or "\\" in par or not par.endswith("."):
            break
        paragraphs.append(par)
    rows = "".join(
        f"<tr><td><code>{html.escape(p.label)}</code></td><td>{p.default:g}</td>"
        f'<td style="white-space:nowrap">{p.low:g} \u2026 {p.high:g}</td>'
        f"<td>{html.escape(plain_text(p.doc))}</td></tr>"
        for p in spec.params.values())
    parts = [f"<p>{html.escape(par)}</p>" for par in paragraphs]
    parts.append(f"<p><b>Used for:</b> {html.escape(spec.summary)}.</p>")
    if spec.notes:
        parts.append(f"<p><b>This view:</b> {html.escape(spec.notes)}</p>")
    parts.append(f"<p><b>States:</b> {html.escape(', '.join(spec.states))}.</p>")
    parts.append('<table class="bmw-about-params" style="font-size:90%;border-collapse:collapse">'
                 "<tr><th align=left>parameter</th><th align=left>default</th><th align=left>range</th>"
                 f"<th align=left>meaning</th></tr>{rows}</table>")
    return f'<div class="bmw-about">{"".join(parts)}</div>'


def page_grid(controller: ModelController) -> dict[str, list[float]]:
    """The grid "Save as page" uses when none is given.

    The parameters varied are those moved away from their defaults (at most :data:`PAGE_AXES`,
    in catalogue order), else the model's first :data:`PAGE_AXES` parameters; per-region values
    are never varied. Each takes :data:`PAGE_VALUES` values: its current value and its nearest
    neighbours within its slider range, spaced by an eighth of that range rounded to the slider
    step (two on each side, or more on one side near an end of the range).

    Parameters
    ----------
    controller : ModelController
        The explorer's controller; its current values centre the grid.

    Returns
    -------
    dict of str to list of float
        Parameter name to sorted values, in the parameter's catalogue unit.
    """
    specs = controller.simulator.param_specs
    params = controller.params
    scalar = [name for name in specs if np.ndim(params.get(name, 0.0)) == 0]
    moved = [name for name in scalar if name in params and float(params[name]) != float(specs[name].default)]
    names = (moved or [name for name in scalar if name in controller.spec.params])[:PAGE_AXES]
    grid = {}
    for name in names:
        p = specs[name]
        value = float(params.get(name, p.default))
        low, high = min(p.low, value), max(p.high, value)
        spacing = max(p.step, round((p.high - p.low) / 8 / p.step) * p.step)
        values = [value]
        for k in range(1, 2 * PAGE_VALUES):
            for v in (value - k * spacing, value + k * spacing):
                if low - 1e-9 <= v <= high + 1e-9 and len(values) < PAGE_VALUES:
                    values.append(round(v, 10))
        grid[name] = sorted(values)
    return grid


def page_name(controller: ModelController) -> str:
    """The file name "Save as page" gives the page: ``"<model>-explorer.html"``."""
    return f"{controller.spec.name}-explorer.html"


def save_page(controller: ModelController, path: str | os.PathLike | None = None,
              grid: dict[str, Any] | None = None) -> Path:
    """Write the explorer of ``controller`` as a page that works without Python
    (:func:`~brainmass_widgets.export_page`).

    Parameters
    ----------
    controller : ModelController
    path : str or path-like, optional
        Default: :func:`page_name` in the current folder (a notebook's own folder).
    grid : dict, optional
        Parameter name to values; default :func:`page_grid`.

    Returns
    -------
    pathlib.Path
        The file written.
    """
    target = Path(page_name(controller)) if path is None else path
    return export_page(controller, target, page_grid(controller) if grid is None else grid)


def page_bytes(controller: ModelController, grid: dict[str, Any] | None = None) -> bytes:
    """The page :func:`save_page` writes, as UTF-8 bytes (for a download)."""
    return page_html(controller, page_grid(controller) if grid is None else grid).encode("utf-8")


class ExplorerBase:
    """The public face of an explorer over a controller (``self._controller``).

    A front end sets ``_controller``, ``_form`` (its :class:`~brainmass_widgets.Binding` of the
    explorer's :class:`~brainmass_widgets.Form`) and ``_syncing``, and may override
    :meth:`_bad_input` to show a rejected value its own way (the controller's status line shows it
    in every case).
    """

    _controller: Any
    _form: Any
    _syncing: bool

    def _bad_input(self, message: str) -> None:
        """Show a rejected input; ``""`` clears the message."""

    def _guard(self, action: Callable[[], Any], revert: Callable[[], Any] | None = None) -> bool:
        """Run ``action``; on ``ValueError`` show the message and let ``revert`` restore the control
        that caused it (without feeding the restored value back)."""
        try:
            action()
        except ValueError as exc:
            self._bad_input(str(exc))
            if revert is not None:
                with self._quietly():
                    revert()
            return False
        self._bad_input("")
        return True

    @contextmanager
    def _quietly(self) -> Iterator[None]:
        """Changes made to the controls inside are not fed back to the controller."""
        self._syncing = True
        try:
            yield
        finally:
            self._syncing = False

    @property
    def controller(self) -> Any:
        """The framework-neutral controller behind this explorer."""
        return self._controller

    @property
    def controls(self) -> dict[str, Any]:
        """Every control's widget by control name (the names of the explorer's
        :class:`~brainmass_widgets.Form`)."""
        return dict(self._form.widgets)

    @property
    def sliders(self) -> dict[str, Any]:
        """The parameter sliders by parameter name."""
        return self._form.group(PARAMETERS)

    def set(self, **params: Any) -> None:
        """Set parameter values (sliders follow) and recompute.

        Raises
        ------
        ValueError
            Naming the bad parameter or value; the explorer shows it and nothing changes.
        """
        self._raise_shown(lambda: self._controller.set(**params))

    def configure(self, **options: Any) -> None:
        """Change settings (see the controller's ``configure``); controls follow.

        Raises
        ------
        ValueError
            Naming the bad setting or value; the explorer shows it and nothing changes.
        """
        self._raise_shown(lambda: self._controller.configure(**options))

    def _raise_shown(self, action: Callable[[], Any]) -> None:
        """Run ``action``; a ``ValueError`` is shown as bad input, then raised."""
        try:
            action()
        except ValueError as exc:
            self._bad_input(str(exc))
            raise

    @property
    def sources(self) -> dict[str, Any]:
        """Bokeh ``ColumnDataSource`` objects by name (the same string is each source's ``name``)."""
        return self._controller.sources

    @property
    def result(self) -> Any:
        """The latest finished computation."""
        return self._controller.result

    @property
    def status(self) -> Status:
        """What the explorer is doing now."""
        return self._controller.status

    def wait(self, timeout: float | None = None) -> bool:
        """Return when the current computation and its plot updates have finished (``False`` on
        timeout)."""
        return self._controller.wait(timeout)

    def code(self) -> str:
        """A plain-brainmass script (no brainmass_widgets import) reproducing the current view."""
        return self._controller.code()


class SweepExplorerBase(ExplorerBase):
    """The public face of a sweep explorer over a :class:`SweepController`; ``_explorer`` is the
    linked model explorer (or ``None``) that tapped points are sent to."""

    _explorer: Any

    def _on_pick(self, values: dict[str, float]) -> None:
        if self._explorer is None:
            return
        target = self._explorer
        model = self._controller.options["model"]
        if target.controller.spec.name != model:
            target.configure(model=model, params={**self._controller.options["params"], **values})
        else:
            target.set(**values)

    def link(self, explorer: Any) -> None:
        """Send tapped points to ``explorer`` (``None`` unlinks)."""
        self._explorer = explorer

    def set(self, **params: Any) -> None:
        """Set the values of parameters that are not swept (used at every grid point)."""
        self._controller.configure(params={**self._controller.options["params"], **params})

    def run(self) -> None:
        """Start the sweep; the plot fills block by block."""
        self._controller.run()

    def cancel(self) -> None:
        """Stop the running sweep after its current block."""
        self._controller.cancel()

    def pick(self, index: int) -> dict[str, float]:
        """Select grid point ``index`` as a tap would (a linked explorer follows)."""
        return self._controller.pick(index)

    def save(self, file: Any) -> None:
        """Write the latest sweep (also a partial or cancelled one) to a ``.npz`` file (a path or
        a binary file object); :meth:`load` shows it again."""
        self._controller.save(file)

    def load(self, file: Any) -> Any:
        """Show a saved sweep (a path, a binary file object or the file's bytes); the controls
        follow its settings. Returns the :class:`~brainmass_widgets.SweepResult`.

        Raises
        ------
        ValueError
            When the file is not a saved sweep; nothing changes.
        """
        return self._controller.load(file)


class PhasePlaneExplorerBase(ExplorerBase):
    """The public face of a phase-plane explorer over a :class:`PhasePlaneController`."""

    def hold(self, **values: float) -> None:
        """Set the values at which the state variables not on an axis are held."""
        self._controller.hold(**values)

    def launch(self, x0: float, y0: float) -> None:
        """Start a trajectory at ``(x0, y0)``, as a tap on the plane does."""
        self._controller.launch(x0, y0)

    def clear(self) -> None:
        """Remove the launched trajectories."""
        self._controller.clear()

    @property
    def fixed_points(self) -> list:
        """Fixed points of the current plane: state values, stability label and eigenvalues."""
        return self._controller.fixed_points


class BifurcationExplorerBase(ExplorerBase):
    """The public face of a bifurcation explorer over a :class:`BifurcationController`."""

    #: The second-parameter menu's text for "no second parameter".
    NO_SECOND = NO_SECOND_LABEL

    def pick(self, value: float) -> dict[str, float] | None:
        """Pick the branch point at parameter ``value``, as a tap on the diagram does."""
        return self._controller.pick(value)

    def on_pick(self, callback: Callable[[dict[str, float]], None]) -> None:
        """Call ``callback(params)`` with every parameter when a point of the diagram is picked."""
        self._controller.on_pick(callback)

    @property
    def diagram(self) -> Any:
        """The latest :class:`~brainmass_widgets.BifurcationDiagram`."""
        return self._controller.diagram

    @property
    def curves(self) -> list:
        """The latest fold and Hopf curves in two parameters."""
        return self._controller.curves


class NetworkExplorerBase(ExplorerBase):
    """The public face of a network explorer over a :class:`NetworkController`: the coupling sweep,
    connectome uploads and the line naming the connectome in use."""

    def _watch_sweep(self) -> None:
        """Keep Run sweep and Cancel (``_show_sweep_buttons(sweeping)``) in step with the coupling
        sweep; the run a parameter change starts is not Cancel's to stop."""
        self._busy = BusyWatch(self._controller, self._controller.sweep_worker, self._show_sweep_buttons)

    def sweep(self) -> None:
        """Fill mean FC and mean R against the swept parameter, block by block; Cancel is enabled at
        once."""
        self._controller.sweep()
        self._busy.update()

    def cancel_sweep(self) -> None:
        """Stop the running sweep after its current block."""
        self._controller.cancel_sweep()
        self._busy.update()

    def wait(self, timeout: float | None = None) -> bool:
        """Return when the run, the sweep and their plot updates have finished and the buttons show
        it (``False`` on timeout)."""
        return self._busy.wait(self._controller.wait, timeout)

    def pick(self, index: int) -> dict[str, float]:
        """Load sweep point ``index`` as a tap does; returns ``{name: value}``."""
        return self._controller.pick(index)

    @staticmethod
    def read_connectome(data: bytes, filename: str) -> Connectome:
        """The connectome in an uploaded file's bytes (``.npz``, ``.npy`` or ``.csv``), changing
        nothing: a front end may call it off its event loop.

        Raises
        ------
        ValueError
            Naming the file and the problem with it.
        """
        try:
            return load_connectome(bytes(data), filename=filename)
        except ValueError as exc:
            raise ValueError(str(exc) if filename in str(exc) else f"{filename}: {exc}") from None

    def load_connectome(self, data: bytes | Connectome, filename: str) -> None:
        """Use the connectome in an uploaded file's bytes (``.npz``, ``.npy`` or ``.csv``), or
        one :meth:`read_connectome` read from them.

        Raises
        ------
        ValueError
            Naming the problem with the file; the previous connectome stays.
        """
        try:
            connectome = data if isinstance(data, Connectome) else self.read_connectome(data, filename)
        except ValueError as exc:
            raise self._controller.fail(exc) from None
        self._file_names = {**getattr(self, "_file_names", {}), connectome.digest: filename}
        self.configure(connectome=connectome)

    def reset_connectome(self) -> None:
        """Go back to the bundled example connectome."""
        self.configure(connectome="example")

    @property
    def sweep_result(self) -> Any:
        """The latest coupling sweep: ``(points, 2)`` mean FC and mean R, or ``None``."""
        return self._controller.sweep_result

    def _connectome_text(self) -> str:
        """One line naming the connectome in use."""
        net = self._controller.network
        if net.connectome.digest == example_digest():
            name = "bundled example"
        else:
            name = getattr(self, "_file_names", {}).get(net.connectome.digest, "custom")
        delays = "with distances" if net.connectome.distances is not None else "no distances: no delays"
        return f"connectome: {name}, {net.n} regions ({delays})"


class FitExplorerBase(ExplorerBase):
    """The public face of a fitting explorer over a :class:`FitController`; ``_explorer`` is the
    linked model (or network) explorer that "Use these parameters" sends the best values to."""

    _explorer: Any = None

    def _watch_fit(self) -> None:
        """Keep Fit, Stop and "Use these parameters" (``_show_buttons(fitting)``) in step with the fit."""
        self._busy = BusyWatch(self._controller, self._controller.worker, self._show_buttons)

    def run(self) -> None:
        """Start fitting; the loss, parameter paths and prediction grow as it goes, and Stop is
        enabled at once."""
        self._controller.run()
        self._busy.update()

    def wait(self, timeout: float | None = None) -> bool:
        """Return when the fit and its plot updates have finished and the buttons show it (``False``
        on timeout)."""
        return self._busy.wait(self._controller.wait, timeout)

    def stop(self) -> None:
        """End the running fit after its current step, keeping its best parameters."""
        self._controller.stop()

    def set_target(self, data: Any, name: str = "custom target") -> None:
        """Fit to ``data``: an array, a path, or a file's bytes (``name`` gives the file type).

        Raises
        ------
        ValueError
            Naming the file and what is wrong with it; the previous target stays.
        """
        self._controller.set_target(data, name)

    @property
    def best_params(self) -> dict[str, float]:
        """Every model parameter at the best fitted values so far."""
        return self._controller.best_params

    def objective_weights(self) -> dict[str, float]:
        """The weight of every objective in :data:`~brainmass_widgets.OBJECTIVES` in the current
        loss (0: not used)."""
        used = self._controller.fitter.objective
        return {name: float(used.get(name, 0.0)) for name in OBJECTIVES}

    def set_weight(self, name: str, weight: float) -> None:
        """Weigh objective ``name`` by ``weight`` in the loss (0 removes it); the loss is the
        weighted sum (``brainmass.objectives.combine``).

        Raises
        ------
        ValueError
            For an unknown objective, a negative or non-finite weight, or all weights 0.
        """
        self.configure(objective={**self.objective_weights(), name: weight})

    def link(self, explorer: Any) -> None:
        """Send the best parameters to ``explorer`` on "Use these parameters" (``None`` unlinks)."""
        self._explorer = explorer

    def use_parameters(self) -> dict[str, float]:
        """Send the best parameters to the linked explorer (if any) and return them."""
        params = self.best_params
        target = self._explorer
        if target is not None:
            options = self._controller.options
            if options["network"]:
                target.configure(node=options["model"])
                target.set(**params)
            elif target.controller.spec.name != options["model"]:
                target.configure(model=options["model"], params=params)
            else:
                target.set(**params)
        return params
