"""Whole-brain networks: a connectome, a catalogue node model and brainmass's ``Network`` wiring.

:class:`NetworkModel` describes a network; :class:`~brainmass_widgets.CachedSimulator` runs,
streams and sweeps it like a single model. The network is built inside the compiled program with
``brainmass.Network`` itself, so a run equals plain ``brainmass.Network`` + ``Simulator``: the
global coupling ``k`` and the node parameters are traced arguments (a slider move reuses the
program); the connectome, coupling kind and conduction speed shape the delay buffers, so they are
part of the program's structure.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import brainmass
import brainunit as u
import jax
import jax.numpy as jnp
import numpy as np

from ._catalog import ModelSpec, ParamSpec, catalog, model_spec
from ._files import read_csv, read_npy, read_npz

__all__ = ["COUPLINGS", "MAX_UPLOAD_BYTES", "Connectome", "NetworkModel", "load_connectome", "network_models",
           "order_parameter"]

COUPLINGS = ("diffusive", "additive", "sigmoidal", "tanh")

K_PARAM = ParamSpec("k", 0.5, None, 0.0, 3.0, 0.01, "Global coupling strength (scales every connection).")

#: Node models in the Hopf normal form (states ``x``, ``y`` turning about the origin): each region
#: of a network of them starts at its own random phase (:meth:`NetworkModel.initial_state`).
PHASE_NODES = ("HopfStep", "StuartLandauStep")

#: Radius of those random starts: the catalogue's HopfStep start, x = 0.5.
_START_RADIUS = 0.5


@dataclass(frozen=True, eq=False)
class Connectome:
    """Structural connectivity of ``N`` regions.

    Attributes
    ----------
    weights : numpy.ndarray
        ``(N, N)`` non-negative connection strengths (row: target, column: source).
    distances : numpy.ndarray or None
        ``(N, N)`` non-negative tract lengths in mm (for conduction delays), or ``None``.
    labels : tuple of str
        One name per region.
    """

    weights: np.ndarray
    distances: np.ndarray | None
    labels: tuple[str, ...]

    def __post_init__(self) -> None:
        w = _real(self.weights, "weights")
        if w.ndim != 2 or w.shape[0] != w.shape[1] or w.shape[0] < 2:
            raise ValueError(f"weights must be a square (N, N) matrix with N >= 2; got shape {w.shape}")
        _check_finite_non_negative(w, "weights")
        d = None
        if self.distances is not None:
            d = _real(u.get_magnitude(u.Quantity(self.distances).to(u.mm))
                      if isinstance(self.distances, u.Quantity) else self.distances, "distances")
            if d.shape != w.shape:
                raise ValueError(f"distances must have the shape of the weights {w.shape}; got {d.shape}")
            _check_finite_non_negative(d, "distances")
        labels = tuple(str(x) for x in self.labels) if self.labels is not None else ()
        if not labels:
            labels = tuple(f"R{i}" for i in range(w.shape[0]))
        if len(labels) != w.shape[0]:
            raise ValueError(f"{len(labels)} labels for {w.shape[0]} regions; give one label per region")
        object.__setattr__(self, "weights", w)
        object.__setattr__(self, "distances", d)
        object.__setattr__(self, "labels", labels)

    @property
    def n(self) -> int:
        """Number of regions."""
        return self.weights.shape[0]

    @property
    def digest(self) -> str:
        """A short content hash (identifies compiled programs built for this connectome)."""
        h = hashlib.sha1(self.weights.tobytes())
        if self.distances is not None:
            h.update(self.distances.tobytes())
        return h.hexdigest()[:16]

    @classmethod
    def example(cls) -> Connectome:
        """brainmass's bundled 8-region ``example_connectome`` (weights, distances in mm, labels)."""
        c = brainmass.datasets.load_dataset("example_connectome")
        return cls(np.asarray(c.weights), c.distances, tuple(str(x) for x in c.labels))


