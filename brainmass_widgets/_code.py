"""Plain-brainmass scripts that reproduce an explorer's run ("Copy as code")."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import brainunit as u
import numpy as np

from ._adapters import NetworkAdapter
from ._catalog import ModelSpec
from ._fit import METHODS
from ._network import Connectome

__all__ = ["fit_script", "network_script", "run_script", "sweep_script", "unit_code"]


class _Expr(str):
    """Source text standing for a value (a loop variable in a sweep script)."""


class _Raw(_Expr):
    """Source text standing for a value already carrying its unit (a fitted ``Param``)."""


@lru_cache(maxsize=1)
def _unit_names() -> dict[str, str]:
    names: dict[str, str] = {}
    for attr in dir(u):
        value = getattr(u, attr)
        if isinstance(value, u.Unit) and not attr.startswith("_"):
            key = str(value)
            if key not in names or attr == key:
                names[key] = attr
    return names


def unit_code(unit: Any) -> str:
    """Python source for ``unit`` in terms of ``brainunit`` imported as ``u`` (``"u.ms"``).

    Compound units are written from their parts (``"Hz / nA"`` becomes ``"u.Hz / u.nA"``).

    Raises
    ------
    ValueError
        If a part of the unit has no name in ``brainunit``.
    """
    names = _unit_names()
    text = str(unit)
    if text in names:
        return f"u.{names[text]}"
    parts = []
    for token in text.replace("(", " ( ").replace(")", " ) ").split():
        if token in ("/", "*", "(", ")") or token.replace(".", "").replace("^", "").lstrip("-").isdigit():
            parts.append(token.replace("^", "**"))
        elif token in names:
            parts.append(f"u.{names[token]}")
        else:
            raise ValueError(f"no brainunit name for the unit part {token!r} of {text!r}")
    return " ".join(parts)


def _value_code(value: Any, unit: Any) -> str:
    if isinstance(value, _Expr):
        return value if unit is None or isinstance(value, _Raw) else f"{value} * {unit_code(unit)}"
    arr = np.asarray(value, dtype=float)
    text = _short(arr) if arr.ndim == 0 else f"np.array({_short(arr)})"
    return text if unit is None else f"{text} * {unit_code(unit)}"


def _short(arr: np.ndarray) -> str:
    """``arr`` as Python source (nested lists) in at most 12 significant digits: a slider's -0.1
    reached by steps of 0.05 reads ``-0.1``, not ``-0.09999999999999998``."""
    if arr.ndim:
        return f"[{', '.join(_short(a) for a in arr)}]"
    x = float(arr)
    if not np.isfinite(x):
        return f"float({str(x)!r})"
    text = f"{x:.12g}"
    return text if any(c in text for c in ".e") else f"{text}.0"


def _quantity_code(q: Any) -> str:
    return _value_code(u.get_magnitude(q), u.get_unit(q))


def _drive_code(spec: ModelSpec, params: Mapping[str, Any]) -> list[str]:
    """Positional ``update`` arguments up to the last driven one (``Simulator`` splats a tuple)."""
    update = list(inspect.signature(spec.model_class.update).parameters.values())[1:]
    driven = [i for i, p in enumerate(update)
              if p.name in spec.params and spec.params[p.name].role == "input"]
    if not driven:
        return []
    out = []
    for p in update[: driven[-1] + 1]:
        if p.name in spec.params:
            out.append(_value_code(params[p.name], spec.params[p.name].unit))
        elif isinstance(p.default, u.Quantity):
            out.append(_quantity_code(p.default))
        else:
            out.append(repr(p.default))
    return out


def _run_lines(spec: ModelSpec, *, in_size: Any, dt: Any, duration: Any, params: Mapping[str, Any],
               noise: tuple[str, ...], init: Mapping[str, Any], monitors: tuple[str, ...],
               transient: Any, sample_every: int | None, batch_size: int | None, seed: int,
               out: str) -> list[str]:
    lines = [f"model = brainmass.{spec.model_class.__name__}(", f"    {in_size!r},"]
    for name, p in spec.params.items():
        if p.role == "param":
            lines.append(f"    {name}={_value_code(params[name], p.unit)},")
    for state in noise:
        unit = spec.noise_units[state]
        lines.append(f"    {spec.noise_args[state]}=brainmass.OUProcess({in_size!r}, "
                     f"sigma={_value_code(params['noise_sigma'], unit)}, "
                     f"tau={_value_code(params['noise_tau'], u.ms)}),")
    lines.append(")")
    lines.append(f"brainstate.random.seed({int(seed)})")
    if init:
        lines.append("brainstate.nn.init_all_states(model" + (f", {batch_size})" if batch_size else ")"))
        for state, value in init.items():
            fill = _value_code(value, spec.state_units.get(state))
            lines.append(f"model.{state}.value = u.math.full_like(model.{state}.value, {fill})")
    run_args = [_quantity_code(duration), f"monitors={list(monitors)!r}"]
    drive = _drive_code(spec, params)
    if drive:
        run_args.append(f"inputs=lambda i, t: ({', '.join(drive)},)")
    if transient is not None:
        run_args.append(f"transient={_quantity_code(transient)}")
    if sample_every not in (None, 1):
        run_args.append(f"sample_every={int(sample_every)}")
    if batch_size:
        run_args.append(f"batch_size={int(batch_size)}")
    if init:
        run_args.append("init_states=False")
    lines.append(f"{out} = brainmass.Simulator(model, dt={_quantity_code(dt)}).run(")
    lines += [f"    {arg}," for arg in run_args]
    lines.append(")")
    return lines


def _imports(params: Mapping[str, Any], numpy: bool = False) -> list[str]:
    lines = ["import brainmass", "import brainstate", "import brainunit as u"]
    if numpy or any(not isinstance(v, _Expr) and np.ndim(v) for v in params.values()):
        lines.append("import numpy as np")
    return lines + [""]


def run_script(spec: ModelSpec, *, in_size: Any, dt: Any, duration: Any, params: Mapping[str, Any],
               noise: tuple[str, ...], init: Mapping[str, Any], monitors: tuple[str, ...],
               transient: Any = None, sample_every: int | None = None, batch_size: int | None = None,
               seed: int = 0) -> str:
    """A short script that runs the same simulation through plain brainmass.

    Parameters
    ----------
    spec : ModelSpec
        The catalogue model.
    in_size, dt, duration, transient, sample_every, batch_size, seed
        As for :meth:`brainmass_widgets.CachedSimulator.run`.
    params : Mapping[str, Any]
        Every parameter value in its catalogue unit (``noise_sigma`` / ``noise_tau`` with noise).
    noise : tuple of str
        The states that receive Ornstein-Uhlenbeck noise.
    init : Mapping[str, Any]
        Initial value per state, in the state's unit.
    monitors : tuple of str
        Recorded states.

    Returns
    -------
    str
        Python source; executing it leaves the ``brainmass.Simulator.run`` output in ``result``.
    """
    lines = _imports(params) + _run_lines(
        spec, in_size=in_size, dt=dt, duration=duration, params=params, noise=noise, init=init,
        monitors=monitors, transient=transient, sample_every=sample_every, batch_size=batch_size,
        seed=seed, out="result")
    return "\n".join(lines) + "\n"


_METRIC_CODE = {
    "amplitude": "np.sqrt(2.0) * np.sqrt(np.mean(x ** 2))",
    "minmax": "np.max(x)",
    "mean": "np.mean(x)",
    "std": "np.std(x)",
    "frequency": "frequency(x, sample_s)",
}

_FREQUENCY_CODE = """

