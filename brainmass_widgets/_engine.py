"""The compiled engine: a simulator whose compiled programs are cached by structure, never by value.

:class:`CachedSimulator` builds the brainmass model *inside* each compiled program, from traced
parameter arguments, so a parameter change reuses the program (plain ``brainmass.Simulator``
builds a new jit on every call, and caching a jitted run of a model instance bakes its parameters
in as constants). Three programs exist per structure:

* ``init``: build the model, initialise its states (seeded RNG) and apply initial values;
* ``chunk``: continue from an explicit state and RNG key for a fixed number of steps, recording the
  monitored states (the recipe's ``scan`` with a carry) -- one run is one chunk, a stream is many;
* ``sweep``: a vmap of a whole run plus a metric over a padded block of grid points.
"""

from __future__ import annotations

import functools
import inspect
import json
import math
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import brainmass
import brainstate
import brainunit as u
import jax
import jax.numpy as jnp
import numpy as np

from . import _scaleout
from ._catalog import ModelSpec, ParamSpec, catalog, model_spec, spec_from_class
from ._files import read_npz
from ._metrics import resolve_metric
from ._network import K_PARAM, NetworkModel

__all__ = ["MAX_SWEEP_BYTES", "CachedSimulator", "CompileCache", "SimResult", "SweepResult", "compile_notice"]

MAX_SWEEP_BYTES = 64 * 2**20
"""The largest saved sweep read by :meth:`SweepResult.load`, in bytes: as sent and as unpacked."""

_NOISE_PARAMS = (
    ParamSpec("noise_sigma", 0.01, None, 0.0, 0.5, 0.005,
              "Strength of the Ornstein-Uhlenbeck noise, in the unit of the noisy state's input."),
    ParamSpec("noise_tau", 10.0, u.ms, 0.1, 100.0, 0.1,
              "Correlation time of the Ornstein-Uhlenbeck noise."),
)
_SWEEP_BUDGET_BYTES = 256 * 2**20
_MAX_SWEEP_CHUNK = 256


# ----------------------------------------------------------------------------- results


class SimResult(dict):
    """The result of :meth:`CachedSimulator.run` (or one piece of a stream).

    A ``dict`` with the same keys, shapes and units as ``brainmass.Simulator.run``: one entry per
    monitor, shaped ``(time, [batch,] *regions)``, and ``"ts"``, the simulation time at the end of
    each recorded step.

    Attributes
    ----------
    diverged : int or None
        ``None`` when every recorded value is finite; otherwise the index of the first integration
        step (counted from the start of the run, transient included) whose state holds NaN or inf.
    done, total : int
        Integration steps computed so far and in the whole run (equal for :meth:`run`).
    """

    def __init__(self, data: Mapping[str, Any], diverged: int | None, done: int, total: int):
        super().__init__(data)
        self.diverged = diverged
        self.done = done
        self.total = total


@dataclass
class SweepResult:
    """Values of a metric over a grid of one or two parameters.

    Attributes
    ----------
    values : numpy.ndarray
        Shaped ``grid_shape + metric_shape + regions``: ``grid_shape`` is ``(n,)`` or ``(n1, n2)``
        in the order of ``axes``; ``metric_shape`` is ``(2,)`` for ``"minmax"`` (min, max) and
        ``()`` for the others; ``regions`` is the model's ``in_size`` and is left out when it is 1.
        So with ``in_size=4`` each grid point holds one value per region. Points not computed yet
        (or cancelled) hold NaN.
    axes : dict of str to numpy.ndarray
        The swept values, as magnitudes in the parameter's unit.
    metric, monitor : str
        What was measured, on which state.
    unit : brainunit.Unit or None
        Unit of ``values``.
    diverged : numpy.ndarray of bool
        ``grid_shape``; True where the monitored trace held NaN or inf.
    done, total : int
        Grid points computed, and in the grid.
    cancelled : bool
        True when ``on_chunk`` stopped the sweep early.
    compiles : int
        Programs compiled by this sweep (0 when a cached block shape was reused); with a Dask
        client, summed over the workers.
    executor : str
        Where the sweep ran, in words ("this process", "4 CPU devices", "Dask cluster at ...").
    model : str
        The catalogue model swept ("" for networks and factories).
    settings : dict
        What every point shared, as plain numbers: ``dt_ms``, ``duration_ms``, ``transient_ms``,
        ``sample_every``, ``in_size``, ``seed``, the fixed ``params`` and the ``init`` values (in
        the catalogue's units).
    """

    values: np.ndarray
    axes: dict[str, np.ndarray]
    metric: str
    monitor: str
    unit: Any
    diverged: np.ndarray
    done: int = 0
    total: int = 0
    cancelled: bool = False
    compiles: int = field(default=0, repr=False)
    executor: str = field(default="this process", repr=False)
    model: str = field(default="", repr=False)
    settings: dict[str, Any] = field(default_factory=dict, repr=False)

    _FORMAT = "brainmass-widgets sweep 1"

    def save(self, file: Any) -> None:
        """Write the result to a ``.npz`` file (a path or a binary file object): values, diverged,
        axes and metadata, plus any extra array attributes (a partial or cancelled sweep keeps its
        NaN for the points not computed). Read it back with :meth:`load`."""
        arrays = {"values": self.values, "diverged": self.diverged}
        arrays.update({f"axis:{k}": v for k, v in self.axes.items()})
        arrays.update({f"extra:{k}": v for k, v in vars(self).items() if isinstance(v, np.ndarray)
                       and k not in ("values", "diverged")})
        meta = {"format": self._FORMAT, "model": self.model, "metric": self.metric, "monitor": self.monitor,
                "unit": "" if self.unit is None else str(self.unit), "executor": self.executor,
                "settings": json.dumps(self.settings)}
        np.savez_compressed(file, **arrays, **{f"meta:{k}": np.asarray(v) for k, v in meta.items()},
                            counts=np.array([self.done, self.total, self.cancelled, self.compiles]))

    @classmethod
    def load(cls, file: Any, *, max_bytes: int = MAX_SWEEP_BYTES) -> SweepResult:
        """Read a result written by :meth:`save` (a path, a binary file object or the file's
        bytes); data only, nothing in the file is unpickled or evaluated.

        Parameters
        ----------
        file : str, path-like, bytes or binary file object
        max_bytes : int, default MAX_SWEEP_BYTES
            The most bytes the file may hold and its arrays unpack to (checked from the zip
            directory and the ``.npy`` headers before anything is unpacked).

        Raises
        ------
        ValueError
            If the file is not a saved sweep, or is or unpacks to more than ``max_bytes``.
        """
        name = os.path.basename(file) if isinstance(file, str | os.PathLike) else "the file"
        if isinstance(file, bytes | bytearray) and len(file) > max_bytes:
            raise ValueError(f"{name} has {len(file):,} bytes; at most {max_bytes:,} are accepted")
        try:
            data = read_npz(file, name=name, max_bytes=max_bytes)
        except (OSError, ValueError) as exc:
            raise ValueError(f"not a saved sweep (.npz written by SweepResult.save): {exc}") from None
        if str(data.get("meta:format", "")) != cls._FORMAT or "values" not in data:
            raise ValueError("not a saved sweep (.npz written by SweepResult.save)")
        unit_name = str(data["meta:unit"])
        done, total, cancelled, compiles = (int(x) for x in data["counts"])
        res = cls(values=data["values"], axes={k[5:]: v for k, v in data.items() if k.startswith("axis:")},
                  metric=str(data["meta:metric"]), monitor=str(data["meta:monitor"]),
                  unit=getattr(u, unit_name, unit_name) if unit_name else None, diverged=data["diverged"],
                  done=done, total=total, cancelled=bool(cancelled), compiles=compiles,
                  executor=str(data["meta:executor"]), model=str(data["meta:model"]),
                  settings=json.loads(str(data["meta:settings"])))
        for k, v in data.items():
            if k.startswith("extra:"):
                setattr(res, k[6:], v)
        return res