def _real(a: Any, what: str) -> np.ndarray:
    """``a`` as float64, refusing complex values (their imaginary part would be lost) and non-numbers."""
    arr = np.asarray(a)
    if arr.dtype.kind == "c":
        raise ValueError(f"{what} must be real numbers; got complex values (dtype {arr.dtype}), whose "
                         "imaginary part would be lost")
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{what} must be numbers; got dtype {arr.dtype}")
    return arr.astype(np.float64)


def _check_finite_non_negative(a: np.ndarray, what: str) -> None:
    bad = ~np.isfinite(a)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise ValueError(f"{what} must be finite; entry ({i}, {j}) is {float(a[i, j])!r}")
    if (a < 0).any():
        i, j = np.argwhere(a < 0)[0]
        raise ValueError(f"{what} must be non-negative; entry ({i}, {j}) is {float(a[i, j])!r}")


MAX_UPLOAD_BYTES = 20 * 2**20
"""The largest connectome file read, in bytes: as sent (compressed) and as unpacked."""


def load_connectome(source: Any, distances: Any = None, labels: Sequence[str] | None = None, *,
                    filename: str | None = None) -> Connectome:
    """A :class:`Connectome` from arrays, a file or an uploaded file's bytes; values are parsed as
    numbers only (no pickles, nothing evaluated).

    Parameters
    ----------
    source : str, path, bytes, array_like or Connectome
        ``"example"`` for the bundled connectome; a ``.npz`` file with ``weights`` (and optional
        ``distances``, ``labels``); a ``.npy`` or ``.csv`` file holding the weight matrix (a
        ``.csv`` whose first row is not numeric gives the labels); the bytes of such a file (with
        ``filename`` naming its type); or an ``(N, N)`` array. A file may hold and unpack to at
        most :data:`MAX_UPLOAD_BYTES` (20 MiB): a ``.npz`` is checked from its zip directory and
        ``.npy`` headers before any data is unpacked.
    distances : array_like or brainunit.Quantity, optional
        Tract lengths (mm when plain numbers).
    labels : sequence of str, optional
    filename : str, optional
        The name of an uploaded file whose bytes are ``source``.

    Returns
    -------
    Connectome

    Raises
    ------
    ValueError
        Naming the problem: unknown file type, a file too large or unpacking to too much,
        pickled objects, complex or non-numeric, non-square, non-finite or negative weights,
        mismatched distances or labels.
    """
    if isinstance(source, Connectome):
        return source
    if isinstance(source, str) and source == "example":
        return Connectome.example()
    if isinstance(source, bytes | bytearray):
        if len(source) > MAX_UPLOAD_BYTES:
            raise ValueError(f"{filename or 'the file'} is {len(source) / 2**20:.1f} MiB; the limit is "
                             f"{MAX_UPLOAD_BYTES // 2**20} MiB")
        name, data = filename or "", bytes(source)
    elif isinstance(source, str | Path):
        name, data = Path(source).name, Path(source)
    else:
        name, data = None, None
    if name is not None:
        try:
            weights, distances, labels = _read_file(name, data, distances, labels)
        except OSError as exc:
            raise ValueError(f"{name} could not be read as a connectome file: {exc}") from None
    else:
        weights = source
    try:
        weights = np.asarray(weights)
    except (TypeError, ValueError):
        raise ValueError("weights must be a numeric (N, N) array") from None
    return Connectome(weights, distances, tuple(labels) if labels is not None else ())


def _read_file(name: str, source: bytes | Path, distances: Any, labels: Any) -> tuple[Any, Any, Any]:
    """Weights, distances and labels from a .npz, .npy or .csv file (its path or its bytes), each
    at most :data:`MAX_UPLOAD_BYTES` unpacked."""
    suffix = Path(name).suffix.lower()
    if suffix == ".npz":
        data = read_npz(source, name=name, max_bytes=MAX_UPLOAD_BYTES)
        if "weights" not in data:
            raise ValueError(f"{name} has no 'weights' array; it holds {', '.join(data) or 'nothing'}")
        if distances is None:
            distances = data.get("distances")
        if labels is None and "labels" in data:
            labels = [str(x) for x in data["labels"]]
        return data["weights"], distances, labels
    if suffix == ".npy":
        return read_npy(source, name=name, max_bytes=MAX_UPLOAD_BYTES), distances, labels
    if suffix != ".csv":
        raise ValueError(f"connectome files must be .npz, .npy or .csv; got {name!r}")
    header, weights = read_csv(source, name=name, max_bytes=MAX_UPLOAD_BYTES)
    return weights, distances, labels or header


