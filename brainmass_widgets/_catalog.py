"""Model catalogue: one :class:`ModelSpec` per supported brainmass node model.

A spec is read from the model's own constructor signature and docstring (name, default, unit and
one-line doc of every numeric parameter) and completed by a small table of choices per model:
slider ranges where the automatic range would miss the interesting behaviour, a default ``dt`` and
duration, initial values, a constant drive, and the few defaults that differ from the
constructor's (each with the reason, in ``ModelSpec.notes``).
"""

from __future__ import annotations

import functools
import inspect
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import brainmass
import brainstate
import brainunit as u

__all__ = ["ParamSpec", "ModelSpec", "catalog", "model_spec", "spec_from_class"]


@dataclass(frozen=True)
class ParamSpec:
    """One model parameter as a slider sees it.

    Attributes
    ----------
    name : str
        Constructor keyword (or, for ``role="input"``, the ``update`` keyword it feeds).
    default : float
        Default value, in ``unit``.
    unit : brainunit.Unit or None
        Unit of the value; ``None`` for a dimensionless parameter.
    low, high, step : float
        Slider range (containing ``default``) and step, in ``unit``.
    doc : str
        One line, taken from the model's docstring.
    role : str
        ``"param"`` for a constructor parameter, ``"input"`` for a constant drive passed to
        ``update`` on every step.
    """

    name: str
    default: float
    unit: Any
    low: float
    high: float
    step: float
    doc: str
    role: str = "param"

    @property
    def label(self) -> str:
        """Slider label: the name, with the unit in brackets when there is one."""
        return self.name if self.unit is None else f"{self.name} [{self.unit}]"

    def quantity(self, value: Any) -> Any:
        """Attach this parameter's unit to a magnitude (identity when dimensionless)."""
        return value if self.unit is None else value * self.unit


