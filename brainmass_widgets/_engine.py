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
import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import brainstate
import brainunit as u
import jax
import jax.numpy as jnp
import numpy as np

from . import _scaleout, _units
from ._adapters import (
    FactoryModel,
    ModelAdapter,
    NetworkAdapter,
    SpecModel,
    get_state,
    load_states,
    state_values,
)
from ._catalog import ParamSpec, catalog, model_spec, spec_from_class
from ._compile import CompileCache, Executable
from ._metrics import resolve_metric
from ._network import NetworkModel
from ._request import RunSpec, remembered, signature, timing_key
from ._results import SimResult, SweepResult

__all__ = ["CachedSimulator"]

_SWEEP_BUDGET_BYTES = 256 * 2**20
_MAX_SWEEP_CHUNK = 256


# ----------------------------------------------------------------------------- helpers


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


def _record_slice(i0: int, n: int, n_tr: int, stride: int) -> slice | None:
    """Rows of the chunk ``[i0, i0 + n)`` that the run records (after the transient, every ``stride``-th)."""
    first = max(i0, n_tr)
    first += (-(first - n_tr)) % stride
    return slice(first - i0, None, stride) if first < i0 + n else None


def _is_model_class(obj: Any) -> bool:
    return inspect.isclass(obj) and issubclass(obj, brainstate.nn.Module)


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
            raise ValueError(f"dt must be a positive time such as 0.1 ms (0.1 * u.ms); "
                             f"got {_units.shown(dt)}")
        self.dt = dt
        self.in_size = in_size
        self.spec = spec
        if network is not None:
            if noise:
                raise ValueError("a network takes its noise from NetworkModel(..., noise=True)")
            self._model: ModelAdapter = NetworkAdapter(network, dt)
        elif spec is None:
            if noise:
                raise ValueError("noise= applies to catalogue models; a factory builds its own noise")
            self._model = FactoryModel(model, in_size, dt)
        else:
            self._model = SpecModel(spec, noise)
        self._cache = cache if cache is not None else CompileCache(cache_size)
        self._canon_defaults: dict[str, np.ndarray] | None = None
        self._ts: dict[tuple, np.ndarray] = {}
        self._timings: dict[tuple, tuple[int, int, int]] = {}
        self._ctor = (model, {"dt": dt, "in_size": in_size, "noise": noise})
        self._base_key = (self._model.key, str(in_size), str(dt), self._model.noisy)

    # ------------------------------------------------------------------ public introspection

    @property
    def adapter(self) -> ModelAdapter:
        """The model adapter: parameters, states, units and the model's build step."""
        return self._model

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
        return dict(self._model.params)

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

    def prepare(self, duration: Any, *, params: Mapping[str, Any] | None = None, monitors: Any = None,
                init: Mapping[str, Any] | None = None, transient: Any = None, sample_every: Any = None,
                batch_size: Any = None, seed: Any = 0, skip: tuple[str, ...] = ()) -> RunSpec:
        """Check a run request as :meth:`run` would, without computing anything.

        Parameters
        ----------
        duration, params, monitors, init, transient, sample_every, batch_size, seed
            As for :meth:`run`.
        skip : tuple of str, optional
            Parameters left out of ``values`` (swept or fitted ones); their names are still checked.

        Returns
        -------
        RunSpec
            The request in the form the compiled programs take.

        Raises
        ------
        ValueError
            As :meth:`run` does for the same values.
        """
        values = self.check_params(params, skip=skip)
        init_vals = self.check_init(init)
        monitors = self.check_monitors(monitors)
        n, n_tr, stride = self._timing(duration, transient, sample_every)
        return RunSpec(values, init_vals, monitors, n, n_tr, stride, self.check_batch(batch_size),
                       self.check_seed(seed))

    def check_params(self, params: Mapping[str, Any] | None,
                     skip: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
        """Every parameter's value as a float32 magnitude in its unit: the defaults, updated by
        ``params`` (names in ``skip`` are checked but left out); ``ValueError`` names a bad one."""
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
        if not shape or isinstance(self._model, FactoryModel):
            return
        varshape = tuple(np.atleast_1d(self.in_size))
        try:
            ok = np.broadcast_shapes(shape, varshape) == varshape
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(f"parameter {name!r} has shape {shape}; it must broadcast to in_size {varshape}")

    def check_init(self, init: Mapping[str, Any] | None) -> dict[str, np.ndarray]:
        """Initial state values in each state's unit (the catalogue's, updated by ``init``);
        ``ValueError`` names an unknown state or a bad value."""
        merged = dict(self._model.default_init)
        merged.update(init or {})
        out = {}
        for name, value in merged.items():
            if name not in self._model.states:
                raise ValueError(f"unknown state {name!r} in init; "
                                 f"valid: {_units.one_line(self._model.states)}")
            out[name] = _units.canon(name, value, self._model.state_units.get(name), what="initial value of")
        return out

    def check_monitors(self, monitors: Any) -> tuple[str, ...]:
        """The states to record as a tuple (the default monitor for None); ``ValueError`` names an
        unknown one."""
        if monitors is None:
            monitors = [self._model.default_monitor]
        elif isinstance(monitors, str):
            monitors = [monitors]
        monitors = tuple(monitors)
        if not monitors:
            raise ValueError("monitors must name at least one state")
        for m in monitors:
            if m not in self._model.states:
                raise ValueError(f"unknown monitor {m!r}; valid: {_units.one_line(self._model.states)}")
        return monitors

    def _timing(self, duration: Any, transient: Any, sample_every: Any) -> tuple[int, int, int]:
        key = timing_key(duration, transient, sample_every)
        count = functools.partial(self._count_steps, duration, transient, sample_every)
        return count() if key is None else remembered(self._timings, key, count, 64)

    def _count_steps(self, duration: Any, transient: Any, sample_every: Any) -> tuple[int, int, int]:
        n = _units.steps(duration, self.dt, "duration")
        if n < 1:
            raise ValueError(f"duration {_units.shown(duration)} must be at least one step of "
                             f"dt = {_units.shown(self.dt)}")
        n_tr = 0 if transient is None else _units.steps(transient, self.dt, "transient", allow_int=True)
        if not 0 <= n_tr < n:
            raise ValueError(f"transient {_units.shown(transient)} ({n_tr} steps) must be >= 0 and shorter "
                             f"than the run, duration {_units.shown(duration)} ({n} steps)")
        if sample_every is None:
            stride = 1
        elif _units.is_count(sample_every) and sample_every >= 1:
            stride = int(sample_every)
        else:
            raise ValueError(f"sample_every must be an integer >= 1; got {sample_every!r}")
        return n, n_tr, stride

    @staticmethod
    def check_batch(batch_size: Any) -> int | None:
        """``batch_size`` as an int (or None); ``ValueError`` unless it is None or an integer >= 1."""
        if batch_size is None:
            return None
        if _units.is_count(batch_size) and batch_size >= 1:
            return int(batch_size)
        raise ValueError(f"batch_size must be None or an integer >= 1; got {batch_size!r}")

    @staticmethod
    def check_seed(seed: Any) -> np.ndarray:
        """``seed`` as brainstate's two uint32 words; ``ValueError`` unless an integer in 0 .. 2**64 - 1."""
        if not _units.is_count(seed) or not 0 <= seed < 2**64:
            raise ValueError(f"seed must be an integer in 0 .. 2**64 - 1; got {seed!r}")
        seed = int(seed)
        return np.array([seed >> 32, seed & 0xFFFFFFFF], dtype=np.uint32)

    # ------------------------------------------------------------------ program builders

    def init_states(self, model: Any, batch_size: int | None) -> None:
        """Initialise the states of ``model`` (built inside a program), batched when ``batch_size``."""
        if batch_size is None:
            brainstate.nn.init_all_states(model)
        else:
            brainstate.nn.init_all_states(model, batch_size)

    def apply_init(self, model: Any, init_vals: Mapping[str, Any]) -> None:
        """Write the initial values ``init_vals`` (from :meth:`check_init`) into ``model``'s states."""
        for name, v in init_vals.items():
            st = get_state(model, self._model.path(name))
            unit = self._model.state_units.get(name)
            mag = jnp.broadcast_to(v, u.get_magnitude(st.value).shape)
            st.value = mag if unit is None else mag * unit

    def _make_init(self, batch_size: int | None) -> Callable:
        def init_program(values, init_vals, key):
            model, _ = self._model.build(self.in_size, values)
            with brainstate.environ.context(dt=self.dt):
                with brainstate.random.seed_context(key):
                    self.init_states(model, batch_size)
                    key_out = brainstate.random.get_key()
                self.apply_init(model, init_vals)
            return state_values(model), key_out

        return init_program

    def _loop(self, model: Any, inputs: Mapping[str, Any], monitors: tuple[str, ...], indices: Any) -> Any:
        dt = self.dt

        def step(i):
            with brainstate.environ.context(i=i, t=i * dt):
                model.update(**inputs)
            return {m: get_state(model, self._model.path(m)).value for m in monitors}

        return brainstate.transform.for_loop(step, indices)

    def _make_chunk(self, n: int, batch_size: int | None, monitors: tuple[str, ...]) -> Callable:
        def chunk_program(values, state, key, i0):
            model, inputs = self._model.build(self.in_size, values)
            with brainstate.environ.context(dt=self.dt):
                with brainstate.random.seed_context(jax.random.PRNGKey(0)):
                    self.init_states(model, batch_size)
                load_states(model, state)
                with brainstate.random.seed_context(key):
                    rec = self._loop(model, inputs, monitors, i0 + jnp.arange(n, dtype=jnp.int32))
                    key_out = brainstate.random.get_key()
            return state_values(model), key_out, rec, _first_bad(rec)

        return chunk_program

    def _whole_run(self, values, init_vals, key, n: int, batch_size: int | None,
                   monitors: tuple[str, ...]) -> dict[str, Any]:
        """Build, initialise and run the model for ``n`` steps (traced; shared by run and sweep)."""
        model, inputs = self._model.build(self.in_size, values)
        with brainstate.environ.context(dt=self.dt):
            with brainstate.random.seed_context(key):
                self.init_states(model, batch_size)
                self.apply_init(model, init_vals)
                return self._loop(model, inputs, monitors, jnp.arange(n, dtype=jnp.int32))

    def _make_run(self, n: int, n_tr: int, stride: int, batch_size: int | None,
                  monitors: tuple[str, ...]) -> Callable:
        def run_program(values, init_vals, key):
            rec = self._whole_run(values, init_vals, key, n, batch_size, monitors)
            return {m: v[n_tr::stride] for m, v in rec.items()}, _first_bad(rec)

        return run_program

    def _times(self, i0: int, n: int, rows: slice) -> Any:
        """Simulation time at the end of steps ``i0 .. i0 + n`` (the ``rows`` kept), in dt's unit."""
        times = remembered(self._ts, (i0, n, rows.start, rows.stop, rows.step),
                            lambda: np.arange(i0 + 1, i0 + n + 1)[rows] * self.dt.mantissa, 16)
        return u.Quantity(times.copy(), unit=self.dt.unit)

    def program(self, kind: str, *key: Any, make: Callable[[], Callable],
                 devices: tuple[Any, ...] | None = None) -> Callable:
        """The compiled program ``kind`` for ``key`` from this simulator's cache, built by ``make()``
        (a function of arrays) on a miss; ``devices`` shards it over local devices."""
        return self._cache.get(self._base_key + (kind,) + key + (_scaleout.device_key(devices),),
                               lambda: Executable(make(), devices))

    def _start(self, values, init_vals, batch_size, seed):
        init_p = self.program("init", batch_size, signature(values), signature(init_vals),
                               make=lambda: self._make_init(batch_size))
        return init_p(values, init_vals, self.check_seed(seed))

    def _chunk(self, n, batch_size, monitors, values, state, key, i0):
        prog = self.program("chunk", n, batch_size, monitors, signature(values),
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
            Record every ``sample_every``-th step.
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
        spec = self.prepare(duration, params=params, monitors=monitors, init=init, transient=transient,
                            sample_every=sample_every, batch_size=batch_size, seed=seed)
        n, n_tr, stride, batch_size, monitors = (spec.n_steps, spec.n_transient, spec.stride, spec.batch_size,
                                            spec.monitors)
        prog = self.program("run", n, n_tr, stride, batch_size, monitors, signature(spec.values),
                            signature(spec.init),
                            make=lambda: self._make_run(n, n_tr, stride, batch_size, monitors))
        out, bad = prog(spec.values, spec.init, spec.key)
        out["ts"] = self._times(0, n, slice(n_tr, None, stride))
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
        values = self.check_params(params)
        init_vals = self.check_init(init)
        monitors = self.check_monitors(monitors)
        n_total, n_tr, stride = self._timing(duration, transient, sample_every)
        n_chunk = _units.steps(chunk, self.dt, "chunk")
        if n_chunk < 1:
            raise ValueError(f"chunk {_units.shown(chunk)} must be at least one step of "
                             f"dt = {_units.shown(self.dt)}")
        batch_size = self.check_batch(batch_size)
        return self._stream(values, init_vals, monitors, n_total, n_tr, stride, n_chunk, batch_size, seed)

    def _stream(self, values, init_vals, monitors, n_total, n_tr, stride, n_chunk, batch_size, seed):
        state, key = self._start(values, init_vals, batch_size, seed)
        diverged = None
        i0 = 0
        while i0 < n_total:
            n = min(n_chunk, n_total - i0)
            state, key, rec, bad = self._chunk(n, batch_size, monitors, values, state, key, i0)
            bad = int(bad)
            if diverged is None and bad >= 0:
                diverged = i0 + bad
            sl = _record_slice(i0, n, n_tr, stride) or slice(0, 0)
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
        values = self.check_params(params, skip=names)
        columns = self._value_columns(points, "points of")
        total = columns[names[0]].size
        if any(arr.size != total for arr in columns.values()):
            raise ValueError("every parameter in points needs the same number of values; got "
                             + ", ".join(f"{k}: {v.size}" for k, v in columns.items()))
        init_vals = self.check_init(init)
        monitors = self.check_monitors(monitors)
        n, n_tr, stride = self._timing(duration, transient, sample_every)
        batch_size = self.check_batch(batch_size)
        block = 1 << max(0, math.ceil(math.log2(total)))
        idx = np.minimum(np.arange(block), total - 1)
        block_vals = {name: arr[idx] for name, arr in columns.items()}
        prog = self.program("points", block, n, n_tr, stride, batch_size, monitors, names, signature(values),
                             signature(init_vals),
                             make=lambda: self._make_points(n, n_tr, stride, batch_size, monitors))
        key = self.check_seed(seed)
        out, bad = prog(block_vals, values, init_vals, np.broadcast_to(key, (block,) + key.shape))
        data = {m: u.math.moveaxis(v[:total], 0, 1) for m, v in out.items()}
        data["ts"] = self._times(0, n, slice(n_tr, None, stride))
        bad = np.asarray(bad)[:total]
        return SimResult(data, int(bad[bad >= 0].min()) if np.any(bad >= 0) else None, n, n)

    def _make_points(self, n: int, n_tr: int, stride: int, batch_size: int | None,
                     monitors: tuple[str, ...]) -> Callable:
        def point(axis_vals, values, init_vals, key):
            rec = self._whole_run({**values, **axis_vals}, init_vals, key, n, batch_size, monitors)
            return {m: v[n_tr::stride] for m, v in rec.items()}, _first_bad(rec)

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
        values = self.check_params(params, skip=names)
        axes = self._value_columns(grid, "grid axis")
        init_vals = self.check_init(init)
        monitor = self.check_monitors(monitor)[0]
        if duration is None:
            if self.spec is None:
                raise ValueError("duration is required for a factory model")
            duration = self.spec.duration
        n, n_tr, stride = self._timing(duration, transient, sample_every)
        resolve_metric(metric)
        metric_name = metric if isinstance(metric, str) else getattr(metric, "__name__", "custom")
        grid_shape = tuple(a.size for a in axes.values())
        mesh = np.meshgrid(*axes.values(), indexing="ij")
        points = {name: m.reshape(-1) for name, m in zip(names, mesh, strict=True)}
        total = int(np.prod(grid_shape))
        block = self.block_size(total, n, chunk_size)
        devs = _scaleout.resolve_devices(devices)
        if client is not None:
            if devs is not None:
                raise ValueError("give devices= or client=, not both")
            _scaleout.check_client(client)
            if chunk_size is None:
                block = _scaleout.spread_block(block, total, client)
        elif devs is not None:
            block = -(-block // len(devs)) * len(devs)
        job = dict(block=block, n=n, n_tr=n_tr, stride=stride, monitor=monitor, names=names, values=values,
                   init_vals=init_vals, seed=seed)
        self.check_seed(seed)

        def block_at(start: int) -> dict[str, np.ndarray]:
            idx = np.minimum(np.arange(start, start + block), total - 1)
            return {name: p[idx] for name, p in points.items()}

        starts = range(0, total, block)
        if client is None:
            compiles_before = self._cache.compiles
            blocks = ((start, self.sweep_block(block_at(start), metric=metric, devices=devs, **job))
                      for start in starts)
        else:
            blob = metric if isinstance(metric, str) else _scaleout.pack(metric)
            blocks = _scaleout.dask_blocks(client, _scaleout.pack(self._ctor), blob, job,
                                           [(start, block_at(start)) for start in starts])
        executor = _scaleout.label(devs, client)
        dt_ms = float(self.dt.to_decimal(u.ms))
        settings = {"dt_ms": dt_ms, "duration_ms": n * dt_ms, "transient_ms": n_tr * dt_ms,
                    "sample_every": stride,
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

    def sweep_block(self, block_vals: Mapping[str, np.ndarray], *, block: int, n: int, n_tr: int, stride: int,
                     monitor: str, metric: str | Callable, names: tuple[str, ...], values: Mapping[str, Any],
                     init_vals: Mapping[str, Any], seed: int,
                     devices: tuple[Any, ...] | None) -> tuple[np.ndarray, np.ndarray]:
        """Metric values of one block of sweep points (``block_vals``: one column per swept
        parameter) through the compiled sweep program, as :meth:`sweep` computes them; scale-out
        workers call it.

        Returns
        -------
        values, diverged : numpy.ndarray
            One metric value per point, and whether its recorded trace went non-finite.
        """
        prog = self.program("sweep", block, n, n_tr, stride, monitor, metric, names, signature(values),
                             signature(init_vals), devices=devices,
                             make=lambda: self._make_sweep(n, n_tr, stride, monitor, resolve_metric(metric)))
        key = self.check_seed(seed)
        keys = np.broadcast_to(key, (block,) + key.shape)
        if devices is not None:
            block_vals, keys = _scaleout.shard(block_vals, keys, devices)
        vals, bad = prog(block_vals, values, init_vals, keys)
        return np.asarray(vals), np.asarray(bad)

    def block_size(self, total: int, n_steps: int, chunk_size: int | None) -> int:
        """Points per compiled sweep block for ``total`` points of ``n_steps`` steps: ``chunk_size``
        when given (an integer >= 1), otherwise what fits the engine's memory budget."""
        if chunk_size is not None:
            if not _units.is_count(chunk_size) or chunk_size < 1:
                raise ValueError(f"chunk_size must be an integer >= 1; got {chunk_size!r}")
            return int(chunk_size)
        block = 1 << max(0, math.ceil(math.log2(total)))
        regions = int(np.prod(np.atleast_1d(self.in_size)))
        by_memory = max(1, _SWEEP_BUDGET_BYTES // (n_steps * regions * 4 * 4))
        return max(1, min(block, _MAX_SWEEP_CHUNK, 1 << int(math.log2(by_memory))))

    def _sweep_result(self, flat_vals, flat_bad, grid_shape, axes, metric_name, monitor, metric, done, total):
        vals = flat_vals.reshape(grid_shape + flat_vals.shape[1:]).copy()
        if np.prod(np.atleast_1d(self.in_size)) == 1 and not isinstance(self._model, FactoryModel):
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
                           model=self.spec.name if type(self._model) is SpecModel else "")

    def _make_sweep(self, n: int, n_tr: int, stride: int, monitor: str, metric_fn: Callable) -> Callable:
        sample_s = float(u.get_magnitude(self.dt * stride / u.second))

        def point(axis_vals, values, init_vals, key):
            rec = self._whole_run({**values, **axis_vals}, init_vals, key, n, None, (monitor,))
            trace = u.get_magnitude(rec[monitor])[n_tr::stride]
            return metric_fn(trace, sample_s), _first_bad({monitor: trace}) >= 0

        return brainstate.transform.vmap(point, in_axes=(0, None, None, 0))
