"""Values as the engine takes them from a user, and as its error messages show them.

:func:`steps` turns a duration into a whole number of ``dt`` steps, :func:`canon` a parameter or
initial value (a number, an array or a quantity in any compatible unit) into a float32 array of
magnitudes in the expected unit; both raise a ``ValueError`` that names the value and what was
expected. :func:`shown` writes a scalar quantity as ``"-1 ms"``, :func:`one_line` a list of names
as ``"a, b, c"``, and :func:`is_count` tells an integer count from a bool or a float.
"""

from __future__ import annotations

import math
from typing import Any

import brainunit as u
import numpy as np

__all__ = ["canon", "is_count", "magnitude", "one_line", "shown", "steps"]


def shown(value: Any) -> str:
    """``value`` as a message shows it: a scalar quantity as ``"-1 ms"``, anything else as its repr."""
    if isinstance(value, u.Quantity) and np.ndim(value.mantissa) == 0:
        try:
            return f"{float(value.mantissa):g} {value.unit}"
        except (TypeError, ValueError):
            pass
    return repr(value)


def steps(value: Any, dt: Any, what: str, allow_int: bool = False) -> int:
    """A duration as a whole number of ``dt`` steps; ``ValueError`` if it is not one."""
    if allow_int and is_count(value):
        return int(value)
    if not isinstance(value, u.Quantity):
        raise ValueError(f"{what} must be a time such as 100 ms (100 * u.ms); got {shown(value)}")
    try:
        if value.unit == dt.unit:
            ratio = float(value.mantissa) / float(dt.mantissa)
        else:
            ratio = float(np.asarray(u.get_magnitude(value / dt)))
    except Exception as exc:
        raise ValueError(f"{what} must be a time such as 100 ms (100 * u.ms); got {shown(value)}") from exc
    if not math.isfinite(ratio):
        raise ValueError(f"{what} must be finite; got {shown(value)}")
    nearest = round(ratio)
    if abs(ratio - nearest) > 1e-6 * max(1.0, abs(ratio)):
        raise ValueError(
            f"{what} {shown(value)} is not a whole number of steps of dt = {shown(dt)} "
            f"({ratio:.6g} steps); "
            f"use a multiple of dt"
        )
    return int(nearest)


_PLAIN_NUMBERS = frozenset({float, int, np.float64, np.float32, np.float16,
                            np.int64, np.int32, np.int16, np.int8})
"""Number types whose canonical form needs no unit handling (bool is left out on purpose)."""
_F32_MAX = float(np.finfo(np.float32).max)


def canon(name: str, value: Any, unit: Any, what: str = "parameter") -> np.ndarray:
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


def magnitude(x: Any) -> np.ndarray:
    """``x`` as a numpy array of its magnitude (a quantity's mantissa, a plain value as it is)."""
    return np.asarray(u.get_magnitude(x))


def is_count(value: Any) -> bool:
    """True for a Python or numpy integer (not a bool)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def one_line(names: Any) -> str:
    return ", ".join(map(str, names))
