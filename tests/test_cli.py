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
