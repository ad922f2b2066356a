"""Waiting for a controller's computation to be under way."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


def start_and_wait_running(controller: Any, start: Callable[[], Any] | None = None,
                           timeout: float = 120) -> None:
    """Start ``controller``'s computation (``start()``, default ``controller.run()``) and return
    once it reports progress past 0; ``AssertionError`` after ``timeout`` seconds."""
    running = threading.Event()
    controller.on_status(lambda st: st.kind == "running" and st.progress > 0 and running.set())
    (start or controller.run)()
    assert running.wait(timeout), f"no progress within {timeout} s: {controller.status}"
