"""The served app behind jupyter-server-proxy (Binder): ``<base_url>panel/`` and a launcher tile.

Registered in ``pyproject.toml`` under the ``jupyter_serverproxy_servers`` entry point, so that a
Jupyter server with jupyter-server-proxy installed starts ``brainmass-widgets serve`` on the first
request to ``<base_url>panel/`` and forwards to it.
"""

from __future__ import annotations

import os
import sys
from typing import Any

__all__ = ["setup_panel"]


def setup_panel() -> dict[str, Any]:
    """Describe the served app to jupyter-server-proxy.

    jupyter-server-proxy substitutes ``{port}`` (a free port it picked) and ``{base_url}`` (the
    Jupyter server's base URL, ending in ``/``, e.g. ``/user/alice/``) in ``command``. With
    ``absolute_url`` set it forwards a request for ``<base_url>panel/<path>`` to
    ``http://localhost:<port><base_url>panel/<path>`` (the full path, websockets included), so
    the app is served under the prefix ``<base_url>panel``: the page's static resources and its
    Bokeh websocket (``<base_url>panel/ws``, derived by BokehJS from the page's own path) then
    resolve through the proxy.

    The websocket's ``Origin`` is the public host of the Jupyter server, not known in advance, so
    every origin is accepted: the app binds to localhost only, and the proxy in front of it has
    already checked the Jupyter login and the origin.

    When ``JAX_COMPILATION_CACHE_DIR`` is set (``binder/start`` sets it), the app keeps its
    compiled programs there too, beside the notebooks' kernels.

    Returns
    -------
    dict
        ``command``, ``absolute_url``, ``timeout`` (seconds to wait for the first answer: JAX
        is imported and the default model compiled before the server listens), ``new_browser_tab``
        and ``launcher_entry`` (title ``"brainmass-widgets app"``).
    """
    command = [sys.executable, "-m", "brainmass_widgets.cli", "serve",
               "--port", "{port}", "--address", "localhost",
               "--prefix", "{base_url}panel", "--allow-websocket-origin", "*"]
    cache = os.environ.get("JAX_COMPILATION_CACHE_DIR")
    if cache:
        command += ["--jax-cache", cache.replace("{", "{{").replace("}", "}}")]  # a template
    return {
        "command": command,
        "absolute_url": True,
        "timeout": 180,
        "new_browser_tab": True,
        "launcher_entry": {"enabled": True, "title": "brainmass-widgets app"},
    }
