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


def test_serve_on_a_port_in_use_says_so_in_one_line_before_compiling():
    import socket

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        cmd = [sys.executable, "-m", "brainmass_widgets.cli", "serve", "--address", "127.0.0.1",
               "--port", str(port), "--no-jax-cache"]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.endswith(f"port {port} on 127.0.0.1 is in use (Address already in use): choose another "
                         f"with --port, e.g. --port {port + 1}, or --port 0 for a free one"), last


def test_serve_refuses_a_tab_build_gap_beyond_a_minute_naming_it():
    cmd = [sys.executable, "-m", "brainmass_widgets.cli", "serve", "--port", "0", "--no-jax-cache",
           "--tab-build-gap", "90"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "--tab-build-gap must be 0 to 60 seconds, got 90" in proc.stderr


def test_serve_refuses_a_jax_cache_that_is_a_file(tmp_path):
    path = tmp_path / "cache"
    path.write_text("not a folder")
    cmd = [sys.executable, "-m", "brainmass_widgets.cli", "serve", "--port", "0", "--jax-cache", str(path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"the JAX cache {str(path)!r} is a file, not a folder" in proc.stderr


def test_the_jax_cache_stays_within_its_size(tmp_path):
    """A cache folder holding 4 MB of older programs, capped at 1 MiB, deletes the least recently
    used ones as new programs arrive; uncapped, it keeps them all (a child process each: the cache
    is global)."""
    script = """
import sys
from pathlib import Path
import jax, jax.numpy as jnp
from brainmass_widgets.cli import enable_jax_cache
folder = enable_jax_cache(sys.argv[1], None if sys.argv[2] == "none" else int(sys.argv[2]))
for n in range(1, 4):
    jax.jit(lambda x: jnp.cumsum(jnp.sin(x)))(jnp.ones(n)).block_until_ready()
files = [f for f in Path(folder).iterdir() if f.name.endswith("-cache")]
print(sum(f.stat().st_size for f in files), sum(f.name.startswith("old") for f in files), len(files))
"""
    found = {}
    for cap in ("none", "1"):
        folder = tmp_path / cap
        folder.mkdir()
        for i in range(40):  # older programs, oldest first
            (folder / f"old{i:02d}-cache").write_bytes(bytes(100_000))
            (folder / f"old{i:02d}-atime").write_bytes((1_000 + i).to_bytes(8, "little"))
        proc = subprocess.run([sys.executable, "-c", script, str(folder), cap], capture_output=True,
                              text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr
        found[cap] = [int(v) for v in proc.stdout.split()[-3:]]
    size, old, total = found["none"]
    new = total - old
    assert size > 4_000_000 and old == 40 and new >= 3, found
    size, old, total = found["1"]
    assert size <= 2**20 and total - old == new and 0 < old < 40, found
    assert sorted(f.name for f in (tmp_path / "1").glob("old*-cache"))[0] == f"old{40 - old:02d}-cache"
