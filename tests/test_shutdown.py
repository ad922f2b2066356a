"""Stopping a process while explorers compute: no abort, pending work cancelled, autosaves written.

Each test runs a real process, because the failure is in the interpreter's own exit: a daemon
worker thread still inside a compiled XLA call when Python finalises aborts the process
(``terminate called after throwing an instance of ''``, status 134).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request

import pytest
from browser import free_port, wait_http

import brainmass_widgets as bw

ABORT_TEXT = ("terminate called", "FATAL")


def run_script(source: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``source`` in a fresh interpreter, as a user's script runs."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(source)], capture_output=True, text=True,
                          timeout=timeout)


def assert_clean(code: int, output: str) -> None:
    assert code == 0, output[-3000:]
    assert not any(text in output for text in ABORT_TEXT), output[-3000:]


@pytest.mark.parametrize("front_end", ["ipywidgets", "panel"])
def test_a_script_exiting_while_a_network_explorer_computes_exits_cleanly(front_end):
    proc = run_script(f"""
        import time
        from brainmass_widgets.{front_end} import NetworkExplorer

        explorer = NetworkExplorer()
        time.sleep(1.5)
    """)
    assert_clean(proc.returncode, proc.stderr)


def test_a_script_exiting_during_a_long_streamed_run_exits_cleanly():
    proc = run_script("""
        import time
        from brainmass_widgets import ModelController

        controller = ModelController("HopfStep", in_size=512, duration=20000)
        deadline = time.monotonic() + 120
        while controller.status.kind != "running" and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.2)
        print(controller.status.kind, controller.status.progress < 1)
    """)
    assert_clean(proc.returncode, proc.stderr)
    assert proc.stdout.split() == ["running", "True"]


def test_exiting_mid_sweep_writes_the_autosave_marked_cancelled(tmp_path):
    proc = run_script(f"""
        import time
        from brainmass_widgets import SweepController

        sweep = SweepController("HopfStep", axes={{"a": (0.1, 1.5, 200), "w": (0.1, 0.5, 200)}},
                                duration=2000, chunk_size=256, autosave={str(tmp_path)!r})
        sweep.run()
        deadline = time.monotonic() + 120
        while sweep.result is None and time.monotonic() < deadline:
            time.sleep(0.05)
        print(sweep.result.done, sweep.result.total)
    """)
    assert_clean(proc.returncode, proc.stderr)
    done_at_exit, total = map(int, proc.stdout.split())
    files = list(tmp_path.glob("*.npz"))
    assert len(files) == 1 and not list(tmp_path.glob("*.part"))
    saved = bw.SweepResult.load(files[0])
    assert saved.cancelled
    assert done_at_exit <= saved.done < saved.total == total


def status(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/brainmass-status", timeout=30) as r:
        return json.loads(r.read())


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_serve_stops_cleanly_on_a_signal_while_a_session_computes(sig, tmp_path, page):
    port = free_port()
    log_path = tmp_path / "serve.log"
    cmd = [sys.executable, "-m", "brainmass_widgets.cli", "serve", "--no-jax-cache", "--port", str(port)]
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_http(f"http://127.0.0.1:{port}/brainmass-status", 180, proc)
            page.goto(f"http://localhost:{port}/?in_size=512&duration=20000", timeout=120_000)
            deadline = time.monotonic() + 120
            while status(port)["running"] < 1 and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(0.2)  # mid-run: the whole run takes about 2.5 s on an idle 2-core machine
            assert status(port)["running"] == 1
            proc.send_signal(sig)
            code = proc.wait(120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(20)
    output = log_path.read_text()
    assert_clean(code, output)
    assert output.rstrip().endswith("brainmass-widgets: stopped"), output[-3000:]
