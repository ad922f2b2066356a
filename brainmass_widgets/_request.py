"""The run request: :class:`RunSpec`, a checked request as compiled programs take it, the keys
that name a request's structure (:func:`signature`, :func:`timing_key`), and :func:`remembered`,
a bounded memo of what those keys name."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import brainunit as u
import numpy as np

__all__ = ["RunSpec", "remembered", "signature", "timing_key"]


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """A checked run request, as :meth:`CachedSimulator.prepare` returns it.

    Attributes
    ----------
    values : dict of str to numpy.ndarray
        Every parameter's value as a float32 magnitude in its unit.
    init : dict of str to numpy.ndarray
        Initial value of each state that has one, in the state's unit.
    monitors : tuple of str
        States to record.
    n_steps : int
        Integration steps of the run.
    n_transient : int
        Leading steps computed but not recorded.
    stride : int
        Recording stride: every ``stride``-th step is kept.
    batch_size : int or None
        Independent trajectories in one program, or None for none.
    key : numpy.ndarray
        The seed as brainstate's two uint32 words.
    """

    values: dict[str, np.ndarray]
    init: dict[str, np.ndarray]
    monitors: tuple[str, ...]
    n_steps: int
    n_transient: int
    stride: int
    batch_size: int | None
    key: np.ndarray


def signature(values: Mapping[str, np.ndarray]) -> tuple:
    """The structural part of a dict of arrays: names and shapes."""
    return tuple((k, v.shape if isinstance(v, np.ndarray) else np.shape(v)) for k, v in values.items())


def timing_key(*values: Any) -> tuple | None:
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


def remembered(memo: dict, key: Any, make: Callable[[], Any], size: int) -> Any:
    """``memo[key]``, made by ``make()`` on a miss; the memo is emptied when it holds ``size``."""
    value = memo.get(key)
    if value is None:
        if len(memo) >= size:
            memo.clear()
        value = memo[key] = make()
    return value
