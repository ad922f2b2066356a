"""Compiled programs: the bounded cache they live in and the fast path that calls them.

:class:`CompileCache` maps a structure key to a compiled program (least recently used dropped
first) and counts compiles and hits; :func:`compile_notice` lets a front end say "compiling"
before a miss. :class:`Executable` traces a function with ``brainstate.transform.jit`` once per
argument signature and then calls the compiled executable directly, packing small float32 host
arguments into one transfer and skipping brainstate's state bookkeeping for programs that only
carry their states through; :data:`STATE_LOCK` keeps tracing and state reads and writes apart
across threads.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import brainstate
import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

__all__ = ["STATE_LOCK", "CompileCache", "Executable", "compile_notice"]

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


class Executable:
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

    @property
    def fun(self) -> Callable:
        """The traced function, as given."""
        return self._fun

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
        replicated = NamedSharding(Mesh(np.array(self._devices), ("grid",)), PartitionSpec())
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
