"""Explorers described once: each explorer's controls as framework-neutral data, read from its
controller and applied to it, for every front end to render the same way.

A :class:`Form` lists an explorer's :class:`Control` objects (what each control is: kind, label,
range and step, unit, doc, group, whether it is enabled or shown), gives the value every control
shows now (:meth:`Form.values`) and applies a value a user gave one control
(:meth:`Form.apply`). A front end renders the controls, shows the values after every accepted
change, and hands every user change to ``apply``: that is the whole binding.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

import brainunit as u
import numpy as np

from ._catalog import catalog, model_spec
from ._fit import BACKENDS, LOOPS, OBJECTIVES, OPTIMIZERS
from ._fit_controller import TARGETS, fittable_models
from ._network import COUPLINGS, network_models
from ._phase import planar_models
from ._text import slider_tooltip

__all__ = ["CONTROL_KINDS", "HELD", "INITIAL", "METRICS", "NETWORK", "NO_SECOND", "NO_SECOND_LABEL",
           "OBJECTIVE", "OPTIMIZER", "PARAMETERS", "RANGES", "RESOLUTION", "RUN", "RUN_OPTIONS", "SWEEP",
           "TARGET", "TRUTH", "WEIGHTS",
           "BifurcationForm", "Binding", "Control", "ControlKind", "FitForm", "Form", "ModelForm",
           "NetworkForm", "PhaseForm", "SweepForm", "form_for", "objective_label", "shown_regions"]

ControlKind = Literal["slider", "float", "int", "bool", "choice", "choices", "checks"]
"""What a control is: a parameter slider (with a box to type an exact value), a number box, an
integer box, a check box, one choice from a list, several choices from a list, or several choices
as a row of check boxes."""
CONTROL_KINDS: tuple[str, ...] = get_args(ControlKind)

RUN_OPTIONS: dict[str, tuple[type, str, str]] = {
    "duration": (float, "duration [ms]", "Length of each run, the transient included."),
    "dt": (float, "dt [ms]", "Integration time step."),
    "transient": (float, "transient [ms]", "Computed first and left out of the plots."),
    "in_size": (int, "regions simulated (in_size)", "How many copies of the node the model simulates."),
    "regions": (int, "regions plotted", "How many of the simulated regions the plots draw."),
    "seed": (int, "seed", "Seed of the random initial states and the noise."),
    "batch_size": (int, "noisy runs (0: just one)", "0 or 1: one run; n > 1: the mean ± std band of n "
                                                    "runs, each with its own noise (turn noise on)."),
    "noise": (bool, "noise (Ornstein-Uhlenbeck)", "Ornstein-Uhlenbeck noise; adds the parameters "
                                                  "noise_sigma and noise_tau."),
}
"""Type, label and tooltip of each run option of a Model explorer, the same in both front ends."""

def shown_regions(options: dict[str, Any]) -> int:
    """The "regions plotted" a Model explorer shows: its ``regions`` option, but never more than
    the regions simulated (``in_size``)."""
    return min(int(options["regions"]), int(np.prod(np.atleast_1d(options["in_size"]))))


NO_SECOND = ""
#: How a menu shows :data:`NO_SECOND`.
NO_SECOND_LABEL = "(none)"
"""The value of the sweep's second-parameter choice when only one parameter is swept."""

METRICS = ("amplitude", "minmax", "frequency", "mean", "std")
"""The sweep metrics, as :class:`~brainmass_widgets.SweepController` names them."""

PARAMETERS = "parameters"
"""The group of a model's parameter sliders."""
RUN = "Run options"
"""The group of a Model explorer's run options (a collapsed section)."""
HELD = "held state variables"
"""The group of a Phase-plane explorer's sliders of the state variables held off the axes."""
RANGES = "Ranges, trajectory and noise"
"""The group of a Phase-plane explorer's axis ranges and trajectory settings (a collapsed section)."""
NETWORK = "Delays, noise and run"
"""The group of a Network explorer's speed, noise, seed and run length."""
SWEEP = "coupling sweep"
"""The group of a Network explorer's coupling-sweep settings."""
INITIAL = "starting values"
"""The group of a Fit explorer's starting-value sliders."""
TRUTH = "true values (the synthetic target's)"
"""The group of a Fit explorer's true-value sliders, shown for a synthetic target."""
TARGET = "target"
"""The group of a Fit explorer's target choice."""
OBJECTIVE = "objective"
"""The group of a Fit explorer's objective choice."""
WEIGHTS = "Objective weights (the loss is their weighted sum)"
"""The group of a Fit explorer's objective weights (a collapsed section)."""
OPTIMIZER = "optimizer"
"""The group of a Fit explorer's optimizer settings."""
RESOLUTION = "Resolution"
"""The group of a Bifurcation explorer's resolution settings (a collapsed section)."""


