"""The browser's credential (issue 15, finding 4) in real headless Chromium.

It used to be a cookie: a browser sends cookies to every port of 127.0.0.1, so a stub
server on another port received the run's token, and opening run B's link overwrote run
A's cookie, whose tab then ended at 4001 for good. Now the page keeps its link's token in
its origin's storage (scheme, host and port: viewer/credential.js) and sends it itself.
"""

from __future__ import annotations

import contextlib
import http.server
import shutil
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser.conftest import require_browser, start_chromium
from tests.browser.viewer_page import ViewerPage
from tests.held_run import HeldRun

if TYPE_CHECKING:
    from selenium.webdriver import Chrome


class StubServer:
    """Another server on 127.0.0.1 (another port): notes every request's headers."""

    def __init__(self) -> None:
        seen: list[dict[str, str]] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                seen.append({k.lower(): v for k, v in self.headers.items()})
                body = b"<html><body>stub</body></html>"
                self.send_response(200)
                self.send_header("content-type", "text/html")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.seen = seen
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def runs(tmp_path: Path) -> Iterator[tuple[HeldRun, HeldRun]]:
    first, second = HeldRun(tmp_path / "a"), HeldRun(tmp_path / "b")
    yield first, second
    for run in (first, second):
        run.kill()


def test_a_runs_token_reaches_only_its_own_server(
    driver: Chrome, runs: tuple[HeldRun, HeldRun],
) -> None:
    run_a, run_b = runs
    stub = StubServer()
    try:
        page = ViewerPage(driver).open(run_a.live.link)
        page.wait_for(lambda: page.connection_state() == "connected")
        tab_a = driver.current_window_handle
        assert "token" not in driver.current_url and driver.get_cookies() == []
        # Run B's link in another tab of the same browser.
        driver.switch_to.new_window("tab")
        ViewerPage(driver).open(run_b.live.link)
        assert driver.execute_script("return localStorage.getItem('jb-live-token')") == \
            run_b.token
        # Another port of the same host: nothing of either run comes with the request.
        driver.get(f"http://127.0.0.1:{stub.port}/")
        assert stub.seen and "cookie" not in stub.seen[-1], stub.seen
        assert run_a.token not in str(stub.seen) and run_b.token not in str(stub.seen)
        # Run A's tab still holds its own token: it reconnects and is served, not 4001.
        driver.switch_to.window(tab_a)
        assert driver.execute_script("return localStorage.getItem('jb-live-token')") == \
            run_a.token
        driver.execute_script("window.__jbLive.client.reconnectNow()")
        page.wait_for(lambda: driver.execute_script(
            "return window.__jbLive.client.stats.connects") >= 2)
        page.wait_for(lambda: page.connection_state() == "connected")
    finally:
        stub.close()
    for run in (run_a, run_b):
        assert run.release() == 1


def history_urls(profile: Path) -> list[str]:
    """The addresses in a closed profile's History database (SQLite), read from a copy."""
    copy = profile.parent / "History-copy.sqlite3"
    shutil.copy(profile / "Default" / "History", copy)
    with contextlib.closing(sqlite3.connect(copy)) as db:
        return [str(row[0]) for row in db.execute("SELECT url FROM urls ORDER BY id")]


def open_connected(browser: Chrome, link: str) -> None:
    page = ViewerPage(browser).open(link)
    page.wait_for(lambda: page.connection_state() == "connected")


def test_the_link_as_opened_stays_in_the_browsers_history(tmp_path: Path) -> None:
    """Measured, and documented as the limit it is (docs/security.md): the page takes the
    token out of its address at once, yet Chromium's History database keeps the address
    as it was opened, with ``?token=`` and with ``#token=`` alike. (Measured the same way
    outside this test: a fragment link whose page goes on with ``location.replace('/')``
    and a server-side 302 leave their first address there too, beside the bare one.)"""
    require_browser()
    run = HeldRun(tmp_path / "run")
    profile = tmp_path / "profile"
    fragment_link = run.live.link.replace("/?token=", "/#token=")
    try:
        browser = start_chromium(str(profile))
        try:
            for link in (run.live.link, fragment_link):
                browser.get("about:blank")  # a new document each time, not a hash change
                open_connected(browser, link)
                assert run.token not in browser.current_url
        finally:
            browser.quit()  # History is written when the browser closes
        urls = history_urls(profile)
        assert f"http://{run.host}/" in urls  # what the address bar showed
        assert run.live.link in urls and fragment_link in urls, urls  # the limit
        assert run.release() == 1
    finally:
        run.kill()


def test_a_run_opened_by_address_and_key_leaves_nothing_in_the_history_that_opens_it(
    tmp_path: Path,
) -> None:
    """``--jb-live-link key``: the terminal gives the bare address and the key apart; the
    page asks for the key (a wrong one is refused and asked again), keeps it for its origin
    (a reload connects without asking), and Chromium's History holds only the address,
    which opens nothing by itself."""
    require_browser()
    run = HeldRun(tmp_path / "run", "--jb-live-link", "key")
    profile = tmp_path / "profile"
    try:
        address = f"http://{run.host}/"
        assert run.live.link == address  # the printed address carries no key
        key_line = next(line for line in run.live.lines if "  key: " in line).strip()
        browser = start_chromium(str(profile))
        try:
            page = ViewerPage(browser).open(address)
            form = page.find("key-form")
            page.wait_for(form.is_displayed)
            assert page.connection_state() == "disconnected"
            assert browser.execute_script("return window.__jbLive.store.lastSeq") == 0
            # A wrong key: refused by the server (4001), and the form asks again.
            page.find("key-input").send_keys("not.the.key")
            page.find("key-submit").click()
            page.wait_for(lambda: browser.execute_script(
                "return window.__jbLive.client.stats.attempts") >= 2)
            page.wait_for(form.is_displayed)
            assert page.connection_state() == "disconnected"
            # The terminal's whole line, pasted: the key in it opens the run.
            page.find("key-input").send_keys(key_line)
            page.find("key-submit").click()
            page.wait_for(lambda: page.connection_state() == "connected")
            page.wait_for(lambda: browser.execute_script(
                "return window.__jbLive.store.lastSeq") > 0)
            assert not form.is_displayed()
            assert browser.execute_script(
                "return localStorage.getItem('jb-live-token')") == run.token
            # Kept for the origin: the page opened again connects without asking.
            browser.get("about:blank")
            open_connected(browser, address)
            assert not page.find("key-form").is_displayed()
        finally:
            browser.quit()
        urls = history_urls(profile)
        assert address in urls, urls
        assert not [url for url in urls if run.token in url or "token" in url], urls
        assert run.release() == 1
    finally:
        run.kill()
