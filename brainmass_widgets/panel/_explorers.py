"""Panel explorers: typed ``param`` state and Panel widgets mapped onto the shared controllers."""

from __future__ import annotations

import asyncio
import html
import io
import os
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import panel as pn
import param
from panel.viewable import Viewer

from .._catalog import catalog
from .._controller import Status
from .._controls import METRICS, PARAMETERS, RUN, ModelForm, SweepForm
from .._frontend import (
    ExplorerBase,
    SweepExplorerBase,
    about_html,
    page_bytes,
    page_name,
    save_page,
    status_html,
)
from .._model_controller import ModelController
from .._query import QUERY_OPTIONS, apply_model_query, model_query
from .._results import SweepResult
from .._sweep_controller import SweepController
from ._form import FormView
from ._upload import UploadBox
from ._widgets import Fold

__all__ = ["ModelExplorer", "Panel", "SweepExplorer", "served_doc"]

_NOTICE_STYLE = {"background": "#fff3cd", "color": "#664d03", "padding": "4px 10px", "border-radius": "4px"}
_COPY_JS = """
const holder = document.createElement("div");
holder.innerHTML = source.text;
const text = holder.textContent;
const done = (label) => {
  button.label = label;
  setTimeout(() => { button.label = "Copy to clipboard"; }, 1500);
};
const fallback = () => {
  const area = document.createElement("textarea");
  area.value = text;
  document.body.appendChild(area);
  area.select();
  const ok = document.execCommand("copy");
  document.body.removeChild(area);
  done(ok ? "Copied" : "Select the text and copy it");
};
if (navigator.clipboard && window.isSecureContext) {
  navigator.clipboard.writeText(text).then(() => done("Copied"), fallback);
} else {
  fallback();
}
"""
"""Copies the text of the "Copy as code" script (``source``, a Bokeh ``Div``) to the clipboard and
says so on ``button`` for a moment: through the Clipboard API where the page is a secure context
(https, localhost), else through a selected text area."""
_READERS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="bmw-upload")
"""Where served sessions read uploaded files: off the event loop they share, two at a time."""


def served_doc() -> Any:
    """The Bokeh document of the current server session, or ``None`` outside a server."""
    doc = pn.state.curdoc
    return doc if doc is not None and doc.session_context is not None else None


def _attempt(fn: Callable[..., Any], *args: Any) -> Callable[[], Any]:
    """Call ``fn(*args)`` now; return a function giving its result or raising its exception (so a
    result computed on one thread is taken, or its error raised, on another)."""
    try:
        value = fn(*args)
    except Exception as exc:
        error = exc

        def outcome() -> Any:
            raise error
    else:
        def outcome() -> Any:
            return value
    return outcome


