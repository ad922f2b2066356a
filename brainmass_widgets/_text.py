"""Docstring text as plain text, and what hovering a parameter's slider says."""

from __future__ import annotations

import functools
import re

from ._catalog import ParamSpec

__all__ = ["plain_text", "slider_tooltip"]

_ROLE = re.compile(r":\w+:`([^`]*)`")
_LITERAL = re.compile(r"``([^`]*)``")

_GREEK = {name: chr(code) for name, code in (
    ("alpha", 0x3B1), ("beta", 0x3B2), ("gamma", 0x3B3), ("delta", 0x3B4), ("epsilon", 0x3B5),
    ("zeta", 0x3B6), ("eta", 0x3B7), ("theta", 0x3B8), ("kappa", 0x3BA), ("lambda", 0x3BB), ("mu", 0x3BC),
    ("nu", 0x3BD), ("xi", 0x3BE), ("pi", 0x3C0), ("rho", 0x3C1), ("sigma", 0x3C3), ("tau", 0x3C4),
    ("phi", 0x3C6), ("chi", 0x3C7), ("psi", 0x3C8), ("omega", 0x3C9), ("Omega", 0x3A9), ("Delta", 0x394))}
_TEX = re.compile(r"\\(" + "|".join(_GREEK) + r")\b")
_CITATION = re.compile(r"\s*\[\w+\]_")
_SQRT = re.compile(r"\\sqrt\{([^{}]*)\}")


@functools.lru_cache(maxsize=1024)
def plain_text(text: str) -> str:
    """reStructuredText from a docstring as plain text: roles (``:math:`x```) and literals
    (````x````) lose their markup, citations (``[1]_``) are dropped, Greek letters and square
    roots written in TeX become characters (``\\omega`` ω, ``\\sqrt{a}`` √(a)), a parenthesis the
    one-line doc cut short is left out, whitespace runs become one space."""
    text = _CITATION.sub("", _LITERAL.sub(r"\1", _ROLE.sub(r"\1", text)))
    text = _SQRT.sub("\u221a(\\1)", _TEX.sub(lambda m: _GREEK[m.group(1)], text)).replace("``", "")
    if text.count("(") > text.count(")"):
        text = text[:text.rindex("(")].rstrip() + "."
    return " ".join(text.split())


def slider_tooltip(spec: ParamSpec, low: float | None = None, high: float | None = None) -> str:
    """What hovering a parameter's slider says: its doc, its range and how to type a value.

    Parameters
    ----------
    spec : ParamSpec
        The parameter.
    low, high : float, optional
        The slider's range when it differs from the catalogue's (a value typed beyond it).
    """
    low = spec.low if low is None else low
    high = spec.high if high is None else high
    unit = "" if spec.unit is None else f" {spec.unit}"
    return (f"{plain_text(spec.doc)} Range {low:g} to {high:g}{unit}, default {spec.default:g}; "
            "type a value for an exact one.").strip()
