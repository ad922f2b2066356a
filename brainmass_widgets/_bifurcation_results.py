"""Results of a bifurcation analysis: equilibrium branches, fold and Hopf points, the diagram that
holds them, and the fold and Hopf curves and equilibrium-count regions in the plane of two
parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

__all__ = ["BifurcationDiagram", "Branch", "Curve", "Regions", "SpecialPoint"]


@dataclass(frozen=True)
class Branch:
    """One equilibrium branch, in continuation order.

    Attributes
    ----------
    param : numpy.ndarray
        Parameter values, shape ``(k,)`` (the parameter's unit).
    states : numpy.ndarray
        Every state variable at each point, shape ``(k, n_states)`` (state units).
    eigenvalues : numpy.ndarray
        Jacobian eigenvalues at each point in 1/ms, shape ``(k, n_states)``, sorted by real part
        (largest first).
    stable : numpy.ndarray
        Whether every eigenvalue has a negative real part, shape ``(k,)``.
    """

    param: np.ndarray
    states: np.ndarray
    eigenvalues: np.ndarray
    stable: np.ndarray


@dataclass(frozen=True)
class SpecialPoint:
    """A fold (saddle-node) or Hopf point found on a branch.

    Attributes
    ----------
    kind : {"fold", "hopf"}
    param : float
        Parameter value (the parameter's unit).
    state : dict
        Every state variable there (state units).
    branch : int
        Index of the branch in :attr:`BifurcationDiagram.branches`.
    frequency_hz : float
        Hopf only: the oscillation frequency at onset, ``|Im lambda| / 2 pi`` in Hz; NaN for a fold.
    lyapunov : float
        Hopf only: the first Lyapunov coefficient (per squared state unit, with the eigenvector
        normalised to length one); negative for a supercritical Hopf (a small stable cycle is
        born), positive for a subcritical one. NaN for a fold.
    """

    kind: Literal["fold", "hopf"]
    param: float
    state: dict[str, float]
    branch: int
    frequency_hz: float = float("nan")
    lyapunov: float = float("nan")

    @property
    def criticality(self) -> str:
        """``"supercritical"``, ``"subcritical"`` or ``""`` (a fold, or a degenerate Hopf)."""
        if self.kind != "hopf" or not np.isfinite(self.lyapunov) or self.lyapunov == 0:
            return ""
        return "supercritical" if self.lyapunov < 0 else "subcritical"

    @property
    def label(self) -> str:
        """A short text for plots: ``"Hopf (super), 31.8 Hz"`` or ``"fold"``."""
        if self.kind == "fold":
            return "fold"
        crit = {"supercritical": " (super)", "subcritical": " (sub)"}.get(self.criticality, "")
        return f"Hopf{crit}, {self.frequency_hz:.3g} Hz"


@dataclass(frozen=True)
class Curve:
    """A fold or Hopf curve in the plane of two parameters.

    Attributes
    ----------
    kind : {"fold", "hopf"}
    params : tuple of str
        The horizontal and vertical parameters.
    values : numpy.ndarray
        Points of the curve, shape ``(k, 2)``; rows where a Hopf curve passes through a neutral
        saddle (real eigenvalues ``lambda`` and ``-lambda``, no oscillation) are NaN, so a line
        drawn through them breaks there.
    """

    kind: Literal["fold", "hopf"]
    params: tuple[str, str]
    values: np.ndarray


@dataclass(frozen=True)
class Regions:
    """How many equilibria, and how many stable ones, at each point of a grid of two parameters.

    Attributes
    ----------
    params : tuple of str
        The horizontal and vertical parameters.
    first, second : numpy.ndarray
        Grid values of each, shapes ``(n1,)`` and ``(n2,)``.
    count, stable : numpy.ndarray
        Equilibria found and stable equilibria, shape ``(n2, n1)``.
    """

    params: tuple[str, str]
    first: np.ndarray
    second: np.ndarray
    count: np.ndarray
    stable: np.ndarray

    def labels(self) -> np.ndarray:
        """Each grid point's region as text, e.g. ``"3 equilibria, 2 stable"``; shape ``(n2, n1)``."""
        return np.vectorize(_region_label)(self.count, self.stable)


def _region_label(count: int, stable: int) -> str:
    if count == 0:
        return "no equilibrium"
    noun = "equilibrium" if count == 1 else "equilibria"
    return f"{count} {noun}, {stable} stable"


@dataclass(frozen=True)
class BifurcationDiagram:
    """Equilibria, special points and limit cycles of a model against one parameter.

    Attributes
    ----------
    model, param, variable : str
        Catalogue model, the parameter on the horizontal axis, the state on the vertical axis.
    param_range : (float, float)
    params : dict
        Values of the other parameters (magnitudes in their units).
    branches : list of Branch
    special : list of SpecialPoint
        Sorted by parameter value.
    cycle_param : numpy.ndarray
        Parameter values of the limit-cycle sweeps.
    cycles : dict
        ``{"up": (min, max), "down": (min, max)}``: the extent of ``variable`` at each of
        ``cycle_param``, in sweeps started from the attractor at the low end of the range
        (``"up"``) and at the high end (``"down"``); NaN where the run settles (no cycle).
    states : tuple of str
        State variables, the column order of :attr:`Branch.states`.
    """

    model: str
    param: str
    variable: str
    param_range: tuple[float, float]
    params: dict[str, float]
    branches: list[Branch]
    special: list[SpecialPoint]
    cycle_param: np.ndarray
    cycles: dict[str, tuple[np.ndarray, np.ndarray]]
    states: tuple[str, ...] = field(default=())

    def equilibria_at(self, value: float) -> list[tuple[dict[str, float], bool]]:
        """Equilibria of the diagram at one parameter value, interpolated along the branches.

        Returns
        -------
        list of (dict, bool)
            ``(state, stable)`` for every crossing of ``value`` by a branch.
        """
        out = []
        for br in self.branches:
            p = br.param
            # each crossing once: segments are half-open, the last one closed
            at = (p[:-1] - value) * (p[1:] - value) < 0
            at |= p[:-1] == value
            at[-1] |= p[-1] == value
            for i in np.nonzero(at)[0]:
                w = 0.0 if p[i + 1] == p[i] else (value - p[i]) / (p[i + 1] - p[i])
                x = br.states[i] + w * (br.states[i + 1] - br.states[i])
                out.append((dict(zip(self.states, map(float, x), strict=True)), bool(br.stable[i])))
        return out