def network_models() -> list[ModelSpec]:
    """Catalogue node models a network can be built from (all but the Kuramoto network itself)."""
    return [s for s in catalog() if s.category != "network"]


class NetworkModel:
    """A network of one catalogue node model per region, coupled through a connectome.

    Pass it to :class:`~brainmass_widgets.CachedSimulator` as the model. Its parameters are the
    node model's (a scalar for every region, or one value per region) plus ``k``, the global
    coupling strength, and, with ``noise``, ``noise_sigma`` and ``noise_tau``.

    Parameters
    ----------
    node : str, default "HopfStep"
        Catalogue node model.
    connectome : Connectome, str or array_like, default "example"
        Anything :func:`load_connectome` accepts.
    coupled_var : str, optional
        The node state that couples the regions (default: the node's default monitor).
    coupling : str, default "diffusive"
        ``"diffusive"`` (k Σ w_ij (x_j − x_i)), ``"additive"`` (k Σ w_ij x_j), ``"sigmoidal"`` or
        ``"tanh"`` (a nonlinearity of the delayed source), as in ``brainmass.Network``.
    speed : float, optional
        Conduction speed in m/s (= mm/ms): delays are distance / speed. ``None`` (or a connectome
        without distances) couples instantaneously.
    noise : bool, default False
        Ornstein-Uhlenbeck noise on every node state that takes it.

    Examples
    --------
    >>> import brainunit as u, brainmass_widgets as bw
    >>> net = bw.NetworkModel("HopfStep", speed=5.0, noise=True)
    >>> sim = bw.CachedSimulator(net)
    >>> res = sim.run(100 * u.ms, params={"k": 0.8, "a": -0.05})
    >>> res["x"].shape
    (1000, 8)
    """

    def __init__(self, node: str = "HopfStep", *, connectome: Any = "example", coupled_var: str | None = None,
                 coupling: str = "diffusive", speed: float | None = 5.0, noise: bool = False):
        self.spec: ModelSpec = model_spec(node)
        if self.spec.category == "network":
            raise ValueError(f"{node} is a network itself; choose a node model: "
                             + ", ".join(s.name for s in network_models()))
        self.connectome = load_connectome(connectome)
        self.coupled_var = coupled_var or self.spec.default_monitor
        if self.coupled_var not in self.spec.states:
            raise ValueError(f"{self.coupled_var!r} is not a state variable of {node}; "
                             f"valid: {', '.join(self.spec.states)}")
        if coupling not in COUPLINGS:
            raise ValueError(f"coupling must be one of {', '.join(COUPLINGS)}; got {coupling!r}")
        self.coupling = coupling
        if speed is not None:
            if isinstance(speed, bool) or not isinstance(speed, int | float | np.number) or not speed > 0:
                raise ValueError(f"speed must be a positive number of m/s (or None); got {speed!r}")
            speed = float(speed)
        self.speed = speed if self.connectome.distances is not None else None
        self.noise = bool(noise)

    @property
    def n(self) -> int:
        """Number of regions."""
        return self.connectome.n

    @property
    def key(self) -> tuple:
        """What makes compiled programs of this network differ from another's."""
        return ("network", self.spec.model_class, self.connectome.digest, self.coupled_var, self.coupling,
                self.speed, self.noise)

    def max_delay_ms(self) -> float:
        """The longest conduction delay (0 without delays)."""
        if self.speed is None:
            return 0.0
        return float(self.connectome.distances.max() / self.speed)

    def build(self, node_values: Mapping[str, Any], k: Any, noise: Mapping[str, Any]) -> Any:
        """Build the ``brainmass.Network`` (inside a traced program: ``k`` and the node values may be
        tracers; the delays are computed from constants at trace time)."""
        node = self.spec.build(self.n, node_values, noise)
        with jax.ensure_compile_time_eval():
            distance = None if self.speed is None else self.connectome.distances * u.mm
            speed = None if self.speed is None else self.speed * u.mm / u.ms
            return _DrivenNetwork(node, self.spec.inputs(node_values), conn=self.connectome.weights,
                                  distance=distance, speed=speed, coupling=self.coupling,
                                  coupled_var=self.coupled_var, k=k)

    def initial_state(self, seed: int = 0) -> dict[str, Any]:
        """Initial node states, reproducible from ``seed`` (pass them as ``init``).

        A node in the Hopf normal form (``HopfStep``, ``StuartLandauStep``) starts every region
        on the circle of radius 0.5 at an independent, uniformly random phase, so that uncoupled
        regions are not locked in phase by a shared start (the catalogue starts them all at
        x = 0.5); the values are rounded to 4 decimals, so that a generated script writes them
        out exactly.
        Other nodes take the catalogue's initial values (the same in every region).

        Examples
        --------
        >>> import brainunit as u, brainmass_widgets as bw
        >>> net = bw.NetworkModel("HopfStep", noise=True)
        >>> res = bw.CachedSimulator(net).run(100 * u.ms, params={"a": -0.05}, init=net.initial_state(3),
        ...                                   seed=3)
        """
        if self.spec.name not in PHASE_NODES:
            return dict(self.spec.init)
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer; got {seed!r}")
        phase = np.random.default_rng(int(seed)).uniform(0.0, 2 * np.pi, self.n)
        return {"x": np.round(_START_RADIUS * np.cos(phase), 4),
                "y": np.round(_START_RADIUS * np.sin(phase), 4)}

    def __repr__(self) -> str:
        return (f"NetworkModel({self.spec.name!r}, {self.n} regions, coupled_var={self.coupled_var!r}, "
                f"coupling={self.coupling!r}, speed={self.speed!r}, noise={self.noise!r})")


