"""State and computation of the model explorer, shared by both front ends.

A catalogue model's trajectory, phase portrait and power spectrum, recomputed on the worker
thread after every accepted change of parameters or run options (long runs stream in chunks, a
noise ensemble shows its mean and spread), and the plain-brainmass script reproducing the run.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import brainunit as u
import numpy as np

from . import _plots
from ._catalog import ModelSpec, model_spec
from ._code import run_script
from ._compile import compile_notice
from ._controller import (
    CACHE,
    Dispatch,
    Session,
    SimulatingController,
    Status,
    Token,
    as_quantity,
    changed_fields,
    check_in_size,
    column,
    compute_slot,
    fields_of,
    fmt_ms,
    join_pieces,
    ms_text,
    per_region,
    replace_data,
    stream_pieces,
)
from ._engine import CachedSimulator
from ._limits import limits
from ._units import magnitude

__all__ = ["ModelController", "ModelState"]

_OPTIONS = ("model", "in_size", "dt", "duration", "transient", "monitors", "noise", "seed",
            "batch_size", "regions", "sample_every", "phase", "init")


def _noise_option(model: str, noise: Any) -> bool | str | tuple[str, ...]:
    """The ``noise`` of :class:`CachedSimulator` for a controller's ``noise`` option: ``None`` and
    ``True`` give the catalogue's default noisy states (``True``: every state, where it names none)."""
    if noise is None or noise is True:
        return model_spec(model).default_noise or bool(noise)
    if isinstance(noise, str):
        return noise
    if isinstance(noise, (list, tuple)):
        return tuple(noise) or False
    return bool(noise)


@dataclass(frozen=True)
class ModelState:
    """A model explorer's validated settings (each is described at :class:`ModelController`);
    ``sim`` is the engine for its structure."""

    model: str
    params: dict[str, Any]
    in_size: int | tuple[int, ...]
    dt: Any
    duration: Any
    transient: Any
    monitors: tuple[str, ...]
    noise: bool | str | tuple[str, ...]
    seed: int
    batch_size: int | None
    regions: int
    sample_every: int | None
    phase: tuple[str, str]
    init: dict[str, Any]
    sim: CachedSimulator


