import jax
import pytest


class XlaCompiles:
    """Counts real XLA backend compilations through JAX's monitoring events."""

    def __init__(self):
        self.count = 0
        jax.monitoring.register_event_duration_secs_listener(self._on_event)

    def _on_event(self, event, duration, **kwargs):
        if event == "/jax/core/compile/backend_compile_duration":
            self.count += 1


_COUNTER = XlaCompiles()


@pytest.fixture
def xla_compiles():
    return _COUNTER


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """pytest-playwright launches Debian's chromium (the Playwright download is not used)."""
    from browser import CHROMIUM_ARGS, chromium_path

    return {**browser_type_launch_args, "executable_path": chromium_path(), "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def dask_client():
    """A Dask ``LocalCluster`` of 2 worker processes (one thread each) on loopback."""
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address=":0")
    client = Client(cluster)
    yield client
    client.close()
    cluster.close()
