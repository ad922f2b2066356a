"""Model adapters: one interface over the three kinds of model the engine runs.

:class:`SpecModel` (a catalogue or class-derived model), :class:`NetworkAdapter` (a
:class:`~brainmass_widgets.NetworkModel`, with the global coupling ``k``) and :class:`FactoryModel`
(a user factory ``f(**params) -> module``) each check and convert parameter values, name the
model's states with their units and default monitor, and build the model (a catalogue model with
its noise and drive) inside a compiled program from traced parameter values. :func:`get_state`,
:func:`state_values` and :func:`load_states` read and write a built model's states by dotted path.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

import brainmass
import brainstate
import brainunit as u
import numpy as np

from . import _units
from ._catalog import ModelSpec, ParamSpec
from ._network import K_PARAM, NetworkModel

__all__ = ["FactoryModel", "ModelAdapter", "NetworkAdapter", "SpecModel", "get_state", "load_states",
           "state_values"]

_NOISE_PARAMS = (
    ParamSpec("noise_sigma", 0.01, None, 0.0, 0.5, 0.005,
              "Strength of the Ornstein-Uhlenbeck noise, in the unit of the noisy state's input."),
    ParamSpec("noise_tau", 10.0, u.ms, 0.1, 100.0, 0.1,
              "Correlation time of the Ornstein-Uhlenbeck noise."),
)


def get_state(model: Any, path: str) -> Any:
    """The state at a dotted attribute path."""
    obj = model
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def state_values(model: Any) -> dict[str, Any]:
    """Every state of ``model`` by dotted path."""
    return {".".join(map(str, k)): v.value for k, v in model.states().items()}


def load_states(model: Any, values: Mapping[str, Any]) -> None:
    """Write carried state values back into a freshly built ``model``."""
    for k, st in model.states().items():
        st.value = values[".".join(map(str, k))]


@runtime_checkable
class ModelAdapter(Protocol):
    """What the engine, the fitter, the phase plane and scale-out need of a model.

    Attributes
    ----------
    key : tuple
        Hashable identity of the model, part of every compiled program's cache key.
    params : dict of str to ParamSpec
        Typed parameters with units and slider ranges (empty for a factory model).
    states : tuple of str
        State variables that can be monitored or initialised.
    state_units : dict
        Unit of each state (``None`` for a dimensionless one).
    default_monitor : str
        The state recorded when no monitor is named.
    default_init : dict
        Initial value per state where the model has one.
    noisy : tuple of str
        States that receive Ornstein-Uhlenbeck noise.
    """

    key: tuple
    params: dict[str, ParamSpec]
    states: tuple[str, ...]
    state_units: dict[str, Any]
    default_monitor: str
    default_init: dict[str, Any]
    noisy: tuple[str, ...]

    def defaults(self) -> dict[str, Any]:
        """Default value of every accepted parameter."""

    def canon(self, name: str, value: Any) -> np.ndarray:
        """``value`` of parameter ``name`` as a float32 magnitude in the parameter's unit; raises
        ``ValueError`` naming the parameter for an unknown name or a bad value."""

    def path(self, state: str) -> str:
        """Dotted path of ``state`` in the built model, for :func:`get_state`."""

    def build(self, in_size: Any, values: Mapping[str, Any]) -> tuple[Any, dict]:
        """The model built from (traced) parameter ``values``, and the inputs of its ``update``."""


class SpecModel:
    """A catalogue (or class-derived) model: typed parameters with units, known states."""

    def __init__(self, spec: ModelSpec, noise: Any):
        self.spec = spec
        self.key = ("spec", spec.model_class)
        self.params: dict[str, ParamSpec] = dict(spec.params)
        self.states = spec.states
        self.state_units = dict(spec.state_units)
        self.default_monitor = spec.default_monitor
        self.default_init = dict(spec.init)
        if noise is True:
            noisy = tuple(spec.noise_args)
        elif not noise:
            noisy = ()
        else:
            noisy = (noise,) if isinstance(noise, str) else tuple(noise)
        bad = [s for s in noisy if s not in spec.noise_args]
        if bad:
            raise ValueError(
                f"noise on {bad[0]!r} is not available for {spec.name}; "
                f"states that take noise: {_units.one_line(spec.noise_args) or 'none'}"
            )
        if noise is True and not noisy:
            raise ValueError(f"{spec.name} takes no additive noise")
        self.noisy = noisy
        if noisy:
            self.params.update({p.name: p for p in _NOISE_PARAMS})

    def defaults(self) -> dict[str, Any]:
        return {name: p.default for name, p in self.params.items()}

    def canon(self, name: str, value: Any) -> np.ndarray:
        if name not in self.params:
            raise ValueError(
                f"unknown parameter {name!r} for {self.spec.name}; valid: {_units.one_line(self.params)}"
            )
        return _units.canon(name, value, self.params[name].unit)

    def path(self, state: str) -> str:
        """Attribute path of a state variable in the built model."""
        return state

    def _noise(self, in_size: Any, values: Mapping[str, Any]) -> dict[str, Any]:
        noise = {}
        for state in self.noisy:
            unit = self.spec.noise_units[state]
            sigma = values["noise_sigma"] if unit is None else values["noise_sigma"] * unit
            noise[state] = brainmass.OUProcess(in_size, sigma=sigma, tau=values["noise_tau"] * u.ms)
        return noise

    def build(self, in_size: Any, values: Mapping[str, Any]) -> tuple[Any, dict]:
        model_values = {k: v for k, v in values.items() if k in self.spec.params}
        return (self.spec.build(in_size, model_values, self._noise(in_size, values)),
                self.spec.inputs(model_values))


class NetworkAdapter(SpecModel):
    """A :class:`NetworkModel`: the node's parameters and states, plus the global coupling ``k``."""

    def __init__(self, net: NetworkModel, dt: Any):
        super().__init__(net.spec, net.noise)
        self.net = net
        self.dt = dt
        self.key = net.key
        self.params["k"] = K_PARAM
        self.default_monitor = net.coupled_var

    def path(self, state: str) -> str:
        return f"node.{state}"

    def build(self, in_size: Any, values: Mapping[str, Any]) -> tuple[Any, dict]:
        node_values = {k: v for k, v in values.items() if k in self.spec.params}
        with brainstate.environ.context(dt=self.dt):  # the delay buffers are sized from dt
            return self.net.build(node_values, values["k"], self._noise(self.net.n, values)), {}