def frequency(x, sample_s):
    # NaN where x is flat: what is left is float32 round-off, not an oscillation
    if np.std(x - x.mean()) <= 1e-5 * np.max(np.abs(x)):
        return np.nan
    power = np.abs(np.fft.rfft(x - x.mean())) ** 2
    return (np.argmax(power[1:]) + 1) / (len(x) * sample_s)
"""


def sweep_script(spec: ModelSpec, *, axes: Mapping[str, tuple[float, float, int]], metric: str,
                 monitor: str, dt: Any, duration: Any, params: Mapping[str, Any],
                 init: Mapping[str, Any], transient: Any, seed: int = 0) -> str:
    """A plain-brainmass loop over the grid that computes the same metric at every point.

    Parameters
    ----------
    spec : ModelSpec
        The catalogue model (one region).
    axes : Mapping[str, (low, high, points)]
        The swept parameters.
    metric : str
        ``"amplitude"``, ``"minmax"`` (the maximum), ``"frequency"``, ``"mean"`` or ``"std"``.
    monitor : str
        The reduced state.
    dt, duration, params, init, transient, seed
        As for :func:`run_script`; ``params`` holds the parameters not swept.

    Returns
    -------
    str
        Python source; executing it leaves the grid of metric values in ``result``.
    """
    names = list(axes)
    point = {**params, **{n: _Expr(f"float(point[{n!r}])") for n in names}}
    lines = _imports(point, numpy=True)
    lines.append("axes = {")
    lines += [f"    {n!r}: np.linspace({lo!r}, {hi!r}, {k}),"
              for n, (lo, hi, k) in axes.items()]
    lines.append("}")
    lines.append(f"sample_s = {float(dt / u.second)!r}")
    if metric == "frequency":
        lines += _FREQUENCY_CODE.split("\n")[1:]
    lines.append("result = np.full([len(v) for v in axes.values()], np.nan)")
    lines.append("for index in np.ndindex(result.shape):")
    lines.append("    point = {n: v[i] for (n, v), i in zip(axes.items(), index)}")
    run = _run_lines(spec, in_size=1, dt=dt, duration=duration, params=point, noise=(), init=init,
                     monitors=(monitor,), transient=transient, sample_every=None, batch_size=None,
                     seed=seed, out="run")
    lines += [f"    {line}" for line in run]
    lines.append(f"    x = np.asarray(u.get_magnitude(run[{monitor!r}]))[:, 0]")
    lines.append(f"    result[index] = {_METRIC_CODE[metric]}")
    return "\n".join(lines) + "\n"


def _array_code(a: np.ndarray) -> str:
    return f"np.array({np.asarray(a, dtype=float).round(12).tolist()!r})"


def network_script(net: Any, *, dt: Any, duration: Any, params: Mapping[str, Any], init: Mapping[str, Any],
                   monitors: tuple[str, ...], transient: Any = None, seed: int = 0,
                   example: bool = False) -> str:
    """A plain-brainmass script running the same network (``brainmass.Network`` + ``Simulator``).

    Parameters
    ----------
    net : NetworkModel
        The network.
    dt, duration, transient, seed
        As for :meth:`brainmass_widgets.CachedSimulator.run`.
    params : Mapping[str, Any]
        Every parameter value (the node's, ``k``, and ``noise_sigma`` / ``noise_tau`` with noise).
    init : Mapping[str, Any]
        Initial value per node state.
    monitors : tuple of str
        Recorded node states.
    example : bool
        Load the bundled ``example_connectome`` instead of writing the arrays out.

    Returns
    -------
    str
        Python source; executing it leaves the ``brainmass.Simulator.run`` output in ``result``
        (one ``(time, regions)`` entry per monitored state).
    """
    spec, n = net.spec, net.n
    lines = _imports(params, numpy=True)
    if example:
        lines += ['conn = brainmass.datasets.load_dataset("example_connectome")',
                  "weights, distances = conn.weights, conn.distances"]
    else:
        lines.append(f"weights = {_array_code(net.connectome.weights)}")
        if net.connectome.distances is not None:
            lines.append(f"distances = {_array_code(net.connectome.distances)} * u.mm")
    lines.append(f"brainstate.environ.set(dt={_quantity_code(dt)})  # delays are sized from dt")
    lines.append(f"node = brainmass.{spec.model_class.__name__}(")
    lines.append(f"    {n!r},")
    for name, p in spec.params.items():
        if p.role == "param":
            lines.append(f"    {name}={_value_code(params[name], p.unit)},")
    if net.noise:
        for state in spec.noise_args:
            unit = spec.noise_units[state]
            lines.append(f"    {spec.noise_args[state]}=brainmass.OUProcess({n!r}, "
                         f"sigma={_value_code(params['noise_sigma'], unit)}, "
                         f"tau={_value_code(params['noise_tau'], u.ms)}),")
    lines.append(")")
    drives = {name: _value_code(params[name], p.unit) for name, p in spec.params.items() if p.role == "input"}
    network_class = "brainmass.Network"
    if drives:
        first = list(inspect.signature(spec.model_class.update).parameters)[1]  # after self
        current = "self.coupling()" + (f" + {drives.pop(first)}" if first in drives else "")
        kwargs = "".join(f", {k}={v}" for k, v in drives.items())
        lines += ["", "", "class DrivenNetwork(brainmass.Network):",
                  "    \"\"\"The node also receives the model's constant drive.\"\"\"", "",
                  "    def update(self):",
                  f"        return self.node({current}{kwargs})", "", ""]
        network_class = "DrivenNetwork"
    delays = ""
    if net.speed is not None:
        delays = f" distance=distances, speed={net.speed!r} * u.mm / u.ms,"
    lines.append(f"network = {network_class}(node, conn=weights,{delays} coupling={net.coupling!r}, "
                 f"coupled_var={net.coupled_var!r}, k={_value_code(params['k'], None)})")
    lines.append(f"brainstate.random.seed({int(seed)})")
    lines.append("brainstate.nn.init_all_states(network)")
    for state, value in init.items():
        fill = _value_code(value, spec.state_units.get(state))
        lines.append(f"network.node.{state}.value = u.math.full_like(network.node.{state}.value, {fill})")
    watch = ", ".join(f"{m!r}: lambda m: m.node.{m}.value" for m in monitors)
    run_args = [_quantity_code(duration), f"monitors={{{watch}}}", "init_states=False"]
    if transient is not None:
        run_args.append(f"transient={_quantity_code(transient)}")
    lines.append(f"result = brainmass.Simulator(network, dt={_quantity_code(dt)}).run(")
    lines += [f"    {arg}," for arg in run_args]
    lines.append(")")
    return "\n".join(lines) + "\n"


_OPTIMIZER_CODE = {"adam": "braintools.optim.Adam(lr={lr!r})",
                   "rmsprop": "braintools.optim.RMSprop(lr={lr!r})",
                   "sgd": "braintools.optim.SGD(lr={lr!r})"}


def fit_script(fitter: Any, *, initial: Mapping[str, float], lr: float, n_steps: int, backend: str = "grad",
               method: str | None = None, population: int = 8, target: Any = None,
               example: bool = False) -> str:
    """A plain-brainmass script running the same fit through ``brainmass.Fitter``.

    Parameters
    ----------
    fitter : CachedFitter
        The fit's structure: model, fitted parameters and bounds, run, monitor, objective, optimizer.
    initial : Mapping[str, float]
        Starting values of the fitted parameters.
    lr, n_steps, backend, method, population
        As for :meth:`brainmass_widgets.CachedFitter.fit` (for ``scipy`` the script runs one
        ``scipy.optimize.minimize``: ``brainmass.Fitter`` counts its steps in restarts).
    target : array-like, optional
        The target, written out as an array (unless ``example``).
    example : bool
        Load brainmass's bundled ``example_signal`` as the target.

    Returns
    -------
    str
        Python source; executing it leaves the ``brainmass.FitResult`` in ``result`` (its ``history``
        equals :attr:`FitOutcome.history` for ``backend="grad"``).
    """
    sim = fitter.sim
    fixed = dict(sim.adapter.defaults())
    fixed.update({k: np.asarray(v) for k, v in fitter.fixed.items()})
    for name in fitter.fit_names:
        unit = fitter.units[name]
        low, high = (_value_code(b, unit) for b in fitter.bounds[name])
        fixed[name] = _Raw(f"Param({_value_code(initial[name], unit)}, t=SigmoidT({low}, {high}), fit=True)")
    network = isinstance(sim.adapter, NetworkAdapter)
    if network:
        text = network_script(sim.adapter.net, dt=sim.dt, duration=fitter.duration, params=fixed, init={},
                              monitors=(fitter.monitor,),
                              example=sim.adapter.net.connectome.digest == Connectome.example().digest)
        build = text[: text.index("brainstate.random.seed(")].rstrip().splitlines()
        model, prefix, drive = "network", "m.node", []
    else:
        build = _run_lines(sim.spec, in_size=sim.in_size, dt=sim.dt, duration=fitter.duration, params=fixed,
                           noise=(), init={}, monitors=(fitter.monitor,), transient=None, sample_every=None,
                           batch_size=None, seed=0, out="result")
        build = build[: next(i for i, line in enumerate(build) if line.startswith("brainstate.random.seed("))]
        build = _imports(fixed, numpy=True) + build
        model, prefix, drive = "model", "m", _drive_code(sim.spec, fixed)
    header = ["import braintools", "import jax.numpy as jnp", "from brainstate.nn import Param, SigmoidT"]
    blank = build.index("")
    lines = build[:blank] + header + build[blank:]
    spec = sim.spec
    run_args = [_quantity_code(fitter.duration), f"monitors={{{fitter.monitor!r}: lambda m: "
                f"{prefix}.{fitter.monitor}.value}}", "init_states=False"]
    if drive:
        run_args.append(f"inputs=lambda i, t: ({', '.join(drive)},)")
    if fitter.transient is not None:
        run_args.append(f"transient={_quantity_code(fitter.transient)}")
    if fitter.sample_every != 1:
        run_args.append(f"sample_every={fitter.sample_every}")
    lines += ["", "", "def predict(m):", "    brainstate.nn.init_all_states(m)"]
    for state, value in fitter.init.items():
        fill = _value_code(value, spec.state_units.get(state))
        lines.append(f"    {prefix}.{state}.value = u.math.full_like({prefix}.{state}.value, {fill})")
    lines.append(f"    result = brainmass.Simulator(m, dt={_quantity_code(sim.dt)}).run(")
    lines += [f"        {arg}," for arg in run_args]
    lines.append("    )")
    lines.append(f"    return u.get_magnitude(result[{fitter.monitor!r}])"
                 f".reshape({fitter.samples}, {fitter.regions})")
    lines += ["", ""]
    if example:
        lines.append('target = jnp.asarray(brainmass.datasets.load_dataset("example_signal").signal, '
                     'dtype=jnp.float32)')
    else:
        lines.append(f"target = jnp.asarray({_array_code(np.asarray(target))}, dtype=jnp.float32)")
    terms = ", ".join(f"({w!r}, brainmass.objectives.{_OBJECTIVE_CODE[name]})"
                      for name, w in fitter.objective.items())
    lines.append(f"objective = brainmass.objectives.combine({terms},)")
    if backend == "grad":
        optimizer = _OPTIMIZER_CODE[fitter.optimizer].format(lr=float(lr))
        lines.append(f"fitter = brainmass.Fitter({model}, {optimizer}, predict=predict, objective=objective)")
    else:
        options = {"method": method or METHODS[backend][0]}
        if backend == "nevergrad":
            options["n_sample"] = int(population)
        else:
            n_steps = 1
        lines.append(f"fitter = brainmass.Fitter({model}, {options!r}, predict=predict, objective=objective, "
                     f"backend={backend!r})")
    lines.append(f"result = fitter.fit(target=target, n_steps={int(n_steps)})")
    lines.append("print(result.best_loss, {k: float(v) for k, v in result.best_params.items()})")
    return "\n".join(lines) + "\n"


_OBJECTIVE_CODE = {"timeseries_rmse": "timeseries_rmse()", "fc_corr": "fc_corr(as_loss=True)",
                   "fc_rmse": "fc_rmse()", "cosine_sim": "cosine_sim(as_loss=True)"}


def bifurcation_script(spec: ModelSpec, diagram: Any) -> str:
    """A script that recomputes a bifurcation diagram's fold and Hopf points with plain brainmass.

    The script builds the brainmass model at a parameter value, takes the time derivative of its
    states from one short ``update`` step, ``(x(t + dt) - x(t)) / dt`` in float64 (zero exactly at
    an equilibrium, whatever the integrator), and for each special point of ``diagram`` solves for the
    equilibrium with ``scipy.optimize.root`` and locates the point itself as the zero of a test
    function: a fold solves the equilibrium together with a vanishing Jacobian determinant
    (``scipy.optimize.root``), a Hopf point is the zero of the complex pair's real part along the
    parameter (``scipy.optimize.brentq``). It prints the parameter value,
    the equilibrium, and for a Hopf point the frequency at onset in Hz.

    Parameters
    ----------
    spec : ModelSpec
        The catalogue model.
    diagram : BifurcationDiagram
        The diagram whose special points are reproduced.

    Returns
    -------
    str
        Python source; executing it leaves ``(kind, parameter value, equilibrium, frequency_hz)``
        per special point in ``found``.
    """
    param = diagram.param
    params = {**diagram.params, param: _Expr("p")}
    lines = ["import brainmass", "import brainstate", "import braintools", "import brainunit as u",
             "import jax", "import jax.numpy as jnp", "import numpy as np",
             "from scipy.optimize import brentq, root", "",
             "# (x(t + dt) - x(t)) / dt tends to the derivative as dt shrinks: a step much shorter than",
             "# the simulation's leaves the integrator's own error far below the digits printed",
             f"DT = {_quantity_code(spec.dt)} * 1e-4", f"STATES = {list(diagram.states)!r}", "", "",
             "def model_at(p):", f"    return brainmass.{spec.model_class.__name__}("]
    lines.append("        1,")
    for name, p in spec.params.items():
        if p.role == "param":
            lines.append(f"        {name}={_value_code(params[name], p.unit)},")
    ctor = inspect.signature(spec.model_class.__init__).parameters
    for state in diagram.states:
        if f"init_{state}" in ctor:  # every state is set below; a random initialiser cannot be traced
            zero = _value_code(0.0, spec.state_units.get(state))
            lines.append(f"        init_{state}=braintools.init.Constant({zero}),")
    lines.append("    )")
    update = list(inspect.signature(spec.model_class.update).parameters.values())[1:]
    inputs = [f"{p.name}={_value_code(params[p.name], spec.params[p.name].unit)}" for p in update
              if p.name in spec.params and spec.params[p.name].role == "input"]
    lines += [
        "", "",
        "def derivative(x, p):",
        "    \"\"\"d(state)/dt per ms from one update step of the brainmass model.\"\"\"",
        "    model = model_at(p)",
        "    with brainstate.environ.context(dt=DT, i=0, t=0.0 * u.ms):",
        "        brainstate.nn.init_all_states(model)",
        "        for i, name in enumerate(STATES):",
        "            state = getattr(model, name)",
        "            state.value = jnp.reshape(x[i], (1,)) * u.get_unit(state.value)",
        f"        model.update({', '.join(inputs)})",
        "        new = jnp.concatenate([jnp.ravel(u.get_magnitude(getattr(model, name).value))",
        "                               for name in STATES])",
        "    return (new - x) / DT.to_decimal(u.ms)",
        "", "",
        "jacobian = jax.jit(jax.jacfwd(derivative))",
        "rhs = jax.jit(derivative)", "", "",
        "def jac(x, p):",
        "    return np.asarray(jacobian(jnp.asarray(x, float), p), float)", "", "",
        "def equilibrium(p, guess):",
        "    return root(lambda x: np.asarray(rhs(jnp.asarray(x, float), p), float), guess,",
        "                jac=lambda x: jac(x, p)).x", "", "",
        "def fold(guess, p0):",
        "    \"\"\"Equilibrium and parameter where the Jacobian is singular.\"\"\"",
        "    z = root(lambda z: np.append(np.asarray(rhs(jnp.asarray(z[:-1]), z[-1]), float),",
        "                                 np.linalg.det(jac(z[:-1], z[-1]))), np.append(guess, p0)).x",
        "    return z[-1], z[:-1]", "", "",
        "def hopf_margin(p, guess):",
        "    \"\"\"Real part of the complex eigenvalue pair nearest the imaginary axis.\"\"\"",
        "    lam = np.linalg.eigvals(jac(equilibrium(p, guess), p))",
        "    pair = lam[np.abs(lam.imag) > 0]",
        "    if not len(pair):  # the pair has turned real: the mean of the two nearest the axis",
        "        pair = np.sort(lam.real[np.argsort(np.abs(lam.real))[:2]]).mean(keepdims=True) + 0j",
        "    return float(pair.real[np.argmin(np.abs(pair.real))])",
        "", "",
        "# one step's change is tiny next to the state: float64 (here only) keeps its digits",
        "found = []",
        "with jax.enable_x64(True):",
    ]
    body: list[str] = []
    span = diagram.param_range[1] - diagram.param_range[0]
    for sp in diagram.special:
        guess = "[" + ", ".join(f"{sp.state[s]:.9g}" for s in diagram.states) + "]"
        lo, hi = sp.param - 0.002 * span, sp.param + 0.002 * span
        body.append(f"guess = np.array({guess})")
        if sp.kind == "fold":
            body += [f"p, x = fold(guess, {sp.param:.9g})", "freq = np.nan"]
        else:
            body += [f"p = brentq(lambda q: hopf_margin(q, guess), {lo:.9g}, {hi:.9g}, xtol=1e-9)",
                      "x = equilibrium(p, guess)",
                      "lam = np.linalg.eigvals(jac(x, p))",
                      "lam = lam[np.abs(lam.imag) > 0]",
                      "freq = float(abs(lam[np.argmin(np.abs(lam.real))].imag)) / (2 * np.pi) * 1000.0"]
        body += [
            f"found.append(({sp.kind!r}, p, x, freq))",
            f"print({sp.kind!r}, '{param} =', p, 'equilibrium', x, 'frequency [Hz]', freq)",
        ]
    lines += [f"    {line}" for line in body or ["print('no fold or Hopf point in the diagram')"]]
    return "\n".join(lines) + "\n"