class Panel(ExplorerBase, Viewer):
    """Dispatch onto the session's document, status line, notices and "Copy as code"; a subclass
    builds its page in ``_layout``."""

    _controller: Any

    def __init__(self, **params: Any):
        super().__init__(**params)
        self._queue: list[Callable[[], None]] = []
        self._queue_lock = threading.Lock()
        self._drain_scheduled = False
        self._page_ready = False

    def _setup(self) -> None:
        self._syncing = False
        self._message = ""
        self._last_status = Status()
        self._status = pn.widgets.StaticText(value=status_html(Status()), sizing_mode="stretch_width",
                                             css_classes=["bmw-status-line"])
        self._notice = pn.widgets.StaticText(value="", visible=False, sizing_mode="stretch_width",
                                             css_classes=["bmw-notice"], styles=_NOTICE_STYLE)
        self._progress = pn.indicators.Progress(value=0, max=100, sizing_mode="stretch_width", height=10)
        self._code = pn.widgets.StaticText(value="", sizing_mode="stretch_width", css_classes=["bmw-code"])
        self._copy = pn.widgets.Button(label="Copy to clipboard", css_classes=["bmw-copy"], width=160,
                                       description="Copy the script below, to paste into a notebook or file.")
        self._copy.js_on_click(args={"source": self._code, "button": self._copy}, code=_COPY_JS)
        self._code_card = Fold(self._copy, self._code, title="Copy as code")
        self._code_card.param.watch(lambda _e: self._refresh_code(), "collapsed")
        self._controller.on_status(self._on_status)
        if self._doc is not None:
            pn.state.on_session_destroyed(lambda _ctx: self._controller.close())
            pn.state.onload(self._on_page_ready)

    def _take_upload(self, widget: pn.widgets.FileInput, event: Any, fallback: str,
                     read: Callable[[bytes, str], Any], action: Callable[[Any, str], None]) -> None:
        """Read an uploaded file's bytes and name with ``read``, hand what it returns and the name
        to ``action`` (see :meth:`_read_off_loop`), and clear ``widget`` here and in the page, so
        that choosing the same file again is a change."""
        if self._syncing or not event.new:
            return
        filename = widget.filename or fallback
        data = bytes(event.new)
        self._read_off_loop(lambda: read(data, filename), lambda value: action(value, filename))
        with self._quietly():
            widget.param.update(value=None, filename=None)
        widget.clear()

    def _read_off_loop(self, read: Callable[[], Any], apply: Callable[[Any], None],
                       after: Callable[[], None] | None = None) -> None:
        """``apply(read())``, then ``after()``; a ``ValueError`` from either shows as a notice (and
        in the status line) and the controls are pulled back.

        Served, ``read`` (parsing a file) runs on a reader thread and the rest on the session's
        document through :meth:`_dispatch`, so that no session's event loop waits for a parse.
        """
        def finish(outcome: Callable[[], Any]) -> None:
            def act() -> None:
                try:
                    value = outcome()
                except ValueError as exc:
                    raise self._controller.fail(exc) from None
                apply(value)

            self._guard(act, self._pull)
            if after is not None:
                after()

        if self._doc is None:
            finish(read)
            return

        def work() -> None:
            outcome = _attempt(read)
            self._dispatch(lambda: finish(outcome))

        _READERS.submit(work)

    def _session_dispatch(self) -> Callable | None:
        """The dispatch for the controller: the session queue when served, else the default."""
        return self._dispatch if self._doc is not None else None

    def _dispatch(self, fn: Callable[[], None]) -> None:
        """Apply ``fn`` on the session's document (holding its lock); directly outside a server.

        Updates go through one FIFO queue drained by a single next-tick callback: Bokeh starts
        callbacks added before the session is up in no particular order, and a line reset must
        never land after the data it precedes. Draining starts once the page has loaded: until
        then the document has no server session, and a callback added from a computing thread
        while Bokeh sets that session up can be lost, leaving the page without its first data.
        """
        if self._doc is None:
            fn()
            return
        with self._queue_lock:
            self._queue.append(fn)
            if self._drain_scheduled or not self._page_ready:
                return
            self._drain_scheduled = True
        self._schedule_drain()

    def _on_page_ready(self) -> None:
        with self._queue_lock:
            self._page_ready = True
            if self._drain_scheduled or not self._queue:
                return
            self._drain_scheduled = True
        self._schedule_drain()

    def _schedule_drain(self) -> None:
        try:
            self._doc.add_next_tick_callback(self._drain)
        except Exception:
            with self._queue_lock:
                self._drain_scheduled = False
            raise

    def _drain(self) -> None:
        """Apply the oldest queued update; come back next tick for the rest, so the event loop
        sends each update's message before the next one is prepared."""
        with self._queue_lock:
            fn = self._queue.pop(0) if self._queue else None
        try:
            if fn is not None:
                fn()
        finally:
            with self._queue_lock:
                more = bool(self._queue)
                self._drain_scheduled = more
            if more:
                self._schedule_drain()

    def _on_status(self, status: Status) -> None:
        self._last_status = status
        self._show_status()
        self._progress.value = int(round(100 * status.progress))
        if status.kind in ("done", "cancelled"):
            self._refresh_code()

    def _refresh_code(self) -> None:
        """Regenerate the script only while its card is open."""
        if not self._code_card.collapsed:
            self._code.value = f"<pre>{html.escape(self.code())}</pre>"

    def _show_status(self) -> None:
        """The status line; an error the notice bar already shows is not repeated there."""
        status = self._last_status
        if status.kind == "error" and self._message and status.message in self._message:
            status = Status("error", "Not applied: see the message above. The plots show the last "
                                     "accepted values.")
        self._status.value = status_html(status)

    def notify(self, message: str) -> None:
        """Show ``message`` in the notice bar (bad input, ignored URL values)."""
        self._message = message
        self._notice.value = html.escape(message)
        self._notice.visible = bool(message)
        self._show_status()

    @property
    def notice(self) -> str:
        """The message in the notice bar (``""`` when none is shown)."""
        return self._message

    def _bad_input(self, message: str) -> None:
        self.notify(message)

    def _page(self, controls: list[Any], plots: list[Any]) -> pn.Row:
        """A column of ``controls`` beside the notice bar, ``plots``, progress, status and code."""
        return pn.Row(pn.Column(*controls, width=340),
                      pn.Column(self._notice, *plots, self._progress, self._status, self._code_card,
                                sizing_mode="stretch_width"),
                      sizing_mode="stretch_width")

    def _mirror(self, **values: Any) -> None:
        """Set the ``param`` state to ``values`` (those that are parameters of this explorer) without
        feeding it back to the controller."""
        with self._quietly():
            self.param.update(**{k: v for k, v in values.items() if k in self.param and k != "name"})

    def _on_param(self, *events: param.parameterized.Event) -> None:
        if not self._syncing:
            new = {e.name: e.new for e in events}
            self._guard(lambda: self._apply_param(new), self._pull)

    def _apply_param(self, new: dict[str, Any]) -> None:
        """Apply changed ``param`` values, each a ``configure`` option of the controller (``values``
        gives its ``params``; a list is given as a tuple)."""
        if "values" in new:
            new["params"] = new.pop("values")
        self._controller.configure(**{k: tuple(v) if isinstance(v, list) else v for k, v in new.items()})

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout


