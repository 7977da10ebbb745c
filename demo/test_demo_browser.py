"""A browser suite to watch live: ``pytest demo/test_demo_browser.py --jb-live``.

It serves its own little shop on 127.0.0.1 and drives Debian's headless Chromium
through /usr/bin/chromedriver (``apt-get install chromium chromium-driver``; nothing
is downloaded). Open the printed link and watch each test's steps, browser actions,
page loads and screenshots arrive as they happen; ``--jb-live-screenshots actions``
adds a screenshot after every navigation and click. The last test fails on purpose,
to show the failure screenshot.

``JB_DEMO_PACE`` (seconds, default 0.3) slows the steps down so a person can follow.
"""

from __future__ import annotations

import contextlib
import html
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

import pytest_jbrealtime
from pytest_jbrealtime import step

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
PACE = float(os.environ.get("JB_DEMO_PACE", "0.3"))

PAGE = """<!doctype html><html><head><title>{title}</title><style>
body {{ font-family: sans-serif; margin: 2em; background: #f6f7fb; }}
form, .card {{ background: white; padding: 1.5em; border-radius: 8px; max-width: 22em; }}
input, button {{ display: block; margin: .5em 0; padding: .5em; width: 100%; }}
</style></head><body>{body}</body></html>"""
LOGIN = """<h1>Demo shop</h1><form method="post" action="/login">
<input id="username" name="username" placeholder="user">
<input id="password" name="password" type="password" placeholder="password">
<button id="login" type="submit">Log in</button></form>"""
PRODUCTS = ("teapot", "kettle", "mug")


class DemoShop(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    def _page(self, title: str, body: str, status: int = 200) -> None:
        data = PAGE.format(title=title, body=body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        url = urlparse(self.path)
        query = parse_qs(url.query)
        if url.path == "/":
            self._page("Log in", LOGIN)
        elif url.path == "/shop":
            user = html.escape(query.get("user", ["guest"])[0])
            items = "".join(
                f'<li><a class="product" id="{p}" href="/cart?add={p}&user={user}">{p}</a></li>'
                for p in PRODUCTS
            )
            self._page("Shop", f"<div class='card'><h1 id='greeting'>Hello, {user}</h1>"
                               f"<ul>{items}</ul></div>")
        elif url.path == "/cart":
            item = html.escape(query.get("add", [""])[0])
            self._page("Cart", f"<div class='card'><h1>Cart</h1><p id='cart'>1 x {item}</p>"
                               "</div>")
        else:
            self._page("Not found", "<h1>Not found</h1>", status=404)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        form = parse_qs(self.rfile.read(length).decode())
        user = form.get("username", ["guest"])[0]
        self.send_response(303)
        self.send_header("Location", f"/shop?user={user}")
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture(scope="module")
def shop() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), DemoShop)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def browser() -> Iterator[Any]:
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            pytest.skip(f"{path} is not installed (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must not try to download a driver
    profile = tempfile.mkdtemp(prefix="jb-live-demo-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--window-size=1000,700",
                 f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        # The one line a suite adds: the same driver, now streamed to the viewer.
        yield pytest_jbrealtime.watch(driver)
    finally:
        with contextlib.suppress(Exception):
            driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def pause() -> None:
    time.sleep(PACE)  # for the human watching, not for the browser


def shown(browser: Any, element_id: str) -> Any:
    """The element once the page that has it is there: a click that loads a page may
    return before the page does (a busy machine), and the element must be the new one's."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, 15).until(lambda d: d.find_element(By.ID, element_id))


def log_in(browser: Any, shop: str, user: str) -> None:
    from selenium.webdriver.common.by import By

    with step(f"Log in as {user}"):
        browser.get(shop + "/")
        pause()
        browser.find_element(By.ID, "username").send_keys(user)
        browser.find_element(By.ID, "password").send_keys("correct horse battery staple")
        pause()
        browser.find_element(By.ID, "login").click()
        pause()


def test_log_in_and_buy_a_teapot(browser: Any, shop: str, jb_live: Any) -> None:
    from selenium.webdriver.common.by import By

    log_in(browser, shop, "admin")
    with step("Check the greeting"):
        assert shown(browser, "greeting").text == "Hello, admin"
    with step("Put a teapot in the cart"):
        browser.find_element(By.ID, "teapot").click()
        pause()
        assert shown(browser, "cart").text == "1 x teapot"
    jb_live.emit("demo.cart", {"items": ["teapot"]})
    pytest_jbrealtime.screenshot(browser, "the cart")


@pytest.mark.parametrize("product", PRODUCTS[1:])
def test_each_product_can_be_added(browser: Any, shop: str, product: str) -> None:

    log_in(browser, shop, "guest")
    with step(f"Add a {product}"):
        shown(browser, product).click()
        pause()
        assert product in shown(browser, "cart").text


def test_greeting_fails_on_purpose(browser: Any, shop: str) -> None:
    """Fails on purpose: the viewer shows its failure screenshot next to the traceback."""

    log_in(browser, shop, "guest")
    with step("Expect to be greeted as admin (we are not)"):
        assert shown(browser, "greeting").text == "Hello, admin"