@dataclass(frozen=True)
class Control:
    """One control of an explorer, whatever widget toolkit draws it.

    Attributes
    ----------
    name : str
        The control's key in :meth:`Form.values` and :meth:`Form.apply`.
    kind : {"slider", "float", "int", "bool", "choice", "choices", "checks"}
        What the control is.
    label : str
        Its label, with the unit in brackets when it has one.
    doc : str
        What hovering it says.
    low, high, step : float or None
        A slider's range and step (a shown value beyond the range widens it).
    unit : str
        The unit of its value (``""`` when dimensionless or not a number).
    choices : tuple of (str, object)
        A choice's entries: the text shown and the value it stands for.
    group : str
        Where it sits: ``""`` (the explorer's main column), :data:`PARAMETERS` or :data:`RUN`.
    enabled, visible : bool
        Whether it can be changed now, and whether it is shown at all.
    css : str
        The CSS class both front ends give its widget (pages and browser tests find it by it);
        ``""``: the form's default (:meth:`Form.css`).
    """

    name: str
    kind: ControlKind
    label: str
    doc: str = ""
    low: float | None = None
    high: float | None = None
    step: float | None = None
    unit: str = ""
    choices: tuple[tuple[str, Any], ...] = ()
    group: str = ""
    enabled: bool = True
    visible: bool = True
    css: str = ""

    def __post_init__(self) -> None:
        if self.kind not in CONTROL_KINDS:
            raise ValueError(f"unknown control kind {self.kind!r}; valid: {', '.join(CONTROL_KINDS)}")


def _choices(values: Any) -> tuple[tuple[str, Any], ...]:
    return tuple((str(v), v) for v in values)


def _ms(q: Any) -> float:
    return float(q.to_decimal(u.ms))


class Form:
    """An explorer's controls over its controller.

    Subclasses define :meth:`controls`, :meth:`values` and :meth:`apply`. The controller calls its
    ``on_state`` listeners after every accepted change, so a front end refreshes from there.
    """

    CSS = "bmw-{dashed}"
    """The CSS class of a control that names none: ``{name}`` is its name, ``{dashed}`` its name
    with ``-`` for ``_``."""

    def __init__(self, controller: Any):
        self.controller = controller

    def css(self, control: Control) -> str:
        """The CSS class both front ends give ``control``'s widget: its own, else :attr:`CSS`."""
        return control.css or self.CSS.format(name=control.name, dashed=control.name.replace("_", "-"))

    def controls(self) -> list[Control]:
        """Every control, in the order shown."""
        raise NotImplementedError

    def values(self) -> dict[str, Any]:
        """The value each control shows now, by control name."""
        raise NotImplementedError

    def key(self) -> Any:
        """What :meth:`controls` depends on, when the form can say it cheaply (an unchanged key
        lets a front end keep the controls it shows); ``None``: ask :meth:`controls` every time."""
        return None

    def apply(self, name: str, value: Any) -> None:
        """Apply ``value`` given to control ``name``.

        Raises
        ------
        ValueError
            Naming the bad value and what is allowed; nothing changes (the controller's status
            says it too).
        """
        raise NotImplementedError

    def update(self, changes: Mapping[str, Any]) -> None:
        """Apply several controls' values (each in turn, unless the form applies them together).

        Raises
        ------
        ValueError
            Naming the first bad value; the values before it are applied.
        """
        for name, value in changes.items():
            self.apply(name, value)


