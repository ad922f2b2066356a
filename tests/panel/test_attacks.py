"""The served app attacked on loopback as a clumsy or hostile class would: Panel's and Bokeh's own
routes, huge URL values, floods of plain GETs, forged logins, a file too large to send. Each loop
is bounded in count and time."""

import http.client
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import psutil
import pytest
import requests
from browser import column, engine, free_port, log_in, press, text, wait_column, wait_http

SERVE = [sys.executable, "-m", "brainmass_widgets.cli", "serve", "--no-jax-cache"]

# Each of these, before the server let only its own routes through, imported the module its URL
# names: venv's argparse read the server's argv and its sys.exit ended the server; `this` printed
# into the log; importing jupyterlab froze every session.
HOSTILE = ["components/venv.__main__/x/y/z", "components/this/x/y/z", "components/jupyterlab/Cls/css/a.css",
           "components/panel.models/Cls/__css__/a.css", "components/os/path/_css/x", "autoload.js",
           "metadata", "liveness", "rest/session_info", "static/../../etc/passwd", "%2e%2e/%2e%2e/etc/passwd",
           "ws/../components/this/x/y/z", "brainmass-status/../components/this/a/b/c"]


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    port = free_port()
    log_path = tmp_path_factory.mktemp("guarded") / "serve.log"
    cmd = SERVE + ["--port", str(port), "--max-client-sessions", "3", "--max-sessions", "5",
                   "--session-expiry", "8"]
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://localhost:{port}/"
        wait_http(url + "brainmass-status", 180, proc)
        yield url, port, psutil.Process(proc.pid), log_path
    finally:
        proc.terminate()
        proc.wait(30)
    text = log_path.read_text()
    assert "Traceback" not in text and "usage:" not in text and "Zen of Python" not in text, text[-4000:]


def status(url):
    return requests.get(url + "brainmass-status", timeout=30).json()


