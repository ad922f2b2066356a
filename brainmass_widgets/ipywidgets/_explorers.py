"""ipywidgets explorers: controls mapped onto the shared controllers, plots through jupyter_bokeh."""

from __future__ import annotations

import html
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import brainunit as u
import ipywidgets as w
from bokeh.io import output_notebook
from bokeh.layouts import column, row
from bokeh.resources import INLINE
from jupyter_bokeh.widgets import BokehModel

from .._catalog import catalog, model_spec
from .._controller import Status
from .._frontend import (
    RUN_OPTIONS,
    ExplorerBase,
    SweepExplorerBase,
    about_html,
    save_page,
    shown_regions,
    slider_tooltip,
)
from .._model_controller import ModelController
from .._sweep_controller import SweepController

__all__ = ["ModelExplorer", "SweepExplorer"]

_COLORS = {"error": "#b00020", "diverged": "#b35900", "compiling": "#555555", "running": "#555555",
           "cancelled": "#b35900", "done": "#1b5e20", "idle": "#555555"}
LABEL = {"description_width": "120px"}
ROW = w.Layout(width="100%")
_NONE = "(none)"


def _status_html(status: Status) -> str:
    color = _COLORS.get(status.kind, "#555555")
    return (f'<span class="bmw-status bmw-{status.kind}" style="color:{color}">'
            f"{html.escape(status.message or status.kind)}</span>")


_BOKEHJS = {"cell": None}


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


def _model_names() -> list[str]:
    return [s.name for s in catalog()]


def set_slider(slider: w.FloatSlider, value: Any) -> None:
    """Show ``value`` (the mean of per-region values), widening the range to contain it."""
    try:
        v = float(value)
    except TypeError:
        v = float(sum(value) / len(value))
    if v < slider.min:
        slider.min = v
    if v > slider.max:
        slider.max = v
    slider.value = v


def float_slider(label: str, low: float, high: float, step: float, value: Any,
                  doc: str = "") -> w.FloatSlider:
    slider = w.FloatSlider(min=low, max=high, step=step, description=label, tooltip=doc,
                           continuous_update=True, style=LABEL, layout=ROW, readout_format=".4g")
    set_slider(slider, value)
    return slider


def _option_widget(name: str) -> w.Widget:
    """The input of one run option of :data:`~brainmass_widgets._frontend.RUN_OPTIONS`."""
    kind, label, doc = RUN_OPTIONS[name]
    if kind is bool:
        return w.Checkbox(description=label, tooltip=doc, indent=False)
    widget = w.FloatText if kind is float else w.IntText
    return widget(description=label, tooltip=doc, style=LABEL, layout=ROW)


def param_slider(p: Any, value: Any) -> w.FloatSlider:
    """A slider for one :class:`~brainmass_widgets.ParamSpec`, its unit in the label; its readout
    is a box to type an exact value in."""
    return float_slider(p.label, p.low, p.high, p.step, value, slider_tooltip(p))