class ModelForm(Form):
    """The controls of a Model explorer: the model, a slider per parameter, and the run options
    (duration, dt, transient, regions, seed, noise, noise runs, monitors, the phase plot's axes)."""

    CSS = "bmw-opt-{name}"

    def key(self) -> Any:
        c = self.controller
        return c.spec.name, tuple(c.params)

    def controls(self) -> list[Control]:
        c = self.controller
        specs = c.simulator.adapter.params
        states = _choices(c.spec.states)
        out = [Control("model", "choice", "model", "Catalogue model; switching resets its parameters to "
                       "their defaults.", choices=_choices(s.name for s in catalog()), css="bmw-model")]
        for name in c.params:
            p = specs[name]
            out.append(Control(name, "slider", p.label, slider_tooltip(p), p.low, p.high, p.step,
                               unit="" if p.unit is None else str(p.unit), group=PARAMETERS,
                               css=f"bmw-param-{name}"))
        for name, (kind, label, doc) in RUN_OPTIONS.items():
            unit = "ms" if label.endswith("[ms]") else ""
            out.append(Control(name, {float: "float", int: "int", bool: "bool"}[kind], label, doc, unit=unit,
                               group=RUN))
        out.append(Control("monitors", "choices", "monitors", "The states recorded and drawn over time.",
                           choices=states, group=RUN))
        out.append(Control("phase_x", "choice", "phase x", "The state on the phase plot's x axis.",
                           choices=states, group=RUN))
        out.append(Control("phase_y", "choice", "phase y", "The state on the phase plot's y axis.",
                           choices=states, group=RUN))
        return out

    def values(self) -> dict[str, Any]:
        c = self.controller
        opts = c.options
        values: dict[str, Any] = {
            "model": c.spec.name, "duration": _ms(opts["duration"]), "dt": _ms(opts["dt"]),
            "transient": 0.0 if opts["transient"] is None else _ms(opts["transient"]),
            "in_size": int(np.prod(np.atleast_1d(opts["in_size"]))), "regions": shown_regions(opts),
            "seed": int(opts["seed"]), "batch_size": int(opts["batch_size"] or 0),
            "noise": bool(opts["noise"]), "monitors": tuple(opts["monitors"]),
            "phase_x": opts["phase"][0], "phase_y": opts["phase"][1]}
        values.update({name: float(np.mean(value)) for name, value in c.params.items()})
        return values

    def apply(self, name: str, value: Any) -> None:
        c = self.controller
        if name in c.params:
            c.set(**{name: value})
        elif name in ("phase_x", "phase_y"):
            x, y = c.options["phase"]
            c.configure(phase=(value, y) if name == "phase_x" else (x, value))
        elif name == "monitors":
            c.configure(monitors=tuple(value))
        else:
            c.configure(**{name: value})


