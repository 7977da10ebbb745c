"""Inner suites for the Selenium tests: a login site on 127.0.0.1 and headless Chromium.

``SITE_CONFTEST`` is written as the conftest.py of a pytester directory: a tiny
``http.server`` login form served from a thread, and a ``browser`` fixture that
starts Debian's Chromium through /usr/bin/chromedriver (nothing downloaded) and
hands the test ``pytest_jbrealtime.watch(driver)``.
"""

from __future__ import annotations

import os

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def missing_browser() -> str | None:
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            return f"{path} is not installed (apt-get install chromium chromium-driver)"
    return None


SITE = r'''
import contextlib
import html
import os
import shutil
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

LOGIN_PAGE = """<!doctype html><html><head><title>Log in</title></head><body>
<form id="login-form" method="post" action="/login">
<input id="username" name="username"><input id="password" name="password" type="password">
<button id="login" type="submit">Log in</button></form></body></html>"""
ALERT_PAGE = """<!doctype html><html><head><title>Alert</title></head><body>
<button id="ask" onclick="alert('are you sure?')">Ask</button></body></html>"""


class Site(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _send(self, body, status=200, headers=()):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urlparse(self.path)
        if url.path == "/login":
            self._send(LOGIN_PAGE)
        elif url.path == "/welcome":
            user = parse_qs(url.query).get("user", ["?"])[0]
            self._send(f"<!doctype html><title>Welcome</title><h1 id='greeting'>"
                       f"Welcome, {html.escape(user)}</h1>")
        elif url.path == "/alert":
            self._send(ALERT_PAGE)
        else:
            self._send("not found", status=404)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        form = parse_qs(self.rfile.read(length).decode())
        user = form.get("username", [""])[0]
        self._send("", status=303, headers=[("Location", f"/welcome?user={user}")])


@pytest.fixture(scope="session")
def site():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Site)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def chrome_options():
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--window-size=800,600"):
        options.add_argument(flag)
    return options


@pytest.fixture
def raw_browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"
    profile = tempfile.mkdtemp(prefix="jb-live-test-chromium-")
    options = chrome_options()
    options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"),
                              options=options)
    yield driver
    # A test may have killed the browser on purpose: its teardown must not error.
    with contextlib.suppress(Exception):
        driver.quit()
    # A test that killed chromedriver leaves its Chromium running (quit() could not
    # reach it): end every process of this profile, found by its --user-data-dir.
    end_processes_using(profile)
    shutil.rmtree(profile, ignore_errors=True)


def end_processes_using(profile):
    import psutil

    marker = f"--user-data-dir={profile}"
    found = []
    for process in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error):
            if marker in (process.info["cmdline"] or []):
                process.kill()
                found.append(process)
    psutil.wait_procs(found, timeout=5)


@pytest.fixture
def browser(raw_browser):
    import pytest_jbrealtime

    return pytest_jbrealtime.watch(raw_browser)


@pytest.fixture
def wait_for_gate():
    def wait(name):
        """Block until the outer test (the watcher) creates the file GATE_DIR/name."""
        gate = Path(os.environ["JB_TEST_GATE_DIR"]) / name
        deadline = time.monotonic() + 60
        while not gate.exists():
            assert time.monotonic() < deadline, f"the watcher never opened gate {name}"
            time.sleep(0.02)

    return wait
'''