class ModelExplorer(Panel):
    """A catalogue model with a slider per parameter and live Bokeh plots, as a Panel component.

    Parameters
    ----------
    model : str, default "HopfStep"
        Catalogue name.
    **options
        Initial state, as for :class:`brainmass_widgets.ModelController` (``params``, ``in_size``,
        ``dt``, ``duration``, ``transient``, ``monitors``, ``noise``, ``seed``, ``batch_size``,
        ``regions``, ``phase``, ``init``, ...).
    """

    model = param.Selector(default="HopfStep", objects=[s.name for s in catalog()],
                           doc="Catalogue model; switching resets its parameters to their defaults.")
    values = param.Dict(default={}, doc="Parameter values of the model, in catalogue units.")
    duration = param.Number(default=200.0, doc="Run length [ms].")
    dt = param.Number(default=0.1, doc="Integration step [ms].")
    transient = param.Number(default=0.0, doc="Leading time computed but not drawn [ms].")
    in_size = param.Integer(default=1, doc="Number of regions simulated.")
    regions = param.Integer(default=4, doc="Number of regions drawn.")
    noise = param.Boolean(default=False, doc="Ornstein-Uhlenbeck noise on every state that takes it.")
    seed = param.Integer(default=0, doc="Seed of the random initial states and noise.")
    batch_size = param.Integer(default=0, doc="Noise ensemble size; 0 draws one run, n > 1 mean ± std.")

    def __init__(self, model: str = "HopfStep", **options: Any):
        super().__init__()
        autorun = options.pop("autorun", True)
        self._setup_controller(model, options)
        self._setup()
        c = self._controller
        self._form = FormView(ModelForm(c), self._guard)
        self._about = pn.widgets.StaticText(value="", sizing_mode="stretch_width",
                                            css_classes=["bmw-about-text"])
        self._about_fold = Fold(self._about, title="")
        self._pull()
        self.param.watch(self._on_param, ["model", *QUERY_OPTIONS])
        c.on_state(self._on_state)
        self._page_download = pn.widgets.FileDownload(
            callback=self._page_file if self._doc is None else self._served_page_file, filename=page_name(c),
            label="Save as page", css_classes=["bmw-save-page"])
        figs = c.figures
        self._layout = self._page(
            [self._form.box(""), self._form.box(PARAMETERS), Fold(self._form.box(RUN), title="Run options"),
             self._about_fold, self._page_download],
            [pn.pane.Bokeh(figs["trajectory"], sizing_mode="stretch_width"),
             pn.Row(pn.pane.Bokeh(figs["phase"], sizing_mode="stretch_width"),
                    pn.pane.Bokeh(figs["spectrum"], sizing_mode="stretch_width"),
                    sizing_mode="stretch_width")])
        c.autorun = autorun
        if autorun:
            c.run()

    def _setup_controller(self, model: str, options: dict[str, Any]) -> None:
        self._doc = served_doc()
        self._controller = ModelController(model, autorun=False, dispatch=self._session_dispatch(), **options)

    def _pull(self) -> None:
        """The ``param`` state and the About section from the controller."""
        c = self._controller
        self._mirror(**{**self._form.form.values(), "values": dict(c.params)})
        if self._about_fold.title != f"About {c.spec.name}":
            self._about_fold.title = f"About {c.spec.name}"
            self._about.value = about_html(c.spec)

    def _on_state(self) -> None:
        self._form.refresh()
        self._pull()
        self._refresh_code()

    # ------------------------------------------------------------------ public

    @property
    def option_widgets(self) -> dict[str, pn.widgets.Widget]:
        """The model selector and run-option inputs by name."""
        return {"model": self._form.widgets["model"], **self._form.group(RUN)}

    def export_html(self, path: str | os.PathLike, grid: dict[str, Any] | None = None) -> Path:
        """Write this explorer as one HTML page whose sliders work without Python (see
        :func:`brainmass_widgets.export_page`); ``grid`` maps parameter names to values (default:
        the current values and their neighbours, as "Save as page" chooses). Returns the path."""
        return save_page(self._controller, path, grid)

    def _page_file(self, data: Callable[[], bytes] | None = None) -> io.BytesIO:
        """The "Save as page" download (``data()`` gives its bytes); a refusal shows as a notice
        and downloads a page that says it."""
        self._page_download.filename = page_name(self._controller)
        try:
            page = data() if data is not None else page_bytes(self._controller)
        except ValueError as exc:
            self.notify(f"Save as page: {exc}")
            page = f"<p>Save as page was refused: {html.escape(str(exc))}</p>".encode()
        else:
            if self.notice.startswith("Save as page:"):
                self.notify("")
        return io.BytesIO(page)

    async def _served_page_file(self) -> io.BytesIO:
        """:meth:`_page_file` for a served session: computed off the event loop the sessions share."""
        controller = self._controller
        page = await asyncio.to_thread(lambda: _attempt(page_bytes, controller))
        return self._page_file(page)

    # ------------------------------------------------------------------ URL query

    def query(self) -> dict[str, str]:
        """The state as URL query values: the model, the run options, then every parameter."""
        return model_query(self._controller)

    def apply_query(self, query: Mapping[str, str]) -> list[str]:
        """Apply URL query values as if typed; return a notice for each ignored one (the notice bar
        shows them).

        Values are parsed as numbers or booleans only -- never evaluated. Unknown names and bad
        values are skipped; the rest still apply.
        """
        ignored = apply_model_query(self._controller, query)
        self.notify("Ignored from the URL: " + "; ".join(ignored) if ignored else "")
        return ignored

    def query_string(self) -> str:
        """``"?model=...&..."`` for the current state."""
        return "?" + urlencode(self.query())