class SweepForm(Form):
    """The controls of a Sweep explorer: the model, one or two swept parameters with their ranges
    and points, the metric and the state it reduces, the run length and where the sweep runs."""

    CSS = "bmw-sweep-{name}"

    _AXES = (("parameter", "low", "high", "points"), ("parameter2", "low2", "high2", "points2"))

    def controls(self) -> list[Control]:
        c = self.controller
        spec = model_spec(c.options["model"])
        names = _choices(spec.params)
        two = len(c.options["axes"]) == 2
        executors = c.executors
        out = [Control("model", "choice", "model", "Catalogue model; switching resets the sweep to its "
                       "first parameter.", choices=_choices(s.name for s in catalog()))]
        for i, (param, low, high, points) in enumerate(self._AXES):
            which = "first" if i == 0 else "second"
            enabled = i == 0 or two
            choices = names if i == 0 else ((NO_SECOND_LABEL, NO_SECOND), *names)
            out += [
                Control(param, "choice", "parameter" if i == 0 else "second parameter",
                        f"The {which} parameter swept"
                        + ("." if i == 0 else f"; {NO_SECOND_LABEL} for a 1-D sweep."),
                        choices=choices),
                Control(low, "float", "from", f"The {which} parameter's first value.", enabled=enabled),
                Control(high, "float", "to", f"The {which} parameter's last value.", enabled=enabled),
                Control(points, "int", "points", f"How many values of the {which} parameter, evenly spaced.",
                        enabled=enabled)]
        out += [
            Control("metric", "choice", "metric", "What each run is reduced to: amplitude (max - min), max "
                    "(minmax), dominant frequency, mean or standard deviation.", choices=_choices(METRICS)),
            Control("monitor", "choice", "monitor", "The state the metric reduces.",
                    choices=_choices(spec.states)),
            Control("duration", "float", "duration [ms]", "Length of each point's run, the transient "
                    "(a quarter) included.", unit="ms"),
            Control("executor", "choice", "run on", "Where the sweep's blocks are computed.",
                    choices=tuple((label, key) for key, label in executors.items()),
                    visible=len(executors) > 1)]
        return out

    def values(self) -> dict[str, Any]:
        opts = self.controller.options
        names = list(opts["axes"])
        first = opts["axes"][names[0]]
        second = opts["axes"][names[1]] if len(names) > 1 else (0.0, 1.0, 16)
        return {"model": opts["model"], "parameter": names[0], "low": first[0], "high": first[1],
                "points": first[2], "parameter2": names[1] if len(names) > 1 else NO_SECOND,
                "low2": second[0], "high2": second[1], "points2": second[2], "metric": opts["metric"],
                "monitor": opts["monitor"], "duration": _ms(opts["duration"]), "executor": opts["executor"]}

    def axes(self, values: dict[str, Any]) -> dict[str, tuple]:
        """The ``axes`` setting for control values; a newly chosen parameter spans its slider range.

        Raises
        ------
        ValueError
            When both parameters are the same.
        """
        spec = model_spec(values["model"])
        current = self.controller.options["axes"]
        axes: dict[str, tuple] = {}
        for param, low, high, points in self._AXES:
            name = values[param]
            if name == NO_SECOND:
                continue
            if name in axes:
                raise ValueError(f"choose two different parameters; {name!r} is chosen twice")
            if name in current or name not in spec.params:
                axes[name] = (values[low], values[high], values[points])
            else:
                p = spec.params[name]
                axes[name] = (p.low, p.high, values[points])
        return axes

    def apply(self, name: str, value: Any) -> None:
        self.update({name: value})

    def update(self, changes: Mapping[str, Any]) -> None:
        """Apply several controls' values together (one ``configure``); nothing changes when one
        is refused."""
        c = self.controller
        values = {**self.values(), **changes}
        if "executor" in changes:
            c.configure(executor=values["executor"])
        elif values["model"] != c.options["model"]:
            c.configure(model=values["model"])
        else:
            try:
                axes = self.axes(values)
            except ValueError as exc:
                raise c.fail(exc) from None
            c.configure(axes=axes, metric=values["metric"], monitor=values["monitor"],
                        duration=values["duration"])


def _param_sliders(controller: Any, names: Any) -> list[Control]:
    """A slider per parameter in ``names``, described by the simulator's parameter specs."""
    specs = controller.simulator.adapter.params
    return [Control(n, "slider", specs[n].label, slider_tooltip(specs[n]), specs[n].low, specs[n].high,
                    specs[n].step, unit="" if specs[n].unit is None else str(specs[n].unit), group=PARAMETERS,
                    css=f"bmw-param-{n}") for n in names]


class PhaseForm(Form):
    """The controls of a Phase-plane explorer: the model and the two state variables on the axes,
    a slider per parameter and per held state variable, the axis ranges, the trajectories' length,
    noise and seed."""

    CSS = "bmw-phase-{dashed}"

    _RANGES = ("x_from", "x_to", "y_from", "y_to")

    def controls(self) -> list[Control]:
        c = self.controller
        opts, spec = c.options, c.spec
        states = _choices(spec.states)
        out = [Control("model", "choice", "model", "Catalogue model with two or more state variables.",
                       choices=_choices(s.name for s in planar_models())),
               Control("x", "choice", "x axis", "The state variable on the horizontal axis.", choices=states),
               Control("y", "choice", "y axis", "The state variable on the vertical axis.", choices=states)]
        out += _param_sliders(c, opts["params"])
        ranges = c.state_ranges
        for n in opts["held"]:
            low, high = ranges[n]
            unit = spec.state_units.get(n)
            out.append(Control(f"held_{n}", "slider", n if unit is None else f"{n} [{unit}]",
                               f"The state {n} is held at this value on the plane.", low, high,
                               (high - low) / 200, unit="" if unit is None else str(unit), group=HELD,
                               css=f"bmw-param-held-{n}"))
        axes = [Control(name, "float", name.replace("_", " "), f"The {name[0]} axis's "
                        + ("first" if name.endswith("from") else "last") + " value.", group=RANGES)
                for name in self._RANGES]
        axes += [Control("duration", "float", "trajectory [ms]", "Length of a launched trajectory.",
                         unit="ms", group=RANGES),
                 Control("noise", "checks", "noise on", "The state variables that get noise in "
                         "trajectories.", choices=_choices(spec.noise_args), group=RANGES),
                 Control("seed", "int", "seed", "Seed of the trajectories' noise.", group=RANGES)]
        return out + axes

    def values(self) -> dict[str, Any]:
        opts = self.controller.options
        values = {"model": self.controller.spec.name, "x": opts["x"], "y": opts["y"],
                  **{n: float(v) for n, v in opts["params"].items()},
                  **{f"held_{n}": float(v) for n, v in opts["held"].items()},
                  **dict(zip(self._RANGES, (*opts["x_range"], *opts["y_range"]), strict=True)),
                  "duration": _ms(opts["duration"]), "noise": tuple(opts["noise"]), "seed": int(opts["seed"])}
        return values

    def apply(self, name: str, value: Any) -> None:
        c = self.controller
        values = {**self.values(), name: value}
        if name in c.options["params"]:
            c.set(**{name: value})
        elif name.startswith("held_"):
            c.hold(**{name[5:]: value})
        elif name in ("x", "y"):
            c.configure(x=values["x"], y=values["y"])
        elif name in self._RANGES:
            c.configure(x_range=(values["x_from"], values["x_to"]),
                        y_range=(values["y_from"], values["y_to"]))
        else:
            c.configure(**{name: tuple(value) if name == "noise" else value})