def wait_sessions(url, count, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        last = status(url)
        if last["sessions"] == count:
            return last
        time.sleep(0.25)
    raise AssertionError(f"sessions never became {count}: {last}")


def get_from(port, client, path="/"):
    """GET ``path`` from the loopback address ``client`` (each 127.x.y.z is another visitor)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60, source_address=(client, 0))
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def test_no_request_path_imports_or_runs_anything(guarded):
    url, _, proc, log_path = guarded
    for path in HOSTILE:
        r = requests.get(url + path, timeout=30)
        assert r.status_code == 404, (path, r.status_code, r.text[:200])
        assert "is not served here" in r.text, (path, r.text[:200])
        assert proc.is_running() and status(url)["sessions"] == 0
    log = log_path.read_text()
    assert "Beautiful is better than ugly" not in log and "usage: venv" not in log
    assert requests.get(url + "static/js/bokeh.min.js", timeout=30).status_code == 200
    assert requests.get(url + "favicon.ico", timeout=30).status_code == 200


def test_huge_url_values_are_refused_before_a_session_is_built(guarded):
    url, _, proc, _ = guarded
    wait_sessions(url, 0)
    for _ in range(5):  # the server's first requests allocate for good; the baseline comes after
        requests.get(url + "?a=" + "1" * 4301, timeout=30)
    before = proc.memory_info().rss
    for i in range(300):
        r = requests.get(url + "?a=" + "1" * 4301, timeout=30)
        assert r.status_code == 414 and "at most 4,096 are allowed" in r.text, r.text
        r = requests.get(url + f"?duration={i}" + "0" * 300, timeout=30)
        assert r.status_code == 400, r.text
        assert "the URL value of 'duration' has 30" in r.text and "at most 200 are allowed" in r.text
    assert status(url)["sessions"] == 0
    growth = proc.memory_info().rss / before - 1
    print(f"server RSS {before / 2**20:.0f} MiB before 600 long-value requests, {growth:+.1%} after")
    assert growth < 0.10


def test_a_plain_get_builds_a_page_but_computes_nothing_until_the_page_connects(guarded, page):
    url, port, _, _ = guarded
    wait_sessions(url, 0)
    code, body = get_from(port, "127.0.0.1", "/?duration=30000&in_size=64")
    assert code == 200 and "bokeh" in body.lower()
    for _ in range(8):
        s = status(url)
        assert s["sessions"] == 1 and s["running"] == 0 and s["waiting"] == 0, s
        time.sleep(0.25)
    page.goto(url + "?a=0.3")
    wait_column(page, "trajectory", "x[0]")
    assert status(url)["sessions"] >= 1


def test_sessions_are_capped_per_address_and_in_total(guarded):
    url, port, proc, _ = guarded
    wait_sessions(url, 0)
    for _ in range(3):
        assert get_from(port, "127.0.0.1")[0] == 200
    code, body = get_from(port, "127.0.0.1")
    assert code == 429 and "your address has 3 open sessions" in body and "--max-client-sessions 3" in body
    for _ in range(2):
        assert get_from(port, "127.0.0.2")[0] == 200
    code, body = get_from(port, "127.0.0.3")
    assert code == 503 and "the server is full: 5 sessions are open and it allows 5 (--max-sessions)" in body
    assert status(url)["sessions"] == 5

    # 100 more plain GETs, 8 at a time, from three addresses: all refused at once, none builds
    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda i: get_from(port, f"127.0.0.{1 + i % 3}")[0], range(100)))
    assert set(codes) <= {429, 503} and status(url)["sessions"] == 5
    # pages never connected expire like closed tabs, and the server has room again
    wait_sessions(url, 0)
    assert get_from(port, "127.0.0.3")[0] == 200 and proc.is_running()


def test_a_connected_tab_keeps_working_through_a_flood_of_plain_gets(guarded, page):
    url, port, _, _ = guarded
    wait_sessions(url, 0)
    page.goto(url)
    first = wait_column(page, "trajectory", "x[0]")
    seen = []
    with ThreadPoolExecutor(9) as pool:
        flood = pool.map(lambda i: get_from(port, f"127.0.0.{1 + i % 2}")[0], range(100))
        watch = pool.submit(lambda: [seen.append(status(url)["sessions"]) or time.sleep(0.05)
                                     for _ in range(100)])
        press(page, ".bmw-param-a", "ArrowRight", 1)
        moved = wait_column(page, "trajectory", "x[0]", differs_from=first)
        codes = list(flood)
        watch.result()
    print(f"100 plain GETs: {codes.count(200)} built a page, the rest were refused; sessions open at most "
          f"{max(seen)}")
    assert max(seen) <= 5 and codes.count(200) < 50 and moved != first
    page.wait_for_timeout(300)
    np.testing.assert_allclose(column(page, "trajectory", "x[0]"), engine(a=0.26), rtol=1e-5, atol=1e-6)


def test_a_file_too_large_to_send_is_refused_in_the_page_and_the_session_lives_on(guarded, page, tmp_path):
    url, _, proc, _ = guarded
    wait_sessions(url, 0)
    huge = tmp_path / "huge.npz"
    with open(huge, "wb") as f:
        f.truncate(50 * 2**20)  # 50 MiB: 67 MiB of base64, over the 64 MiB a websocket message may carry
    page.goto(url)
    first = wait_column(page, "trajectory", "x[0]")
    page.locator(".bk-tab", has_text="Sweep").click()
    page.locator(".bmw-sweep-open input").set_input_files(str(huge))
    notice = page.locator(".bmw-notice", has_text="huge.npz")
    notice.wait_for(state="visible", timeout=30_000)
    message = text(notice)
    assert "huge.npz is 50.0 MiB" in message and "at most 47.9 MiB" in message, message
    assert "--max-message-mb 64" in message and "not sent" in message, message
    page.locator(".bk-tab", has_text="Model").click()
    press(page, ".bmw-param-a", "ArrowRight", 1)
    moved = wait_column(page, "trajectory", "x[0]", differs_from=first, timeout=60_000)
    page.wait_for_timeout(300)
    np.testing.assert_allclose(column(page, "trajectory", "x[0]"), engine(a=0.26), rtol=1e-5, atol=1e-6)
    assert moved != first and proc.is_running() and status(url)["sessions"] >= 1


def test_logins_need_their_forms_token_are_rate_limited_same_origin_and_strict(tmp_path, page):
    port = free_port()
    url = f"http://localhost:{port}/"
    with open(tmp_path / "serve.log", "w") as log:
        proc = subprocess.Popen(SERVE + ["--port", str(port), "--basic-auth", "correct horse"], stdout=log,
                                stderr=subprocess.STDOUT)
    try:
        wait_http(url + "login", 180, proc)
        hostile = requests.get(url + "components/venv.__main__/x/y/z", allow_redirects=False, timeout=30)
        assert hostile.status_code == 404 and "is not served here" in hostile.text
        same_origin = {"Origin": f"http://localhost:{port}"}
        forged = requests.post(url + "login", data={"username": "u", "password": "correct horse"},
                               headers={"Origin": "http://evil.example"}, allow_redirects=False, timeout=30)
        assert forged.status_code == 403 and "sent from 'http://evil.example'" in forged.text
        assert "user" not in forged.cookies
        # the right password in a form without the token its login page set: refused, not checked
        bare = requests.post(url + "login", data={"username": "u", "password": "correct horse"},
                             headers=same_origin, allow_redirects=False, timeout=30)
        assert bare.status_code == 403 and "user" not in bare.cookies, bare.text
        assert "sent without its token" in bare.text and len(bare.text.strip().splitlines()) == 1
        other = requests.Session()
        form = other.get(url + "login", timeout=30)
        hidden = re.findall(r'<input type="hidden" name="bmw-login" value="([^"]+)">', form.text)
        cookie = [c for c in form.raw.headers.getlist("Set-Cookie") if c.startswith("bmw-login=")]
        assert len(hidden) == 1 and len(cookie) == 1, (hidden, cookie)
        assert "HttpOnly" in cookie[0] and "SameSite=Lax" in cookie[0] and "Path=/login" in cookie[0]
        stolen = hidden[0]
        for fields, session in (({"bmw-login": "0" * len(stolen)}, other),  # a guessed token
                                ({"bmw-login": stolen}, requests.Session())):  # a form without its cookie
            r = session.post(url + "login", data={"username": "u", "password": "correct horse", **fields},
                             headers=same_origin, allow_redirects=False, timeout=30)
            assert r.status_code == 403 and "does not match" in r.text and "user" not in r.cookies, r.text
        user = requests.Session()
        ok = log_in(user, url, "u", "correct horse", headers=same_origin, allow_redirects=False)
        assert ok.status_code == 302 and "SameSite=Lax" in ok.headers["Set-Cookie"], ok.text
        assert user.get(url, timeout=60).status_code == 200
        # a real browser logs in through the page
        page.goto(url)
        page.locator("input[name=username]").fill("u")
        page.locator("input[name=password]").fill("correct horse")
        page.locator("button[type=submit]").click()
        wait_column(page, "trajectory", "x[0]")
        codes = []
        for _ in range(300):  # a password-guessing loop
            r = requests.post(url + "login", data={"username": "u", "password": "nope"},
                              allow_redirects=False, timeout=30)
            codes.append(r.status_code)
        assert codes.count(429) >= 290 and "login attempts from your address in the last minute" in r.text
        assert proc.poll() is None and user.get(url + "brainmass-status", timeout=30).status_code == 200
    finally:
        proc.terminate()
        proc.wait(30)
    assert "Traceback" not in (tmp_path / "serve.log").read_text()
