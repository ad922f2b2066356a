"""Results of the engine, and the file format of a saved sweep.

:class:`SimResult` is what :meth:`~brainmass_widgets.CachedSimulator.run` returns (and each piece of
a stream): a ``dict`` of monitored trajectories with the divergence step and progress counts.
:class:`SweepResult` holds a metric over a grid of one or two parameters; :meth:`SweepResult.save`
writes it to a ``.npz`` file and :meth:`SweepResult.load` reads one back as data only (nothing is
unpickled or evaluated), checked against :data:`MAX_SWEEP_BYTES` before anything is unpacked.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import brainunit as u
import numpy as np

from ._files import read_npz

__all__ = ["MAX_SWEEP_BYTES", "SimResult", "SweepResult"]

MAX_SWEEP_BYTES = 64 * 2**20
"""The largest saved sweep read by :meth:`SweepResult.load`, in bytes: as sent and as unpacked."""


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