class ModelController(SimulatingController[ModelState]):
    """State and computation of one model explorer.

    Parameters
    ----------
    model : str, default "HopfStep"
        Catalogue name.
    params : dict, optional
        Parameter values (catalogue units); the rest take their defaults.
    in_size : int or tuple of int, default 1
        Number (shape) of regions.
    dt, duration, transient : brainunit.Quantity or float (ms), optional
        Step, run length and unrecorded lead (catalogue defaults; no transient).
    monitors : sequence of str, optional
        Recorded and plotted states (default: the model's default monitor).
    noise : bool, str or sequence of str, optional
        Ornstein-Uhlenbeck noise (adds ``noise_sigma``, ``noise_tau``). ``None`` (the default): the
        model's default view, noise on the catalogue's ``ModelSpec.default_noise`` states (none for
        most models) with its ``default_noise_params``; ``True``: those states too, or every state
        that takes noise where the catalogue names none; ``False``: none; names: those states.
        Switching ``model`` resets it to ``None`` unless given too.
    seed : int, default 0
        RNG seed.
    batch_size : int, optional
        A noise ensemble: the trajectory shows the mean of ``batch_size`` runs with a ± std band
        (``None`` or 0: a single run).
    regions : int, default 4
        How many regions are drawn (all are computed).
    sample_every : int, optional
        Record every k-th step.
    phase : (str, str), optional
        The states on the phase portrait (default: the first two).
    init : dict, optional
        Initial value per state (catalogue defaults otherwise).
    stream_steps : int, default 20000
        Runs longer than this many steps stream in chunks of ``chunk_steps`` steps.
    chunk_steps : int, default 5000
        Steps per streamed chunk.
    rollover : int, optional
        Samples kept in the streamed plots (default: the whole run, at most 200,000).
    session : Session, optional
        The visitor's :class:`Session` (the served app gives each browser tab one): at most
        ``limits().max_session_jobs`` of its computations run at once, the newest winning.
    dispatch : callable, optional
        ``dispatch(fn)`` applies ``fn`` where the Bokeh document may be changed; a direct call
        under a lock by default.
    autorun : bool, default True
        Compute at once and after every accepted change.
    """

    _OPTION_NAMES = _OPTIONS
    _ALSO_ACCEPTED = ("params",)

    def __init__(self, model: str = "HopfStep", *, params: Mapping[str, Any] | None = None,
                 in_size: Any = 1, dt: Any = None, duration: Any = None, transient: Any = None,
                 monitors: Sequence[str] | None = None, noise: bool | str | Sequence[str] | None = None,
                 seed: int = 0, batch_size: int | None = None, regions: int = 4,
                 sample_every: int | None = None, phase: Sequence[str] | None = None,
                 init: Mapping[str, Any] | None = None,
                 stream_steps: int = 20000, chunk_steps: int = 5000, rollover: int | None = None,
                 dispatch: Dispatch | None = None, autorun: bool = True, session: Session | None = None):
        super().__init__(dispatch, "brainmass-widgets model", session)
        self.stream_steps = int(stream_steps)
        self.chunk_steps = int(chunk_steps)
        self.rollover = rollover
        self.autorun = autorun
        self.figures: dict[str, Any] = {}
        self.sources: dict[str, Any] = {}
        for name, factory in (("trajectory", _plots.trajectory_figure), ("phase", _plots.phase_figure),
                              ("spectrum", _plots.spectrum_figure)):
            self.figures[name], self.sources[name] = factory()
        for name, first in (("trajectory", "t"), ("phase", "u"), ("spectrum", "f")):
            _plots.await_data(self.figures[name], self.sources[name], first, "Waiting for the first run",
                              y=(0.1, 1.0) if name == "spectrum" else (0.0, 1.0))
        self._lines: tuple = ()
        self._band = False
        self._change(model=model, params=dict(params or {}), in_size=in_size, dt=dt, duration=duration,
                     transient=transient, monitors=monitors, noise=noise, seed=seed, batch_size=batch_size,
                     regions=regions, sample_every=sample_every, phase=phase, init=init)

    # ------------------------------------------------------------------ state

    @property
    def spec(self) -> ModelSpec:
        """The catalogue entry of the current model."""
        return self._state.sim.spec

    @property
    def lines(self) -> tuple[str, ...]:
        """The trajectory columns drawn, ``"<state>[<region>]"``."""
        return self._lines

    def _validate(self, new: dict[str, Any], old: ModelState | None) -> ModelState:
        if old is not None and set(new) == {"params"} and set(new["params"]) == set(old.params):
            old.sim.check_params(new["params"])  # new values only: the structure is checked
            return dataclasses.replace(old, params=dict(new["params"]))
        state = {**fields_of(old), **new}
        model_changed = old is None or old.model != state["model"]
        if model_changed:
            for key in ("params", "monitors", "phase", "init"):
                if key not in new:
                    state[key] = None
        dt = as_quantity(state["dt"], u.ms, "dt")
        if model_changed and "dt" not in new:
            dt = None
        noise = None if model_changed and "noise" not in new else state["noise"]
        noise = _noise_option(state["model"], noise)
        state["in_size"] = check_in_size(state["in_size"])
        sim = CachedSimulator(state["model"], in_size=state["in_size"], dt=dt, noise=noise, cache=CACHE)
        spec = sim.spec
        state["dt"] = sim.dt
        duration = state["duration"]
        if duration is None or (model_changed and "duration" not in new):
            duration = spec.duration
        state["duration"] = as_quantity(duration, u.ms, "duration")
        transient = as_quantity(state["transient"], u.ms, "transient")
        zero = transient is not None and float(transient.to_decimal(u.ms)) == 0
        state["transient"] = None if zero else transient
        state["batch_size"] = state["batch_size"] or None
        state["noise"] = noise
        params = {k: v for k, v in (state["params"] or {}).items() if k in sim.param_names}
        defaults = sim.adapter.defaults()
        if sim.adapter.noisy and set(sim.adapter.noisy) <= set(spec.default_noise):
            defaults.update({k: v for k, v in spec.default_noise_params.items() if k in defaults})
        state["params"] = {**defaults, **params}
        state["init"] = dict(spec.init if state["init"] is None else state["init"])
        request = sim.prepare(state["duration"], params=state["params"], monitors=state["monitors"],
                              init=state["init"], transient=state["transient"],
                              sample_every=state["sample_every"], batch_size=state["batch_size"],
                              seed=state["seed"])
        phase = tuple(state["phase"] or (spec.states[:2] if len(spec.states) > 1 else spec.states * 2))
        if len(phase) != 2 or not all(s in spec.states for s in phase):
            raise ValueError(f"phase must name two states of {spec.name}; valid: "
                             f"{', '.join(spec.states)}; got {state['phase']!r}")
        state["phase"] = phase
        state["monitors"] = monitors = request.monitors
        n_steps, n_tr, k = request.n_steps, request.n_transient, request.stride
        allowed = limits()
        what = f"a run of {ms_text(state['duration'])} at dt = {ms_text(sim.dt)}"
        allowed.check_steps(n_steps, what)
        n_regions = int(np.prod(np.atleast_1d(state["in_size"])))
        allowed.check_regions(n_regions)
        if state["batch_size"]:
            allowed.check_batch(int(state["batch_size"]))
        kept = len(range(n_tr, n_steps, k))
        at_once = n_steps if n_steps <= self.stream_steps else min(self.chunk_steps, n_steps)
        size = ((n_regions, "regions"), (state["batch_size"] or 1, "runs"))
        recorded = len(dict.fromkeys(monitors + phase))
        allowed.check_memory(what, ((kept + at_once, f"steps ({kept:,} kept + {at_once:,} recorded at once)"),
                                    *size, (recorded, "monitors")))
        allowed.check_work(what, ((n_steps, "steps"), *size))
        regions = state["regions"]
        if isinstance(regions, bool) or not isinstance(regions, int | np.integer) or regions < 1:
            raise ValueError(f"regions must be an integer >= 1; got {regions!r}")
        state["sim"] = sim
        return ModelState(**state)

    def _apply(self, old: ModelState | None) -> None:
        state = self._state
        if changed_fields(old, state) <= {"params"}:
            return
        n_regions = int(np.prod(np.atleast_1d(state.in_size)))
        shown = range(min(state.regions, n_regions))
        lines = tuple(f"{m}[{r}]" for m in state.monitors for r in shown)
        band = bool(state.batch_size)
        spec = state.sim.spec
        changed = (lines, band) != (self._lines, self._band)
        self._lines, self._band = lines, band
        first = state.monitors[0]
        unit = spec.state_units.get(first)
        y_label = ", ".join(state.monitors) + (f" [{unit}]" if unit is not None else "")
        p1, p2 = state.phase
        spectrum_title = self._spectrum_title(spec, first)

        def relabel() -> None:
            if changed:
                _plots.set_lines(self.figures["trajectory"], self.sources["trajectory"], "t", lines, band)
                _plots.set_lines(self.figures["spectrum"], self.sources["spectrum"], "f",
                                 [n for n in lines if n.startswith(first + "[")])
            self.figures["trajectory"].yaxis.axis_label = y_label
            self.figures["trajectory"].title.text = f"{spec.name}: trajectory"
            self.figures["phase"].title.text = _plots.phase_title(spec.name, p1, p2)
            self.figures["phase"].xaxis.axis_label = self._axis_label(p1, spec)
            self.figures["phase"].yaxis.axis_label = self._axis_label(p2, spec)
            spectrum = self.figures["spectrum"]
            spectrum.yaxis.axis_label = _plots.psd_label(unit)
            if not spectrum.title.text.startswith(spectrum_title + ":"):
                spectrum.title.text = spectrum_title  # the peak is added when the spectrum is drawn

        if old is None:
            relabel()
        else:
            self.post(relabel)

    @staticmethod
    def _spectrum_title(spec: ModelSpec, monitor: str) -> str:
        """The spectrum's title, to which :func:`_plots.show_spectrum` adds the peak."""
        return f"{spec.name}: power spectral density of {monitor}"

    @staticmethod
    def _axis_label(state: str, spec: ModelSpec) -> str:
        unit = spec.state_units.get(state)
        return state if unit is None else f"{state} [{unit}]"

    def configure(self, **options: Any) -> None:
        """Change run options (any of ``model``, ``in_size``, ``dt``, ``duration``, ``transient``,
        ``monitors``, ``noise``, ``seed``, ``batch_size``, ``regions``, ``sample_every``, ``phase``,
        ``init``) and recompute. Switching ``model`` resets parameters, monitors and initial values
        to the new model's defaults unless given too.

        Raises
        ------
        ValueError
            Naming the bad option or value; nothing changes.
        """
        super().configure(**options)

    # ------------------------------------------------------------------ computing

    def run(self) -> None:
        """Compute the current state on the worker thread (superseding any computation running)."""
        state = self._state
        self._worker.submit(lambda token: self._job(state, token))

    def _run_kwargs(self, state: ModelState) -> dict[str, Any]:
        monitors = tuple(dict.fromkeys(state.monitors + state.phase))
        return dict(params=state.params, monitors=monitors, init=state.init,
                    transient=state.transient, sample_every=state.sample_every,
                    batch_size=state.batch_size, seed=state.seed)

    def _job(self, state: ModelState, token: Token) -> None:
        sim: CachedSimulator = state.sim
        kwargs = self._run_kwargs(state)
        t0 = time.perf_counter()
        n_total, n_tr, k = sim.steps(state.duration, state.transient, state.sample_every)
        keep = self.rollover or min(200_000, (n_total - n_tr) // k)

        def notice() -> None:
            self._set_status(Status("compiling", f"compiling {sim.spec.name} for a new shape "
                                                 f"(first use; later changes reuse it)", 0.0), token)

        try:
            if n_total <= self.stream_steps:
                with compute_slot(token) as slot:
                    if not slot.held:
                        return
                    with compile_notice(notice):
                        res = sim.run(state.duration, **kwargs)
                if token.superseded:
                    return
                self._post_draw(state, res, True, keep, token)
            else:
                self._set_status(Status("running", f"running {n_total:,} steps", 0.0, 0.0), token)
                stream = sim.stream(state.duration, chunk=self.chunk_steps * sim.dt, **kwargs)
                pieces = []
                first = True
                for piece in stream_pieces(stream, notice, token):
                    pieces.append(piece)
                    if len(piece["ts"]):
                        self._post_draw(state, piece, first, keep, token)
                        first = False
                    self._set_status(Status("running", f"running: {piece.done:,} of {n_total:,} steps",
                                            piece.done / piece.total, time.perf_counter() - t0), token)
                if token.superseded:
                    return
                res = join_pieces(pieces)
        except Exception as exc:
            self._set_status(Status("error", f"{type(exc).__name__}: {exc}"), token)
            return
        elapsed = time.perf_counter() - t0
        self._result = res
        self.post(lambda: self._draw_spectrum(state, res), token)
        if res.diverged is not None:
            t_bad = float((res.diverged + 1) * sim.dt / u.ms)
            self._set_status(Status("diverged", f"diverged: NaN/inf from step {res.diverged:,} "
                                                f"(t = {t_bad:g} ms); try a smaller dt or other values",
                                    1.0, elapsed, res.diverged), token)
        else:
            self._set_status(Status("done", f"done in {fmt_ms(elapsed)} ({n_total:,} steps)", 1.0,
                                    elapsed), token)

    def _columns(self, state: ModelState, res: Mapping[str, Any]) -> tuple[dict, dict]:
        batched = bool(state.batch_size)
        data = {"t": np.ascontiguousarray(magnitude(res["ts"] / u.ms), dtype=np.float64)}
        shown = {}
        for m in state.monitors:
            arr = per_region(magnitude(res[m]), batched)
            shown[m] = arr
        for name in self._lines:
            m, r = name[:-1].split("[")
            arr = shown[m]
            if batched:
                mean, std = arr[:, :, int(r)].mean(axis=1), arr[:, :, int(r)].std(axis=1)
                lo, hi = _plots.line_columns(name)
                data[name], data[lo], data[hi] = column(mean), column(mean - std), column(mean + std)
            else:
                data[name] = column(arr[:, int(r)])
        p1, p2 = state.phase
        phase = {}
        for col, s in (("u", p1), ("v", p2)):
            arr = per_region(magnitude(res[s]), batched)
            phase[col] = column(arr.mean(axis=1)[:, 0] if batched else arr[:, 0])
        return data, phase

    def _post_draw(self, state: ModelState, res: Mapping[str, Any], replace: bool, keep: int,
                   token: Token) -> None:
        """Post the trajectory, then the phase portrait, as separate updates, so a front end that
        applies one per event-loop tick sends the trajectory before serialising the phase."""
        data, phase = self._columns(state, res)
        for name, columns in (("trajectory", data), ("phase", phase)):
            source = self.sources[name]
            if replace:
                self.post(lambda src=source, cols=columns: replace_data(src, cols), token)
            else:
                self.post(lambda src=source, cols=columns: _plots.stream_lines(src, cols, keep), token)

    def _draw_spectrum(self, state: ModelState, res: Mapping[str, Any]) -> None:
        batched = bool(state.batch_size)
        first = state.monitors[0]
        arr = per_region(magnitude(res[first]), batched)
        if batched:
            arr = arr.mean(axis=1)
        sample_s = float((state.sim.dt * (state.sample_every or 1)) / u.second)
        shown = {name: int(name[len(first) + 1:-1]) for name in self._lines if name.startswith(first + "[")}
        segment = _plots.spectrum_segment(arr[:, list(shown.values())])
        freq, psds = np.zeros(0), {}
        for name, region in shown.items():
            freq, psd = _plots.power_spectrum(arr[:, region], sample_s, segment)
            psds[name] = column(psd)
        if psds:
            _plots.show_spectrum(self.figures["spectrum"], self.sources["spectrum"], freq, psds,
                                 self._spectrum_title(state.sim.spec, first),
                                 _plots.trend_frequency(segment, sample_s))

    # ------------------------------------------------------------------ code

    def code(self) -> str:
        """A plain-brainmass script reproducing the current run; it leaves the output in ``result``.

        The script imports only brainmass, brainstate, brainunit (and numpy for per-region
        values); its ``result`` equals :attr:`result` once the current computation has finished.
        """
        state = self._state
        sim: CachedSimulator = state.sim
        kw = self._run_kwargs(state)
        return run_script(sim.spec, in_size=state.in_size, dt=sim.dt, duration=state.duration,
                          params=state.params, noise=sim.adapter.noisy, init=state.init,
                          monitors=kw["monitors"], transient=state.transient,
                          sample_every=state.sample_every, batch_size=state.batch_size,
                          seed=state.seed)
