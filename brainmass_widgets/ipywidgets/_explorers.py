"""ipywidgets explorers: controls mapped onto the shared controllers, plots through jupyter_bokeh."""

from __future__ import annotations

import html
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ipywidgets as w
from bokeh.io import output_notebook
from bokeh.layouts import column, row
from bokeh.resources import INLINE
from jupyter_bokeh.widgets import BokehModel

from .._controller import Status
from .._controls import PARAMETERS, RUN, ModelForm, SweepForm
from .._frontend import ExplorerBase, SweepExplorerBase, about_html, save_page, status_html
from .._model_controller import ModelController
from .._sweep_controller import SweepController
from ._form import LABEL, FormView

__all__ = ["Explorer", "ModelExplorer", "SweepExplorer"]

_BOKEHJS = {"cell": None}


class _LockedBokehModel(BokehModel):
    """A :class:`~jupyter_bokeh.widgets.BokehModel` that applies the page's events (a range moved,
    a tap) while holding ``lock``, the lock under which the computing thread changes the document:
    unguarded, the two threads can change it at once and one of them fails ("Set changed size
    during iteration").

    While its ``_view_count`` is 0 (no view has been reported shown) it sends no patches: a view
    starts reading patches when it first draws, and one that starts halfway through a patch's
    parts (a header, then content and binary buffers, sent as separate messages) misreads that
    patch and the ones after it, and keeps showing the document as it was. The view that appears
    is sent the whole document instead (:meth:`Explorer._bokeh`).
    """

    def __init__(self, model: Any, lock: Any):
        self._lock = lock
        super().__init__(model, _view_count=0)  # the page counts its views of the plot

    def _sync_model(self, model: BokehModel, content: dict[str, Any], buffers: list[Any]) -> None:
        with self._lock:
            super()._sync_model(model, content, buffers)

    def _document_patched(self, event: Any) -> None:
        if self._view_count == 0:
            return
        super()._document_patched(event)


