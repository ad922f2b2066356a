"""The served app in headless chromium logs no warning and no error on any tab, before and after
a model switch."""

import sys
import time

import pytest
from browser import SOURCE, free_port, server, wait_column

TABS = ("Model", "Sweep", "Phase plane", "Network", "Fit", "Bifurcation")
SWITCH_TO = "FitzHughNagumoStep"

#: Each tab is ready once its first computation is drawn (the Sweep and Fit tabs compute nothing
#: until asked).
READY = {"Sweep": "() => ({SOURCE})('sweep') !== null",
         "Phase plane": "() => { const s = ({SOURCE})('fixed_points'); return s && s.data.x.length; }",
         "Network": "() => { const s = ({SOURCE})('fc'); return s && s.data.value.length === 64; }",
         "Fit": "() => ({SOURCE})('loss') !== null",
         "Bifurcation": "() => { const s = ({SOURCE})('special'); return s && s.data.x.length; }"}

#: Every status line the server sends, in order, from the moment it is installed.
WATCH_STATUS = """() => {
  window.__statuses = [];
  for (const doc of Bokeh.documents) doc.on_change((event) => {
    const value = event.model && event.attr ? event.model[event.attr] : null;
    if (typeof value === "string" && value.includes("bmw-status")) window.__statuses.push(value);
  });
}"""

#: Whether a status line sent since ``mark`` says done, and every figure shown names ``model``.
SWITCHED = """([model, mark, autorun]) => {
  const done = window.__statuses.slice(mark).some(v => v.includes("bmw-done"));
  const titles = [...Bokeh.index.all_views()]
    .filter(v => v.model.type === "Figure" && v.is_displayed).map(v => v.model.title.text);
  return (done || !autorun) && titles.length > 0 && titles.every(t => t.startsWith(model));
}"""


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    port = free_port()
    log_path = tmp_path_factory.mktemp("serve-console") / "serve.log"
    cmd = [sys.executable, "-m", "brainmass_widgets.cli", "serve", "--port", str(port), "--no-jax-cache"]
    with server(cmd, f"http://localhost:{port}/", log_path):
        yield f"http://localhost:{port}/"
    text = log_path.read_text()
    assert "Traceback" not in text, text[-4000:]


def test_no_tab_logs_a_warning_or_an_error_before_or_after_a_model_switch(app_url, page):
    messages = []
    where = {"tab": "page load"}
    page.on("console", lambda msg: msg.type in ("warning", "error")
            and messages.append(f"{where['tab']}: {msg.type}: {msg.text}"))
    page.on("pageerror", lambda exc: messages.append(f"{where['tab']}: uncaught: {exc}"))
    page.goto(app_url)
    wait_column(page, "trajectory", "x[0]")
    page.evaluate(WATCH_STATUS)
    for tab in TABS:  # each tab's first computation, with the app's first model
        where["tab"] = tab
        page.get_by_text(tab, exact=True).first.click()
        if tab in READY:
            page.wait_for_function(READY[tab].replace("{SOURCE}", SOURCE), timeout=180_000)
        page.wait_for_timeout(1000)
    switched = []
    for tab in TABS:
        where["tab"] = f"{tab}, after the switch to {SWITCH_TO}"
        page.get_by_text(tab, exact=True).first.click()
        # the tab's own model menu, once the tab is drawn (a busy machine draws it late)
        deadline = time.monotonic() + 60
        select = page.locator("select:visible").first
        while SWITCH_TO not in select.locator("option").all_text_contents() and time.monotonic() < deadline:
            page.wait_for_timeout(500)
            select = page.locator("select:visible").first
        mark = page.evaluate("window.__statuses.length")
        select.select_option(SWITCH_TO)
        page.wait_for_function(SWITCHED, arg=[SWITCH_TO, mark, tab not in ("Sweep", "Fit")], timeout=180_000)
        page.wait_for_timeout(1000)
        switched.append(tab)
    assert switched == list(TABS)
    assert not messages, "\n".join(messages)
