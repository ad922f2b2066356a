"""The fitting explorer's state and computation, shared by both front ends."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import brainunit as u
import numpy as np

from ._catalog import catalog, model_spec
from ._code import fit_script
from ._compile import compile_notice
from ._controller import (
    CACHE,
    Dispatch,
    Session,
    StatefulController,
    Status,
    Token,
    as_quantity,
    compute_slot,
    fields_of,
    fmt_ms,
)
from ._extras import import_extra
from ._fit import BACKENDS, CachedFitter, FitOutcome, load_target
from ._limits import GRAD_VALUES, limits
from ._network import NetworkModel
from ._network_controller import NetworkController
from ._plots import fit_figures, matrix_ticks, set_lines, stream_lines

__all__ = ["TARGETS", "FitController", "FitState", "fittable_models"]

#: Where a fit's target comes from.
TARGETS = ("synthetic", "example_signal", "custom")
_MAX_FIT_STEPS = 10_000
#: Candidates of one nevergrad generation.
_POPULATION = 8
#: Settings that change what a gradient step computes, and so its memory.
_RUN_SHAPE = ("model", "network", "fit", "params", "duration", "sample_every", "objective")
#: What each figure shows, after the fit's name in its title.
_TITLES = {"loss": "loss", "paths": "fitted parameters", "fit": "prediction over target",
           "fc_pred": "predicted FC", "fc_target": "target FC"}


def fittable_models() -> list[str]:
    """Catalogue models with at least one model parameter (role ``"param"``) to fit."""
    return [s.name for s in catalog() if any(p.role == "param" for p in s.params.values())]
_DRAW_EVERY_S = 0.15


@dataclass(frozen=True)
class FitState:
    """A fitting explorer's validated settings (each is described at :class:`FitController`);
    ``fitter`` is the engine for the structure."""

    model: str
    network: bool
    fit: tuple[str, ...]
    initial: dict[str, float]
    params: dict[str, Any]
    target: str
    truth: dict[str, float]
    objective: str | dict[str, float]
    optimizer: str
    lr: float
    n_steps: int
    backend: str
    loop: str
    duration: Any
    sample_every: int
    region: int
    fitter: CachedFitter


class FitController(StatefulController[FitState]):
    """State and computation of one fitting explorer: a model fitted live to a target.

    Parameters
    ----------
    model : str, default "HopfStep"
        Catalogue model (the node model when ``network``).
    network : bool, default False
        Fit a network of ``model`` nodes over the bundled connectome (8 regions, adds ``k``).
    fit : sequence of str, optional
        Fitted parameters, each inside its slider range (default: the model's first two
        parameters; for a network its first parameter and ``k``).
    initial : dict, optional
        Starting values of the fitted parameters (catalogue defaults).
    params : dict, optional
        Values of the other parameters.
    target : str, default "synthetic"
        ``"synthetic"`` (made from ``truth``), ``"example_signal"`` (brainmass's bundled
        8-region signal; needs ``network``) or ``"custom"`` (set by :meth:`set_target`).
    truth : dict, optional
        The known values a synthetic target is made from (default: each starting value moved up
        by 10 % of its range).
    objective : str or dict of str to float, default "timeseries_rmse"
        A name in :data:`~brainmass_widgets.OBJECTIVES`, or weights over several.
    optimizer : str, default "adam"
        A name in :data:`~brainmass_widgets.OPTIMIZERS`.
    lr : float, default 0.05
        Learning rate.
    n_steps : int, default 300
        Gradient steps (generations of 8 candidates for ``"nevergrad"``, loss evaluations for
        ``"scipy"``).
    backend : str, default "grad"
        ``"grad"``, or gradient-free inside the bounds: ``"nevergrad"`` (differential evolution)
        or ``"scipy"`` (Nelder-Mead).
    loop : str, default "for_loop"
        ``"for_loop"`` or ``"checkpointed"`` (``brainstate.transform.checkpointed_for_loop``).
    duration : brainunit.Quantity or float (ms), optional
        The run compared with the target (200 ms for a single node, 500 ms for a network).
    sample_every : int, default 10
        Record every ``sample_every`` steps (1 ms at the default dt).
    region : int, default 0
        The region drawn in "prediction over target".
    session, dispatch
        As for :class:`ModelController`.

    Notes
    -----
    The explorer computes nothing until :meth:`run`; :meth:`stop` ends a fit and keeps its best
    parameters (:attr:`best_params`).
    """

    #: A fit computes only when asked (:meth:`run`).
    autorun = False
    _OPTION_NAMES = ("model", "network", "fit", "initial", "params", "target", "truth", "objective",
                     "optimizer", "lr", "n_steps", "backend", "loop", "duration", "sample_every", "region")

    def __init__(self, model: str = "HopfStep", *, network: bool = False, fit: Sequence[str] | None = None,
                 initial: Mapping[str, float] | None = None, params: Mapping[str, Any] | None = None,
                 target: str = "synthetic", truth: Mapping[str, float] | None = None,
                 objective: str | Mapping[str, float] = "timeseries_rmse", optimizer: str = "adam",
                 lr: float = 0.05, n_steps: int = 300, backend: str = "grad", loop: str = "for_loop",
                 duration: Any = None, sample_every: int = 10, region: int = 0,
                 dispatch: Dispatch | None = None, session: Session | None = None):
        super().__init__(dispatch, "brainmass-fit", session)
        self.figures, self.sources, self._mappers = fit_figures()
        self._custom: tuple[np.ndarray, str] | None = None
        self._outcome: FitOutcome | None = None
        self._stopped = -1
        #: Peak memory of the gradient step (bytes) by loop, measured by the latest fits of the
        #: current model, fitted parameters and run.
        self.memory: dict[str, int] = {}
        self.configure(model=model, network=network, fit=fit, initial=initial, params=params, target=target,
                       truth=truth, objective=objective, optimizer=optimizer, lr=lr, n_steps=n_steps,
                       backend=backend, loop=loop, duration=duration, sample_every=sample_every,
                       region=region)

    # ------------------------------------------------------------------ state

    @property
    def fitter(self) -> CachedFitter:
        """The engine for the current structure."""
        return self._state.fitter

    @property
    def result(self) -> FitOutcome | None:
        """The latest fit (partial while running), or ``None``."""
        return self._outcome

    @property
    def best_params(self) -> dict[str, float]:
        """Every parameter of the model at the best fitted values so far (the starting values before
        a fit), in catalogue units: what "Use these parameters" sends to a model explorer."""
        st = self._state
        fitted = dict(st.initial)
        if self._outcome is not None and self._outcome.best_params:
            fitted = dict(self._outcome.best_params)
        fixed = {k: float(np.asarray(v)) for k, v in st.fitter.fixed.items() if np.ndim(v) == 0}
        return {**fixed, **fitted}

    @property
    def memory_line(self) -> str:
        """One line on the peak memory of a gradient step, per loop measured for the current run."""
        memory = {k: v for k, v in self.memory.items() if v}
        if not memory:
            return "peak memory of a gradient step: measured by a gradient fit"
        return "peak memory of a gradient step: " + ", ".join(f"{loop} {b / 2**20:.2f} MiB"
                                                             for loop, b in memory.items())

    def configure(self, **options: Any) -> None:
        """Change settings (the names of the constructor's keywords). A running fit goes on with
        the settings it started with; the next :meth:`run` uses the new ones.

        Raises
        ------
        ValueError
            Naming the bad setting or value and what is allowed; nothing changes.
        """
        super().configure(**options)

    def _apply(self, old: FitState | None) -> None:
        state = self._state
        if old is None or any(getattr(old, k) != getattr(state, k) for k in _RUN_SHAPE):
            self.memory = {}
        if old is None or (old.model, old.network) != (state.model, state.network):
            what = f"{state.model}{' network' if state.network else ''} fit"
            self.post(lambda: self._retitle(what))
        fitter = state.fitter
        unit = fitter.sim.spec.state_units.get(fitter.monitor)
        compared = fitter.monitor + (f" [{unit}]" if unit is not None else "")
        if self.figures["fit"].yaxis[0].axis_label != compared:
            self.post(lambda: setattr(self.figures["fit"].yaxis[0], "axis_label", compared))
        if old is not None:
            self._set_status(Status("idle", "settings changed: press Fit to start"))

    def _validate(self, new: dict[str, Any], old: FitState | None) -> FitState:
        prev = fields_of(old)
        state = {**prev, **new}
        structure_changed = any(state.get(k) != prev.get(k) for k in ("model", "network"))
        if old is not None and structure_changed:
            for key in ("fit", "initial", "params", "truth", "duration"):
                if key not in new:
                    state[key] = None
        net = NetworkModel(state["model"]) if state["network"] else None
        if state["duration"] is None:
            state["duration"] = 500.0 * u.ms if net is not None else 200.0 * u.ms
        state["duration"] = as_quantity(state["duration"], u.ms, "duration")
        fit = state["fit"]
        if fit is None:
            names = tuple(n for n, p in model_spec(state["model"]).params.items() if p.role == "param")
            fit = (names[0], "k") if net is not None else names[:2]
        fit = tuple(fit) if not isinstance(fit, str) else (fit,)
        state["objective"] = _objective(state["objective"])
        fitter = CachedFitter(net if net is not None else state["model"], fit=fit, params=state["params"],
                              duration=state["duration"], sample_every=state["sample_every"],
                              objective=state["objective"], optimizer=state["optimizer"], loop=state["loop"],
                              cache=CACHE)
        state["fit"] = fitter.fit_names
        state["params"] = {k: v for k, v in (state["params"] or {}).items() if k not in fit}
        was_fitted = set(prev.get("fit") or ()) - set(fit)
        initial = {k: v for k, v in (state["initial"] or {}).items() if k not in was_fitted}
        state["initial"] = fitter.check_initial(initial)
        truth = state["truth"]
        if truth is None:
            truth = {}
        truth = {k: v for k, v in truth.items() if k not in was_fitted}
        defaults = {n: round(min(state["initial"][n] + 0.1 * (hi - lo), lo + 0.9 * (hi - lo)), 6)
                    for n, (lo, hi) in fitter.bounds.items()}
        state["truth"] = fitter.check_values({**defaults, **truth}, "true value of")
        if state["target"] not in TARGETS:
            raise ValueError(f"unknown target {state['target']!r}; valid: {', '.join(TARGETS)}")
        if state["target"] == "custom" and self._custom is None:
            raise ValueError("no custom target loaded yet: load a .npz, .npy or .csv file first")
        if state["target"] == "example_signal":
            fitter.check_target("example_signal", "brainmass's example_signal")
        if state["target"] == "custom":
            fitter.check_target(self._custom[0], self._custom[1])
        state["lr"] = fitter.check_lr(state["lr"])
        n_steps = state["n_steps"]
        if isinstance(n_steps, bool) or not isinstance(n_steps, (int, np.integer)) or \
                not 1 <= n_steps <= _MAX_FIT_STEPS:
            raise ValueError(f"n_steps must be an integer in 1 .. {_MAX_FIT_STEPS:,}; got {n_steps!r}")
        state["n_steps"] = int(n_steps)
        if state["backend"] not in BACKENDS:
            raise ValueError(f"unknown backend {state['backend']!r}; valid: {', '.join(BACKENDS)}")
        if state["backend"] == "nevergrad":
            import_extra("nevergrad", "fit", "the nevergrad fitting backend")
        region = state["region"]
        if isinstance(region, bool) or not isinstance(region, (int, np.integer)) or \
                not 0 <= region < fitter.regions:
            raise ValueError(f"region must be an integer in 0 .. {fitter.regions - 1}; got {region!r}")
        state["region"] = int(region)
        limits().check_steps(fitter.run_steps, f"a fitted run of {state['duration']} at dt = {fitter.sim.dt}")
        _check_fit(fitter, state["backend"], state["n_steps"], state["loop"])
        state["fitter"] = fitter
        return FitState(**state)

    def set_target(self, data: Any, name: str = "custom target") -> None:
        """Fit to ``data`` (an array, a path, or a file's bytes with ``name`` giving its type; see
        :func:`~brainmass_widgets.load_target`).

        Raises
        ------
        ValueError
            Naming the file and what is wrong (shape against the run, NaN, type); the previous
            target stays.
        """
        try:
            target = self.fitter.check_target(data, name)
        except Exception as exc:
            raise self.fail(exc) from None
        self._custom = (target, name)
        self.configure(target="custom")

    def target_data(self) -> np.ndarray:
        """The target of the current settings, ``(samples, regions)``."""
        st = self._state
        fitter: CachedFitter = st.fitter
        if st.target == "synthetic":
            return fitter.predict(st.truth)
        if st.target == "example_signal":
            return load_target("example_signal")
        return self._custom[0]

    # ------------------------------------------------------------------ actions

    def run(self) -> None:
        """Start fitting on the worker thread (a running fit is superseded)."""
        state = self._state
        custom = self._custom
        self._worker.submit(lambda token: self._job(state, custom, token))

    def stop(self) -> None:
        """End the running fit after its current step; its best parameters are kept."""
        self._stopped = self._worker.generation

    def code(self) -> str:
        """A plain-brainmass script running the same fit with ``brainmass.Fitter``; it leaves the
        ``brainmass.FitResult`` in ``result`` (its loss history equals the explorer's)."""
        st = self._state
        example = st.target == "example_signal"
        return fit_script(st.fitter, initial=st.initial, lr=st.lr, n_steps=st.n_steps,
                          backend=st.backend, target=None if example else self.target_data(),
                          example=example)

    # ------------------------------------------------------------------ the job

    def _job(self, state: FitState, custom: tuple[np.ndarray, str] | None, token: Token) -> None:
        fitter: CachedFitter = state.fitter
        names = list(fitter.fit_names)
        t0 = time.perf_counter()

        def notice() -> None:
            self._set_status(Status("compiling", f"compiling the {state.backend} step for "
                                                 f"{state.model} "
                                                 "(first use of this structure)"), token)

        def reset(target: np.ndarray) -> None:
            set_lines(self.figures["paths"], self.sources["paths"], "step", names)
            self.sources["loss"].data = {"step": [], "loss": [], "best": []}
            t = (np.arange(fitter.samples) * fitter.sample_dt.to_decimal(u.ms)
                 + (fitter.transient or 0 * u.ms).to_decimal(u.ms))
            self.sources["fit"].data = {"t": t, "target": target[:, state.region],
                                        "prediction": np.full(len(t), np.nan)}
            for name in ("fc_pred", "fc_target"):
                self._set_matrix_range(name, fitter.regions)
            self.sources["fc_target"].data = _cells(_fc(target))
            self.sources["fc_pred"].data = {k: [] for k in self.sources["fc_target"].data}

        with compute_slot(token, background=True) as slot:
            if not slot.held:
                return
            try:
                with compile_notice(notice):
                    if state.target == "synthetic":
                        target = fitter.predict(state.truth)
                    elif state.target == "example_signal":
                        target = load_target("example_signal")
                    else:
                        target = custom[0]
                self.post(lambda: reset(target), token)
                pending = {"step": [], "loss": [], "best": [], **{n: [] for n in names}}
                last = {"drawn": 0.0, "pred": None}
                best = [float("inf")]

                def flush() -> None:
                    rows = {k: list(v) for k, v in pending.items()}
                    for v in pending.values():
                        v.clear()
                    pred = last["pred"]
                    last["pred"] = None

                    def draw() -> None:
                        if rows["step"]:
                            self.sources["loss"].stream({k: rows[k] for k in ("step", "loss", "best")})
                            paths = {"step": rows["step"], **{n: rows[n] for n in names}}
                            stream_lines(self.sources["paths"], paths)
                        if pred is not None:
                            self.sources["fit"].patch({"prediction": [(slice(0, len(pred)),
                                                                       pred[:, state.region])]})
                            if fitter.regions > 1:
                                self.sources["fc_pred"].data = _cells(_fc(pred))

                    self.post(draw, token)

                def on_step(step: int, loss: float, params: dict[str, float], pred: Any) -> bool:
                    best[0] = min(best[0], loss) if np.isfinite(loss) else best[0]
                    pending["step"].append(step)
                    pending["loss"].append(loss if np.isfinite(loss) and loss > 0 else np.nan)
                    pending["best"].append(best[0] if np.isfinite(best[0]) and best[0] > 0 else np.nan)
                    for n in names:
                        pending[n].append(params[n])
                    now = time.perf_counter()
                    if now - last["drawn"] >= _DRAW_EVERY_S:
                        last["pred"] = np.asarray(pred)
                        flush()
                        last["drawn"] = now
                        values = ", ".join(f"{n} = {params[n]:.4g}" for n in names)
                        self._set_status(Status("running", f"step {step + 1:,} of {state.n_steps:,}: loss "
                                                           f"{loss:.4g} (best {best[0]:.4g}); {values}",
                                                (step + 1) / state.n_steps, now - t0), token)
                    if token.superseded or self._stopped >= token.generation:
                        return False
                    return slot.pause(lambda: token.superseded)  # others waiting go first

                with compile_notice(notice):
                    outcome = fitter.fit(target, initial=state.initial, lr=state.lr,
                                         n_steps=state.n_steps, backend=state.backend,
                                         population=_POPULATION, on_step=on_step)
            except Exception as exc:
                self._set_status(Status("error", f"{type(exc).__name__}: {exc}"), token)
                return
        last["pred"] = outcome.prediction
        flush()
        self._outcome = outcome
        if state.backend == "grad":
            self.memory[state.loop] = fitter.step_memory()
        elapsed = time.perf_counter() - t0
        if token.superseded:
            return
        values = ", ".join(f"{n} = {v:.4g}" for n, v in outcome.best_params.items())
        per_step = f"{1000 * outcome.seconds / max(outcome.n_steps, 1):.1f} ms per step"
        memory = self.memory.get(state.loop) if state.backend == "grad" else None
        if memory:
            per_step += f", peak {memory / 2**20:.2f} MiB ({state.loop})"
        head = (f"stopped after {outcome.n_steps:,} of {state.n_steps:,} steps" if outcome.stopped
                else f"{outcome.n_steps:,} steps in {fmt_ms(elapsed)}")
        self._set_status(Status("cancelled" if outcome.stopped else "done",
                                f"{head} ({per_step}); best loss {outcome.best_loss:.4g} at step "
                                f"{outcome.best_step + 1:,}: {values}", 1.0, elapsed), token)

    def _retitle(self, what: str) -> None:
        """Name the fit (``"HopfStep fit"``) in every figure's title."""
        for name, title in _TITLES.items():
            self.figures[name].title.text = f"{what}: {title}"

    def _set_matrix_range(self, name: str, n: int) -> None:
        matrix_ticks(self.figures[name], [f"R{i}" for i in range(n)])


def _check_fit(fitter: CachedFitter, backend: str, n_fit: int, loop: str) -> None:
    """Refuse a fit over the memory or work a request may take: a gradient step keeps
    ``GRAD_VALUES[loop]`` values per integration step and region for its backward pass; a nevergrad
    generation records the run of each candidate; every loss evaluation integrates the whole run."""
    what = (f"a {backend} fit to a run of {fitter.duration.to_decimal(u.ms):g} ms at dt = "
            f"{fitter.sim.dt.to_decimal(u.ms):g} ms")
    run = ((fitter.run_steps, "steps"), (fitter.regions, "regions"))
    if backend == "grad":
        held = (*run, (GRAD_VALUES[loop], f"values kept for the gradient ({loop})"))
        evaluations = ((n_fit, "gradient steps"),)
    elif backend == "nevergrad":
        held = ((_POPULATION, "candidates"), *run)
        evaluations = ((n_fit, "generations"), (_POPULATION, "candidates"))
    else:
        held = run
        evaluations = ((n_fit, "evaluations"),)
    limits().check_memory(what, held)
    limits().check_work(what, (*run, *evaluations))


def _objective(objective: Any) -> Any:
    """Weights with the zero ones dropped (unless all are zero: the fitter names that), and one
    objective of weight 1 by its name."""
    if not isinstance(objective, Mapping):
        return objective
    used = {k: v for k, v in objective.items() if not (isinstance(v, (int, float)) and v == 0)}
    used = used or dict(objective)
    if len(used) == 1 and next(iter(used.values())) == 1:
        return next(iter(used))
    return used


def _fc(x: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.nan_to_num(np.corrcoef(np.asarray(x, dtype=float).T)).reshape(x.shape[1], x.shape[1])


def _cells(matrix: np.ndarray) -> dict[str, Any]:
    labels = tuple(f"R{i}" for i in range(matrix.shape[0]))
    return NetworkController._cells(matrix, labels)