# ----------------------------------------------------------------------------- compile cache

_notice = threading.local()

STATE_LOCK = threading.RLock()
"""Held while a program is traced (brainstate's process-wide RNG then holds a tracer) and while
a warm program reads or writes that state; anything else that traces brainstate code holds it
too."""


@contextmanager
def compile_notice(callback: Callable[[], Any]) -> Iterator[None]:
    """Call ``callback()`` whenever a program is about to be compiled in this thread.

    A front end uses it to say "compiling" before the first use of a new shape, which takes
    seconds where a cached program takes milliseconds.

    Parameters
    ----------
    callback : callable
        Called with no arguments, in the computing thread, before each compile.
    """
    previous = getattr(_notice, "callback", None)
    _notice.callback = callback
    try:
        yield
    finally:
        _notice.callback = previous



class CompileCache:
    """A bounded LRU map from a structure key to a compiled program, with counters.

    Parameters
    ----------
    maxsize : int
        Programs kept; the least recently used is dropped beyond it.
    """

    def __init__(self, maxsize: int = 64):
        if maxsize < 1:
            raise ValueError(f"maxsize must be >= 1, got {maxsize!r}")
        self.maxsize = maxsize
        self._entries: OrderedDict[tuple, Callable] = OrderedDict()
        self._lock = threading.Lock()
        self.compiles = 0
        self.hits = 0

    def get(self, key: tuple, make: Callable[[], Callable]) -> Callable:
        """The program for ``key``, made (and counted as a compile) on a miss."""
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                self.hits += 1
                return self._entries[key]
            callback = getattr(_notice, "callback", None)
            if callback is not None:
                callback()
            program = make()
            self._entries[key] = program
            self.compiles += 1
            while len(self._entries) > self.maxsize:
                self._entries.popitem(last=False)
            return program

    def info(self) -> dict[str, int]:
        """``{"compiles", "hits", "entries", "maxsize"}``."""
        with self._lock:
            return {"compiles": self.compiles, "hits": self.hits,
                    "entries": len(self._entries), "maxsize": self.maxsize}


class _Executable:
    """A program traced by ``brainstate.transform.jit`` and called through its compiled executable.

    ``brainstate``'s jit re-derives a cache key from every argument on each call (about 0.3 ms);
    the engine's programs see the same argument shapes call after call, so after the first call
    of a given argument signature (shapes, dtypes) the compiled executable and its state trace are
    reused directly. The state values it reads are passed in and those it writes are written back,
    exactly as the jitted function does.

    The float32 arguments that are numpy arrays at a signature's first call travel to the device
    as one packed vector that the program slices apart again, not one transfer each: parameters,
    initial values and targets are many small host arrays. (Should a later call bring a device
    array in such a place, it is packed too, through the host.)

    Tracing sets brainstate's process-wide RNG state to a tracer for a while, so tracing and
    compiling hold :data:`STATE_LOCK` throughout, and a warm call holds it only while it reads
    the state values and while it writes them back: warm programs of different threads run at
    the same time, and never see a tracer. A program that only carries its states through
    unchanged (the engine's programs seed their own RNG and restore brainstate's afterwards) does
    not depend on their values and leaves them as they were: its calls skip the reading and
    writing back, and the lock.

    With ``devices`` (a program whose arguments are sharded over several devices), arguments are
    passed as they are, and the states it touches (brainstate's RNG) are replicated over those
    devices for the call and put back where they were afterwards (under the lock), so
    single-device programs can still use them.
    """

    def __init__(self, fun: Callable, devices: tuple[Any, ...] | None = None):
        self._fun = fun
        self._devices = devices
        self._compiled: dict[tuple, _Compiled] = {}

    def executables(self) -> list[Any]:
        """The compiled executables made so far, one per argument signature."""
        return [entry.executable for entry in list(self._compiled.values())]

    def __call__(self, *args: Any) -> Any:
        leaves, treedef = jax.tree.flatten(args)
        sig = (treedef, tuple(map(_leaf_signature, leaves)))
        entry = self._compiled.get(sig)
        if entry is None:
            with STATE_LOCK:
                entry = self._compiled.get(sig)
                if entry is None:
                    entry = self._compiled[sig] = self._compile(args, leaves, treedef)
        call_args = entry.arguments(args, leaves)
        if entry.carried is not None:
            return entry.executable(entry.carried, *call_args)[1]
        trace = entry.trace
        if self._devices is not None:
            with STATE_LOCK, self._placed(trace):
                read = trace.get_read_state_values(True)
                writes, outs = entry.executable(trace.get_state_values(), *call_args)
                trace.assign_state_vals_v2(read, writes)
            return outs
        with STATE_LOCK:
            read = trace.get_read_state_values(True)
            values = trace.get_state_values()
        writes, outs = entry.executable(values, *call_args)
        with STATE_LOCK:
            trace.assign_state_vals_v2(read, writes)
        return outs

    def _compile(self, args: tuple, leaves: list, treedef: Any) -> _Compiled:
        packed = tuple(i for i, x in enumerate(leaves) if _packable(x)) if self._devices is None else ()
        if len(packed) > 1:
            layout = tuple(leaves[i].shape if i in packed else None for i in range(len(leaves)))
            fun = _unpacking(self._fun, treedef, layout)
            entry = _Compiled(leaves, packed)
            call_args = entry.arguments(args, leaves)
        else:
            fun, entry, call_args = self._fun, _Compiled(leaves, ()), args
        jitted = brainstate.transform.jit(fun)
        stateful = jitted.stateful_fun
        entry.trace = stateful.get_state_trace(*call_args, compile_if_miss=True)
        with self._placed(entry.trace):
            entry.executable = jitted.compile(*call_args)
        if self._devices is None:
            entry.carried = _carried_states(stateful.get_jaxpr(*call_args, compile_if_miss=True), entry.trace)
        return entry

    @contextmanager
    def _placed(self, trace: Any) -> Iterator[None]:
        if self._devices is None:
            yield
            return
        replicated = _scaleout.replicated(self._devices)
        homes = [(st, st.value.sharding) for st in trace.states]
        for st, _ in homes:
            st.value = jax.device_put(st.value, replicated)
        try:
            yield
        finally:
            for st, home in homes:
                st.value = jax.device_put(st.value, home)


# ----------------------------------------------------------------------------- helpers


def _leaf_signature(x: Any) -> tuple:
    """Shape, dtype and weak type of one argument leaf: what a compiled executable is specific to
    (a numpy array and a device array of the same shape and dtype share one)."""
    if isinstance(x, np.ndarray):
        return x.shape, x.dtype, False
    return np.shape(x), getattr(x, "dtype", type(x)), getattr(x, "weak_type", False)