class FactoryModel:
    """A user factory ``f(**params) -> module``: parameters keep the units they are given in."""

    def __init__(self, factory: Callable, in_size: Any, dt: Any):
        self.key = ("factory", factory)
        self.factory = factory
        sig = inspect.signature(factory)
        self.any_name = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
        self.names = [n for n, p in sig.parameters.items()
                      if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        self.units: dict[str, Any] = {}
        self._defaults = {}
        for n in self.names:
            d = sig.parameters[n].default
            if isinstance(d, (int, float, u.Quantity)) and not isinstance(d, bool):
                self._defaults[n] = d
        with brainstate.environ.context(dt=dt):
            probe = factory()
            brainstate.nn.init_all_states(probe)
        self.states = tuple(state_values(probe))
        self.state_units = {s: (None if u.get_unit(v).is_unitless else u.get_unit(v))
                            for s, v in state_values(probe).items()}
        self.default_monitor = self.states[0]
        self.default_init: dict[str, Any] = {}
        self.noisy = ()
        self.params: dict[str, ParamSpec] = {}

    def defaults(self) -> dict[str, Any]:
        return dict(self._defaults)

    def canon(self, name: str, value: Any) -> np.ndarray:
        if name not in self.names and not self.any_name:
            raise ValueError(f"unknown parameter {name!r} for {self.factory.__name__}; "
                             f"valid: {_units.one_line(self.names)}")
        if isinstance(value, u.Quantity) and name not in self.units:
            self.units[name] = value.unit
        return _units.canon(name, value, self.units.get(name))

    def path(self, state: str) -> str:
        return state

    def build(self, in_size: Any, values: Mapping[str, Any]) -> tuple[Any, dict]:
        kwargs = {k: (v if self.units.get(k) is None else v * self.units[k]) for k, v in values.items()}
        return self.factory(**kwargs), {}
