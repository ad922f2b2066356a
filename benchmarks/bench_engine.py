"""Engine benchmarks: each comparison is measured side by side in one run and printed with its ratio.

Run: ``python benchmarks/bench_engine.py [--quick]``. Timings are medians of repeats after a
warm-up, with ``jax.block_until_ready`` so the compute, not the dispatch, is timed.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
import warnings

import brainmass
import brainstate
import braintools
import brainunit as u
import jax
import jax.numpy as jnp
import numpy as np

import brainmass_widgets as bw

warnings.filterwarnings("ignore")

XLA = {"compiles": 0}
jax.monitoring.register_event_duration_secs_listener(
    lambda event, duration, **kw: XLA.__setitem__("compiles", XLA["compiles"] + 1)
    if event == "/jax/core/compile/backend_compile_duration" else None
)


def timed(fn, repeat: int) -> float:
    """Median seconds of ``fn()`` over ``repeat`` calls (results blocked on)."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        jax.block_until_ready(jax.tree.leaves(fn()))
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def timed_side_by_side(fns: list, repeat: int) -> list[float]:
    """Median seconds of each function, calls interleaved so machine noise hits all alike; the
    order rotates every round, so that no function always runs after the same neighbour."""
    times: list[list[float]] = [[] for _ in fns]
    for r in range(repeat):
        for i in range(len(fns)):
            j = (i + r) % len(fns)
            t0 = time.perf_counter()
            jax.block_until_ready(jax.tree.leaves(fns[j]()))
            times[j].append(time.perf_counter() - t0)
    return [statistics.median(b) for b in times]


