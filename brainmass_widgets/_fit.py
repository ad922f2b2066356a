"""Fitting a model to data through one compiled gradient step, cached by structure.

:class:`CachedFitter` builds the model inside the compiled step from traced parameters, exactly as
:class:`~brainmass_widgets.CachedSimulator` does for runs, and differentiates the loss through the
whole rollout. Fitted parameters live in an unconstrained space mapped into their slider range by
a sigmoid (``brainstate.nn.SigmoidT``, as ``brainmass.Fitter`` does with a ``Param``), so a fit
never leaves the range a slider can show. The learning rate, the starting values, the fixed
parameters, the objective weights and the target's values are all arguments of the step: changing
any of them reuses the compiled program. The step calls brainmass's own objectives
(``brainmass.objectives``) and gives the same loss history as ``brainmass.Fitter``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import brainmass
import brainstate
import brainunit as u
import jax
import jax.numpy as jnp
import numpy as np
import optax
from brainstate.nn import SigmoidT

from ._adapters import get_state
from ._compile import CompileCache
from ._engine import CachedSimulator
from ._extras import import_extra
from ._files import read_csv, read_npy, read_npz
from ._network import NetworkModel
from ._units import one_line

__all__ = ["BACKENDS", "LOOPS", "MAX_TARGET_BYTES", "METHODS", "OBJECTIVES", "OPTIMIZERS", "CachedFitter",
           "FitOutcome", "load_target"]

MAX_TARGET_BYTES = 64 * 2**20
"""The largest target file read, in bytes: as sent and as unpacked (a ``.npz`` is checked from its
zip directory and ``.npy`` headers before any data is unpacked; a ``.csv`` by the bytes read)."""

#: Objectives from :mod:`brainmass.objectives`, by name, each as a loss (lower is better).
OBJECTIVES: dict[str, Callable[[], Callable]] = {
    "timeseries_rmse": lambda: brainmass.objectives.timeseries_rmse(),
    "fc_corr": lambda: brainmass.objectives.fc_corr(as_loss=True),
    "fc_rmse": lambda: brainmass.objectives.fc_rmse(),
    "cosine_sim": lambda: brainmass.objectives.cosine_sim(as_loss=True),
}
#: Gradient transformations of :mod:`optax` (``braintools.optim`` wraps the same ones).
OPTIMIZERS: dict[str, Callable[[], optax.GradientTransformation]] = {
    "adam": lambda: optax.scale_by_adam(b1=0.9, b2=0.999, eps=1e-8),
    "rmsprop": lambda: optax.scale_by_rms(decay=0.99, eps=1e-8),
    "sgd": lambda: optax.identity(),
}
#: ``"grad"``: the compiled gradient step; the gradient-free searches inside the bounds that
#: ``brainmass.Fitter`` offers: ``"nevergrad"`` (a population per generation, evaluated by one
#: compiled vmap program) and ``"scipy"`` (``scipy.optimize.minimize``).
BACKENDS = ("grad", "nevergrad", "scipy")
#: The loop the gradient flows through: ``"for_loop"`` keeps every step's activations,
#: ``"checkpointed"`` (``brainstate.transform.checkpointed_for_loop``) recomputes them.
LOOPS = ("for_loop", "checkpointed")
#: Methods of the gradient-free backends; the first is the default.
METHODS = {"nevergrad": ("DE", "TwoPointsDE", "CMA", "PSO", "NGOpt"), "scipy": ("Nelder-Mead", "Powell")}


class _Stop(Exception):
    """Raised inside a gradient-free search to end it (the caller asked to stop)."""


@dataclass
class FitOutcome:
    """A finished (or stopped) fit.

    Attributes
    ----------
    backend : str
        ``"grad"`` or ``"scipy"``.
    history : list of float
        The loss at every step (``grad``: before that step's update, as ``brainmass.Fitter``
        records it; ``scipy``: every evaluated candidate).
    path : dict of str to list of float
        Each fitted parameter's value at every step, in its catalogue unit.
    best_loss : float
        The lowest loss seen.
    best_params : dict of str to float
        The parameters that gave it.
    best_step : int
        The step that gave it.
    prediction : array
        The monitored trace at the best parameters, shaped like the target.
    stopped : bool
        Whether the fit ended before its ``n_steps`` (stop requested).
    seconds : float
        Wall time of the fit.
    """

    backend: str
    history: list[float] = field(default_factory=list)
    path: dict[str, list[float]] = field(default_factory=dict)
    best_loss: float = float("inf")
    best_params: dict[str, float] = field(default_factory=dict)
    best_step: int = -1
    prediction: np.ndarray | None = None
    stopped: bool = False
    seconds: float = 0.0

    @property
    def n_steps(self) -> int:
        """Steps (evaluations for ``scipy``) taken."""
        return len(self.history)

    def record(self, loss: float, params: Mapping[str, float], prediction: Any) -> bool:
        """Append one step; returns whether it is the best so far (its prediction is then kept)."""
        self.history.append(loss)
        for name, value in params.items():
            self.path.setdefault(name, []).append(value)
        if np.isfinite(loss) and loss < self.best_loss:
            self.best_loss, self.best_params = loss, dict(params)
            self.best_step = len(self.history) - 1
            self.prediction = prediction
            return True
        return False


def load_target(source: Any, *, name: str = "target") -> np.ndarray:
    """Read a fitting target as a ``(time, regions)`` float32 array.

    Parameters
    ----------
    source : str, path-like, bytes or array-like
        ``"example_signal"`` (brainmass's bundled 8-region signal, 500 samples at 1 ms), a ``.npz``
        file (its ``signal`` array, or its only array), a ``.npy`` or a ``.csv`` file (one column
        per region, an optional header row), the bytes of such a file (at most
        :data:`MAX_TARGET_BYTES`, also unpacked), or an array (1-D: one region).
    name : str
        What the messages call it (a file name, say).

    Returns
    -------
    numpy.ndarray
        The target, shaped ``(time, regions)``.

    Raises
    ------
    ValueError
        An unreadable or too large file, pickled objects, values that are not real numbers, more
        than 2 dimensions, no samples, or NaN/inf (with the first bad index).
    """
    if isinstance(source, str) and source == "example_signal":
        data = np.asarray(brainmass.datasets.load_dataset("example_signal").signal)
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise ValueError(f"{name}: no such file {str(path)!r}")
        data = _read_file(path, path.suffix.lower(), path.name)
    elif isinstance(source, (bytes, bytearray)):
        if len(source) > MAX_TARGET_BYTES:
            raise ValueError(f"{name} has {len(source):,} bytes; at most {MAX_TARGET_BYTES:,} are allowed")
        data = _read_file(bytes(source), Path(name).suffix.lower(), name)
    else:
        data = np.asarray(u.get_magnitude(source))
    if data.dtype.kind not in "fiu":
        raise ValueError(f"{name} must hold numbers; got dtype {data.dtype}")
    data = np.asarray(data, dtype=np.float32)
    if data.ndim == 1:
        data = data[:, None]
    if data.ndim != 2:
        raise ValueError(f"{name} must be shaped (time, regions); got shape {data.shape}")
    if data.shape[0] < 2 or data.shape[1] < 1:
        raise ValueError(f"{name} needs at least 2 samples and 1 region; got shape {data.shape}")
    bad = np.argwhere(~np.isfinite(data))
    if len(bad):
        t, r = bad[0]
        raise ValueError(f"{name} holds {len(bad)} NaN/inf values, the first at sample {t}, region {r}")
    return data


def _read_file(source: bytes | Path, suffix: str, name: str) -> np.ndarray:
    """The array in a target file (its bytes or its path), at most :data:`MAX_TARGET_BYTES` unpacked."""
    try:
        if suffix == ".npz":
            arrays = read_npz(source, name=name, max_bytes=MAX_TARGET_BYTES)
            if "signal" in arrays:
                return arrays["signal"]
            if len(arrays) == 1:
                return next(iter(arrays.values()))
            raise ValueError(f"{name} holds {', '.join(arrays) or 'nothing'}; name the target array 'signal'")
        if suffix == ".npy":
            return read_npy(source, name=name, max_bytes=MAX_TARGET_BYTES)
        if suffix == ".csv":
            return read_csv(source, name=name, max_bytes=MAX_TARGET_BYTES)[1]
    except ValueError as exc:
        if str(exc).startswith(name):
            raise
        raise ValueError(f"{name} could not be read as {suffix}: {exc}") from None
    except Exception as exc:
        raise ValueError(f"{name} could not be read as {suffix or 'a file'}: {exc}") from None
    raise ValueError(f"{name}: unsupported file type {suffix or '(none)'!r}; use .npz, .npy or .csv")


def _finite_float(name: str, value: Any, what: str) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{what} {name!r} must be a number; got {value!r}")
    try:
        out = float(u.get_magnitude(value))
    except (TypeError, ValueError):
        raise ValueError(f"{what} {name!r} must be a number; got {value!r}") from None
    if not np.isfinite(out):
        raise ValueError(f"{what} {name!r} must be finite; got {value!r}")
    return out


class CachedFitter:
    """Fit parameters of a catalogue model (or a network) to a target through cached programs.

    Parameters
    ----------
    model : str or NetworkModel, default "HopfStep"
        A catalogue name, or a :class:`NetworkModel` (regions over a connectome; adds ``k``).
    fit : sequence of str, default ("a", "w")
        The parameters to fit. Each moves inside its slider range (``bounds`` overrides).
    params : dict, optional
        Values of the parameters not fitted (catalogue defaults otherwise).
    bounds : dict of str to (low, high), optional
        Ranges of fitted parameters (default: the catalogue's slider range).
    dt : brainunit.Quantity, optional
        Integration step (the catalogue's by default).
    in_size : int, default 1
        Nodes of a catalogue model (a network has its own).
    duration, transient : brainunit.Quantity or float (ms), optional
        The run compared with the target (catalogue duration) and its unrecorded lead (none).
    sample_every : int, default 1
        Record every ``sample_every`` steps (a target sampled at 1 ms with dt = 0.1 ms: 10).
    monitor : str, optional
        The state compared with the target (the model's default monitor).
    init : dict, optional
        Initial state values (catalogue defaults).
    objective : str or dict of str to float, default "timeseries_rmse"
        A name in :data:`OBJECTIVES` or weights over several (``brainmass.objectives.combine``).
    optimizer : str, default "adam"
        A name in :data:`OPTIMIZERS`.
    loop : str, default "for_loop"
        ``"for_loop"`` or ``"checkpointed"`` (activations recomputed on the backward pass, bounding
        memory for long rollouts; ``checkpoint_base`` steps per segment).
    checkpoint_base : int, default 16
        Segment length of ``brainstate.transform.checkpointed_for_loop``.
    cache : CompileCache, optional
        Where the compiled programs are kept (a private cache by default).

    Examples
    --------
    >>> import brainmass_widgets as bw
    >>> fitter = bw.CachedFitter("HopfStep", fit=("a", "w"), duration=100.0)
    >>> target = fitter.predict({"a": 0.4, "w": 0.3})
    >>> out = fitter.fit(target, initial={"a": 0.2, "w": 0.25}, lr=0.05, n_steps=5)
    >>> len(out.history)
    5
    """

    def __init__(self, model: str | NetworkModel = "HopfStep", *, fit: Sequence[str] = ("a", "w"),
                 params: Mapping[str, Any] | None = None, bounds: Mapping[str, Sequence[float]] | None = None,
                 dt: Any = None, in_size: int = 1, duration: Any = None, transient: Any = None,
                 sample_every: int | None = None, monitor: str | None = None,
                 init: Mapping[str, Any] | None = None,
                 objective: str | Mapping[str, float] = "timeseries_rmse",
                 optimizer: str = "adam", loop: str = "for_loop", checkpoint_base: int = 16,
                 cache: CompileCache | None = None):
        if not isinstance(model, (str, NetworkModel)):
            raise ValueError(f"model must be a catalogue name or a NetworkModel; got {model!r}")
        self.sim = CachedSimulator(model, dt=dt, in_size=in_size, cache=cache)
        spec_params = self.sim.adapter.params
        if isinstance(fit, str):
            fit = (fit,)
        fit = tuple(fit)
        if not fit:
            raise ValueError(f"select at least one parameter to fit; valid: {one_line(spec_params)}")
        for name in fit:
            if name not in spec_params:
                raise ValueError(f"unknown parameter {name!r} to fit; valid: {one_line(spec_params)}")
            if spec_params[name].role != "param":
                raise ValueError(f"{name!r} drives the model from outside; fit a model parameter: "
                                 f"{one_line(n for n, p in spec_params.items() if p.role == 'param')}")
        if len(set(fit)) != len(fit):
            raise ValueError(f"each fitted parameter once; got {', '.join(fit)}")
        self.fit_names = fit
        self.bounds: dict[str, tuple[float, float]] = {}
        for name in fit:
            p = spec_params[name]
            low, high = (bounds or {}).get(name, (p.low, p.high))
            low = _finite_float(name, low, "lower bound of")
            high = _finite_float(name, high, "upper bound of")
            if not low < high:
                raise ValueError(f"bounds of {name!r} must have low < high; got {low!r} .. {high!r}")
            self.bounds[name] = (low, high)
        unknown = [n for n in (bounds or {}) if n not in fit]
        if unknown:
            raise ValueError(f"bounds given for {unknown[0]!r}, which is not fitted; "
                             f"fitted: {', '.join(fit)}")
        self._t = {name: SigmoidT(*self.bounds[name]) for name in fit}
        self.units = {name: spec_params[name].unit for name in fit}
        self.fixed = self.sim.check_params(params, skip=fit)
        spec = self.sim.spec
        self.duration = duration if duration is None or isinstance(duration, u.Quantity) else duration * u.ms
        self.duration = self.duration if self.duration is not None else spec.duration
        self.transient = (transient if transient is None or isinstance(transient, u.Quantity)
                          else transient * u.ms)
        self.run_steps, self._n_tr, self._stride = self.sim.steps(self.duration, self.transient, sample_every)
        self.sample_every = self._stride
        self.monitor = self.sim.check_monitors(monitor)[0]
        self.init = self.sim.check_init(init)
        self.objective = self._objective(objective)
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {optimizer!r}; valid: {', '.join(OPTIMIZERS)}")
        self.optimizer = optimizer
        self._tx = OPTIMIZERS[optimizer]()
        if loop not in LOOPS:
            raise ValueError(f"unknown loop {loop!r}; valid: {', '.join(LOOPS)}")
        if isinstance(checkpoint_base, bool) or not isinstance(checkpoint_base, int) or checkpoint_base < 1:
            raise ValueError(f"checkpoint_base must be an integer >= 1; got {checkpoint_base!r}")
        self.loop = loop
        self.checkpoint_base = checkpoint_base
        self._structure = (fit, tuple(self.bounds.items()), self.monitor, self.run_steps, self._n_tr,
                           self._stride, tuple(self.objective), optimizer, loop, checkpoint_base)

    # ------------------------------------------------------------------ description

    @property
    def samples(self) -> int:
        """Rows of the recorded trace (and of a target)."""
        return len(range(self._n_tr, self.run_steps, self._stride))

    @property
    def regions(self) -> int:
        """Columns of the recorded trace (and of a target)."""
        return int(np.prod(np.atleast_1d(self.sim.in_size)))

    @property
    def sample_dt(self) -> Any:
        """Time between recorded samples."""
        return self.sim.dt * self._stride

    def cache_info(self) -> dict[str, int]:
        """Compile-cache counters, as :meth:`CachedSimulator.cache_info`."""
        return self.sim.cache_info()

    def _objective(self, objective: str | Mapping[str, float]) -> dict[str, float]:
        weights = {objective: 1.0} if isinstance(objective, str) else dict(objective)
        if not weights:
            raise ValueError(f"choose an objective; valid: {', '.join(OBJECTIVES)}")
        for name, w in weights.items():
            if name not in OBJECTIVES:
                raise ValueError(f"unknown objective {name!r}; valid: {', '.join(OBJECTIVES)}")
            if _finite_float(name, w, "weight of objective") < 0:
                raise ValueError(f"weight of objective {name!r} must be >= 0; got {w!r}")
        if not any(float(w) > 0 for w in weights.values()):
            raise ValueError("at least one objective weight must be > 0")
        return {name: float(w) for name, w in weights.items()}

    # ------------------------------------------------------------------ argument checks

    def check_target(self, target: Any, name: str = "target") -> np.ndarray:
        """``target`` as float32 ``(samples, regions)``, or a ``ValueError`` saying what the run records."""
        data = load_target(target, name=name)
        if data.shape != (self.samples, self.regions):
            raise ValueError(
                f"{name} is shaped {data.shape} (samples, regions); this run records ({self.samples}, "
                f"{self.regions}): {self.duration} - transient {self.transient or 0 * u.ms} at dt = "
                f"{self.sim.dt}, every {self._stride} step(s). Change duration, transient or sample_every, "
                f"or use a target of that shape")
        return data

    def check_values(self, values: Mapping[str, Any] | None, what: str) -> dict[str, float]:
        """``values`` of fitted parameters as floats; ``ValueError`` names an unknown or bad one
        (``what`` begins the message, e.g. ``"true value of"``)."""
        values = dict(values or {})
        unknown = [n for n in values if n not in self.fit_names]
        if unknown:
            raise ValueError(f"{what} names {unknown[0]!r}, which is not fitted; "
                             f"fitted: {', '.join(self.fit_names)}")
        out = {}
        for name in self.fit_names:
            p = self.sim.adapter.params[name]
            value = values.get(name, p.default)
            if isinstance(value, u.Quantity) and p.unit is not None:
                try:
                    value = value.to_decimal(p.unit)
                except Exception:
                    raise ValueError(f"{what} {name!r} = {value} does not convert to {p.unit}") from None
            out[name] = _finite_float(name, value, what)
        return out

    def check_initial(self, initial: Mapping[str, Any] | None) -> dict[str, float]:
        """A fit's starting values (the defaults, updated by ``initial``), each within its bounds."""
        start = self.check_values(initial, "initial value of")
        for name, value in start.items():
            low, high = self.bounds[name]
            if not low < value < high:
                raise ValueError(f"initial value of {name!r} = {value!r} must lie strictly inside its bounds "
                                 f"{low!r} .. {high!r}")
        return start

    @staticmethod
    def check_lr(lr: Any) -> float:
        """The learning rate as a float; ``ValueError`` unless it is finite and > 0."""
        value = _finite_float("lr", lr, "learning rate")
        if value <= 0:
            raise ValueError(f"learning rate must be > 0; got {lr!r}")
        return value

    # ------------------------------------------------------------------ traced pieces

    def _rollout(self, values: Mapping[str, Any], init_vals: Mapping[str, Any]) -> jax.Array:
        """Build, initialise and run the model; the monitored magnitudes as ``(samples, regions)``."""
        sim, path = self.sim, self.sim.adapter.path(self.monitor)
        model, inputs = sim.adapter.build(sim.in_size, values)
        dt = sim.dt

        def step(i):
            with brainstate.environ.context(i=i, t=i * dt):
                model.update(**inputs)
            return u.get_magnitude(get_state(model, path).value)

        with brainstate.environ.context(dt=dt):
            with brainstate.random.seed_context(jax.random.PRNGKey(0)):
                sim.init_states(model, None)
            sim.apply_init(model, init_vals)
            indices = jnp.arange(self.run_steps, dtype=jnp.int32)
            if self.loop == "checkpointed":
                rec = brainstate.transform.checkpointed_for_loop(step, indices, base=self.checkpoint_base)
            else:
                rec = brainstate.transform.for_loop(step, indices)
        return rec[self._n_tr::self._stride].reshape(self.samples, self.regions)

    def _loss(self, theta, fixed, init_vals, target, weights):
        values = dict(fixed)
        values.update({name: self._t[name].forward(theta[name]) for name in self.fit_names})
        pred = self._rollout(values, init_vals)
        loss = 0.0
        for i, name in enumerate(self.objective):
            loss = loss + weights[i] * OBJECTIVES[name]()(pred, target)
        return loss, pred

    def _program(self, kind: str, make: Callable[[], Callable]) -> Callable:
        return self.sim.program(kind, *self._structure, make=make)

    def _step_program(self) -> Callable:
        def make():
            def step(theta, opt_state, fixed, init_vals, target, weights, lr):
                (loss, pred), grads = jax.value_and_grad(self._loss, has_aux=True)(
                    theta, fixed, init_vals, target, weights)
                updates, opt_state = self._tx.update(grads, opt_state, theta)
                stats = jnp.stack([loss] + [self._t[n].forward(theta[n]) for n in self.fit_names])
                theta = jax.tree.map(lambda p, d: p - lr * d, theta, updates)
                return theta, opt_state, stats, pred

            return step

        return self._program("fit-step", make)

    def step_memory(self) -> int | None:
        """Peak memory of the compiled gradient step, in bytes, as XLA accounts it (arguments,
        outputs and temporaries: the activations kept for the backward pass); ``None`` before the
        first gradient step of this structure."""
        executables = self._step_program().executables()
        if not executables:
            return None
        stats = executables[0].memory_analysis()
        return int(stats.temp_size_in_bytes + stats.argument_size_in_bytes + stats.output_size_in_bytes)

    def _loss_program(self) -> Callable:
        return self._program("fit-loss", lambda: self._loss)

    def _weights(self) -> np.ndarray:
        return np.asarray(list(self.objective.values()), dtype=np.float32)

    def _theta(self, values: Mapping[str, float]) -> dict[str, np.ndarray]:
        return {name: np.asarray(self._t[name].inverse(jnp.float32(values[name])), dtype=np.float32)
                for name in self.fit_names}

    # ------------------------------------------------------------------ public computations

    def predict(self, params: Mapping[str, Any] | None = None) -> np.ndarray:
        """The monitored trace at ``params`` (fitted parameters; others fixed), ``(samples, regions)``.

        A synthetic target: ``fitter.predict({"a": 0.4, "w": 0.3})``.
        """
        values = self.check_values(params, "value of")
        full = {**{k: np.asarray(v) for k, v in self.fixed.items()},
                **{k: np.float32(v) for k, v in values.items()}}
        res = self.sim.run(self.duration, params=full, monitors=[self.monitor], transient=self.transient,
                           sample_every=self._stride, init=self.init)
        trace = np.array(u.get_magnitude(res[self.monitor]), dtype=np.float32)
        return trace.reshape(self.samples, self.regions)

    def loss(self, params: Mapping[str, Any] | None, target: Any) -> float:
        """The objective at ``params`` against ``target`` (one forward run, compiled once)."""
        values = self.check_values(params, "value of")
        target = self.check_target(target)
        bounded = {n: np.float32(np.clip(v, *self.bounds[n])) for n, v in values.items()}
        theta = self._theta(bounded)
        loss, _ = self._loss_program()(theta, self.fixed, self.init, target, self._weights())
        return float(loss)

    def fit(self, target: Any, *, initial: Mapping[str, Any] | None = None, lr: float = 0.05,
            n_steps: int = 100, backend: str = "grad", method: str | None = None, population: int = 8,
            on_step: Callable[[int, float, dict[str, float], np.ndarray], bool | None] | None = None,
            ) -> FitOutcome:
        """Fit the parameters to ``target``.

        Parameters
        ----------
        target : array-like, str or path-like
            ``(samples, regions)`` data (see :func:`load_target`), shaped as the run records.
        initial : dict, optional
            Starting values of the fitted parameters, strictly inside their bounds (defaults otherwise).
        lr : float, default 0.05
            Learning rate (``grad``).
        n_steps : int, default 100
            Gradient steps (``grad``), generations (``nevergrad``) or loss evaluations at most
            (``scipy``).
        backend : str, default "grad"
            ``"grad"`` (the compiled gradient step), ``"nevergrad"`` or ``"scipy"`` (gradient-free,
            inside the bounds, on the compiled loss).
        method : str, optional
            The gradient-free optimizer, one of :data:`METHODS` for the backend (its first by
            default): nevergrad's ``"DE"``, ``"TwoPointsDE"``, ``"CMA"``, ``"PSO"``, ``"NGOpt"``;
            scipy's ``"Nelder-Mead"``, ``"Powell"``.
        population : int, default 8
            Candidates per nevergrad generation (evaluated together in one vmap program).
        on_step : callable, optional
            ``on_step(step, loss, params, prediction)`` after every step (for ``nevergrad``: with
            the generation's best candidate); returning ``False`` stops the fit (the best
            parameters so far are kept).

        Returns
        -------
        FitOutcome
        """
        target = self.check_target(target)
        start = self.check_initial(initial)
        if isinstance(n_steps, bool) or not isinstance(n_steps, (int, np.integer)) or n_steps < 1:
            raise ValueError(f"n_steps must be an integer >= 1; got {n_steps!r}")
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; valid: {', '.join(BACKENDS)}")
        if backend == "grad":
            return self._fit_grad(target, start, self.check_lr(lr), int(n_steps), on_step)
        method = METHODS[backend][0] if method is None else method
        if method not in METHODS[backend]:
            raise ValueError(f"unknown {backend} method {method!r}; valid: {', '.join(METHODS[backend])}")
        if backend == "scipy":
            return self._fit_scipy(target, start, int(n_steps), method, on_step)
        if isinstance(population, bool) or not isinstance(population, (int, np.integer)) or \
                not 2 <= population <= 256:
            raise ValueError(f"population must be an integer in 2 .. 256; got {population!r}")
        return self._fit_nevergrad(target, start, int(n_steps), method, int(population), on_step)

    def _fit_grad(self, target, start, lr, n_steps, on_step) -> FitOutcome:
        program = self._step_program()
        theta = jax.device_put(self._theta(start))
        opt_state = self._tx.init(theta)
        fixed, init, target, weights, lr32 = jax.device_put(
            (self.fixed, self.init, target, self._weights(), np.float32(lr)))
        out = FitOutcome("grad")
        t0 = time.perf_counter()
        for step in range(n_steps):
            theta, opt_state, stats, pred = program(theta, opt_state, fixed, init, target, weights, lr32)
            stats = np.asarray(stats, dtype=float)
            loss, params = float(stats[0]), dict(zip(self.fit_names, stats[1:].tolist(), strict=True))
            out.record(loss, params, pred)
            if on_step is not None and on_step(step, loss, params, pred) is False:
                out.stopped = step + 1 < n_steps
                break
        out.seconds = time.perf_counter() - t0
        out.prediction = None if out.prediction is None else np.asarray(out.prediction)
        return out

    def _batch_loss_program(self) -> Callable:
        def make():
            return brainstate.transform.vmap(self._loss, in_axes=(0, None, None, None, None))

        return self._program("fit-batch-loss", make)

    def _fit_nevergrad(self, target, start, n_steps, method, population, on_step) -> FitOutcome:
        ng = import_extra("nevergrad", "fit", "the nevergrad fitting backend")
        names = self.fit_names
        lows, highs = (np.array([self.bounds[n][i] for n in names]) for i in (0, 1))
        parametrization = ng.p.Array(init=np.array([start[n] for n in names]), lower=lows, upper=highs)
        parametrization.random_state = np.random.RandomState(0)
        optimizer = ng.optimizers.registry[method](parametrization=parametrization,
                                                   budget=n_steps * population, num_workers=population)
        program = self._batch_loss_program()
        fixed, init, target, weights = jax.device_put((self.fixed, self.init, target, self._weights()))
        out = FitOutcome("nevergrad")
        t0 = time.perf_counter()
        for step in range(n_steps):
            candidates = [optimizer.ask() for _ in range(population)]
            values = np.clip(np.stack([c.value for c in candidates]), lows, highs).astype(np.float32)
            theta = {n: np.asarray(self._t[n].inverse(jnp.asarray(values[:, i])), dtype=np.float32)
                     for i, n in enumerate(names)}
            losses, preds = program(theta, fixed, init, target, weights)
            losses = np.asarray(losses, dtype=float)
            for candidate, loss in zip(candidates, losses, strict=True):
                optimizer.tell(candidate, loss if np.isfinite(loss) else 1e30)
            best = int(np.nanargmin(np.where(np.isfinite(losses), losses, np.nan))) \
                if np.isfinite(losses).any() else 0
            params = {n: float(values[best, i]) for i, n in enumerate(names)}
            out.record(float(losses[best]), params, preds[best])
            if on_step is not None and on_step(step, float(losses[best]), params, preds[best]) is False:
                out.stopped = step + 1 < n_steps
                break
        out.seconds = time.perf_counter() - t0
        out.prediction = None if out.prediction is None else np.asarray(out.prediction)
        return out

    def _fit_scipy(self, target, start, n_steps, method, on_step) -> FitOutcome:
        from scipy.optimize import minimize

        program = self._loss_program()
        weights = self._weights()
        out = FitOutcome("scipy")
        names = self.fit_names

        def loss_at(vector: np.ndarray) -> float:
            if out.n_steps >= n_steps:
                raise _Stop
            params = {n: float(np.clip(v, *self.bounds[n])) for n, v in zip(names, vector, strict=True)}
            loss, pred = program(self._theta(params), self.fixed, self.init, target, weights)
            loss = float(loss)
            out.record(loss, params, pred)
            if on_step is not None and on_step(out.n_steps - 1, loss, params, pred) is False:
                out.stopped = True
                raise _Stop
            return loss if np.isfinite(loss) else 1e30

        t0 = time.perf_counter()
        try:
            minimize(loss_at, np.array([start[n] for n in names]), method=method,
                     bounds=[self.bounds[n] for n in names], options={"maxfev": n_steps})
        except _Stop:
            pass
        out.seconds = time.perf_counter() - t0
        out.prediction = None if out.prediction is None else np.asarray(out.prediction)
        return out