class BifurcationForm(Form):
    """The controls of a Bifurcation explorer: the model, the parameter on the horizontal axis and
    its range, the state on the vertical axis, the second parameter of the two-parameter curves, a
    slider per other parameter, and the resolution."""

    CSS = "bmw-bif-{name}"

    def controls(self) -> list[Control]:
        c = self.controller
        spec = c.spec
        out = [Control("model", "choice", "model", "Catalogue model with two or more state variables.",
                       choices=_choices(s.name for s in planar_models())),
               Control("param", "choice", "parameter (horizontal)", "The parameter continued along the "
                       "horizontal axis.", choices=_choices(spec.params)),
               Control("variable", "choice", "state (vertical)", "The state variable on the vertical axis.",
                       choices=_choices(spec.states)),
               Control("low", "float", "from", "The horizontal parameter's first value."),
               Control("high", "float", "to", "The horizontal parameter's last value."),
               Control("second", "choice", "second parameter (curves)", "With a second parameter, the fold "
                       "and Hopf curves are drawn in the plane of the two.",
                       choices=((NO_SECOND_LABEL, NO_SECOND), *_choices(c.slider_params)))]
        out += _param_sliders(c, c.slider_params)
        return out + [
            Control("points", "int", "continuation steps", "Steps of the equilibrium continuation.", 10, 2000,
                    group=RESOLUTION, css="bmw-bif-points"),
            Control("cycles", "int", "limit-cycle runs (0: none)", "Parameter values at which limit "
                    "cycles are simulated.", 0, 1000, group=RESOLUTION, css="bmw-bif-cycles")]

    def values(self) -> dict[str, Any]:
        c = self.controller
        opts = c.options
        low, high = opts["param_range"]
        return {"model": c.spec.name, "param": opts["param"], "variable": opts["variable"], "low": low,
                "high": high, "second": opts["second"] or NO_SECOND,
                **{n: float(opts["params"][n]) for n in c.slider_params}, "points": opts["points"],
                "cycles": opts["cycles"]}

    def apply(self, name: str, value: Any) -> None:
        c = self.controller
        values = {**self.values(), name: value}
        if name in c.slider_params:
            c.set(**{name: value})
        elif name in ("low", "high"):
            c.configure(param_range=(values["low"], values["high"]))
        elif name == "second":
            c.configure(second=value or None)
        else:
            c.configure(**{name: value})


