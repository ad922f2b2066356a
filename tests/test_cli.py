import subprocess
import sys

from brainmass_widgets import cli


def test_demo_prints_the_recipe_table():
    out = cli.demo()
    assert "0.10       0.329" in out and "1.50       1.223" in out
    assert "cached" in out


def test_command_runs_as_a_user_runs_it():
    proc = subprocess.run([sys.executable, "-m", "brainmass_widgets.cli", "demo", "--points", "3"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "0.80" in proc.stdout


def test_bad_points_is_refused():
    proc = subprocess.run([sys.executable, "-m", "brainmass_widgets.cli", "demo", "--points", "0"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "--points must be >= 1, got 0" in proc.stderr


def test_serve_refuses_an_unreachable_dask_scheduler():
    from browser import free_port

    address = f"tcp://127.0.0.1:{free_port()}"
    cmd = [sys.executable, "-m", "brainmass_widgets.cli", "serve", "--port", "0", "--no-jax-cache",
           "--dask-scheduler", address]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert f"cannot reach the Dask scheduler at {address!r}" in proc.stderr