class Explorer(ExplorerBase, w.VBox):
    """Status line, "Copy as code" and the shared public methods."""

    _controller: Any

    def _common(self) -> None:
        _load_bokehjs()
        self._syncing = False
        self._status = w.HTML(_status_html(self._controller.status))
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
        self._guard(lambda: action(bytes(file["content"]), file["name"]), self._sync)
        self._syncing = True
        try:
            upload.value = ()
        finally:
            self._syncing = False

    def _handler(self, action: Callable[[Any], None]) -> Callable[[dict], None]:
        """An observer calling ``action(new value)``; a rejected value is shown and the controls
        are brought back in line by ``_sync``."""

        def handler(change: dict) -> None:
            if not self._syncing:
                self._guard(lambda: action(change["new"]), self._sync)

        return handler

    def _watch_views(self) -> None:
        """Count the page's views of the plot; each new one (first display, a reloaded page) is
        sent the whole current document, whose changes it would miss if it appeared after they
        were sent (a view is drawn from the document as it was when the plot was built)."""
        self._plot._view_count = 0
        self._plot.observe(self._on_views, "_view_count")

    def _on_views(self, change: dict) -> None:
        if (change["new"] or 0) > (change["old"] or 0):
            self._controller.post(self._redraw_views)

    def _redraw_views(self) -> None:
        """Have every view of the plot redraw from the document as it is now: its data, and the
        rest (a hint hidden, an axis relabelled, a range widened) that re-sending data leaves out."""
        self._plot.update_from_model(self._plot._model)

    def _on_status(self, status: Status) -> None:
        self._status.value = _status_html(status)
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
        self._model = w.Dropdown(options=_model_names(), value=c.spec.name, description="model",
                                 style=LABEL, layout=ROW)
        self._model.observe(self._on_model, "value")
        self._sliders: dict[str, w.FloatSlider] = {}
        self._param_box = w.VBox()
        opts = c.options
        self._opt = {name: _option_widget(name) for name in RUN_OPTIONS}
        self._monitors = w.SelectMultiple(description="monitors", style=LABEL, layout=ROW, rows=3)
        self._phase = (w.Dropdown(description="phase x", style=LABEL, layout=ROW),
                       w.Dropdown(description="phase y", style=LABEL, layout=ROW))
        for name, widget in self._opt.items():
            widget.observe(self._option_handler(name), "value")
        self._monitors.observe(self._option_handler("monitors"), "value")
        for widget in self._phase:
            widget.observe(self._option_handler("phase"), "value")
        figs = c.figures
        self._plot = BokehModel(column(figs["trajectory"], row(figs["phase"], figs["spectrum"],
                                                               sizing_mode="stretch_width"),
                                       sizing_mode="stretch_width"))
        self._watch_views()
        options_box = w.Accordion(children=[w.VBox([*self._opt.values(), self._monitors, *self._phase])],
                                  titles=("Run options",))
        self._about = w.HTML("")
        self._about_box = w.Accordion(children=[self._about], titles=("",))
        self._page_button = w.Button(description="Save as page", icon="download",
                                     tooltip="Write this explorer as an HTML page whose sliders work "
                                             "without Python, beside the notebook")
        self._page_button.on_click(self._save_page)
        self._page_saved = w.HTML("")
        super().__init__(self._page(self._model, self._param_box, options_box, self._about_box,
                                    w.HBox([self._page_button, self._page_saved])))
        self._rebuild_sliders()
        self._sync_options(opts)
        c.on_state(self._on_state)
        c.autorun = autorun
        if autorun:
            c.run()

    # ------------------------------------------------------------------ controller -> widgets

    def _rebuild_sliders(self) -> None:
        c = self._controller
        specs = c.simulator.adapter.params
        self._sliders = {}
        for name, value in c.params.items():
            s = param_slider(specs[name], value)
            s.observe(self._slider_handler(name), "value")
            self._sliders[name] = s
        self._param_box.children = tuple(self._sliders.values())
        self._about_box.set_title(0, f"About {c.spec.name}")
        self._about.value = about_html(c.spec)

    def _sync_options(self, opts: dict[str, Any]) -> None:
        self._syncing = True
        try:
            spec = self._controller.spec
            self._model.value = spec.name
            for key in ("duration", "dt"):
                self._opt[key].value = float(opts[key].to_decimal(u.ms))
            tr = opts["transient"]
            self._opt["transient"].value = 0.0 if tr is None else float(tr.to_decimal(u.ms))
            size = opts["in_size"]
            self._opt["in_size"].value = int(size) if not isinstance(size, tuple) else int(size[0])
            self._opt["regions"].value = shown_regions(opts)
            self._opt["seed"].value = int(opts["seed"])
            self._opt["batch_size"].value = int(opts["batch_size"] or 0)
            self._opt["noise"].value = bool(opts["noise"])
            self._monitors.options = spec.states
            self._monitors.value = tuple(opts["monitors"])
            for dd, state in zip(self._phase, opts["phase"], strict=True):
                dd.options = spec.states
                dd.value = state
        finally:
            self._syncing = False

    def _on_state(self) -> None:
        c = self._controller
        if set(self._sliders) != set(c.params) or self._model.value != c.spec.name:
            self._syncing = True
            try:
                self._rebuild_sliders()
            finally:
                self._syncing = False
        else:
            self._syncing = True
            try:
                for name, value in c.params.items():
                    set_slider(self._sliders[name], value)
            finally:
                self._syncing = False
        self._sync_options(c.options)

    # ------------------------------------------------------------------ widgets -> controller

    def _slider_handler(self, name: str) -> Callable:
        def handler(change: dict) -> None:
            if self._syncing:
                return
            self._guard(lambda: self._controller.set(**{name: change["new"]}),
                        lambda: set_slider(self._sliders[name], change["old"]))

        return handler

    def _option_handler(self, name: str) -> Callable:
        def handler(change: dict) -> None:
            if self._syncing:
                return
            value = change["new"]
            if name == "phase":
                value = tuple(dd.value for dd in self._phase)
            self._guard(lambda: self._controller.configure(**{name: value}),
                        lambda: self._sync_options(self._controller.options))

        return handler

    def _on_model(self, change: dict) -> None:
        if self._syncing:
            return
        self._guard(lambda: self._controller.configure(model=change["new"]),
                    lambda: self._sync_options(self._controller.options))

    # ------------------------------------------------------------------ public

    def set(self, **params: Any) -> None:
        """Set parameter values (sliders follow) and recompute.

        Raises
        ------
        ValueError
            Naming the bad parameter or value; the status line shows it and nothing changes.
        """
        self._controller.set(**params)

    def configure(self, **options: Any) -> None:
        """Change run options or the model (see :meth:`ModelController.configure`).

        Raises
        ------
        ValueError
            Naming the bad option or value; the status line shows it and nothing changes.
        """
        self._controller.configure(**options)

    @property
    def sliders(self) -> dict[str, w.FloatSlider]:
        """The parameter sliders by parameter name."""
        return dict(self._sliders)

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

    @property
    def option_widgets(self) -> dict[str, w.Widget]:
        """The run-option controls by option name."""
        return {**self._opt, "monitors": self._monitors}


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
        self._model = w.Dropdown(options=_model_names(), value=model, description="model", style=LABEL,
                                 layout=ROW)
        self._axis = []
        for i in range(2):
            name = w.Dropdown(description=f"parameter {i + 1}", style=LABEL, layout=ROW)
            low = w.FloatText(description="from", style=LABEL, layout=ROW)
            high = w.FloatText(description="to", style=LABEL, layout=ROW)
            points = w.IntText(description="points", style=LABEL, layout=ROW)
            self._axis.append((name, low, high, points))
        self._metric = w.Dropdown(options=["amplitude", "minmax", "frequency", "mean", "std"],
                                  description="metric", style=LABEL, layout=ROW)
        self._monitor = w.Dropdown(description="monitor", style=LABEL, layout=ROW)
        self._duration = w.FloatText(description="duration [ms]", style=LABEL, layout=ROW)
        self._run = w.Button(description="Run", button_style="primary", icon="play")
        self._cancel = w.Button(description="Cancel", icon="stop", disabled=not c.status.busy,
                                tooltip="Stop the sweep after its current block")
        self._run.on_click(lambda _b: self.run())
        self._cancel.on_click(lambda _b: self.cancel())
        c.on_status(lambda status: setattr(self._cancel, "disabled", not status.busy))
        executors = c.executors
        shown = None if len(executors) > 1 else "none"
        self._executor = w.Dropdown(options=[(v, k) for k, v in executors.items()], description="run on",
                                    style=LABEL, layout=w.Layout(width="100%", display=shown))
        self._executor.observe(self._handler(lambda v: c.configure(executor=v)), "value")
        self._save_path = w.Text(value="sweep.npz", description="file", style=LABEL, layout=ROW)
        self._save = w.Button(description="Save", icon="save", tooltip="Write the sweep to this .npz file")
        self._save.on_click(lambda _b: self._guard(lambda: self.save(self._save_path.value)))
        self._open = w.FileUpload(accept=".npz", multiple=False, description="Open", icon="folder-open")
        self._open.observe(self._on_open, "value")
        self._model.observe(self._on_model, "value")
        self._plot = BokehModel(column(c.figures["sweep"], c.figures["heatmap"], sizing_mode="stretch_width"))
        self._watch_views()
        c.on_pick(self._on_pick)
        self._sync()
        axis_widgets = [x for axis in self._axis for x in axis]
        for widget in (*axis_widgets, self._metric, self._monitor, self._duration):
            widget.observe(self._on_setting, "value")
        super().__init__(self._page(self._model, *axis_widgets, self._metric, self._monitor, self._duration,
                                    self._executor, w.HBox([self._run, self._cancel]), self._save_path,
                                    w.HBox([self._save, self._open])))

    def _on_open(self, change: dict) -> None:
        if change["new"]:
            self._guard(lambda: self.load(bytes(change["new"][0]["content"])), self._sync)
            self._sync()

    def _sync(self) -> None:
        self._syncing = True
        try:
            opts = self._controller.options
            spec = model_spec(opts["model"])
            names = list(opts["axes"])
            self._model.value = spec.name
            for i, (name, low, high, points) in enumerate(self._axis):
                name.options = ([] if i == 0 else [_NONE]) + list(spec.params)
                if i < len(names):
                    lo, hi, n = opts["axes"][names[i]]
                    name.value, low.value, high.value, points.value = names[i], lo, hi, n
                else:
                    name.value = _NONE
                    low.value, high.value, points.value = 0.0, 1.0, 16
                low.disabled = high.disabled = points.disabled = i >= len(names)
            self._metric.value = opts["metric"]
            self._monitor.options = spec.states
            self._monitor.value = opts["monitor"]
            self._duration.value = float(opts["duration"].to_decimal(u.ms))
            self._executor.value = opts["executor"]
            two = len(names) == 2
            self._controller.figures["sweep"].visible = not two
            self._controller.figures["heatmap"].visible = two
        finally:
            self._syncing = False

    def _axes_from_widgets(self) -> dict[str, tuple]:
        axes: dict[str, tuple] = {}
        current = self._controller.options["axes"]
        for name, low, high, points in self._axis:
            if name.value == _NONE:
                continue
            if name.value in axes:
                raise ValueError(f"choose two different parameters; {name.value!r} is chosen twice")
            if name.value in current:
                axes[name.value] = (low.value, high.value, points.value)
            else:
                p = model_spec(self._model.value).params[name.value]
                axes[name.value] = (p.low, p.high, points.value)
        return axes

    def _on_setting(self, change: dict) -> None:
        if self._syncing:
            return
        def apply() -> None:
            try:
                axes = self._axes_from_widgets()
            except ValueError as exc:
                raise self._controller.fail(exc) from exc
            self._controller.configure(axes=axes, metric=self._metric.value, monitor=self._monitor.value,
                                       duration=self._duration.value)

        self._guard(apply, self._sync)
        self._sync()

    def _on_model(self, change: dict) -> None:
        if self._syncing:
            return
        self._guard(lambda: self._controller.configure(model=change["new"]), self._sync)
        self._sync()

    # ------------------------------------------------------------------ public

    def configure(self, **options: Any) -> None:
        """Change sweep settings (see :meth:`SweepController.configure`); controls follow."""
        self._controller.configure(**options)
        self._sync()