class NetworkForm(Form):
    """The controls of a Network explorer: the node model, its coupled variable and the coupling
    kind, a slider per parameter (the node's, the global coupling ``k`` and, with noise, the
    noise's), conduction speed, noise, seed and run length, and the coupling sweep's parameter,
    range and points."""

    CSS = "bmw-net-{dashed}"

    _SWEEP = ("sweep", "from", "to", "points")

    def controls(self) -> list[Control]:
        c = self.controller
        net = c.network
        params = _choices(c.params)
        nodes = _choices(s.name for s in network_models())
        out = [Control("node", "choice", "node model", "Catalogue node model; switching resets its "
                       "parameters and coupled variable.", choices=nodes),
               Control("coupled_var", "choice", "coupled variable", "The node state that couples the "
                       "regions.", choices=_choices(net.spec.states)),
               Control("coupling", "choice", "coupling", "Coupling kind: diffusive k \u03a3 w_ij "
                       "(x_j \u2212 x_i), additive k \u03a3 w_ij x_j, or a sigmoidal or tanh function of the "
                       "source.", choices=_choices(COUPLINGS))]
        run = [Control("speed", "float", "speed [m/s]", "Conduction speed: delays are distance / speed; "
                       "0: no delays (always, for a connectome without distances).", unit="m/s",
                       enabled=net.connectome.distances is not None),
               Control("noise", "bool", "noise (Ornstein-Uhlenbeck)", "Ornstein-Uhlenbeck noise on every "
                       "node state that takes it; adds the parameters noise_sigma and noise_tau."),
               Control("seed", "int", "seed", "Seed of the random initial states and the noise."),
               Control("duration", "float", "duration [ms]", "Length of each run.", unit="ms")]
        sweep = [Control("sweep", "choice", "sweep parameter", "The parameter the coupling sweep varies.",
                         choices=params),
                 Control("from", "float", "from", "The swept parameter's first value."),
                 Control("to", "float", "to", "The swept parameter's last value."),
                 Control("points", "int", "points", "How many values the sweep runs, evenly spaced.")]
        return (out
                + _param_sliders(c, c.params)
                + [dataclasses.replace(c, group=NETWORK, css=f"bmw-net-{c.name}") for c in run]
                + [dataclasses.replace(c, group=SWEEP, css=f"bmw-net-{c.name}") for c in sweep])

    def values(self) -> dict[str, Any]:
        c = self.controller
        opts, net = c.options, c.network
        name, low, high, points = opts["sweep"]
        return {"node": net.spec.name, "coupled_var": net.coupled_var, "coupling": net.coupling,
                **{n: float(np.mean(v)) for n, v in c.params.items()},
                "speed": 0.0 if net.speed is None else float(net.speed), "noise": bool(net.noise),
                "seed": int(opts["seed"]), "duration": _ms(opts["duration"]), "sweep": name, "from": low,
                "to": high, "points": points}

    @staticmethod
    def speed(value: Any) -> float | None:
        """A speed typed in a control: empty or 0 means no delays (``None``)."""
        return None if value is None or value == "" or value == 0 else value

    def apply(self, name: str, value: Any) -> None:
        c = self.controller
        values = {**self.values(), name: value}
        if name in c.params:
            c.set(**{name: value})
        elif name in self._SWEEP:
            sweep, low, high = values["sweep"], values["from"], values["to"]
            if sweep != c.options["sweep"][0] and sweep in c.simulator.adapter.params:
                p = c.simulator.adapter.params[sweep]
                low, high = p.low, p.high
            c.configure(sweep=(sweep, low, high, values["points"]))
        elif name == "speed":
            c.configure(speed=self.speed(value))
        else:
            c.configure(**{name: value})


def objective_label(objective: str | Mapping[str, float]) -> str:
    """How the objective choice shows the current objective (a weighted combination as one entry)."""
    if isinstance(objective, str):
        return objective
    weights = dict(objective)
    if len(weights) == 1 and next(iter(weights.values())) == 1.0:
        return next(iter(weights))
    return "weighted: " + " + ".join(f"{w:g} {name}" for name, w in weights.items())


