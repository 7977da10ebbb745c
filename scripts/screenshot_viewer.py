"""Take the README's screenshot: the viewer watching a real run, mid-run.

Runs ``demo/test_demo_browser.py`` (a Selenium suite against a little local shop) after a
few generated unit-test files, under ``pytest --jb-live``, opens the printed link in
headless Chromium, waits until the demo's first browser test is running with browser
actions and a screenshot on its timeline, selects it, shows the failures so far grouped by
cause beside it, and saves the page as a PNG.

Run: ``python scripts/screenshot_viewer.py [--out docs/viewer-screenshot.png]``.
Needs /usr/bin/chromium and /usr/bin/chromedriver; nothing is downloaded.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LINK = re.compile(r"jb-live: watch this run at (http://\S+)")
FOCUS_TEST = "test_demo_browser.py::test_log_in_and_buy_a_teapot"

# Unit tests that run before the demo, so the list has something in it; a few fail.
UNIT_FILE = textwrap.dedent(
    """
    import time

    import pytest

    @pytest.mark.parametrize("amount", [1, 5, 10, 25, 50, 100])
    def test_{area}_totals(amount):
        time.sleep(0.03)
        assert amount * 3 != {bad}

    class Test{Area}Rules:
        def test_rejects_empty(self):
            time.sleep(0.03)

        @pytest.mark.skip(reason="needs the payment sandbox")
        def test_refund_flow(self):
            pass

        def test_rounding(self):
            time.sleep(0.03)
            assert round(2.675, 2) == 2.68, "float rounding"
    """
)


def write_suite(directory: Path) -> None:
    shutil.copy(ROOT / "demo" / "test_demo_browser.py", directory)
    for area, bad in (("cart", 15), ("checkout", 0), ("pricing", 300)):
        text = UNIT_FILE.format(area=area, Area=area.capitalize(), bad=bad)
        (directory / f"test_{area}.py").write_text(text, encoding="utf-8")
    (directory / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider\n")


def start_run(directory: Path) -> tuple[subprocess.Popen[str], str]:
    command = [
        sys.executable, "-m", "pytest", "--jb-live", "--jb-live-port", "0",
        "--jb-live-wait-viewers", "1", "--jb-live-screenshots", "actions", "-p", "no:randomly",
        "test_cart.py", "test_checkout.py", "test_pricing.py", "test_demo_browser.py",
    ]
    env = {**os.environ, "JB_DEMO_PACE": "0.6", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(command, cwd=directory, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, env=env)
    assert process.stdout is not None
    for line in process.stdout:
        match = LINK.search(line)
        if match:
            # Keep draining the output so the run never blocks on a full pipe.
            threading.Thread(target=process.stdout.read, daemon=True).start()
            return process, match.group(1)
    raise SystemExit(f"pytest printed no viewer link (exit {process.wait()})")


def make_driver(profile: str) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--window-size=1440,1200",
                 "--hide-scrollbars", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    service = Service(executable_path="/usr/bin/chromedriver")
    return webdriver.Chrome(service=service, options=options)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "viewer-screenshot.png")
    args = parser.parse_args()

    from selenium.webdriver.support.ui import WebDriverWait

    with tempfile.TemporaryDirectory() as tmp:
        suite = Path(tmp, "suite")
        suite.mkdir()
        write_suite(suite)
        process, link = start_run(suite)
        driver = make_driver(str(Path(tmp, "profile")))
        try:
            driver.set_window_size(1440, 1200)  # the panels row and the split both show
            driver.get(link)
            wait = WebDriverWait(driver, 120)
            # Mid-run: the browser test is running, with actions and a screenshot to show.
            wait.until(lambda d: d.execute_script(
                """const t = window.__jbLive.store.tests.get(arguments[0]);
                   return t && t.status === 'running'
                     && t.timeline.some((e) => e.type === 'screenshot_captured')
                     && t.timeline.length >= 4;""", FOCUS_TEST))
            driver.execute_script("window.__jbLive.view.revealAndSelect(arguments[0]);",
                                  FOCUS_TEST)
            # Beside it, the failures so far grouped by cause (the list is one click away).
            driver.find_element("css selector", '[data-testid="view-failures"]').click()
            wait.until(lambda d: d.execute_script(
                "return [...document.images].every((i) => i.complete && i.naturalWidth > 0);"))
            # A busy build machine raises a CPU alert: not what the picture is about.
            driver.execute_script("""
                for (const toast of document.querySelectorAll('[data-testid=toast]')) {
                  if (toast.dataset.kind === 'alert') toast.remove();
                }""")
            args.out.parent.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(args.out))
            print(f"wrote {args.out}")
        finally:
            driver.quit()
            stop_run(process)


def stop_run(process: subprocess.Popen[Any]) -> None:
    """End the demo run mid-test, and what its tests started: killed with pytest, its
    browser test never reaches the fixture that quits chromedriver and Chromium."""
    import psutil

    try:
        started = psutil.Process(process.pid).children(recursive=True)
    except psutil.Error:
        started = []
    process.terminate()
    process.wait(30)
    for child in started:
        with contextlib.suppress(psutil.Error):
            child.kill()
    psutil.wait_procs(started, timeout=10)


if __name__ == "__main__":
    main()