class _Compiled:
    """One argument signature's executable, its state trace, and how its arguments are passed."""

    __slots__ = ("packed", "others", "scalars", "executable", "trace", "carried")

    def __init__(self, leaves: list, packed: tuple[int, ...]):
        self.packed = packed
        self.others = tuple(i for i in range(len(leaves)) if i not in packed)
        self.scalars = all(leaves[i].ndim == 0 for i in packed)
        self.executable: Any = None
        self.trace: Any = None
        self.carried: tuple | None = None

    def arguments(self, args: tuple, leaves: list) -> tuple:
        """The call's arguments as the executable takes them: the packed leaves and the others."""
        if not self.packed:
            return args
        if self.scalars:
            flat = np.array([leaves[i] for i in self.packed], dtype=np.float32)
        else:
            flat = np.concatenate([leaves[i].reshape(-1) for i in self.packed])
        return flat, tuple(leaves[i] for i in self.others)


def _packable(x: Any) -> bool:
    return isinstance(x, np.ndarray) and x.dtype == np.float32


def _unpacking(fun: Callable, treedef: Any, layout: tuple) -> Callable:
    """``fun`` taking ``(flat, others)``: the leaves whose ``layout`` entry is a shape are cut from
    ``flat`` in order, the others come from ``others``, and the arguments are rebuilt."""

    def unpacked(flat, others):
        rest = iter(others)
        leaves, start = [], 0
        for shape in layout:
            if shape is None:
                leaves.append(next(rest))
            else:
                size = math.prod(shape)
                leaves.append(flat[start:start + size].reshape(shape))
                start += size
        return fun(*jax.tree.unflatten(treedef, leaves))

    return unpacked


def _carried_states(closed_jaxpr: Any, trace: Any) -> tuple | None:
    """State values to pass to a program that only carries its states through, else ``None``.

    True when every state is written, each written value is the very value read (the same jaxpr
    variable, as when a ``seed_context`` restores the RNG it replaced) and no equation or other
    output uses it: the program then neither depends on the states nor changes them, so the
    values at compile time serve every call and nothing needs writing back.
    """
    if not all(trace.been_writen):
        return None
    values = trace.get_state_values()
    jaxpr = closed_jaxpr.jaxpr
    n = len(jax.tree.leaves(values))
    if n == 0:
        return values
    state_in = jaxpr.invars[-n:]
    if len(jaxpr.outvars) < n or any(a is not b for a, b in zip(jaxpr.outvars[-n:], state_in, strict=True)):
        return None
    ids = {id(v) for v in state_in}
    used = any(id(v) in ids for eqn in jaxpr.eqns for v in eqn.invars)
    if used or any(id(v) in ids for v in jaxpr.outvars[:-n]):
        return None
    return values


def _shown(value: Any) -> str:
    """``value`` as a message shows it: a scalar quantity as ``"-1 ms"``, anything else as its repr."""
    if isinstance(value, u.Quantity) and np.ndim(value.mantissa) == 0:
        try:
            return f"{float(value.mantissa):g} {value.unit}"
        except (TypeError, ValueError):
            pass
    return repr(value)


def _steps(value: Any, dt: Any, what: str, allow_int: bool = False) -> int:
    """A duration as a whole number of ``dt`` steps; ``ValueError`` if it is not one."""
    if allow_int and _is_count(value):
        return int(value)
    if not isinstance(value, u.Quantity):
        raise ValueError(f"{what} must be a time such as 100 ms (100 * u.ms); got {_shown(value)}")
    try:
        if value.unit == dt.unit:
            ratio = float(value.mantissa) / float(dt.mantissa)
        else:
            ratio = float(np.asarray(u.get_magnitude(value / dt)))
    except Exception as exc:
        raise ValueError(f"{what} must be a time such as 100 ms (100 * u.ms); got {_shown(value)}") from exc
    if not math.isfinite(ratio):
        raise ValueError(f"{what} must be finite; got {_shown(value)}")
    nearest = round(ratio)
    if abs(ratio - nearest) > 1e-6 * max(1.0, abs(ratio)):
        raise ValueError(
            f"{what} {_shown(value)} is not a whole number of steps of dt = {_shown(dt)} "
            f"({ratio:.6g} steps); "
            f"use a multiple of dt"
        )
    return int(nearest)


_PLAIN_NUMBERS = frozenset({float, int, np.float64, np.float32, np.float16,
                            np.int64, np.int32, np.int16, np.int8})
"""Number types whose canonical form needs no unit handling (bool is left out on purpose)."""
_F32_MAX = float(np.finfo(np.float32).max)


def _canon(name: str, value: Any, unit: Any, what: str = "parameter") -> np.ndarray:
    """A value as a float32 array of magnitudes in ``unit``; ``ValueError`` naming ``name``."""
    if type(value) in _PLAIN_NUMBERS and -_F32_MAX <= value <= _F32_MAX:
        return np.array(value, dtype=np.float32)
    allowed = "a number" if unit is None else f"a number (in {unit}) or a quantity convertible to {unit}"
    if isinstance(value, (bool, np.bool_, str, bytes)) or value is None:
        raise ValueError(f"{what} {name!r} must be {allowed}; got {value!r}")
    if isinstance(value, u.Quantity):
        try:
            mag = value.to_decimal(unit) if unit is not None else value.to_decimal()
        except Exception as exc:
            raise ValueError(f"{what} {name!r} must be {allowed}; got {value!r}") from exc
    else:
        mag = value
    finite = f"{what} {name!r} must be finite and within float32 range (|x| <= {_F32_MAX:.4g}); got "
    try:
        with np.errstate(over="ignore"):
            arr = np.asarray(mag, dtype=np.float32)
    except OverflowError as exc:
        raise ValueError(f"{finite}{value!r}") from exc
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} {name!r} must be {allowed}; got {value!r}") from exc
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{finite}{value!r}")
    return arr


def _remembered(memo: dict, key: Any, make: Callable[[], Any], size: int) -> Any:
    """``memo[key]``, made by ``make()`` on a miss; the memo is emptied when it holds ``size``."""
    value = memo.get(key)
    if value is None:
        if len(memo) >= size:
            memo.clear()
        value = memo[key] = make()
    return value


def _timing_key(*values: Any) -> tuple | None:
    """A hashable key for durations given as quantities with a plain-number mantissa, step counts
    or ``None`` (types included, so that ``True`` never passes for ``1``); ``None`` otherwise."""
    key = []
    for v in values:
        if isinstance(v, u.Quantity):
            if type(v.mantissa) not in (float, int):
                return None
            key.append((u.Quantity, v.mantissa, v.unit))
        elif v is None or type(v) is int:
            key.append((type(v), v))
        else:
            return None
    return tuple(key)


def _signature(values: Mapping[str, np.ndarray]) -> tuple:
    """The structural part of a dict of arrays: names and shapes."""
    return tuple((k, v.shape if isinstance(v, np.ndarray) else np.shape(v)) for k, v in values.items())


def _get_state(model: Any, path: str) -> Any:
    """The state at a dotted attribute path."""
    obj = model
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def _state_values(model: Any) -> dict[str, Any]:
    """Every state of ``model`` by dotted path."""
    return {".".join(map(str, k)): v.value for k, v in model.states().items()}


def _load_states(model: Any, values: Mapping[str, Any]) -> None:
    """Write carried state values back into a freshly built ``model``."""
    for k, st in model.states().items():
        st.value = values[".".join(map(str, k))]


