"""Results of the engine, and the file format of a saved sweep.

:class:`SimResult` is what :meth:`~brainmass_widgets.CachedSimulator.run` returns (and each piece of
a stream): a ``dict`` of monitored trajectories with the divergence step and progress counts.
:class:`SweepResult` holds a metric over a grid of one or two parameters; :meth:`SweepResult.save`
writes it to a ``.npz`` file and :meth:`SweepResult.load` reads one back as data only (nothing is
unpickled or evaluated), checked against :data:`MAX_SWEEP_BYTES` before anything is unpacked.
A saved sweep carries its format version: files of older versions still load, newer ones are refused.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import brainunit as u
import numpy as np

from ._files import read_npz

__all__ = ["MAX_SWEEP_BYTES", "SimResult", "SweepResult"]

MAX_SWEEP_BYTES = 64 * 2**20
"""The largest saved sweep read by :meth:`SweepResult.load`, in bytes: as sent and as unpacked."""

_FORMAT = "brainmass-widgets sweep"
"""``meta:format`` of a saved sweep that has a ``format_version`` entry (version 2 on)."""

_FORMAT_1 = "brainmass-widgets sweep 1"
"""``meta:format`` of a version 1 saved sweep, which has no ``format_version`` entry."""

_NOT_A_SWEEP = "not a saved sweep (.npz written by SweepResult.save)"
"""How :meth:`SweepResult.load` refuses a file that is not a saved sweep (tests and front ends match it)."""

_REQUIRED = ("values", "diverged", "counts", "meta:model", "meta:metric", "meta:monitor", "meta:unit",
             "meta:executor", "meta:settings")
"""The entries every saved sweep holds, in every format version."""


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
    lo : numpy.ndarray or None
        ``grid_shape``: the lowest value of the monitored trace after the transient at each point,
        averaged over regions; the lower edge of the band a sweep explorer draws. ``None`` when the
        sweep carries no band (as :meth:`CachedSimulator.sweep` returns it).
    hi : numpy.ndarray or None
        ``grid_shape``: the highest value of the monitored trace after the transient, averaged
        over regions; the band's upper edge. ``None`` without a band.
    shown : numpy.ndarray or None
        ``grid_shape``: the value a sweep explorer plots at each point, the metric averaged over
        regions (the max for ``"minmax"``). ``None`` without a band.
    FORMAT_VERSION : int
        Class constant: the file format version :meth:`save` writes. :meth:`load` reads it and
        every older one (version 1 files carry no version entry).
    """

    FORMAT_VERSION: ClassVar[int] = 2

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
    lo: np.ndarray | None = field(default=None, repr=False)
    hi: np.ndarray | None = field(default=None, repr=False)
    shown: np.ndarray | None = field(default=None, repr=False)

    def save(self, file: Any) -> None:
        """Write the result to a ``.npz`` file; read it back with :meth:`load`.

        The file holds exactly the fields of this class and the format version (nothing else set
        on the instance): ``format_version`` (:attr:`FORMAT_VERSION`), the arrays ``values``,
        ``diverged``, ``axis:<name>`` per axis in order and ``band:lo`` / ``band:hi`` /
        ``band:shown`` for the bands that are not ``None``; the texts ``meta:format``,
        ``meta:model``, ``meta:metric``, ``meta:monitor``, ``meta:unit`` (``""`` for ``None``),
        ``meta:executor`` and ``meta:settings`` (JSON); and ``counts`` = (done, total, cancelled,
        compiles). A partial or cancelled sweep keeps its NaN for the points not computed.

        Parameters
        ----------
        file : str, path-like or binary file object
            Where to write.
        """
        bands = {"lo": self.lo, "hi": self.hi, "shown": self.shown}
        arrays = {"values": self.values, "diverged": self.diverged}
        arrays.update({f"axis:{k}": v for k, v in self.axes.items()})
        arrays.update({f"band:{k}": v for k, v in bands.items() if v is not None})
        meta = {"format": _FORMAT, "model": self.model, "metric": self.metric, "monitor": self.monitor,
                "unit": "" if self.unit is None else str(self.unit), "executor": self.executor,
                "settings": json.dumps(self.settings)}
        np.savez_compressed(file, format_version=np.asarray(self.FORMAT_VERSION), **arrays,
                            **{f"meta:{k}": np.asarray(v) for k, v in meta.items()},
                            counts=np.array([self.done, self.total, self.cancelled, self.compiles]))

    @classmethod
    def load(cls, file: Any, *, max_bytes: int = MAX_SWEEP_BYTES) -> SweepResult:
        """Read a result written by :meth:`save`, by this version or an older one; data only,
        nothing in the file is unpickled or evaluated.

        Parameters
        ----------
        file : str, path-like, bytes or binary file object
        max_bytes : int, default MAX_SWEEP_BYTES
            The most bytes the file may hold and its arrays unpack to (checked from the zip
            directory and the ``.npy`` headers before anything is unpacked).

        Returns
        -------
        SweepResult
            A version 1 file (no ``format_version`` entry) gives its ``extra:lo`` / ``extra:hi`` /
            ``extra:shown`` arrays as the bands; other ``extra:`` arrays are not read.

        Raises
        ------
        ValueError
            If the file is not a saved sweep, is or unpacks to more than ``max_bytes``, or was
            written in a format version newer than :attr:`FORMAT_VERSION`.
        """
        name = os.path.basename(file) if isinstance(file, str | os.PathLike) else "the file"
        if isinstance(file, bytes | bytearray) and len(file) > max_bytes:
            raise ValueError(f"{name} has {len(file):,} bytes; at most {max_bytes:,} are accepted")
        try:
            data = read_npz(file, name=name, max_bytes=max_bytes)
        except (OSError, ValueError) as exc:
            raise ValueError(f"{_NOT_A_SWEEP}: {exc}") from None
        version = cls._version(data, name)
        missing = [k for k in _REQUIRED if k not in data]
        if missing:
            raise ValueError(f"{_NOT_A_SWEEP}: {name} has no {', '.join(missing)}")
        band_prefix = "band:" if version >= 2 else "extra:"
        bands = {k: data.get(f"{band_prefix}{k}") for k in ("lo", "hi", "shown")}
        unit_name = str(data["meta:unit"])
        done, total, cancelled, compiles = (int(x) for x in data["counts"])
        return cls(values=data["values"], axes={k[5:]: v for k, v in data.items() if k.startswith("axis:")},
                   metric=str(data["meta:metric"]), monitor=str(data["meta:monitor"]),
                   unit=getattr(u, unit_name, unit_name) if unit_name else None, diverged=data["diverged"],
                   done=done, total=total, cancelled=bool(cancelled), compiles=compiles,
                   executor=str(data["meta:executor"]), model=str(data["meta:model"]),
                   settings=json.loads(str(data["meta:settings"])), **bands)

    @classmethod
    def _version(cls, data: Mapping[str, np.ndarray], name: str) -> int:
        """The format version of the saved sweep ``data`` (1 when it has no ``format_version``).

        Raises
        ------
        ValueError
            If ``data`` is not a saved sweep, or its version is newer than :attr:`FORMAT_VERSION`.
        """
        if "format_version" not in data:
            if str(data.get("meta:format", "")) != _FORMAT_1:
                raise ValueError(_NOT_A_SWEEP)
            return 1
        raw = data["format_version"]
        if str(data.get("meta:format", "")) != _FORMAT or raw.shape != () or raw.dtype.kind not in "iu":
            raise ValueError(_NOT_A_SWEEP)
        version = int(raw)
        if version > cls.FORMAT_VERSION:
            raise ValueError(f"{name} is a saved sweep of format version {version}; this version of "
                             f"brainmass-widgets reads format versions 1 to {cls.FORMAT_VERSION}: "
                             "upgrade brainmass-widgets to open it")
        if version < 1:
            raise ValueError(f"{_NOT_A_SWEEP}: {name} claims format version {version}")
        return version