@dataclass(frozen=True)
class ModelSpec:
    """Everything the engine and the front ends need to know about one model.

    Attributes
    ----------
    name : str
        Catalogue name (the brainmass class name).
    model_class : type
        The brainmass class.
    category : str
        ``"phenomenological"``, ``"physiological"`` or ``"network"`` (from ``brainmass.list_models``).
    summary : str
        What the model is used for.
    params : Mapping[str, ParamSpec]
        Constructor parameters (and the constant drive, if any), in signature order.
    states : tuple of str
        State variables that can be monitored or given initial values.
    state_units : Mapping[str, brainunit.Unit or None]
        Unit of each state variable.
    default_monitor : str
        The state shown when nothing else is asked for.
    dt, duration : brainunit.Quantity
        Integration step and run length under which the model, at its defaults, neither diverges
        nor sits flat.
    init : Mapping[str, float]
        Initial state values applied unless the caller gives others (magnitudes in the state's unit).
    noise_args : Mapping[str, str]
        Constructor noise keyword for each state that can take additive noise.
    noise_units : Mapping[str, brainunit.Unit or None]
        Unit of the noise added to each such state (the unit of its input, which for second-order
        models such as Jansen-Rit is not the state's own unit).
    notes : str
        Why a default differs from the constructor's, where it does.
    default_noise : tuple of str
        States (keys of ``noise_args``) that receive Ornstein-Uhlenbeck noise in the model's default
        view, that is in a :class:`~brainmass_widgets.ModelController` whose ``noise`` is left at
        ``None`` or set to ``True``; empty (the usual case) for a noise-free default view.
    default_noise_params : Mapping[str, float]
        Defaults of ``noise_sigma`` (in the unit of ``noise_units``) and ``noise_tau`` (in ms) that
        go with ``default_noise``, where they differ from the engine's.
    """

    name: str
    model_class: type
    category: str
    summary: str
    params: Mapping[str, ParamSpec]
    states: tuple[str, ...]
    state_units: Mapping[str, Any]
    default_monitor: str
    dt: Any
    duration: Any
    init: Mapping[str, float] = field(default_factory=dict)
    noise_args: Mapping[str, str] = field(default_factory=dict)
    noise_units: Mapping[str, Any] = field(default_factory=dict)
    notes: str = ""
    default_noise: tuple[str, ...] = ()
    default_noise_params: Mapping[str, float] = field(default_factory=dict)

    @property
    def monitors(self) -> tuple[str, ...]:
        """Names that can be monitored (the state variables)."""
        return self.states

    def build(self, in_size: Any, values: Mapping[str, Any], noise: Mapping[str, Any] | None = None,
              **extra: Any):
        """Construct the brainmass model.

        Parameters
        ----------
        in_size : int or tuple of int
            Number (shape) of nodes.
        values : Mapping[str, Any]
            Magnitudes of constructor parameters, in each parameter's unit (arrays or tracers).
        noise : Mapping[str, Any], optional
            Noise process per state name.
        **extra
            Further constructor keywords, passed as they are (initialisers, for one).

        Returns
        -------
        brainstate.nn.Dynamics
        """
        kwargs = {
            name: self.params[name].quantity(value)
            for name, value in values.items()
            if self.params[name].role == "param"
        }
        for state, process in (noise or {}).items():
            kwargs[self.noise_args[state]] = process
        return self.model_class(in_size, **kwargs, **extra)

    def inputs(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Keyword inputs for ``update`` from the drive parameters in ``values``."""
        return {
            name: self.params[name].quantity(value)
            for name, value in values.items()
            if self.params[name].role == "input"
        }


# ----------------------------------------------------------------------------- automatic parts


def _nice(x: float) -> float:
    """Round to two significant figures."""
    return 0.0 if x == 0 else float(f"{x:.2g}")


def _auto_range(default: float) -> tuple[float, float]:
    """A slider range around ``default``: a decade below to three times above, or ±1 for zero."""
    if default == 0:
        return -1.0, 1.0
    if default > 0:
        return _nice(default / 10), _nice(default * 3)
    return _nice(default * 3), _nice(-default)


def _auto_step(low: float, high: float) -> float:
    """A step of about one hundredth of the range, rounded to a power of ten or its half."""
    span = (high - low) / 100
    exp = math.floor(math.log10(span))
    base = 10.0**exp
    return float(f"{(5 * base if span >= 5 * base else base):.1g}")


def _param_docs(cls: type) -> dict[str, str]:
    """First sentence of each entry of the numpydoc ``Parameters`` section of ``cls``."""
    doc = inspect.getdoc(cls) or ""
    match = re.search(r"^Parameters\n-+\n(.*?)(?=^\S[^\n]*\n-{3,}\n|\Z)", doc, re.S | re.M)
    if not match:
        return {}
    entries: dict[str, list[str]] = {}
    names: list[str] = []
    for line in match.group(1).splitlines():
        if line and not line[0].isspace():
            names = [n.strip() for n in line.split(":")[0].split(",")]
            for n in names:
                entries[n] = []
        elif line.strip():
            for n in names:
                entries[n].append(line.strip())
    out = {}
    for n, lines in entries.items():
        text = " ".join(lines)
        first = re.split(r"(?<=[a-z0-9)\]`])\.\s", text, maxsplit=1)[0].rstrip(".")
        if first:
            out[n] = first + "."
    return out


def _state_names(cls: type, dt: Any) -> tuple[tuple[str, ...], dict[str, Any]]:
    """State variables (in definition order) and their units, read from one initialised instance."""
    node = cls(1)
    with brainstate.environ.context(dt=dt):
        brainstate.nn.init_all_states(node)
    names = tuple(
        k for k, v in vars(node).items() if isinstance(v, brainstate.HiddenState) and not k.startswith("_")
    )
    units = {}
    for k in names:
        unit = u.get_unit(getattr(node, k).value)
        units[k] = None if unit.is_unitless else unit
    return names, units


def _match_noise(noise_args: Mapping[str, str], states: tuple[str, ...]) -> dict[str, str]:
    """Map each ``noise_<suffix>`` keyword to the state it perturbs (``noise_E`` -> ``rE``)."""
    out = {}
    for suffix, arg in noise_args.items():
        hits = [s for s in states if s == suffix] or [
            s for s in states if s.lower().endswith(suffix.lower())
        ]
        if len(hits) == 1:
            out[hits[0]] = arg
    return out


def spec_from_class(
    cls: type,
    *,
    dt: Any = 0.1 * u.ms,
    duration: Any = 100 * u.ms,
    category: str = "",
    summary: str = "",
    overrides: Mapping[str, Any] | None = None,
) -> ModelSpec:
    """Build a :class:`ModelSpec` from a brainmass (or compatible) class.

    Numeric keyword parameters of ``cls.__init__`` become :class:`ParamSpec` entries; their units
    come from Quantity defaults, their docs from the class docstring. ``overrides`` may hold
    ``defaults``, ``ranges`` (name -> (low, high)), ``drive`` ((update keyword, default, unit,
    (low, high), doc)), ``init``, ``monitor``, ``dt``, ``duration``, ``notes``, ``noise_units``,
    ``default_noise`` (noisy states of the default view) and ``default_noise_params``.

    Parameters
    ----------
    cls : type
        A ``brainstate.nn.Dynamics`` subclass whose first constructor argument is ``in_size``.
    dt, duration : brainunit.Quantity
        Defaults when ``overrides`` does not give them.
    category, summary : str
        Descriptive text.
    overrides : Mapping, optional
        Per-model choices, as above.

    Returns
    -------
    ModelSpec
    """
    ov = dict(overrides or {})
    dt = ov.get("dt", dt)
    docs = _param_docs(cls)
    defaults = ov.get("defaults", {})
    ranges = ov.get("ranges", {})
    params: dict[str, ParamSpec] = {}
    noise_args: dict[str, str] = {}
    sig = inspect.signature(cls.__init__)
    for name, p in list(sig.parameters.items())[2:]:
        d = p.default
        if name.startswith("noise_"):
            noise_args[name[len("noise_"):]] = name
            continue
        if isinstance(d, bool) or not isinstance(d, (int, float, u.Quantity)):
            continue
        if isinstance(d, u.Quantity):
            if d.ndim:
                continue
            unit, value = d.unit, float(d.mantissa)
        else:
            unit, value = None, float(d)
        value = float(defaults.get(name, value))
        low, high = ranges.get(name, _auto_range(value))
        params[name] = ParamSpec(
            name, value, unit, float(low), float(high), _auto_step(low, high),
            docs.get(name, f"Parameter {name} of {cls.__name__}."),
        )
    if "drive" in ov:
        name, value, unit, (low, high), doc = ov["drive"]
        params[name] = ParamSpec(name, float(value), unit, float(low), float(high),
                                 _auto_step(low, high), doc, role="input")
    for p in params.values():
        if not p.low <= p.default <= p.high:
            raise ValueError(f"{cls.__name__}.{p.name}: default {p.default} outside {p.low}..{p.high}")
    states, units = _state_names(cls, dt)
    noise_args = _match_noise(noise_args, states)
    default_noise = tuple(ov.get("default_noise", ()))
    bad = [s for s in default_noise if s not in noise_args]
    if bad:
        raise ValueError(f"{cls.__name__}: default noise on {bad[0]!r}, which takes no noise")
    return ModelSpec(
        name=cls.__name__,
        model_class=cls,
        category=category,
        summary=summary,
        params=MappingProxyType(params),
        states=states,
        state_units=MappingProxyType(units),
        default_monitor=ov.get("monitor", states[0]),
        dt=dt,
        duration=ov.get("duration", duration),
        init=MappingProxyType(dict(ov.get("init", {}))),
        noise_args=MappingProxyType(noise_args),
        noise_units=MappingProxyType({s: ov.get("noise_units", {}).get(s, units[s]) for s in noise_args}),
        notes=ov.get("notes", ""),
        default_noise=default_noise,
        default_noise_params=MappingProxyType(dict(ov.get("default_noise_params", {}))),
    )


# ----------------------------------------------------------------------------- per-model choices

_MS = u.ms

_OVERRIDES: dict[str, dict[str, Any]] = {
    "HopfStep": dict(
        init={"x": 0.5}, duration=200 * _MS,
        ranges={"a": (-1.0, 1.5), "w": (0.0, 1.0), "beta": (0.1, 3.0)},
        notes="Starts from x = 0.5: the constructor's x = y = 0 is a fixed point at every a.",
    ),
    "VanDerPolStep": dict(duration=100 * _MS, ranges={"mu": (0.0, 5.0)}),
    "StuartLandauStep": dict(duration=200 * _MS, ranges={"a": (-1.0, 1.5), "w": (0.0, 1.0)}),
    "FitzHughNagumoStep": dict(
        duration=500 * _MS,
        drive=("V_inp", 1.0, None, (-2.0, 3.0), "Constant input current to V."),
        notes="Driven by a constant input V_inp = 1 so that it fires: undriven it rests at 0.",
    ),
    "ThresholdLinearStep": dict(
        duration=200 * _MS,
        drive=("E_inp", 1.0, None, (0.0, 5.0), "Constant input to the excitatory population."),
        notes="Driven by E_inp = 1: undriven, both rates stay at 0. Beware a bug in brainmass 0.1.1: "
              "it integrates tau_I dI/dt = +I - beta_I [I_inp]+, the opposite sign of its own docstring "
              "(tau_I dI/dt = -I + beta_I [I_inp]+), so any positive I grows without bound, as "
              "I(0) exp(t / tau_I). I stays at 0 only because it starts there: not physics.",
    ),
    "Generic2dOscillatorStep": dict(
        duration=200 * _MS, ranges={"I": (-2.0, 2.0), "a": (-4.0, 2.0)},
    ),
    "LorenzStep": dict(
        dt=0.005 * _MS, duration=50 * _MS, ranges={"rho": (0.0, 50.0)},
        notes="dt = 0.005 ms: the Lorenz equations are in units of 1/ms and diverge at dt = 0.1 ms.",
    ),
    "LinearStep": dict(
        dt=0.01 * _MS, duration=2 * _MS, init={"x": 1.0},
        notes="Starts from x = 1 and shows the exponential decay over 2 ms.",
    ),
    "WilsonCowanStep": dict(
        dt=0.05 * _MS, duration=500 * _MS,
        defaults={"wEE": 16.0, "wIE": 12.0, "wEI": 15.0, "wII": 3.0, "a_E": 1.3, "theta_E": 4.0,
                  "a_I": 2.0, "theta_I": 3.7, "tau_E": 10.0, "tau_I": 10.0},
        drive=("rE_inp", 1.25, None, (0.0, 5.0), "Constant input to the excitatory population."),
        notes="The limit cycle of Wilson & Cowan (1972): couplings wEE = 16, wIE = 12 (I to E, in "
              "brainmass's naming), wEI = 15 (E to I), wII = 3, sigmoids a_E = 1.3, theta_E = 4, "
              "a_I = 2, theta_I = 3.7, and the drive rE_inp = 1.25 (their P). The one equilibrium is an "
              "unstable focus in a box the flow never leaves, so the rates settle on a limit cycle, an "
              "E-I oscillation with period 5 tau: 20 Hz with tau_E = tau_I = 10 ms (the constructor's "
              "1 ms would make it 200 Hz). Against rE_inp the cycle appears near 1.08, where the "
              "low-activity equilibrium vanishes in a fold, and shrinks into a Hopf point near 1.91. "
              "dt = 0.05 ms: the runs read 19 Hz and keep a small cycle up to rE_inp = 2.1 (the "
              "integrator's first-order error); dt = 0.1 ms would read 18 Hz, up to 2.3. With the "
              "constructor's values (wEE = 12, wIE = 4, wEI = 13, wII = 11, a_E = 1.2, theta_E = 2.8, "
              "a_I = 1, theta_I = 4) the rates settle at every drive, bistable between two folds; "
              "undriven, both rates stay at 0.",
    ),
    "JansenRitStep": dict(
        duration=1000 * _MS, monitor="E", noise_units={"E": u.Hz},
        drive=("E_inp", 220.0, u.Hz, (0.0, 400.0), "Mean input firing rate to the pyramidal cells."),
        default_noise=("E",), default_noise_params={"noise_sigma": 80.0, "noise_tau": 1.0},
        notes="Driven as in Jansen & Rit (1995): a noisy input around E_inp = 220 Hz, the mean of their "
              "p(t), uniform in 120-320 Hz (standard deviation 58 Hz). The default view adds "
              "Ornstein-Uhlenbeck noise to E_inp with noise_tau = 1 ms and noise_sigma = 80 Hz, a "
              "standard deviation of about 58 Hz: the E trajectory shows a noisy alpha rhythm, its "
              "spectrum peaks at 8-12 Hz. With noise off, the constant 220 Hz input gives a ringing "
              "that settles at a fixed point (E about 24.5 mV); undriven it settles at rest.",
    ),
    "WongWangStep": dict(
        duration=1000 * _MS, noise_units={"S1": u.nA, "S2": u.nA},
        defaults={"J_N12": 0.2, "J_N21": 0.2},
        drive=("coherence", 0.05, None, (-1.0, 1.0),
               "Motion coherence c: the stimulus J_A_ext mu_0 (1 + c) to population 1, (1 - c) to 2."),
        notes="A decision from rest: a 5 % coherence (coherence = 0.05) favours population 1; S1 and S2 "
              "rise together, then S1 wins (S1 about 0.8) and S2 falls to 0. Cross-inhibition "
              "J_N12 = J_N21 = 0.2 nA: with the constructor's 0.0497 nA (Wong & Wang 2006, whose f-I "
              "curve is smooth where brainmass's is threshold-linear) the undecided state S1 = S2 = 0.76 "
              "is a stable node that every noise-free run from rest ends in, at any coherence; at "
              "0.2 nA it is a saddle (S1 = S2 = 0.47), so the run decides, and the smaller the "
              "coherence the later. Noise is off: with Wong & Wang's (noise_sigma = 0.02 nA, "
              "noise_tau = 2 ms) the choice at 5 % coherence is close to a coin toss.",
    ),
    "WongWangExcInhStep": dict(duration=1000 * _MS),
    "MontbrioPazoRoxinStep": dict(duration=100 * _MS, ranges={"eta": (-10.0, 5.0)}),
    "CoombesByrneStep": dict(duration=100 * _MS),
    "LarterBreakspearStep": dict(duration=500 * _MS),
    "EpileptorStep": dict(duration=1000 * _MS, ranges={"x0": (-3.0, 0.0)}),
    "KuramotoNetwork": dict(
        duration=100 * _MS, defaults={"omega": 0.1},
        ranges={"omega": (-1.0, 1.0), "K": (0.0, 5.0), "alpha": (-3.2, 3.2)},
        notes="omega = 0.1: with the constructor's omega = 0 a lone oscillator's phase never moves.",
    ),
}


@functools.cache
def catalog() -> tuple[ModelSpec, ...]:
    """Every supported model, in ``brainmass.list_models()`` order.

    The HORN family is left out: its models are trainable recurrent layers whose ``update``
    needs an input sequence, not node dynamics to explore with sliders.

    Returns
    -------
    tuple of ModelSpec
    """
    specs = []
    for info in brainmass.list_models():
        if info.name.startswith("HORN"):
            continue
        specs.append(spec_from_class(
            getattr(brainmass, info.name), category=info.category, summary=info.use_case,
            overrides=_OVERRIDES.get(info.name),
        ))
    return tuple(specs)


def model_spec(name: str) -> ModelSpec:
    """The catalogue entry called ``name``.

    Raises
    ------
    ValueError
        If ``name`` is not in the catalogue; the message lists the valid names.
    """
    for spec in catalog():
        if spec.name == name:
            return spec
    names = ", ".join(s.name for s in catalog())
    raise ValueError(f"unknown model {name!r}; choose one of: {names}")
