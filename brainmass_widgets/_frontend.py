"""What every explorer front end shares, whatever its widget toolkit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._controller import Status

__all__ = ["ExplorerBase", "PhasePlaneExplorerBase", "SweepExplorerBase"]


class ExplorerBase:
    """The public face of an explorer over a controller (``self._controller``).

    A front end sets ``_controller`` and ``_syncing`` and may override :meth:`_bad_input` to show
    a rejected value its own way (the controller's status line shows it in every case).
    """

    _controller: Any
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
                self._syncing = True
                try:
                    revert()
                finally:
                    self._syncing = False
            return False
        self._bad_input("")
        return True

    @property
    def controller(self) -> Any:
        """The framework-neutral controller behind this explorer."""
        return self._controller

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


class PhasePlaneExplorerBase(ExplorerBase):
    """The public face of a phase-plane explorer over a :class:`PhasePlaneController`."""

    def set(self, **params: Any) -> None:
        """Set parameter values (sliders follow); the plane is recomputed.

        Raises
        ------
        ValueError
            Naming the bad parameter or value; nothing changes.
        """
        self._controller.set(**params)

    def hold(self, **values: float) -> None:
        """Set the values at which the state variables not on an axis are held."""
        self._controller.hold(**values)

    def configure(self, **options: Any) -> None:
        """Change the model, the axes, ranges, noise, seed, ... (see
        :class:`~brainmass_widgets.PhasePlaneController`); controls follow."""
        self._controller.configure(**options)

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