def _load_bokehjs() -> None:
    """Load BokehJS into the page (jupyter_bokeh draws with it), once per executed cell.

    Once per cell rather than once per kernel: a reloaded page keeps its kernel but loses the
    script. Inline, so it works offline and on Binder.
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None or getattr(shell, "kernel", None) is None:
        return
    if _BOKEHJS["cell"] == shell.execution_count:
        return
    output_notebook(INLINE, hide_banner=True)
    _BOKEHJS["cell"] = shell.execution_count


class Explorer(ExplorerBase, w.VBox):
    """Status line, "Copy as code" and the shared public methods."""

    _controller: Any

    def _common(self) -> None:
        _load_bokehjs()
        self._syncing = False
        self._status = w.HTML(status_html(self._controller.status))
        self._progress = w.FloatProgress(value=0.0, min=0.0, max=1.0, layout=w.Layout(width="100%"))
        self._code_area = w.Textarea(layout=w.Layout(width="100%", height="14em", display="none"))
        self._code_button = w.Button(description="Copy as code", icon="code",
                                     tooltip="Show a plain-brainmass script reproducing this view")
        self._code_button.on_click(self._show_code)
        self._controller.on_status(self._on_status)

    def _page(self, *controls: w.Widget) -> list[w.Widget]:
        """The explorer's children: a column of ``controls`` beside the plot, then progress, status
        and the code area."""
        column = w.VBox([*controls, self._code_button], layout=w.Layout(width="380px", min_width="380px"))
        return [w.HBox([column, w.VBox([self._plot], layout=w.Layout(flex="1 1 auto"))]),
                self._progress, self._status, self._code_area]

    def _take_upload(self, upload: w.FileUpload, change: dict, action: Callable[[bytes, str], None]) -> None:
        """Hand an uploaded file's bytes and name to ``action`` (a refusal is shown), then clear
        ``upload`` so that the same file can be chosen again (after fixing it, say)."""
        if self._syncing or not change["new"]:
            return
        file = change["new"][0]
        self._guard(lambda: action(bytes(file["content"]), file["name"]), self._on_state)
        with self._quietly():
            upload.value = ()

    def _bokeh(self, layout: Any) -> BokehModel:
        """The plot widget of ``layout`` (a Bokeh layout of the controller's figures).

        It counts the page's views of it; each new one (first display, a reloaded page) is sent
        the whole current document, whose changes it would miss if it appeared after they were
        sent (a view is drawn from the document as it was when the plot was built).
        """
        self._layout_model = layout
        plot = _LockedBokehModel(layout, self._controller.document_lock)
        plot.observe(self._on_views, "_view_count")
        return plot

    def _on_views(self, change: dict) -> None:
        if (change["new"] or 0) > (change["old"] or 0):
            self._controller.post(self._redraw_views)

    def _redraw_views(self) -> None:
        """Have every view of the plot redraw from the document as it is now: its data, and the
        rest (a hint hidden, an axis relabelled, a range widened) that re-sending data leaves out."""
        self._plot.update_from_model(self._layout_model)

    def _on_state(self) -> None:
        """Bring the controls in line with the controller's state."""
        self._form.refresh()

    def _on_status(self, status: Status) -> None:
        self._status.value = status_html(status)
        self._progress.value = status.progress

    def _show_code(self, _button: Any = None) -> None:
        self._code_area.value = self.code()
        self._code_area.layout.display = None if self._code_area.layout.display == "none" else "none"

    def close(self) -> None:
        """Stop computing and close the widgets."""
        self._controller.close()
        super().close()


class ModelExplorer(Explorer):
    """Sliders for every parameter of a catalogue model beside live Bokeh plots.

    Parameters
    ----------
    model : str, default "HopfStep"
        Catalogue name; the dropdown switches models and rebuilds the sliders.
    **options
        Initial state, as for :class:`brainmass_widgets.ModelController`: ``params``, ``in_size``,
        ``dt``, ``duration``, ``transient``, ``monitors``, ``noise``, ``seed``, ``batch_size``
        (a noise ensemble drawn as mean ± std), ``regions``, ``phase``, ``init``, ...

    Examples
    --------
    >>> from brainmass_widgets.ipywidgets import ModelExplorer
    >>> ModelExplorer("HopfStep", params={"a": 0.3})  # doctest: +SKIP
    """

    def __init__(self, model: str = "HopfStep", **options: Any):
        autorun = options.pop("autorun", True)
        self._controller = ModelController(model, autorun=False, **options)
        self._common()
        c = self._controller
        self._form = FormView(ModelForm(c), self._guard)
        figs = c.figures
        self._plot = self._bokeh(column(figs["trajectory"], row(figs["phase"], figs["spectrum"],
                                                               sizing_mode="stretch_width"),
                                       sizing_mode="stretch_width"))
        options_box = w.Accordion(children=[self._form.box(RUN)], titles=("Run options",))
        self._about = w.HTML("")
        self._about_box = w.Accordion(children=[self._about], titles=("",))
        self._page_button = w.Button(description="Save as page", icon="download",
                                     tooltip="Write this explorer as an HTML page whose sliders work "
                                             "without Python, beside the notebook")
        self._page_button.on_click(self._save_page)
        self._page_saved = w.HTML("")
        super().__init__(self._page(self._form.box(""), self._form.box(PARAMETERS), options_box,
                                    self._about_box, w.HBox([self._page_button, self._page_saved])))
        self._show_about()
        c.on_state(self._on_state)
        c.autorun = autorun
        if autorun:
            c.run()

    def _show_about(self) -> None:
        spec = self._controller.spec
        self._about_box.set_title(0, f"About {spec.name}")
        self._about.value = about_html(spec)

    def _on_state(self) -> None:
        self._form.refresh()
        if self._about_box.get_title(0) != f"About {self._controller.spec.name}":
            self._show_about()

    # ------------------------------------------------------------------ public

    @property
    def option_widgets(self) -> dict[str, w.Widget]:
        """The run-option controls by option name."""
        return self._form.group(RUN)

    def export_html(self, path: str | os.PathLike, grid: dict[str, Any] | None = None) -> Path:
        """Write this explorer as one HTML page whose sliders work without Python (see
        :func:`brainmass_widgets.export_page`); ``grid`` maps parameter names to values (default:
        the current values and their neighbours, as "Save as page" chooses). Returns the path."""
        return save_page(self._controller, path, grid)

    def _save_page(self, _button: Any = None) -> None:
        """"Save as page": write the page beside the notebook and show its name (or the refusal)."""
        try:
            path = save_page(self._controller)
        except ValueError as exc:
            self._page_saved.value = f'<span class="bmw-error">{html.escape(str(exc))}</span>'
            return
        name = html.escape(path.name)
        self._page_saved.value = f'saved <a href="{name}" target="_blank">{name}</a>'


class SweepExplorer(SweepExplorerBase, Explorer):
    """A metric over one or two parameters, filled block by block, with progress and Cancel.

    Parameters
    ----------
    model : str, default "HopfStep"
        Catalogue name.
    explorer : ModelExplorer, optional
        Tapping a point of the curve or a cell of the heatmap sends its parameter values there.
    **options
        As for :class:`brainmass_widgets.SweepController`: ``axes`` (``{name: (low, high, points)}``),
        ``params``, ``metric``, ``monitor``, ``duration``, ``transient``, ``init``, ``seed``,
        ``chunk_size``.
    """

    def __init__(self, model: str = "HopfStep", *, explorer: ModelExplorer | None = None, **options: Any):
        self._controller = SweepController(model, **options)
        self._common()
        c = self._controller
        self._explorer = explorer
        self._form = FormView(SweepForm(c), self._guard)
        self._run = w.Button(description="Run", button_style="primary", icon="play")
        self._cancel = w.Button(description="Cancel", icon="stop", disabled=not c.status.busy,
                                tooltip="Stop the sweep after its current block")
        self._run.on_click(lambda _b: self.run())
        self._cancel.on_click(lambda _b: self.cancel())
        c.on_status(lambda status: setattr(self._cancel, "disabled", not status.busy))
        self._save_path = w.Text(value="sweep.npz", description="file", style=LABEL,
                                 layout=w.Layout(width="100%"))
        self._save = w.Button(description="Save", icon="save", tooltip="Write the sweep to this .npz file")
        self._save.on_click(lambda _b: self._guard(lambda: self.save(self._save_path.value)))
        self._open = w.FileUpload(accept=".npz", multiple=False, description="Open", icon="folder-open")
        self._open.observe(self._on_open, "value")
        figs = c.figures
        self._plot = self._bokeh(column(figs["sweep"], figs["heatmap"], sizing_mode="stretch_width"))
        c.on_pick(self._on_pick)
        c.on_state(self._on_state)
        self._on_state()
        super().__init__(self._page(self._form.box(""), w.HBox([self._run, self._cancel]), self._save_path,
                                    w.HBox([self._save, self._open])))

    def _on_open(self, change: dict) -> None:
        if change["new"]:
            self._guard(lambda: self.load(bytes(change["new"][0]["content"])), self._form.refresh)

