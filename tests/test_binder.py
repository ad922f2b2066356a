"""The Binder set-up: repo2docker reads binder/, the pins resolve, the app behind the proxy, the cache."""

import os
import re
import subprocess
import sys
import tomllib
import urllib.request
from pathlib import Path

from browser import free_port, server, wait_http
from packaging.requirements import Requirement

from brainmass_widgets._proxy import setup_panel

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"
TOKEN = "brainmass-widgets-binder-test"
TRAJECTORY = """() => {
  for (const doc of (window.Bokeh && window.Bokeh.documents) || []) {
    const src = doc.get_model_by_name("trajectory");
    if (src && src.data["x[0]"] && src.data["x[0]"].length) return true;
  }
  return false;
}"""


def pins() -> dict[str, str]:
    """``binder/requirements.txt`` as ``{normalised name: exact version}``; every line is pinned."""
    out = {}
    for line in (BINDER / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            req = Requirement(line)
            (spec,) = req.specifier
            assert spec.operator == "==", line
            out[req.name.lower().replace("_", "-")] = spec.version
    return out


def test_repo2docker_reads_the_binder_folder():
    # `python -m repo2docker` is the `jupyter-repo2docker` command; --no-build only writes the
    # Dockerfile it would build, so no container engine is needed.
    proc = subprocess.run([sys.executable, "-m", "repo2docker", "--no-build", str(ROOT)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    dockerfile = proc.stdout
    assert "python=3.11" in proc.stderr + proc.stdout, proc.stderr
    assert 'pip install --no-cache-dir -r "binder/requirements.txt"' in dockerfile
    assert "RUN ./binder/postBuild" in dockerfile
    assert 'ENV R2D_ENTRYPOINT="${REPO_DIR}/binder/start"' in dockerfile
    for name in ("postBuild", "start"):
        assert os.access(BINDER / name, os.X_OK), name
        text = (BINDER / name).read_text()
        assert text.startswith("#!/bin/bash\n") and "set -euo pipefail" in text, name
    assert "pip install --no-cache-dir --no-deps -e ." in (BINDER / "postBuild").read_text()


def requirements(*extras):
    """The package's dependencies and those of ``extras``, its own extras expanded."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    out, todo, seen = [Requirement(r) for r in project["dependencies"]], list(extras), set()
    while todo:
        extra = todo.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for req in map(Requirement, project["optional-dependencies"][extra]):
            if req.name == project["name"]:
                todo.extend(req.extras)
            else:
                out.append(req)
    return out


def test_requirements_expand_the_package_extras():
    names = {req.name.lower() for req in requirements("binder")}
    assert {"jax", "panel", "jupyterlab", "jupyter-server-proxy", "distributed", "nevergrad"} <= names
    assert "brainmass-widgets" not in names


def test_pins_fit_the_package_ranges():
    pinned = pins()
    for req in requirements("binder"):
        name = req.name.lower().replace("_", "-")
        assert name in pinned, f"{req.name} is not pinned in binder/requirements.txt"
        assert pinned[name] in req.specifier, f"{name}=={pinned[name]} is outside {req.specifier}"


def test_pins_resolve():
    # --ignore-installed: resolve the whole set from the index, as for a fresh image.
    cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--ignore-installed",
           "-r", str(BINDER / "requirements.txt")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]


def test_proxy_command_serves_the_app_under_the_forwarded_path(tmp_path):
    spec = setup_panel()
    assert spec["absolute_url"] is True
    assert spec["launcher_entry"]["title"] == "brainmass-widgets app"
    port = free_port()
    # What jupyter-server-proxy runs, and the path it forwards <base_url>panel/ to (absolute_url).
    cmd = [part.format(port=port, base_url="/user/test/") for part in spec["command"]]
    url = f"http://127.0.0.1:{port}/user/test/panel/"
    with server(cmd, url, tmp_path / "serve.log", timeout=spec["timeout"]):
        with urllib.request.urlopen(url, timeout=30) as r:
            assert r.status == 200
            html = r.read().decode()
    assert "<title>brainmass-widgets</title>" in html
    # Resources are relative to the page, so they resolve through the proxy too.
    scripts = re.findall(r'<script[^>]+src="([^"]+)"', html)
    assert any(s.startswith("static/js/bokeh.min.js") for s in scripts), scripts
    log = (tmp_path / "serve.log").read_text()
    assert f"serving HopfStep at http://localhost:{port}/user/test/panel/" in log, log
    assert "Traceback" not in log, log[-4000:]


def test_app_through_jupyter_server_proxy(tmp_path, page):
    """A Jupyter server at /user/test/ starts the app on the first visit to /user/test/panel/; the
    page draws and a slider change makes the round trip through the proxied websocket."""
    env = {**os.environ, "JAX_COMPILATION_CACHE_DIR": str(tmp_path / "jax")}
    port = free_port()
    base = f"http://127.0.0.1:{port}/user/test/"
    cmd = [sys.executable, "-m", "jupyter", "server", "--no-browser", "--allow-root", f"--port={port}",
           "--ip=127.0.0.1", f"--ServerApp.token={TOKEN}", "--ServerApp.base_url=/user/test/",
           f"--ServerApp.root_dir={tmp_path}"]
    log_path = tmp_path / "jupyter.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        wait_http(f"{base}api/status?token={TOKEN}", 90, proc)
        with urllib.request.urlopen(f"{base}server-proxy/servers-info?token={TOKEN}", timeout=30) as r:
            info = r.read().decode()
        assert '"title": "brainmass-widgets app"' in info and '"path_info": "panel/"' in info, info
        page.set_default_timeout(180_000)
        page.goto(f"{base}panel/?token={TOKEN}")
        page.wait_for_function(TRAJECTORY)
        handle = page.locator(".bmw-param-a .noUi-handle").first
        handle.focus()
        page.keyboard.press("ArrowRight")
        page.wait_for_function("() => new URLSearchParams(location.search).get('a') === '0.26'",
                               timeout=60_000)
        assert page.url.startswith(f"{base}panel/")
    finally:
        proc.terminate()
        proc.wait(30)
    text = log_path.read_text()
    assert "Websocket connection established to ws://localhost:" in text, text[-4000:]
    assert "Traceback" not in text, text[-4000:]
    # The proxied app keeps its compiled programs in the cache binder/start points at.
    assert any((tmp_path / "jax").iterdir())


def _start(args, home, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_")}
    env.update(HOME=str(home), **extra)
    return subprocess.run([str(BINDER / "start"), *args], capture_output=True, text=True, env=env,
                          timeout=300)


def test_start_sets_the_jax_cache(tmp_path):
    code = ("import jax; c = jax.config; print(c.jax_compilation_cache_dir, "
            "c.jax_persistent_cache_min_compile_time_secs, c.jax_persistent_cache_min_entry_size_bytes)")
    proc = _start([sys.executable, "-c", code], tmp_path)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert proc.stdout.split() == [str(tmp_path / ".cache" / "jax"), "0.0", "0"]
    assert (tmp_path / ".cache" / "jax").is_dir()
    proc = _start(["sh", "-c", "exit 7"], tmp_path)
    assert proc.returncode == 7


def test_unreadable_cache_entries_are_recompiled(tmp_path):
    code = ("import jax, jax.numpy as jnp; "
            "print(float(jax.jit(lambda x: jnp.sin(x) * 2 + x ** 2)(jnp.float32(1.5))))")
    first = _start([sys.executable, "-c", code], tmp_path)
    assert first.returncode == 0, first.stderr[-4000:]
    entries = list((tmp_path / ".cache" / "jax").iterdir())
    assert entries
    for entry in entries:
        entry.write_bytes(b"not a compiled program")
    again = _start([sys.executable, "-c", code], tmp_path)
    assert again.returncode == 0, again.stderr[-4000:]
    assert again.stdout == first.stdout
    assert "Error reading persistent compilation cache entry" in again.stderr