def _first_bad(rec: Mapping[str, Any]) -> jax.Array:
    """Index of the first row of ``rec`` with a non-finite value, or -1.

    One sum per leaf decides whether anything is non-finite (NaN and inf propagate through it);
    the row-wise search runs only then.
    """
    leaves = [u.get_magnitude(x) for x in jax.tree.leaves(rec, is_leaf=lambda x: isinstance(x, u.Quantity))]

    def search():
        ok = None
        for mag in leaves:
            fin = jnp.all(jnp.isfinite(mag).reshape(mag.shape[0], -1), axis=1)
            ok = fin if ok is None else ok & fin
        return jnp.where(jnp.all(ok), -1, jnp.argmin(ok)).astype(jnp.int32)

    total = sum(jnp.sum(mag) for mag in leaves)
    return jax.lax.cond(jnp.isfinite(total), lambda: jnp.int32(-1), search)


def _record_slice(i0: int, n: int, n_tr: int, k: int) -> slice | None:
    """Rows of the chunk ``[i0, i0 + n)`` that the run records (after the transient, every k-th)."""
    first = max(i0, n_tr)
    first += (-(first - n_tr)) % k
    return slice(first - i0, None, k) if first < i0 + n else None


def _is_count(value: Any) -> bool:
    """True for a Python or numpy integer (not a bool)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _is_model_class(obj: Any) -> bool:
    return inspect.isclass(obj) and issubclass(obj, brainstate.nn.Module)


def _one_line(names: Any) -> str:
    return ", ".join(map(str, names))


# ----------------------------------------------------------------------------- model adapters


class _SpecModel:
    """A catalogue (or class-derived) model: typed parameters with units, known states."""

    def __init__(self, spec: ModelSpec, noise: Any):
        self.spec = spec
        self.key = ("spec", spec.model_class)
        self.params: dict[str, ParamSpec] = dict(spec.params)
        self.states = spec.states
        self.state_units = dict(spec.state_units)
        self.default_monitor = spec.default_monitor
        self.default_init = dict(spec.init)
        if noise is True:
            noisy = tuple(spec.noise_args)
        elif not noise:
            noisy = ()
        else:
            noisy = (noise,) if isinstance(noise, str) else tuple(noise)
        bad = [s for s in noisy if s not in spec.noise_args]
        if bad:
            raise ValueError(
                f"noise on {bad[0]!r} is not available for {spec.name}; "
                f"states that take noise: {_one_line(spec.noise_args) or 'none'}"
            )
        if noise is True and not noisy:
            raise ValueError(f"{spec.name} takes no additive noise")
        self.noisy = noisy
        if noisy:
            self.params.update({p.name: p for p in _NOISE_PARAMS})

    def defaults(self) -> dict[str, Any]:
        return {name: p.default for name, p in self.params.items()}

    def canon(self, name: str, value: Any) -> np.ndarray:
        if name not in self.params:
            raise ValueError(
                f"unknown parameter {name!r} for {self.spec.name}; valid: {_one_line(self.params)}"
            )
        return _canon(name, value, self.params[name].unit)

    def path(self, state: str) -> str:
        """Attribute path of a state variable in the built model."""
        return state

    def _noise(self, in_size: Any, values: Mapping[str, Any]) -> dict[str, Any]:
        noise = {}
        for state in self.noisy:
            unit = self.spec.noise_units[state]
            sigma = values["noise_sigma"] if unit is None else values["noise_sigma"] * unit
            noise[state] = brainmass.OUProcess(in_size, sigma=sigma, tau=values["noise_tau"] * u.ms)
        return noise

    def build(self, in_size: Any, values: Mapping[str, Any]) -> tuple[Any, dict]:
        model_values = {k: v for k, v in values.items() if k in self.spec.params}
        return (self.spec.build(in_size, model_values, self._noise(in_size, values)),
                self.spec.inputs(model_values))


class _NetworkAdapter(_SpecModel):
    """A :class:`NetworkModel`: the node's parameters and states, plus the global coupling ``k``."""

    def __init__(self, net: NetworkModel, dt: Any):
        super().__init__(net.spec, net.noise)
        self.net = net
        self.dt = dt
        self.key = net.key
        self.params["k"] = K_PARAM
        self.default_monitor = net.coupled_var

    def path(self, state: str) -> str:
        return f"node.{state}"

    def build(self, in_size: Any, values: Mapping[str, Any]) -> tuple[Any, dict]:
        node_values = {k: v for k, v in values.items() if k in self.spec.params}
        with brainstate.environ.context(dt=self.dt):  # the delay buffers are sized from dt
            return self.net.build(node_values, values["k"], self._noise(self.net.n, values)), {}