class FitForm(Form):
    """The controls of a Fit explorer: the model (or a network of it), the fitted parameters with
    their starting values, the target (and the true values of a synthetic one), the objective and
    its weights, the optimizer, and the run compared with the target."""

    CSS = "bmw-fit-{dashed}"

    def controls(self) -> list[Control]:
        c = self.controller
        opts, fitter = c.options, c.fitter
        specs = fitter.sim.adapter.params
        choices = [n for n, p in specs.items() if p.role == "param"]
        if opts["network"] and "k" not in choices:
            choices.append("k")
        objective = objective_label(opts["objective"])
        objectives = [*OBJECTIVES, *([] if objective in OBJECTIVES else [objective])]
        grad = opts["backend"] == "grad"
        out = [Control("model", "choice", "model", "Catalogue model (the node model of a network fit).",
                       choices=_choices(fittable_models())),
               Control("network", "bool", "network (bundled connectome, adds k)", "Fit a network of the "
                       "model over the bundled 8-region connectome; the coupling k is fitted too.",
                       enabled=opts["model"] in {s.name for s in network_models()}),
               Control("fit", "checks", "fitted parameters", "The parameters the fit changes.",
                       choices=_choices(choices))]

        def sliders(kind: str, group: str, visible: bool) -> list[Control]:
            return [Control(f"{kind}_{n}", "slider", specs[n].label, slider_tooltip(specs[n], low, high), low,
                            high, min(specs[n].step, (high - low) / 100),
                            unit="" if specs[n].unit is None else str(specs[n].unit), group=group,
                            visible=visible, css=f"bmw-fit-{kind}-{n}")
                    for n, (low, high) in fitter.bounds.items()]

        out += sliders("initial", INITIAL, True)
        out.append(Control("target", "choice", "target", "What the model is fitted to: synthetic (from the "
                           "true values), example_signal or custom (uploaded).", choices=_choices(TARGETS),
                           group=TARGET))
        out += sliders("truth", TRUTH, opts["target"] == "synthetic")
        out += [Control("objective", "choice", "objective", "The loss: one objective, or the weighted sum "
                        "the weights below give.", choices=_choices(objectives), group=OBJECTIVE)]
        out += [Control(f"weight_{name}", "float", f"weight of {name}", "0 leaves it out of the loss.",
                        group=WEIGHTS, css=f"bmw-fit-weight-{name.replace('_', '-')}") for name in OBJECTIVES]
        optimizer = [
            Control("optimizer", "choice", "optimizer", "The gradient transformation.",
                    choices=_choices(OPTIMIZERS)),
            Control("lr", "float", "learning rate", "Step size of the optimizer (> 0).", enabled=grad),
            Control("n_steps", "int", "steps", "Gradient steps (generations for nevergrad, loss evaluations "
                    "for scipy)."),
            Control("backend", "choice", "backend", "grad: compiled gradient step; gradient-free: nevergrad "
                    "(DE), scipy (Nelder-Mead).", choices=_choices(BACKENDS)),
            Control("loop", "choice", "loop", "for_loop, or checkpointed (activations recomputed on the "
                    "backward pass: less memory).", choices=_choices(LOOPS), enabled=grad)]
        out += [dataclasses.replace(c, group=OPTIMIZER) for c in optimizer]
        out += [Control("duration", "float", "duration [ms]", "Length of the run compared with the target.",
                        unit="ms", group=RUN),
                Control("region", "int", "region drawn", "The region drawn in the prediction over the "
                        "target.", group=RUN, visible=fitter.regions > 1)]
        return out

    def weights(self) -> dict[str, float]:
        """The weight of every objective in the current loss (0: not used)."""
        used = self.controller.fitter.objective
        return {name: float(used.get(name, 0.0)) for name in OBJECTIVES}

    def values(self) -> dict[str, Any]:
        c = self.controller
        opts = c.options
        return {"model": opts["model"], "network": bool(opts["network"]), "fit": tuple(opts["fit"]),
                **{f"initial_{n}": float(v) for n, v in opts["initial"].items()},
                "target": opts["target"], **{f"truth_{n}": float(v) for n, v in opts["truth"].items()},
                "objective": objective_label(opts["objective"]),
                **{f"weight_{n}": w for n, w in self.weights().items()}, "optimizer": opts["optimizer"],
                "lr": float(opts["lr"]), "n_steps": int(opts["n_steps"]), "backend": opts["backend"],
                "loop": opts["loop"], "duration": _ms(opts["duration"]), "region": int(opts["region"])}

    def apply(self, name: str, value: Any) -> None:
        c = self.controller
        kind, _, param = name.partition("_")
        if kind in ("initial", "truth") and param in c.options[kind]:
            c.configure(**{kind: {**c.options[kind], param: value}})
        elif kind == "weight" and param in OBJECTIVES:
            c.configure(objective={**self.weights(), param: value})
        elif name == "objective" and value not in OBJECTIVES:
            return  # the weighted combination already in use
        else:
            c.configure(**{name: tuple(value) if name == "fit" else value})


