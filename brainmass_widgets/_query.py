"""A Model explorer's state as URL query values, and URL query values applied as if typed: what a
served page's address holds, parsed as numbers or booleans only (never evaluated)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ._controls import ModelForm

__all__ = ["QUERY_OPTIONS", "apply_model_query", "model_query"]

QUERY_OPTIONS = ("duration", "dt", "transient", "in_size", "regions", "noise", "seed", "batch_size")
"""The run options a URL holds, in the order it holds them."""

_INTEGERS = ("in_size", "regions", "seed", "batch_size")
_BOOLEANS = {"0": False, "1": True, "false": False, "true": True, "False": False, "True": True}


def model_query(controller: Any) -> dict[str, str]:
    """The state of a :class:`~brainmass_widgets.ModelController` as URL query values: the model,
    the run options, then every parameter with one value (per-region values are left out)."""
    values = ModelForm(controller).values()
    query = {"model": controller.spec.name}
    for name in QUERY_OPTIONS:
        value = values[name]
        query[name] = str(int(value) if isinstance(value, bool) else value)
    for name, value in controller.params.items():
        if np.ndim(value) == 0:
            query[name] = np.format_float_positional(np.float32(value), trim="-")
    return query


def _parse(key: str, raw: str) -> Any:
    if key == "noise":
        if raw not in _BOOLEANS:
            raise ValueError("not 0 or 1")
        return _BOOLEANS[raw]
    try:
        return int(raw) if key in _INTEGERS else float(raw)
    except ValueError:
        raise ValueError("not a number") from None


def apply_model_query(controller: Any, query: Mapping[str, str]) -> list[str]:
    """Apply URL query values to a :class:`~brainmass_widgets.ModelController` as if typed: the
    model first, then the run options (noise first), then the parameters.

    Unknown names and bad values are skipped (the rest still apply) and said in the returned list,
    one entry each, naming the value and why; when a name is unknown, the last entry lists the
    valid ones.
    """
    ignored: list[str] = []

    def attempt(key: str, action: Any) -> None:
        try:
            action()
        except ValueError as exc:
            ignored.append(f"{key}={query[key]!r}: {exc}")

    if "model" in query:
        attempt("model", lambda: controller.configure(model=query["model"]))
    possible = set(controller.spec.params) | {"noise_sigma", "noise_tau"} | set(QUERY_OPTIONS)
    options, params = {}, {}
    for key, raw in query.items():
        if key == "model":
            continue
        if key not in possible:
            ignored.append(f"{key}: unknown name")
            continue
        try:
            (options if key in QUERY_OPTIONS else params)[key] = _parse(key, raw)
        except ValueError as exc:
            ignored.append(f"{key}={raw!r}: {exc}")
    for key, value in sorted(options.items(), key=lambda kv: kv[0] != "noise"):
        attempt(key, lambda k=key, v=value: controller.configure(**{k: v}))
    for key, value in params.items():
        if key not in controller.params:
            ignored.append(f"{key}: unknown name")
            continue
        attempt(key, lambda k=key, v=value: controller.set(**{k: v}))
    if any(s.endswith(": unknown name") for s in ignored):
        ignored.append(f"valid names for {controller.spec.name}: model, {', '.join(controller.params)}, "
                       f"noise_sigma, noise_tau, {', '.join(QUERY_OPTIONS)}")
    return ignored
