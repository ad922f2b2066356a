"""The compiled-program call path: the brainstate internals it relies on are all still there."""

import brainstate
import jax.numpy as jnp
import numpy as np

from brainmass_widgets._compile import Executable

PIN = "pyproject.toml pins brainstate>=0.5.4,<0.6 for brainmass_widgets/_compile.py"


def test_the_brainstate_internals_of_the_fast_path_are_there():
    """``Executable`` replays a program through ``StatefulFunction.get_state_trace`` and
    ``StateTraceStack``'s state accessors, which brainstate may rename in any release: if this
    fails, ``_compile.py`` must follow brainstate (or call ``brainstate.transform.jit`` plainly)."""
    counter = brainstate.State(jnp.zeros(()))

    def step(x):
        counter.value = counter.value + x
        return counter.value * 2

    jitted = brainstate.transform.jit(step)
    stateful = getattr(jitted, "stateful_fun", None)
    version = brainstate.__version__
    assert stateful is not None, f"brainstate {version}: jit(...).stateful_fun is gone; {PIN}"
    for name in ("get_state_trace", "get_jaxpr"):
        assert callable(getattr(stateful, name, None)), (
            f"brainstate {version}: StatefulFunction.{name} is gone; {PIN}")
    trace = stateful.get_state_trace(np.float32(1.0), compile_if_miss=True)
    for name in ("get_read_state_values", "get_state_values", "assign_state_vals_v2", "states"):
        assert hasattr(trace, name), f"brainstate {version}: StateTraceStack.{name} is gone; {PIN}"
    assert counter in list(trace.states)


def test_an_executable_writes_a_program_s_states_as_brainstate_s_jit_does():
    counter = brainstate.State(jnp.zeros(()))

    def step(x):
        counter.value = counter.value + x
        return counter.value * 2

    program = Executable(step)
    assert float(program(np.float32(1.5))) == 3.0 and float(counter.value) == 1.5
    assert float(program(np.float32(2.0))) == 7.0 and float(counter.value) == 3.5
    assert program.fun is step and len(program.executables()) == 1
    plain_state = brainstate.State(jnp.zeros(()))

    def plain_step(x):
        plain_state.value = plain_state.value + x
        return plain_state.value * 2

    plain = brainstate.transform.jit(plain_step)
    assert [float(plain(np.float32(v))) for v in (1.5, 2.0)] == [3.0, 7.0]
