"""Fitting benchmarks: the gradient through a long rollout, and CachedFitter against brainmass.Fitter.

Run: ``python benchmarks/bench_fit.py [--quick]``. Both tables are measured side by side in one
run, each ratio from numbers taken in that run (repeats interleaved, medians).

1. The gradient of a fit through 10,000 steps (``dt = 0.1 ms``, 1,000 ms, ``sample_every=10``:
   1,000 samples) of brainmass's 8-region example connectome with a ``HopfStep`` node per region
   (``NetworkModel("HopfStep")``, default speed), fitting ``a`` and ``k`` to the trace at
   ``a = 0.4, k = 1.0`` from the defaults (Adam, lr 0.05, ``timeseries_rmse``), with
   ``CachedFitter(loop="for_loop")`` against ``loop="checkpointed"``
   (``brainstate.transform.checkpointed_for_loop``). "compile s" is the first ``fit(n_steps=1)``
   (trace, compile and one step); "ms per step" is ``FitOutcome.seconds / n_steps`` of a warm fit;
   "peak MiB" is XLA's own accounting of the compiled gradient step
   (``Compiled.memory_analysis()``: arguments + outputs + temporaries), not process memory.
2. Time per gradient step of the same kind of fit: ``CachedFitter`` against ``brainmass.Fitter``
   driven directly by the script ``brainmass_widgets._code.fit_script`` emits, from the same start
   with the same learning rate. ``brainmass.Fitter.fit`` builds and compiles a new step function
   on every call, so it is reported two ways: a whole ``fit(n_steps=N)`` call divided by ``N``,
   and its warm step alone (the median interval between its per-step callbacks, the first step,
   which compiles, left out). The loss histories are compared step by step, and brainmass's
   against a second run of its own script, for scale.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import time
import warnings

import jax
import numpy as np

import brainmass_widgets as bw
from brainmass_widgets._code import fit_script
from brainmass_widgets._fit import CachedFitter

warnings.filterwarnings("ignore")

DURATION = 1000.0
SAMPLE_EVERY = 10
LR = 0.05
TRUE_NET = {"a": 0.4, "k": 1.0}
START_NET = {"a": 0.25, "k": 0.5}
TRUE_NODE = {"a": 0.4, "w": 0.3}
START_NODE = {"a": 0.2, "w": 0.25}


def table(title: str, header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    print(f"\n## {title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")


def max_diff(a: list[float], b: list[float]) -> float:
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))))


def step_memory_mib(fitter: CachedFitter) -> float:
    """Arguments + outputs + temporaries of the compiled gradient step, from XLA, in MiB."""
    compiled, = fitter._step_program().executables()
    stats = compiled.memory_analysis()
    total = stats.argument_size_in_bytes + stats.output_size_in_bytes + stats.temp_size_in_bytes
    return total / 2**20


def loop_table(net: bw.NetworkModel, variants: list[tuple[str, int]], n_steps: int, repeat: int) -> None:
    fitters = [CachedFitter(net, fit=("a", "k"), duration=DURATION, sample_every=SAMPLE_EVERY, loop=loop,
                            checkpoint_base=base) for loop, base in variants]
    target = fitters[0].predict(TRUE_NET)
    compile_s = []
    for fitter in fitters:
        t0 = time.perf_counter()
        fitter.fit(target, initial=START_NET, lr=LR, n_steps=1)
        compile_s.append(time.perf_counter() - t0)
    per_step: list[list[float]] = [[] for _ in fitters]
    histories: list[list[float]] = []
    for r in range(repeat):
        for i, fitter in enumerate(fitters):
            out = fitter.fit(target, initial=START_NET, lr=LR, n_steps=n_steps)
            per_step[i].append(out.seconds / n_steps)
            if r == 0:
                histories.append(out.history)
    ms = [statistics.median(t) * 1e3 for t in per_step]
    mem = [step_memory_mib(f) for f in fitters]
    rows = []
    for (loop, base), c, m, mib, hist in zip(variants, compile_s, ms, mem, histories, strict=True):
        name = loop if loop == "for_loop" else f"{loop} (base {base})"
        rows.append((name, f"{c:.2f}", f"{m:.1f}", f"{m / ms[0]:.2f}x", f"{mib:.2f}", f"{mib / mem[0]:.3f}x",
                     f"{max_diff(hist, histories[0]):.1e}"))
    n, samples = fitters[0]._n, fitters[0].samples
    table(f"Gradient through {n:,} steps: 8-region delayed Hopf network, {DURATION:g} ms, "
          f"{samples:,} samples, fit a and k ({n_steps} steps per warm fit, median of {repeat})",
          ("loop", "compile s", "ms per step", "vs for_loop", "peak MiB (XLA)", "vs for_loop",
           f"max abs loss diff vs for_loop ({n_steps} steps)"), rows)


def brainmass_fitter(fitter: CachedFitter, start: dict[str, float], target: np.ndarray, n_steps: int):
    """Run the emitted script (a fit of ``n_steps`` from ``start``); its ``brainmass.Fitter`` and history."""
    namespace: dict = {}
    with contextlib.redirect_stdout(io.StringIO()):
        exec(fit_script(fitter, initial=start, lr=LR, n_steps=n_steps, target=target), namespace)
    return namespace, namespace["result"].history


def versus_row(name: str, fitter: CachedFitter, true: dict[str, float], start: dict[str, float],
               n_steps: int, repeat: int) -> tuple[str, ...]:
    target = fitter.predict(true)
    fitter.fit(target, initial=start, lr=LR, n_steps=1)
    namespace, bm_history = brainmass_fitter(fitter, start, target, n_steps)
    _, bm_rerun = brainmass_fitter(fitter, start, target, n_steps)
    stamps: list[float] = []
    namespace["fitter"].callbacks.append(lambda info: stamps.append(time.perf_counter()))
    ours, bm_call, bm_warm = [], [], []
    history: list[float] = []
    for _ in range(repeat):
        out = fitter.fit(target, initial=start, lr=LR, n_steps=n_steps)
        ours.append(out.seconds / n_steps)
        history = out.history
        stamps.clear()
        t0 = time.perf_counter()
        namespace["fitter"].fit(target=namespace["target"], n_steps=n_steps)
        bm_call.append((time.perf_counter() - t0) / n_steps)
        bm_warm.append(statistics.median(np.diff(stamps)))
    t_ours, t_call, t_warm = (statistics.median(t) * 1e3 for t in (ours, bm_call, bm_warm))
    return (name, f"{t_ours:.2f}", f"{t_call:.2f}", f"{t_call / t_ours:.1f}x", f"{t_warm:.2f}",
            f"{t_warm / t_ours:.2f}x", f"{max_diff(history, bm_history):.1e}",
            f"{max_diff(bm_history, bm_rerun):.1e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="fewer steps and repeats, no second checkpoint base (about a minute)")
    args = parser.parse_args()
    n_steps, repeat = (5, 1) if args.quick else (10, 3)
    variants = [("for_loop", 16), ("checkpointed", 16)] + ([] if args.quick else [("checkpointed", 100)])
    print(f"backend: {jax.default_backend()}, {jax.device_count()} device(s), jax {jax.__version__}; "
          f"Adam, lr {LR}, timeseries_rmse, dt = 0.1 ms, sample_every = {SAMPLE_EVERY}")
    net = bw.NetworkModel("HopfStep")
    loop_table(net, variants, n_steps, repeat)

    rows = [
        versus_row("HopfStep, 1 node, 2,000 steps (200 ms), fit a and w",
                   CachedFitter("HopfStep", fit=("a", "w"), duration=200.0, sample_every=SAMPLE_EVERY),
                   TRUE_NODE, START_NODE, n_steps, repeat),
        versus_row(f"8-region network, {round(DURATION / 0.1):,} steps ({DURATION:g} ms), fit a and k",
                   CachedFitter(net, fit=("a", "k"), duration=DURATION, sample_every=SAMPLE_EVERY),
                   TRUE_NET, START_NET, n_steps, repeat),
    ]
    table(f"Time per gradient step, warm: CachedFitter (for_loop) vs brainmass.Fitter ({n_steps} steps per "
          f"fit, median of {repeat})",
          ("fit", "CachedFitter ms/step", "brainmass.Fitter ms/step (fit call / steps)", "brainmass / ours",
           "brainmass.Fitter warm step ms", "brainmass / ours",
           f"max abs loss diff vs brainmass ({n_steps} steps)", "brainmass vs its own re-run"), rows)


if __name__ == "__main__":
    main()
