"""Running a Bokeh document's queued callbacks by hand, as a server's event loop would."""

import time


def run_next_ticks(doc, timeout=30.0):
    """Wait until ``doc`` has a next-tick callback queued, then run every queued one (and those
    they queue) in this thread."""
    deadline = time.monotonic() + timeout
    while not doc.session_callbacks and time.monotonic() < deadline:
        time.sleep(0.01)
    assert doc.session_callbacks, "nothing was queued on the document"
    while doc.session_callbacks:
        callback = doc.session_callbacks[0]
        doc.remove_next_tick_callback(callback)
        callback.callback()