class _FactoryModel:
    """A user factory ``f(**params) -> module``: parameters keep the units they are given in."""

    def __init__(self, factory: Callable, in_size: Any, dt: Any):
        self.key = ("factory", factory)
        self.factory = factory
        sig = inspect.signature(factory)
        self.any_name = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
        self.names = [n for n, p in sig.parameters.items()
                      if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        self.units: dict[str, Any] = {}
        self._defaults = {}
        for n in self.names:
            d = sig.parameters[n].default
            if isinstance(d, (int, float, u.Quantity)) and not isinstance(d, bool):
                self._defaults[n] = d
        with brainstate.environ.context(dt=dt):
            probe = factory()
            brainstate.nn.init_all_states(probe)
        self.states = tuple(_state_values(probe))
        self.state_units = {s: (None if u.get_unit(v).is_unitless else u.get_unit(v))
                            for s, v in _state_values(probe).items()}
        self.default_monitor = self.states[0]
        self.default_init: dict[str, Any] = {}
        self.noisy = ()

    def defaults(self) -> dict[str, Any]:
        return dict(self._defaults)

    def canon(self, name: str, value: Any) -> np.ndarray:
        if name not in self.names and not self.any_name:
            raise ValueError(f"unknown parameter {name!r} for {self.factory.__name__}; "
                             f"valid: {_one_line(self.names)}")
        if isinstance(value, u.Quantity) and name not in self.units:
            self.units[name] = value.unit
        return _canon(name, value, self.units.get(name))

    def path(self, state: str) -> str:
        return state

    def build(self, in_size: Any, values: Mapping[str, Any]) -> tuple[Any, dict]:
        kwargs = {k: (v if self.units.get(k) is None else v * self.units[k]) for k, v in values.items()}
        return self.factory(**kwargs), {}


# ----------------------------------------------------------------------------- simulator


class CachedSimulator:
    """Run, stream and sweep a brainmass model through compiled programs cached by structure.

    Parameters
    ----------
    model : str, type, NetworkModel or callable
        A catalogue name (``"HopfStep"``), a brainmass model class (its first constructor argument
        is ``in_size``), a :class:`NetworkModel` (regions coupled through a connectome; its
        parameters add ``k``), or a factory ``f(**params) -> brainstate module`` (called inside
        the compiled program, with traced parameters).
    dt : brainunit.Quantity, optional
        Integration step. Defaults to the catalogue's ``dt`` for the model; required otherwise.
    in_size : int or tuple of int, default 1
        Number (shape) of nodes. Ignored for factories and networks, which have their own size.
    noise : bool, str or sequence of str, default False
        Additive Ornstein-Uhlenbeck noise: ``True`` on every state that takes it, or on the named
        states. Adds the parameters ``noise_sigma`` and ``noise_tau``.
    cache : CompileCache, optional
        Share compiled programs between simulators (programs hold no user state). A private cache
        of ``cache_size`` programs by default.
    cache_size : int, default 64
        Size of the private cache.

    Examples
    --------
    >>> import brainunit as u, brainmass_widgets as bw
    >>> sim = bw.CachedSimulator("HopfStep", in_size=2, dt=0.1 * u.ms)
    >>> res = sim.run(10 * u.ms, params={"a": 0.3}, init={"x": 0.5})
    >>> res["x"].shape
    (100, 2)
    """

    def __init__(self, model: str | type | Callable, *, dt: Any = None, in_size: Any = 1,
                 noise: Any = False, cache: CompileCache | None = None, cache_size: int = 64):
        network = model if isinstance(model, NetworkModel) else None
        if network is not None:
            spec = network.spec
            in_size = network.n
        elif isinstance(model, str):
            spec = model_spec(model)
        elif _is_model_class(model):
            spec = next((s for s in catalog() if s.model_class is model), None)
            spec = spec or spec_from_class(model)
        elif callable(model):
            spec = None
        else:
            raise ValueError(f"model must be a catalogue name, a model class or a factory; got {model!r}")
        if dt is None:
            if spec is None:
                raise ValueError("dt is required for a factory model, e.g. dt=0.1 * u.ms")
            dt = spec.dt
        if not isinstance(dt, u.Quantity) or not u.get_unit(dt).has_same_dim(u.ms) or not float(
                u.get_magnitude(dt)) > 0:
            raise ValueError(f"dt must be a positive time such as 0.1 ms (0.1 * u.ms); got {_shown(dt)}")
        self.dt = dt
        self.in_size = in_size
        self.spec = spec
        if network is not None:
            if noise:
                raise ValueError("a network takes its noise from NetworkModel(..., noise=True)")
            self._model: _SpecModel | _FactoryModel = _NetworkAdapter(network, dt)
        elif spec is None:
            if noise:
                raise ValueError("noise= applies to catalogue models; a factory builds its own noise")
            self._model = _FactoryModel(model, in_size, dt)
        else:
            self._model = _SpecModel(spec, noise)
        self._cache = cache if cache is not None else CompileCache(cache_size)
        self._canon_defaults: dict[str, np.ndarray] | None = None
        self._ts: dict[tuple, np.ndarray] = {}
        self._timings: dict[tuple, tuple[int, int, int]] = {}
        self._ctor = (model, {"dt": dt, "in_size": in_size, "noise": noise})
        self._base_key = (self._model.key, str(in_size), str(dt), self._model.noisy)

    # ------------------------------------------------------------------ public introspection

    @property
    def states(self) -> tuple[str, ...]:
        """State variables that can be monitored or initialised."""
        return self._model.states

    @property
    def param_names(self) -> tuple[str, ...]:
        """Parameters accepted in ``params`` (and as sweep axes)."""
        return tuple(self._model.defaults())

    def cache_info(self) -> dict[str, int]:
        """Compile-cache counters: ``compiles`` (programs built), ``hits``, ``entries``, ``maxsize``."""
        return self._cache.info()

    @property
    def param_specs(self) -> dict[str, ParamSpec]:
        """Every parameter accepted in ``params`` with its unit and slider range (the noise
        parameters and a network's ``k`` included); empty for a factory model."""
        return dict(getattr(self._model, "params", {}))

    def steps(self, duration: Any, transient: Any = None,
              sample_every: int | None = None) -> tuple[int, int, int]:
        """Integration steps of a run, as :meth:`run` counts them, without computing anything.

        Parameters
        ----------
        duration, transient, sample_every
            As for :meth:`run`.

        Returns
        -------
        (int, int, int)
            Steps of the run, steps of its transient, and the recording stride.

        Raises
        ------
        ValueError
            As :meth:`run` does for the same values.
        """
        return self._timing(duration, transient, sample_every)

    # ------------------------------------------------------------------ argument handling

    def _params(self, params: Mapping[str, Any] | None, skip: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
        if self._canon_defaults is None:
            defaults = {name: self._canon_checked(name, value)
                        for name, value in self._model.defaults().items()}
            for arr in defaults.values():
                arr.flags.writeable = False
            self._canon_defaults = defaults
        out = dict(self._canon_defaults)
        for name, value in (params or {}).items():
            if name not in skip:
                out[name] = self._canon_checked(name, value)
        for name in skip:
            self._model.canon(name, 0.0)
            out.pop(name, None)
        return out

    def _value_columns(self, columns: Mapping[str, Any], what: str) -> dict[str, np.ndarray]:
        """Each named sequence of values in the model's units, checked to be a non-empty 1-D array
        (``what`` begins the error message: ``"grid axis"``, ``"points of"``)."""
        out = {}
        for name, raw in columns.items():
            arr = self._model.canon(name, raw)
            if arr.ndim != 1 or arr.size == 0:
                raise ValueError(f"{what} {name!r} must be a non-empty 1-D array; got shape {arr.shape}")
            out[name] = arr
        return out

    def _canon_checked(self, name: str, value: Any) -> np.ndarray:
        arr = self._model.canon(name, value)
        self._check_shape(name, arr.shape)
        return arr

    def _check_shape(self, name: str, shape: tuple) -> None:
        if not shape or isinstance(self._model, _FactoryModel):
            return
        varshape = tuple(np.atleast_1d(self.in_size))
        try:
            ok = np.broadcast_shapes(shape, varshape) == varshape
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(f"parameter {name!r} has shape {shape}; it must broadcast to in_size {varshape}")

    def _init(self, init: Mapping[str, Any] | None) -> dict[str, np.ndarray]:
        merged = dict(self._model.default_init)
        merged.update(init or {})
        out = {}
        for name, value in merged.items():
            if name not in self._model.states:
                raise ValueError(f"unknown state {name!r} in init; valid: {_one_line(self._model.states)}")
            out[name] = _canon(name, value, self._model.state_units.get(name), what="initial value of")
        return out

    def _monitors(self, monitors: Any) -> tuple[str, ...]:
        if monitors is None:
            monitors = [self._model.default_monitor]
        elif isinstance(monitors, str):
            monitors = [monitors]
        monitors = tuple(monitors)
        if not monitors:
            raise ValueError("monitors must name at least one state")
        for m in monitors:
            if m not in self._model.states:
                raise ValueError(f"unknown monitor {m!r}; valid: {_one_line(self._model.states)}")
        return monitors

    def _timing(self, duration: Any, transient: Any, sample_every: Any) -> tuple[int, int, int]:
        key = _timing_key(duration, transient, sample_every)
        count = functools.partial(self._count_steps, duration, transient, sample_every)
        return count() if key is None else _remembered(self._timings, key, count, 64)

    def _count_steps(self, duration: Any, transient: Any, sample_every: Any) -> tuple[int, int, int]:
        n = _steps(duration, self.dt, "duration")
        if n < 1:
            raise ValueError(f"duration {_shown(duration)} must be at least one step of "
                             f"dt = {_shown(self.dt)}")
        n_tr = 0 if transient is None else _steps(transient, self.dt, "transient", allow_int=True)
        if not 0 <= n_tr < n:
            raise ValueError(f"transient {_shown(transient)} ({n_tr} steps) must be >= 0 and shorter "
                             f"than the run, duration {_shown(duration)} ({n} steps)")
        if sample_every is None:
            k = 1
        elif _is_count(sample_every) and sample_every >= 1:
            k = int(sample_every)
        else:
            raise ValueError(f"sample_every must be an integer >= 1; got {sample_every!r}")
        return n, n_tr, k

    @staticmethod
    def _batch(batch_size: Any) -> int | None:
        if batch_size is None:
            return None
        if _is_count(batch_size) and batch_size >= 1:
            return int(batch_size)
        raise ValueError(f"batch_size must be None or an integer >= 1; got {batch_size!r}")

    @staticmethod
    def _seed(seed: Any) -> jax.Array:
        if not _is_count(seed) or not 0 <= seed < 2**64:
            raise ValueError(f"seed must be an integer in 0 .. 2**64 - 1; got {seed!r}")
        seed = int(seed)
        return np.array([seed >> 32, seed & 0xFFFFFFFF], dtype=np.uint32)

    # ------------------------------------------------------------------ program builders

    def _init_states(self, model: Any, batch_size: int | None) -> None:
        if batch_size is None:
            brainstate.nn.init_all_states(model)
        else:
            brainstate.nn.init_all_states(model, batch_size)

    def _apply_init(self, model: Any, init_vals: Mapping[str, Any]) -> None:
        for name, v in init_vals.items():
            st = _get_state(model, self._model.path(name))
            unit = self._model.state_units.get(name)
            mag = jnp.broadcast_to(v, u.get_magnitude(st.value).shape)
            st.value = mag if unit is None else mag * unit

    def _make_init(self, batch_size: int | None) -> Callable:
        def init_program(values, init_vals, key):
            model, _ = self._model.build(self.in_size, values)
            with brainstate.environ.context(dt=self.dt):
                with brainstate.random.seed_context(key):
                    self._init_states(model, batch_size)
                    key_out = brainstate.random.get_key()
                self._apply_init(model, init_vals)
            return _state_values(model), key_out

        return init_program

    def _loop(self, model: Any, inputs: Mapping[str, Any], monitors: tuple[str, ...], indices: Any) -> Any:
        dt = self.dt

        def step(i):
            with brainstate.environ.context(i=i, t=i * dt):
                model.update(**inputs)
            return {m: _get_state(model, self._model.path(m)).value for m in monitors}

        return brainstate.transform.for_loop(step, indices)

    def _make_chunk(self, n: int, batch_size: int | None, monitors: tuple[str, ...]) -> Callable:
        def chunk_program(values, state, key, i0):
            model, inputs = self._model.build(self.in_size, values)
            with brainstate.environ.context(dt=self.dt):
                with brainstate.random.seed_context(jax.random.PRNGKey(0)):
                    self._init_states(model, batch_size)
                _load_states(model, state)
                with brainstate.random.seed_context(key):
                    rec = self._loop(model, inputs, monitors, i0 + jnp.arange(n, dtype=jnp.int32))
                    key_out = brainstate.random.get_key()
            return _state_values(model), key_out, rec, _first_bad(rec)

        return chunk_program

    def _whole_run(self, values, init_vals, key, n: int, batch_size: int | None,
                   monitors: tuple[str, ...]) -> dict[str, Any]:
        """Build, initialise and run the model for ``n`` steps (traced; shared by run and sweep)."""
        model, inputs = self._model.build(self.in_size, values)
        with brainstate.environ.context(dt=self.dt):
            with brainstate.random.seed_context(key):
                self._init_states(model, batch_size)
                self._apply_init(model, init_vals)
                return self._loop(model, inputs, monitors, jnp.arange(n, dtype=jnp.int32))

    def _make_run(self, n: int, n_tr: int, k: int, batch_size: int | None,
                  monitors: tuple[str, ...]) -> Callable:
        def run_program(values, init_vals, key):
            rec = self._whole_run(values, init_vals, key, n, batch_size, monitors)
            return {m: v[n_tr::k] for m, v in rec.items()}, _first_bad(rec)

        return run_program

    def _times(self, i0: int, n: int, rows: slice) -> Any:
        """Simulation time at the end of steps ``i0 .. i0 + n`` (the ``rows`` kept), in dt's unit."""
        times = _remembered(self._ts, (i0, n, rows.start, rows.stop, rows.step),
                            lambda: np.arange(i0 + 1, i0 + n + 1)[rows] * self.dt.mantissa, 16)
        return u.Quantity(times.copy(), unit=self.dt.unit)

    def _program(self, kind: str, *key: Any, make: Callable[[], Callable],
                 devices: tuple[Any, ...] | None = None) -> Callable:
        return self._cache.get(self._base_key + (kind,) + key + (_scaleout.device_key(devices),),
                               lambda: _Executable(make(), devices))

    def _start(self, values, init_vals, batch_size, seed):
        init_p = self._program("init", batch_size, _signature(values), _signature(init_vals),
                               make=lambda: self._make_init(batch_size))
        return init_p(values, init_vals, self._seed(seed))

    def _chunk(self, n, batch_size, monitors, values, state, key, i0):
        prog = self._program("chunk", n, batch_size, monitors, _signature(values),
                             make=lambda: self._make_chunk(n, batch_size, monitors))
        return prog(values, state, key, np.int32(i0))

    # ------------------------------------------------------------------ run / stream

    def run(self, duration: Any, *, params: Mapping[str, Any] | None = None, monitors: Any = None,
            init: Mapping[str, Any] | None = None, transient: Any = None, sample_every: int | None = None,
            batch_size: int | None = None, seed: int = 0) -> SimResult:
        """Simulate for ``duration`` and return the monitored trajectories.

        Parameters
        ----------
        duration : brainunit.Quantity
            Run length; must be a whole number of ``dt`` steps.
        params : dict, optional
            Parameter values (numbers in the parameter's unit, numpy scalars, 0-d or per-region
            arrays, or quantities in any compatible unit); the rest take their defaults.
        monitors : str or sequence of str, optional
            State variables to record (default: the model's default monitor).
        init : dict, optional
            Initial value per state name (the catalogue's initial values apply otherwise).
        transient : brainunit.Quantity or int, optional
            Leading time (or steps) computed but not recorded.
        sample_every : int, optional
            Record every k-th step.
        batch_size : int, optional
            Independent trajectories in one program (outputs gain a batch axis after time).
        seed : int, default 0
            Seed of brainstate's RNG for random initial states and noise: the same seed gives the
            same trajectory as ``brainstate.random.seed(seed)`` before a plain brainmass run.

        Returns
        -------
        SimResult
            As ``brainmass.Simulator.run`` returns, plus ``diverged``.

        Raises
        ------
        ValueError
            For an unknown parameter, monitor or state name, a non-finite or non-convertible
            value, or a duration that is not a whole number of steps.
        """
        values = self._params(params)
        init_vals = self._init(init)
        monitors = self._monitors(monitors)
        n, n_tr, k = self._timing(duration, transient, sample_every)
        batch_size = self._batch(batch_size)
        prog = self._program("run", n, n_tr, k, batch_size, monitors, _signature(values),
                             _signature(init_vals),
                             make=lambda: self._make_run(n, n_tr, k, batch_size, monitors))
        out, bad = prog(values, init_vals, self._seed(seed))
        out["ts"] = self._times(0, n, slice(n_tr, None, k))
        bad = int(bad)
        return SimResult(out, None if bad < 0 else bad, n, n)

    def stream(self, duration: Any, *, chunk: Any, params: Mapping[str, Any] | None = None,
               monitors: Any = None, init: Mapping[str, Any] | None = None, transient: Any = None,
               sample_every: int | None = None, batch_size: int | None = None,
               seed: int = 0) -> Iterator[SimResult]:
        """Yield one run in successive pieces as they are computed.

        The model state and RNG key are carried explicitly from one compiled chunk call to the
        next, so the pieces joined along time equal :meth:`run` with the same arguments. One
        program is compiled per chunk length (at most two: ``chunk`` and the remainder).

        Parameters
        ----------
        duration, chunk : brainunit.Quantity
            Run length and piece length, each a whole number of ``dt`` steps.
        params, monitors, init, transient, sample_every, batch_size, seed
            As for :meth:`run`.

        Yields
        ------
        SimResult
            One per chunk (empty while inside the transient); ``done`` / ``total`` count steps and
            ``diverged`` is set from the first piece holding NaN/inf on.
        """
        values = self._params(params)
        init_vals = self._init(init)
        monitors = self._monitors(monitors)
        n_total, n_tr, k = self._timing(duration, transient, sample_every)
        n_chunk = _steps(chunk, self.dt, "chunk")
        if n_chunk < 1:
            raise ValueError(f"chunk {_shown(chunk)} must be at least one step of dt = {_shown(self.dt)}")
        batch_size = self._batch(batch_size)
        return self._stream(values, init_vals, monitors, n_total, n_tr, k, n_chunk, batch_size, seed)

    def _stream(self, values, init_vals, monitors, n_total, n_tr, k, n_chunk, batch_size, seed):
        state, key = self._start(values, init_vals, batch_size, seed)
        diverged = None
        i0 = 0
        while i0 < n_total:
            n = min(n_chunk, n_total - i0)
            state, key, rec, bad = self._chunk(n, batch_size, monitors, values, state, key, i0)
            bad = int(bad)
            if diverged is None and bad >= 0:
                diverged = i0 + bad
            sl = _record_slice(i0, n, n_tr, k) or slice(0, 0)
            piece = {m: rec[m][sl] for m in monitors}
            piece["ts"] = self._times(i0, n, sl)
            i0 += n
            yield SimResult(piece, diverged, i0, n_total)

    def run_points(self, points: Mapping[str, Any], duration: Any, *,
                   params: Mapping[str, Any] | None = None, monitors: Any = None,
                   init: Mapping[str, Any] | None = None, transient: Any = None,
                   sample_every: int | None = None, batch_size: int | None = None,
                   seed: int = 0) -> SimResult:
        """Run the model once per point of a list of parameter values, in one compiled vmap program.

        The points are padded to a power of two (the padding repeats the last point), so lists of
        other lengths reuse the program. Every point uses the same seed, so each equals
        ``run(duration, params={**params, **point}, ..., seed=seed)``.

        Parameters
        ----------
        points : dict of str to array-like
            Parameter names, each with a 1-D array of values of the same length: point ``i`` takes
            the ``i``-th value of each (numbers in the parameter's unit or a quantity array).
        duration, params, monitors, init, transient, sample_every, batch_size, seed
            As for :meth:`run`; ``params`` fixes the parameters not in ``points``.

        Returns
        -------
        SimResult
            One entry per monitor shaped ``(time, points, [batch,] *regions)`` (the points take the
            place of a batch axis), ``"ts"`` as for :meth:`run`, and ``diverged``: the first step
            holding NaN/inf at any point, or ``None``.

        Raises
        ------
        ValueError
            As :meth:`run` does, and for no points or arrays of different lengths.
        """
        if not isinstance(points, Mapping) or not points:
            raise ValueError("points must be a dict of parameter names to 1-D arrays of values")
        names = tuple(points)
        values = self._params(params, skip=names)
        columns = self._value_columns(points, "points of")
        total = columns[names[0]].size
        if any(arr.size != total for arr in columns.values()):
            raise ValueError("every parameter in points needs the same number of values; got "
                             + ", ".join(f"{k}: {v.size}" for k, v in columns.items()))
        init_vals = self._init(init)
        monitors = self._monitors(monitors)
        n, n_tr, k = self._timing(duration, transient, sample_every)
        batch_size = self._batch(batch_size)
        block = 1 << max(0, math.ceil(math.log2(total)))
        idx = np.minimum(np.arange(block), total - 1)
        block_vals = {name: arr[idx] for name, arr in columns.items()}
        prog = self._program("points", block, n, n_tr, k, batch_size, monitors, names, _signature(values),
                             _signature(init_vals),
                             make=lambda: self._make_points(n, n_tr, k, batch_size, monitors))
        key = self._seed(seed)
        out, bad = prog(block_vals, values, init_vals, np.broadcast_to(key, (block,) + key.shape))
        data = {m: u.math.moveaxis(v[:total], 0, 1) for m, v in out.items()}
        data["ts"] = self._times(0, n, slice(n_tr, None, k))
        bad = np.asarray(bad)[:total]
        return SimResult(data, int(bad[bad >= 0].min()) if np.any(bad >= 0) else None, n, n)

    def _make_points(self, n: int, n_tr: int, k: int, batch_size: int | None,
                     monitors: tuple[str, ...]) -> Callable:
        def point(axis_vals, values, init_vals, key):
            rec = self._whole_run({**values, **axis_vals}, init_vals, key, n, batch_size, monitors)
            return {m: v[n_tr::k] for m, v in rec.items()}, _first_bad(rec)

        return brainstate.transform.vmap(point, in_axes=(0, None, None, 0))

    # ------------------------------------------------------------------ sweep

    def sweep(self, grid: Mapping[str, Any], *, duration: Any = None, params: Mapping[str, Any] | None = None,
              init: Mapping[str, Any] | None = None, transient: Any = None, sample_every: int | None = None,
              monitor: str | None = None, metric: str | Callable = "amplitude",
              on_chunk: Callable[[int, int, SweepResult], Any] | None = None,
              chunk_size: int | None = None, seed: int = 0, devices: Any = None,
              client: Any = None) -> SweepResult:
        """Run the model at every point of a grid of one or two parameters and reduce each run.

        Each block of grid points is one call of one compiled vmap program; blocks are padded to a
        few sizes (powers of two up to 256, fewer when the traces are large), so grids of other
        sizes reuse programs.

        Parameters
        ----------
        grid : dict of str to array-like
            One or two parameter names, each with a 1-D array of values (numbers in the
            parameter's unit or a quantity array).
        duration : brainunit.Quantity, optional
            Run length per point (default: the catalogue's duration).
        params, init, transient, sample_every, seed
            As for :meth:`run`; ``params`` fixes the parameters not swept. Every point uses the
            same seed, so each equals ``run(..., seed=seed)`` at that point.
        monitor : str, optional
            The state reduced by the metric (default: the model's default monitor).
        metric : str or callable, default "amplitude"
            ``"amplitude"`` (sqrt(2) x RMS after the transient), ``"minmax"``, ``"frequency"``
            (Hz), ``"mean"``, ``"std"``, or ``f(trace) -> array`` traced in the program, with
            ``trace`` shaped ``(time, *regions)`` (magnitudes).
        on_chunk : callable, optional
            ``on_chunk(done, total, partial_result)`` after each block; returning ``False`` cancels
            the rest (the result then has ``cancelled=True`` and NaN where not computed).
        chunk_size : int, optional
            Points per compiled block (default: chosen from the grid size and memory).
        devices : "all", int or sequence of jax.Device, optional
            Shard each block's grid points across these local JAX devices (``"all"``: every one;
            an int: the first ``n``): one compiled program, results gathered in grid order. Blocks
            are rounded up to a multiple of the device count.
        client : dask.distributed.Client, optional
            Run each block as a Dask task on the client's cluster. Each worker compiles once per
            block shape and keeps the program for later blocks and sweeps; ``on_chunk`` is called
            as blocks finish (in any order; ``done`` counts finished points) and returning
            ``False`` cancels the pending tasks. Tasks of a worker lost mid-sweep are run again
            elsewhere, so the result is complete and in grid order. The simulator and a callable
            metric must be picklable (cloudpickle: closures and local functions are). Without
            ``chunk_size``, blocks are made small enough to give each worker about two.

        Returns
        -------
        SweepResult
        """
        if not isinstance(grid, Mapping) or not 1 <= len(grid) <= 2:
            raise ValueError("grid must be a dict of one or two parameter names to 1-D arrays of values")
        names = tuple(grid)
        values = self._params(params, skip=names)
        axes = self._value_columns(grid, "grid axis")
        init_vals = self._init(init)
        monitor = self._monitors(monitor)[0]
        if duration is None:
            if self.spec is None:
                raise ValueError("duration is required for a factory model")
            duration = self.spec.duration
        n, n_tr, k = self._timing(duration, transient, sample_every)
        resolve_metric(metric)
        metric_name = metric if isinstance(metric, str) else getattr(metric, "__name__", "custom")
        grid_shape = tuple(a.size for a in axes.values())
        mesh = np.meshgrid(*axes.values(), indexing="ij")
        points = {name: m.reshape(-1) for name, m in zip(names, mesh, strict=True)}
        total = int(np.prod(grid_shape))
        block = self._block_size(total, n, chunk_size)
        devs = _scaleout.resolve_devices(devices)
        if client is not None:
            if devs is not None:
                raise ValueError("give devices= or client=, not both")
            _scaleout.check_client(client)
            if chunk_size is None:
                block = _scaleout.spread_block(block, total, client)
        elif devs is not None:
            block = -(-block // len(devs)) * len(devs)
        job = dict(block=block, n=n, n_tr=n_tr, k=k, monitor=monitor, names=names, values=values,
                   init_vals=init_vals, seed=seed)
        self._seed(seed)

        def block_at(start: int) -> dict[str, np.ndarray]:
            idx = np.minimum(np.arange(start, start + block), total - 1)
            return {name: p[idx] for name, p in points.items()}

        starts = range(0, total, block)
        if client is None:
            compiles_before = self._cache.compiles
            blocks = ((start, self._sweep_block(block_at(start), metric=metric, devices=devs, **job))
                      for start in starts)
        else:
            blob = metric if isinstance(metric, str) else _scaleout.pack(metric)
            blocks = _scaleout.dask_blocks(client, _scaleout.pack(self._ctor), blob, job,
                                           [(start, block_at(start)) for start in starts])
        executor = _scaleout.label(devs, client)
        dt_ms = float(self.dt.to_decimal(u.ms))
        settings = {"dt_ms": dt_ms, "duration_ms": n * dt_ms, "transient_ms": n_tr * dt_ms, "sample_every": k,
                    "in_size": np.atleast_1d(self.in_size).tolist(), "seed": int(seed),
                    "params": {p: v.tolist() for p, v in values.items()},
                    "init": {s: v.tolist() for s, v in init_vals.items()}}
        result = None
        flat_vals, flat_bad = None, np.zeros(total, bool)
        done = compiles = 0
        try:
            for start, out in blocks:
                vals, bad = out[0], out[1]
                stop = min(start + block, total)
                if flat_vals is None:
                    flat_vals = np.full((total,) + vals.shape[1:], np.nan, dtype=vals.dtype)
                flat_vals[start:stop] = vals[: stop - start]
                flat_bad[start:stop] = bad[: stop - start]
                done += stop - start
                compiles = out[2] + compiles if client is not None else self._cache.compiles - compiles_before
                result = self._sweep_result(flat_vals, flat_bad, grid_shape, axes, metric_name, monitor,
                                            metric, done, total)
                result.compiles, result.executor, result.settings = compiles, executor, settings
                if on_chunk is not None and on_chunk(done, total, result) is False:
                    result.cancelled = done < total
                    break
        finally:
            if client is not None:
                blocks.close()
        return result

    def _sweep_block(self, block_vals: Mapping[str, np.ndarray], *, block: int, n: int, n_tr: int, k: int,
                     monitor: str, metric: str | Callable, names: tuple[str, ...], values: Mapping[str, Any],
                     init_vals: Mapping[str, Any], seed: int,
                     devices: tuple[Any, ...] | None) -> tuple[np.ndarray, np.ndarray]:
        """One block of grid points through the compiled sweep program: ``(values, diverged)``."""
        prog = self._program("sweep", block, n, n_tr, k, monitor, metric, names, _signature(values),
                             _signature(init_vals), devices=devices,
                             make=lambda: self._make_sweep(n, n_tr, k, monitor, resolve_metric(metric)))
        key = self._seed(seed)
        keys = np.broadcast_to(key, (block,) + key.shape)
        if devices is not None:
            block_vals, keys = _scaleout.shard(block_vals, keys, devices)
        vals, bad = prog(block_vals, values, init_vals, keys)
        return np.asarray(vals), np.asarray(bad)

    def _block_size(self, total: int, n_steps: int, chunk_size: int | None) -> int:
        if chunk_size is not None:
            if not _is_count(chunk_size) or chunk_size < 1:
                raise ValueError(f"chunk_size must be an integer >= 1; got {chunk_size!r}")
            return int(chunk_size)
        block = 1 << max(0, math.ceil(math.log2(total)))
        regions = int(np.prod(np.atleast_1d(self.in_size)))
        by_memory = max(1, _SWEEP_BUDGET_BYTES // (n_steps * regions * 4 * 4))
        return max(1, min(block, _MAX_SWEEP_CHUNK, 1 << int(math.log2(by_memory))))

    def _sweep_result(self, flat_vals, flat_bad, grid_shape, axes, metric_name, monitor, metric, done, total):
        vals = flat_vals.reshape(grid_shape + flat_vals.shape[1:]).copy()
        if np.prod(np.atleast_1d(self.in_size)) == 1 and not isinstance(self._model, _FactoryModel):
            vals = vals.reshape(vals.shape[: vals.ndim - np.atleast_1d(self.in_size).size])
        if metric == "frequency":
            unit = u.Hz
        elif isinstance(metric, str):
            unit = self._model.state_units.get(monitor)
        else:
            unit = None
        return SweepResult(values=vals, axes={k: v.copy() for k, v in axes.items()}, metric=metric_name,
                           monitor=monitor, unit=unit, diverged=flat_bad.reshape(grid_shape).copy(),
                           done=done, total=total,
                           model=self.spec.name if type(self._model) is _SpecModel else "")

    def _make_sweep(self, n: int, n_tr: int, k: int, monitor: str, metric_fn: Callable) -> Callable:
        sample_s = float(u.get_magnitude(self.dt * k / u.second))

        def point(axis_vals, values, init_vals, key):
            rec = self._whole_run({**values, **axis_vals}, init_vals, key, n, None, (monitor,))
            trace = u.get_magnitude(rec[monitor])[n_tr::k]
            return metric_fn(trace, sample_s), _first_bad({monitor: trace}) >= 0

        return brainstate.transform.vmap(point, in_axes=(0, None, None, 0))