class SweepExplorer(SweepExplorerBase, Panel):
    """A metric over one or two parameters, filled block by block, with progress and Cancel.

    Parameters
    ----------
    model : str, default "HopfStep"
        Catalogue name.
    explorer : ModelExplorer, optional
        Tapping a point of the curve or a cell of the heatmap sends its values there.
    **options
        As for :class:`brainmass_widgets.SweepController`.
    """

    model = param.Selector(default="HopfStep", objects=[s.name for s in catalog()], doc="Catalogue model.")
    parameter = param.String(default="", doc="First swept parameter.")
    low = param.Number(default=0.0, doc="First parameter: from.")
    high = param.Number(default=1.0, doc="First parameter: to.")
    points = param.Integer(default=32, doc="First parameter: number of points.")
    parameter2 = param.String(default="", doc="Second swept parameter ('' for a 1-D sweep).")
    low2 = param.Number(default=0.0, doc="Second parameter: from.")
    high2 = param.Number(default=1.0, doc="Second parameter: to.")
    points2 = param.Integer(default=16, doc="Second parameter: number of points.")
    metric = param.Selector(default="amplitude", objects=list(METRICS),
                            doc="Reduction of each run: amplitude, max (minmax), frequency, mean, std.")
    monitor = param.String(default="", doc="The state the metric reduces.")
    duration = param.Number(default=200.0, doc="Run length per point [ms].")

    def __init__(self, model: str = "HopfStep", *, explorer: ModelExplorer | None = None, **options: Any):
        super().__init__()
        self._doc = served_doc()
        self._controller = SweepController(model, dispatch=self._session_dispatch(), **options)
        self._setup()
        self._explorer = explorer
        c = self._controller
        c.on_pick(self._on_pick)
        self._form = FormView(SweepForm(c), self._guard)
        self._run = pn.widgets.Button(label="Run", color="primary", css_classes=["bmw-run"])
        self._cancel = pn.widgets.Button(label="Cancel", css_classes=["bmw-cancel"],
                                         disabled=not c.status.busy,
                                         description="Stop the sweep after its current block.")
        self._run.on_click(lambda _e: self.run())
        self._cancel.on_click(lambda _e: self.cancel())
        self._save = pn.widgets.FileDownload(callback=self._saved_bytes, filename="sweep.npz",
                                             label="Save sweep (.npz)", disabled=True,
                                             css_classes=["bmw-sweep-save"])
        self._open = pn.widgets.FileInput(accept=".npz", css_classes=["bmw-sweep-open"],
                                          sizing_mode="stretch_width")
        self._open.param.watch(self._on_open, "value")
        self._saved = pn.widgets.Select(label="saved sweeps", options=["", *c.saved_sweeps()],
                                        visible=c.autosave is not None, css_classes=["bmw-sweep-saved"])
        self._saved.param.watch(self._on_saved, "value")
        c.on_status(self._on_sweep_status)
        figs = c.figures
        self._curve = pn.pane.Bokeh(figs["sweep"], sizing_mode="stretch_width")
        self._heat = pn.pane.Bokeh(figs["heatmap"], sizing_mode="stretch_width")
        self._pull()
        c.on_state(self._on_state)
        self.param.watch(self._on_param, [name for name in self._form.form.values() if name in self.param])
        opening = pn.widgets.StaticText(value="Open a saved sweep:")
        self._layout = self._page([self._form.box(""), pn.Row(self._run, self._cancel), self._save, opening,
                                   UploadBox(self._open, self.notify), self._saved],
                                  [self._curve, self._heat])

    def _on_sweep_status(self, status: Status) -> None:
        self._save.disabled = self._controller.result is None
        self._cancel.disabled = not status.busy
        if self._saved.visible and status.kind in ("done", "cancelled"):
            with self._quietly():
                self._saved.options = ["", *self._controller.saved_sweeps()]

    def _on_saved(self, event: param.parameterized.Event) -> None:
        if event.new and not self._syncing:
            self._guard(lambda: self._controller.load_saved(event.new), self._pull)

    def _saved_bytes(self) -> io.BytesIO:
        buf = io.BytesIO()
        self._controller.save(buf)
        buf.seek(0)
        return buf

    def _on_open(self, event: param.parameterized.Event) -> None:
        if event.new:
            data = bytes(event.new)
            self._read_off_loop(lambda: SweepResult.load(data), self.load)

    def _pull(self) -> None:
        """The controls, the ``param`` state and the pane shown (curve or heatmap) from the
        controller (which shows the figure)."""
        self._form.refresh()
        self._mirror(**self._form.form.values())
        two = len(self._controller.options["axes"]) == 2
        self._curve.visible, self._heat.visible = not two, two

    def _on_state(self) -> None:
        self._pull()
        self._refresh_code()

    def _apply_param(self, new: dict[str, Any]) -> None:
        self._form.form.update(new)