class Binding:
    """The two-way binding of a :class:`Form` to a widget toolkit, written once.

    A front end subclasses it with how to make a box (:meth:`new_box`) and a widget for a control
    (:meth:`make`, whose user changes call :meth:`changed`), how to show a control's description
    and value on its widget (:meth:`show`) and how to lay out a group's widgets in its box
    (:meth:`place`). Every user change goes to ``form.apply`` through ``guard(action, revert)``
    (the explorer's way of running a change: it shows a refusal and calls ``revert``, here
    :meth:`refresh`); call :meth:`refresh` after every accepted change (the controller's
    ``on_state``) to show the controller's values.

    Parameters
    ----------
    form : Form
    guard : callable
        ``guard(action, revert) -> bool``.
    """

    def __init__(self, form: Form, guard: Callable[[Callable[[], Any], Callable[[], Any]], bool]):
        self.form = form
        self._guard = guard
        self.widgets: dict[str, Any] = {}
        self.boxes: dict[str, Any] = {}
        self.controls: dict[str, Control] = {}
        self._key: Any = None
        self._syncing = False
        self.refresh()

    def box(self, group: str) -> Any:
        """The box holding the widgets of ``group`` (made on first use)."""
        if group not in self.boxes:
            self.boxes[group] = self.new_box()
        return self.boxes[group]

    def group(self, group: str) -> dict[str, Any]:
        """The widgets of the controls of ``group``, by control name."""
        return {name: self.widgets[name] for name, c in self.controls.items() if c.group == group}

    def refresh(self) -> None:
        """Show the form's controls and values: widgets are made for new controls, and ranges,
        choices, labels, tooltips, enabled and shown states follow the descriptions."""
        key = self.form.key()
        if key is None or key != self._key:
            controls = self.form.controls()
        else:
            controls = list(self.controls.values())
        self._key = key
        values = self.form.values()
        names = [control.name for control in controls]
        rebuild = names != list(self.controls)
        self._syncing = True
        try:
            for control in controls:
                widget = self.widgets.get(control.name)
                old = self.controls.get(control.name)
                if widget is None or old is None or old.kind != control.kind:
                    widget = self.widgets[control.name] = self.make(control)
                    old, rebuild = None, True
                self.show(widget, control, old, values[control.name])
            self.controls = {control.name: control for control in controls}
            if rebuild:
                self.widgets = {name: self.widgets[name] for name in names}
                for group in dict.fromkeys([*self.boxes, *(control.group for control in controls)]):
                    self.place(self.box(group), list(self.group(group)))
        finally:
            self._syncing = False

    def changed(self, name: str, value: Any) -> None:
        """Apply a user's change of control ``name`` (ignored while :meth:`refresh` shows values)."""
        if not self._syncing:
            self._guard(lambda: self.form.apply(name, value), self.refresh)

    def new_box(self) -> Any:
        """An empty box for a group's widgets."""
        raise NotImplementedError

    def make(self, control: Control) -> Any:
        """A new widget for ``control`` whose user changes call :meth:`changed`."""
        raise NotImplementedError

    def show(self, widget: Any, control: Control, old: Control | None, value: Any) -> None:
        """Show ``control`` (shown before as ``old``; ``None`` for a new widget) and ``value``."""
        raise NotImplementedError

    def place(self, box: Any, names: list[str]) -> None:
        """Lay out the widgets of controls ``names`` in ``box``."""
        raise NotImplementedError


def form_for(controller: Any) -> Form:
    """The :class:`Form` of an explorer's controller."""
    from ._bifurcation_controller import BifurcationController
    from ._fit_controller import FitController
    from ._model_controller import ModelController
    from ._network_controller import NetworkController
    from ._phase_controller import PhasePlaneController
    from ._sweep_controller import SweepController

    forms = {ModelController: ModelForm, SweepController: SweepForm, PhasePlaneController: PhaseForm,
             BifurcationController: BifurcationForm, NetworkController: NetworkForm, FitController: FitForm}
    for kind, form in forms.items():
        if isinstance(controller, kind):
            return form(controller)
    raise TypeError(f"no form for {type(controller).__name__}; forms exist for "
                    + ", ".join(kind.__name__ for kind in forms))