class _DrivenNetwork(brainmass.Network):
    """``brainmass.Network`` whose node also receives the catalogue's constant drives (added to the
    coupling current when they feed the same input). Without drives it is ``Network`` itself."""

    def __init__(self, node: Any, drives: Mapping[str, Any], **kwargs: Any):
        super().__init__(node, **kwargs)
        self._drives = dict(drives)
        self._first_input = next(iter(inspect.signature(node.update).parameters))

    def update(self, *node_inputs: Any) -> Any:
        if not self._drives:
            return super().update(*node_inputs)
        drives = dict(self._drives)
        current = self.coupling()
        if self._first_input in drives:
            current = current + drives.pop(self._first_input)
        return self.node(current, **drives)


def order_parameter(x: Any) -> Any:
    """Kuramoto order parameter R(t) of the analytic-signal phases of ``x`` ``(time, regions)``.

    The phase of each region is that of its analytic signal (FFT Hilbert transform of the
    de-meaned trace); ``R(t) = |mean_j exp(i phase_j(t))|``, 1 when all regions are in phase.
    Works on NumPy and (traced) JAX arrays.
    """
    xp = jnp if isinstance(x, jax.Array) else np
    n = x.shape[0]
    spectrum = xp.fft.fft(x - x.mean(axis=0), axis=0)
    h = np.zeros(n)
    h[0] = 1.0
    h[1:(n + 1) // 2] = 2.0
    if n % 2 == 0:
        h[n // 2] = 1.0
    analytic = xp.fft.ifft(spectrum * h[:, None], axis=0)
    return xp.abs(xp.mean(analytic / xp.maximum(xp.abs(analytic), 1e-30), axis=1))
