"""The built wheel and sdist, installed without extras into a fresh virtual environment.

A package file missing from the wheel, a hard dependency on an extra, or a missing install step
fails here instead of on a user's machine. The venv is built once per run from the wheel (not the
editable source tree), with the exact pins of ``constraints.txt``.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
import urllib.request
import zipfile
from importlib.metadata import version
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name
from test_binder import requirements

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "brainmass_widgets"
CONSTRAINTS = ROOT / "constraints.txt"
#: Modules only the extras install: none may be present in a core install.
EXTRA_MODULES = ("jupyterlab", "jupyter_server_proxy", "dask", "distributed", "nevergrad")
#: Tests of the engine, the catalogue and the ipywidgets explorers, run against the installed wheel
#: (those needing the dask extra deselected).
CORE_TESTS = ("test_engine.py", "test_catalog.py", "test_files.py", "test_metrics.py",
              "ipywidgets/test_ipywidgets_explorers.py")
#: The helpers those tests import.
CORE_HELPERS = ("conftest.py", "attacks.py", "progress.py")


def _run(*cmd, timeout=900, **kwargs):
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, **kwargs)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    _run(sys.executable, "-m", "build", "--outdir", out, ROOT, cwd=ROOT)
    wheel, = out.glob("*.whl")
    sdist, = out.glob("*.tar.gz")
    return wheel, sdist


def _venv(folder, wheel, constraints):
    """A fresh venv in ``folder`` with ``wheel`` installed under ``constraints``, plus pytest and
    ipykernel at the CI pins."""
    _run(sys.executable, "-m", "venv", folder)
    python = folder / "bin" / "python"
    _run(python, "-m", "pip", "install", "-q", f"{wheel}", "-c", constraints)
    _run(python, "-m", "pip", "install", "-q", "pytest", "ipykernel", "-c", CONSTRAINTS)
    return folder


@pytest.fixture(scope="module")
def venv(dist, tmp_path_factory):
    return _venv(tmp_path_factory.mktemp("core-venv"), dist[0], CONSTRAINTS)


def lowest_pins():
    """``name==lower bound`` for every core dependency: the oldest versions the package claims."""
    pins = []
    for req in requirements():
        lows = [s.version for s in req.specifier if s.operator == ">="]
        assert len(lows) == 1, f"{req} needs one lower bound"
        pins.append(f"{req.name}=={lows[0]}")
    return pins


def test_constraints_pin_every_requirement_inside_the_package_ranges():
    pinned = {}
    for line in CONSTRAINTS.read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, exact = line.partition("==")
            assert exact, f"not an exact pin: {line!r}"
            pinned[canonicalize_name(name)] = exact
    for req in requirements("test"):
        name = canonicalize_name(req.name)
        assert name in pinned, f"{req.name} is not pinned in constraints.txt"
        assert pinned[name] in req.specifier, f"{name}=={pinned[name]} is outside {req.specifier}"
    assert {"setuptools", "pip"}.isdisjoint(pinned), "build tools are left to the build backend"


def test_wheel_and_sdist_pass_twine_check_and_hold_every_package_file(dist):
    wheel, sdist = dist
    _run(sys.executable, "-m", "twine", "check", "--strict", wheel, sdist)
    sources = {p.relative_to(ROOT).as_posix() for p in PACKAGE.rglob("*")
               if p.is_file() and "__pycache__" not in p.parts}
    assert "brainmass_widgets/cli.py" in sources
    in_wheel = set(zipfile.ZipFile(wheel).namelist())
    assert sources <= in_wheel, sorted(sources - in_wheel)
    with tarfile.open(sdist) as tar:
        in_sdist = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    assert sources | {"README.md", "pyproject.toml"} <= in_sdist, sorted(sources - in_sdist)
    assert wheel.name.startswith(f"brainmass_widgets-{version('brainmass-widgets')}-")


def test_core_install_has_no_extras_and_reports_its_version(venv):
    python = venv / "bin" / "python"
    code = ("import importlib.util, json, brainmass_widgets as bw; "
            f"print(json.dumps({{'file': bw.__file__, 'version': bw.__version__, 'present': "
            f"[m for m in {EXTRA_MODULES!r} if importlib.util.find_spec(m) is not None]}}))")
    out = json.loads(_run(python, "-c", code, cwd=venv).stdout)
    assert out["present"] == []
    assert Path(out["file"]).is_relative_to(venv), out["file"]
    assert out["version"] == version("brainmass-widgets")
    cli = _run(venv / "bin" / "brainmass-widgets", "--version").stdout.strip()
    assert cli == f"brainmass-widgets {out['version']}"


def test_a_feature_of_a_missing_extra_names_the_extra_in_one_line(venv):
    proc = subprocess.run([venv / "bin" / "brainmass-widgets", "serve", "--no-jax-cache",
                           "--dask-scheduler", "tcp://127.0.0.1:9"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].endswith(
        "serve --dask needs distributed, which is not installed: pip install 'brainmass-widgets[dask]'")
    code = ("from brainmass_widgets import FitController\n"
            "try:\n    FitController('HopfStep', backend='nevergrad')\n"
            "except ValueError as exc:\n    print(exc)\n")
    out = _run(venv / "bin" / "python", "-c", code, cwd=venv).stdout.strip()
    assert out == ("the nevergrad fitting backend needs nevergrad, which is not installed: "
                   "pip install 'brainmass-widgets[fit]'")


def _core_tests(venv, folder):
    for name in CORE_TESTS + CORE_HELPERS:
        shutil.copy(ROOT / "tests" / name, folder / Path(name).name)
    proc = subprocess.run([venv / "bin" / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-W", "ignore::DeprecationWarning", "-W", "ignore::FutureWarning",
                           "-k", "not dask", *(Path(n).name for n in CORE_TESTS)],
                          cwd=folder, capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, proc.stdout[-6000:]
    assert " passed" in proc.stdout.strip().splitlines()[-1]


def test_core_tests_pass_against_the_installed_wheel(venv, tmp_path):
    _core_tests(venv, tmp_path)


def test_core_tests_pass_at_the_lowest_versions_the_package_allows(dist, tmp_path_factory):
    pins = lowest_pins()
    assert "numpy==2.0" in pins and "panel==1.9.4" in pins
    lowest = tmp_path_factory.mktemp("lowest")
    (lowest / "constraints.txt").write_text("\n".join(pins) + "\n")
    folder = _venv(lowest / "venv", dist[0], lowest / "constraints.txt")
    code = "import numpy, scipy, bokeh; print(numpy.__version__, scipy.__version__, bokeh.__version__)"
    assert _run(folder / "bin" / "python", "-c", code).stdout.split() == ["2.0.0", "1.14.0", "3.9.0"]
    tests = lowest / "tests"
    tests.mkdir()
    _core_tests(folder, tests)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_core_install_serves_the_app(venv, tmp_path):
    port = _free_port()
    server = subprocess.Popen([venv / "bin" / "brainmass-widgets", "serve", "--port", str(port),
                               "--jax-cache", tmp_path / "jax", "--sweep-dir", tmp_path / "sweeps"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline, page = time.monotonic() + 300, None
        while page is None and time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=60) as response:
                    page = response.status, response.read().decode()
            except OSError:
                time.sleep(1)
        assert page is not None, f"no answer; exit status {server.poll()}"
        assert page[0] == 200
        assert "bokeh" in page[1].lower()
    finally:
        server.send_signal(signal.SIGINT)
        try:
            log, _ = server.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            log, _ = server.communicate()
    assert server.returncode == 0, log[-3000:]


def test_ipywidgets_explorer_renders_in_a_kernel_without_jupyterlab(venv, tmp_path):
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    spec = tmp_path / "kernels" / "core-venv"
    spec.mkdir(parents=True)
    argv = [str(venv / "bin" / "python"), "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    kernel = {"argv": argv, "display_name": "core", "language": "python"}
    (spec / "kernel.json").write_text(json.dumps(kernel))
    manager = KernelManager(kernel_name="core-venv",
                            kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(spec.parent)]))
    manager.start_kernel(cwd=str(tmp_path), env={**os.environ, "JAX_PLATFORMS": "cpu"})
    client = manager.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=120)
        code = ("import importlib.util\n"
                "from brainmass_widgets.ipywidgets import ModelExplorer\n"
                "print('jupyterlab' if importlib.util.find_spec('jupyterlab') else 'no jupyterlab')\n"
                "explorer = ModelExplorer('HopfStep')\n"
                "explorer.wait(300)\n"
                "print(len(explorer.sources['trajectory'].data['t']))\n"
                "display(explorer)\n")
        msg_id = client.execute(code)
        outputs, views = [], []
        while True:
            msg = client.get_iopub_msg(timeout=600)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                outputs.append(content["text"])
            elif kind == "error":
                pytest.fail("\n".join(content["traceback"]))
            elif kind == "display_data":
                views.append(content["data"])
            elif kind == "status" and content["execution_state"] == "idle":
                break
        lines = "".join(outputs).split()
        assert lines[:2] == ["no", "jupyterlab"]
        assert int(lines[2]) > 100
        assert any("application/vnd.jupyter.widget-view+json" in data for data in views), views
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