def table(title: str, header: tuple[str, ...], rows: list[tuple]) -> None:
    print(f"\n## {title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f}"


def _drive(spec: bw.ModelSpec):
    """The catalogue's constant drive as brainmass ``inputs`` (positional, as ``update`` takes it)."""
    drive = {n: p.quantity(p.default) for n, p in spec.params.items() if p.role == "input"}
    if not drive:
        return None
    if spec.name == "JansenRitStep":
        return lambda i, t: (0 * u.mV, drive["E_inp"])
    return lambda i, t: tuple(drive.values())


def _hand_loop(model, dt, n: int, monitor: str = "x", drive: tuple = ()):
    """``n`` steps of ``model`` in a plain ``brainstate.transform.for_loop``, recording ``monitor``
    (traced: call it inside a jitted function, under ``environ.context(dt=dt)``)."""

    def step(i):
        with brainstate.environ.context(i=i, t=i * dt):
            model.update(*drive)
        return getattr(model, monitor).value

    return brainstate.transform.for_loop(step, np.arange(n))


def _hand_with_arguments(spec: bw.ModelSpec, n: int):
    """The model in a hand-held ``brainstate.transform.jit`` + ``for_loop`` whose parameters and
    drive are arguments: what any program that takes a parameter change without recompiling
    computes, at least."""
    drive_names = [name for name, p in spec.params.items() if p.role == "input"]

    @brainstate.transform.jit
    def program(values):
        q = {name: spec.params[name].quantity(v) for name, v in values.items()}
        model = spec.model_class(1, **{name: v for name, v in q.items() if name not in drive_names})
        drive = tuple(q[name] for name in drive_names)
        if spec.name == "JansenRitStep":
            drive = (0 * u.mV, *drive)
        with brainstate.environ.context(dt=spec.dt):
            brainstate.nn.init_all_states(model)
            return _hand_loop(model, spec.dt, n, spec.default_monitor, drive)

    return program


def _per_change_row(spec: bw.ModelSpec, repeat: int) -> tuple[str, ...]:
    duration = 10_000 * spec.dt
    sim = bw.CachedSimulator(spec.name)
    defaults = {n: p.default for n, p in spec.params.items()}
    kwargs = {n: p.quantity(p.default) for n, p in spec.params.items() if p.role == "param"}
    inputs = _drive(spec)
    first = next(iter(spec.params))
    changes = itertools.count()
    sim.run(duration, params=defaults)

    def naive():
        model = spec.model_class(1, **kwargs)
        res = brainmass.Simulator(model, dt=spec.dt).run(duration, monitors=[spec.default_monitor],
                                                          inputs=inputs)
        return res[spec.default_monitor]

    def cached():
        p = dict(defaults, **{first: defaults[first] * (1 + 1e-4 * (next(changes) % 7))})
        return sim.run(duration, params=p)[spec.default_monitor]

    hand = _hand_with_arguments(spec, 10_000)
    values = {n: np.float32(v) for n, v in defaults.items()}
    hand(values)
    t_naive = timed(naive, max(2, repeat // 3))
    t_cached, t_hand = timed_side_by_side([cached, lambda: hand(values)], repeat)
    return (spec.name, ms(t_naive), ms(t_cached), f"{t_naive / t_cached:.0f}x", ms(t_hand),
            f"{t_naive / t_hand:.0f}x")


def per_change(repeat: int) -> None:
    rows = [_per_change_row(spec, repeat) for spec in bw.catalog()]
    table("Per parameter change, in_size=1, 10,000 steps (target >= 100x)",
          ("model", "naive Simulator ms", "CachedSimulator.run ms", "ratio",
           "by hand, parameters as arguments ms", "naive / by hand"), rows)


def hopf64(repeat: int) -> None:
    n, dt = 10_000, 0.1 * u.ms
    sim = bw.CachedSimulator("HopfStep", in_size=64, dt=dt)
    params = {"a": 0.25, "w": 0.3}
    sim.run(n * dt, params=params)

    node = brainmass.HopfStep(64, a=0.25, w=0.3, init_x=braintools.init.Constant(0.5))
    loop = brainstate.transform.jit(lambda: _hand_loop(node, dt, n))

    def hand():
        with brainstate.environ.context(dt=dt):
            return loop()

    with brainstate.environ.context(dt=dt):
        node.init_all_states()

    @brainstate.transform.jit
    def hand_traced(a, w):
        """The same by hand, with a and w as arguments so that a change does not recompile."""
        model = brainmass.HopfStep(64, a=a, w=w, init_x=braintools.init.Constant(0.5))
        with brainstate.environ.context(dt=dt):
            model.init_all_states()
            return _hand_loop(model, dt, n)

    @jax.jit
    def scan(a, w):
        h = 0.1

        def body(carry, _):
            x, y = carry
            r = x * x + y * y
            x2 = x + h * ((a - r) * x - w * y)
            y2 = y + h * ((a - r) * y + w * x)
            return (x2, y2), x2

        return jax.lax.scan(body, (jnp.full(64, 0.5), jnp.zeros(64)), None, length=n)[1]

    a, w = np.float32(0.25), np.float32(0.3)
    hand()
    hand_traced(a, w)
    scan(a, w)
    duration = n * dt
    t_c, t_h, t_t, t_s = timed_side_by_side(
        [lambda: sim.run(duration, params=params)["x"], hand, lambda: hand_traced(a, w),
         lambda: scan(a, w)], repeat)
    table("HopfStep, in_size=64, 10,000 steps",
          ("CachedSimulator.run ms", "jit + for_loop by hand ms", "ratio (target <= 1.1x)",
           "the same, a and w as arguments ms", "ratio", "jax.lax.scan of the equations ms", "ratio"),
          [(ms(t_c), ms(t_h), f"{t_c / t_h:.2f}x", ms(t_t), f"{t_c / t_t:.2f}x",
            ms(t_s), f"{t_c / t_s:.2f}x")])


def hopf64_breakdown(repeat: int) -> None:
    """Where the HopfStep x 64 run spends its time beyond a hand-held program: each variant is the
    same compiled loop, called through the engine's ahead-of-time executable, interleaved."""
    from brainmass_widgets._compile import Executable
    from brainmass_widgets._engine import _first_bad
    from brainmass_widgets._request import signature

    n, dt = 10_000, 0.1 * u.ms
    sim = bw.CachedSimulator("HopfStep", in_size=64, dt=dt)
    params = {"a": 0.25, "w": 0.3}
    sim.run(n * dt, params=params)
    request = sim.prepare(n * dt, params=params)
    values, init, monitors, key = request.values, request.init, request.monitors, request.key
    run = sim.program("run", n, 0, 1, None, monitors, signature(values), signature(init), make=None)
    node = brainmass.HopfStep(64, a=0.25, w=0.3, init_x=braintools.init.Constant(0.5))
    with brainstate.environ.context(dt=dt):
        node.init_all_states()
        hand = Executable(lambda: _hand_loop(node, dt, n))
        hand()

    def unchecked(vals, init_vals, k):
        return sim._whole_run(vals, init_vals, k, n, None, monitors)

    def unseeded(vals, init_vals, k):
        model, inputs = sim.adapter.build(sim.in_size, vals)
        with brainstate.environ.context(dt=dt):
            sim.init_states(model, None)
            sim.apply_init(model, init_vals)
            return sim._loop(model, inputs, monitors, jnp.arange(n, dtype=jnp.int32))

    def constants(vals, init_vals, k):
        rec = sim._whole_run(dict(values), init_vals, k, n, None, monitors)
        return rec, _first_bad(rec)

    variants = [("hand: jit + for_loop, parameters folded in as constants", lambda: hand()),
                ("engine program, parameters as constants", constants),
                ("engine program, no finite check, no seeded RNG", unseeded),
                ("engine program, no finite check", unchecked),
                ("engine program (traced parameters, seeded RNG, finite check)", None)]
    fns = []
    for _name, fn in variants:
        if fn is None:
            fns.append(lambda: run(values, init, key))
        elif fn is variants[0][1]:
            fns.append(fn)
        else:
            program = Executable(fn)
            program(values, init, key)
            fns.append(lambda program=program: program(values, init, key))
    plain = brainstate.transform.jit(run.fun)
    plain(values, init, key)
    fns.append(lambda: plain(values, init, key))
    duration = n * dt
    fns.append(lambda: sim.run(duration, params=params)["x"])
    times = timed_side_by_side(fns, max(repeat, 40))
    names = [name for name, _ in variants] + [
        "the same program called through brainstate.transform.jit (no brainstate internals)",
        "CachedSimulator.run (the program + argument handling)"]
    table("HopfStep, in_size=64, 10,000 steps: where the time goes (compiled programs called alike)",
          ("variant", "ms", "vs hand"),
          [(name, ms(t), f"{t / times[0]:.2f}x") for name, t in zip(names, times, strict=True)])


def sweep1000(repeat: int) -> None:
    dt, a_values = 0.1 * u.ms, np.linspace(0.1, 1.5, 1000)
    sim = bw.CachedSimulator("HopfStep", in_size=1, dt=dt)
    kw = dict(duration=150 * u.ms, params={"w": 0.3}, init={"x": 0.5}, transient=50 * u.ms,
              monitor="x", metric="amplitude")
    sim.sweep({"a": a_values}, **kw)
    t_sweep = timed(lambda: sim.sweep({"a": a_values + 1e-4}, **kw).values, repeat)

    def naive(a):
        node = brainmass.HopfStep(1, a=a, w=0.3, init_x=braintools.init.Constant(0.5))
        x = brainmass.Simulator(node, dt=dt).run(150 * u.ms, monitors=["x"], transient=50 * u.ms)["x"]
        return jnp.sqrt(jnp.mean(x**2)) * jnp.sqrt(2.0)

    t0 = time.perf_counter()
    for a in a_values[:20]:
        jax.block_until_ready(naive(float(a)))
    t_loop = (time.perf_counter() - t0) / 20 * 1000

    def amplitude_for(a):
        node = brainmass.HopfStep(in_size=1, a=a, w=0.3, init_x=braintools.init.Constant(0.5))
        r = brainmass.Simulator(node, dt=dt).run(150 * u.ms, monitors=["x"], transient=50 * u.ms)
        x = u.get_magnitude(r["x"])[:, 0]
        return jnp.sqrt(jnp.mean(x**2)) * jnp.sqrt(2.0)

    t_vmap = timed(lambda: brainstate.transform.vmap(amplitude_for)(jnp.asarray(a_values)), 2)
    table("Sweep of HopfStep a, 1,000 points, in_size=1, 1,500 steps",
          ("CachedSimulator.sweep ms", "loop of naive runs ms (20 timed, x50)", "ratio (target >= 500x)",
           "fresh brainstate vmap ms", "ratio"),
          [(ms(t_sweep), ms(t_loop), f"{t_loop / t_sweep:.0f}x", ms(t_vmap), f"{t_vmap / t_sweep:.1f}x")])


def no_recompiles() -> None:
    sim = bw.CachedSimulator("HopfStep", in_size=1, dt=0.1 * u.ms)
    sim.run(1000 * u.ms)
    before, xla_before = sim.cache_info()["compiles"], XLA["compiles"]
    kinds = [float, int, np.float64, np.float32]
    for i in range(100):
        conv = kinds[i % 4]
        jax.block_until_ready(sim.run(1000 * u.ms, params={"a": conv(i % 3) * 0.1, "w": conv(1 + i % 2) * 0.1,
                                                           "beta": conv(1 + i % 5)})["x"])
    table("100 parameter changes mixing float, int, np.float64, np.float32 (target: 0 added)",
          ("cache compiles added", "XLA compilations added", "cache hits"),
          [(str(sim.cache_info()["compiles"] - before), str(XLA["compiles"] - xla_before),
            str(sim.cache_info()["hits"]))])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args()
    repeat = 5 if args.quick else 20
    print(f"backend: {jax.default_backend()}, devices: {jax.devices()}")
    no_recompiles()
    hopf64(3 * repeat)
    hopf64_breakdown(repeat)
    sweep1000(max(3, repeat // 4))
    per_change(repeat)


if __name__ == "__main__":
    main()
