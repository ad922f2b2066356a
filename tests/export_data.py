"""Reading the data a page written by ``export_page`` embeds, as its browser would receive it."""

from __future__ import annotations

import base64
import gzip
import html
import json
import re
from pathlib import Path
from typing import Any

import numpy as np

_DOCS = re.compile(r'<script type="application/json" id="[^"]+">\s*(.*?)\s*</script>', re.S)


def _value(rep: Any) -> Any:
    if isinstance(rep, dict) and rep.get("type") == "ndarray":
        array = rep["array"]
        if isinstance(array, dict) and array.get("type") == "bytes":
            raw = base64.b64decode(array["data"])
            if raw[:2] == b"\x1f\x8b":  # Bokeh gzips large buffers
                raw = gzip.decompress(raw)
            return np.frombuffer(raw, dtype=np.dtype(rep["dtype"]).newbyteorder("<")).reshape(rep["shape"])
        return np.asarray(array, dtype=rep["dtype"])
    return np.asarray(rep)


def _walk(node: Any):
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from _walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v)


def models(path: Path) -> list[dict]:
    """Every Bokeh model representation in the page's embedded document."""
    found = _DOCS.findall(Path(path).read_text(encoding="utf-8"))
    assert len(found) == 1, "expected one embedded Bokeh document"
    doc = json.loads(html.unescape(found[0]))  # escaped for the script tag; BokehJS unescapes it
    return [n for n in _walk(doc) if n.get("type") == "object" and "attributes" in n]


def source(path: Path, name: str) -> dict[str, np.ndarray]:
    """The columns of the page's ColumnDataSource called ``name``."""
    for model in models(path):
        attrs = model["attributes"]
        if model["name"] == "ColumnDataSource" and attrs.get("name") == name:
            return {k: _value(v) for k, v in attrs["data"]["entries"]}
    raise AssertionError(f"no source named {name!r} in {path}")


def named(path: Path, name: str) -> dict:
    """The attributes of the page's model called ``name`` (a slider, a Div)."""
    for model in models(path):
        if model["attributes"].get("name") == name:
            return model["attributes"]
    raise AssertionError(f"no model named {name!r} in {path}")
