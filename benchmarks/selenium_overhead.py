"""What watching a Selenium driver costs: one login flow, raw driver vs watched driver.

    python benchmarks/selenium_overhead.py [ROUNDS]

One headless Chromium (Debian's, through /usr/bin/chromedriver) against a login form
served on 127.0.0.1. Each round runs the flow once on the raw driver and once on the
watched one, alternating which goes first; medians are printed. The watched driver
publishes into a real EventPublisher whose sink drops the batches (the server process
is not what is measured here), with screenshots in ``failure`` mode (none taken in
a passing flow); a third column takes the ``actions``-mode screenshots too.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from pytest_jbrealtime.pytest_side.live_driver import make_live_driver
from pytest_jbrealtime.pytest_side.publisher import EventPublisher, set_active_publisher
from pytest_jbrealtime.pytest_side.screenshots import ScreenshotStore, set_active_store
from pytest_jbrealtime.pytest_side.selenium import watch

LOGIN = (b"<!doctype html><title>Log in</title><form method=post action=/login>"
         b"<input id=username name=username><input id=password name=password type=password>"
         b"<button id=login>Log in</button></form>")


class Site(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        body = LOGIN if self.path.startswith("/login") else b"<h1 id=greeting>Welcome</h1>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(303)
        self.send_header("Location", "/welcome")
        self.send_header("Content-Length", "0")
        self.end_headers()


class DroppingSink:
    def __init__(self) -> None:
        self.events = 0

    def send_batch(self, events: list[dict[str, Any]]) -> None:
        self.events += len(events)

    def close(self, timeout: float) -> None:
        pass


def flow(driver: Any, site: str) -> float:
    started = time.perf_counter()
    driver.get(site + "/login")
    driver.find_element(By.ID, "username").send_keys("admin")
    driver.find_element(By.ID, "password").send_keys("s3cret-pw")
    driver.find_element(By.CSS_SELECTOR, "#login").click()
    assert driver.find_element(By.ID, "greeting").text == "Welcome"
    return (time.perf_counter() - started) * 1000


def main(rounds: int) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Site)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    site = f"http://127.0.0.1:{server.server_address[1]}"
    os.environ["SE_OFFLINE"] = "true"
    profile = tempfile.mkdtemp(prefix="jb-bench-")
    run_dir = Path(tempfile.mkdtemp(prefix="jb-bench-run-"))
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    raw = webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"),
                           options=options)
    sink = DroppingSink()
    publisher = EventPublisher(sink)
    publisher.current_test_id = "bench.py::test_login"
    set_active_publisher(publisher)
    failure_store = ScreenshotStore(publisher, run_dir, mode="failure")
    actions_store = ScreenshotStore(publisher, run_dir, mode="actions", interval_ms=0)
    try:
        set_active_store(failure_store)
        watched = watch(raw)
        shots = make_live_driver(raw, publisher, actions_store, show_typed_text=False)
        for _ in range(3):  # warm up the browser's caches for both
            flow(raw, site)
            flow(watched, site)
        times: dict[str, list[float]] = {"raw": [], "watched": [], "watched+shots": []}
        drivers = {"raw": raw, "watched": watched, "watched+shots": shots}
        for index in range(rounds):
            order = list(drivers)
            if index % 2:
                order.reverse()
            for name in order:
                times[name].append(flow(drivers[name], site))
        base = statistics.median(times["raw"])
        print(f"{rounds} rounds, login flow (navigate, 3 finds, 2 send_keys, click, find):")
        for name, values in times.items():
            median = statistics.median(values)
            print(f"  {name:14s} median {median:7.1f} ms  ({median / base:.2f}x raw, "
                  f"+{median - base:.1f} ms)")
        print(f"  events published: {sink.events}")
    finally:
        set_active_publisher(None)
        set_active_store(None)
        raw.quit()
        server.shutdown()
        shutil.rmtree(profile, ignore_errors=True)
        shutil.rmtree(run_dir, ignore_errors=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 30)
