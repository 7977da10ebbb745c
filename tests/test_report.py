"""The HTML report: one file, opened from disk in real headless Chromium, network off.

The end-to-end test watches a real run in the live viewer page, then opens that
run's report from a ``file://`` URL with no server left and the browser offline,
and checks the page shows the same counts, tests and screenshot.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_jbrealtime.shared.recording import read_recording
from pytest_jbrealtime.tools.report import ReportError, inline_viewer_script, write_report
from tests.selenium_suite import missing_browser

CHROME_FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-first-run", "--window-size=1400,900",
)
STATUSES = ("passed", "failed", "error", "skipped", "xfailed", "xpassed", "total")

# The inner run: every kind of result, and a real screenshot of a real browser.
SUITE = f"""
import shutil, tempfile
import pytest
import pytest_jbrealtime

def test_ok():
    print("captured output")

def test_bad():
    assert 1 == 2

@pytest.mark.skip(reason="not here")
def test_skipped():
    pass

@pytest.mark.xfail(reason="known")
def test_known_bug():
    assert 0

def test_with_screenshot():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    profile = tempfile.mkdtemp()
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in {list(CHROME_FLAGS)!r} + ["--user-data-dir=" + profile]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"),
                              options=options)
    try:
        driver.get("data:text/html,<h1 style='color:red'>hello report</h1>")
        assert pytest_jbrealtime.screenshot(driver, "hello page") is not None
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
"""


@pytest.fixture
def chromium() -> Iterator[Any]:
    problem = missing_browser()
    if problem is not None:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests must run in CI: {problem}")
        pytest.skip(problem)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"
    profile = tempfile.mkdtemp(prefix="jb-live-report-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in (*CHROME_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"),
                              options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def network_off(driver: Any) -> None:
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.emulateNetworkConditions", {
        "offline": True, "latency": 0, "downloadThroughput": 0, "uploadThroughput": 0})


def wait_for(driver: Any, script: str, timeout: float = 60) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(lambda d: d.execute_script(script))


def page_state(driver: Any) -> dict[str, Any]:
    """Counts and every test row, read from the page's data-testid hooks."""
    return dict(driver.execute_script("""
        const text = (id) => document.querySelector(`[data-testid="${id}"]`)?.textContent;
        const counts = {};
        for (const s of arguments[0]) counts[s] = Number(text(`count-${s}`));
        const rows = [...document.querySelectorAll('[data-testid="test-row"]')]
            .map((r) => [r.dataset.testId, r.dataset.status]).sort();
        return {counts, rows, status: text('run-status'),
                exit: document.querySelector('[data-testid="run-status"]').dataset.exitStatus};
    """, list(STATUSES)))


def screenshot_in_detail(driver: Any, test_id: str, loaded: bool = True) -> dict[str, Any]:
    """Select the test and wait for its screenshot image (and, if asked, its pixels)."""
    from selenium.webdriver.common.by import By

    row = driver.find_element(
        By.CSS_SELECTOR, f'[data-testid="test-row"][data-test-id="{test_id}"]')
    row.click()
    return dict(wait_for(driver, """
        const img = document.querySelector('[data-testid="test-detail"] img.screenshot');
        if (!img || (arguments[0] && !(img.complete && img.naturalWidth > 0))) return null;
        return {src: img.getAttribute('src'), source: img.dataset.source,
                width: img.naturalWidth};
    """.replace("arguments[0]", "true" if loaded else "false")))


def console_errors(driver: Any) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


@pytest.mark.browser
def test_report_from_disk_shows_what_the_live_page_showed(
    suite_dir: pytest.Pytester, start_live: Any, chromium: Any
) -> None:
    suite_dir.makepyfile(test_suite=SUITE)
    run = start_live(suite_dir.path, "--jb-live-wait-viewers", "1",
                     "--jb-live-report", "out/report.html", "--jb-live-record", "out/run.jsonl")
    chromium.get(run.wait_for_link())
    wait_for(chromium, "return document.querySelector('[data-testid=\"run-status\"]')"
                       "?.textContent === 'finished'", timeout=120)
    live = page_state(chromium)
    screenshot_test = "test_suite.py::test_with_screenshot"
    # The live server may be gone by now: the image's address is what the page had (its
    # src is a blob fetched with the page's token, viewer/credential.js).
    live_image = screenshot_in_detail(chromium, screenshot_test, loaded=False)
    assert live_image["source"].startswith("/screenshots/")
    assert run.wait() == 1, run.output

    report = suite_dir.path / "out" / "report.html"
    assert f"report written to {report}" in run.output
    html = report.read_text(encoding="utf-8")
    assert run.token not in html
    assert (suite_dir.path / "out" / "run.screenshots").is_dir()

    # The live server is gone; the browser is offline; the file is all there is.
    chromium.get_log("browser")
    network_off(chromium)
    chromium.get(report.as_uri())
    wait_for(chromium, "return document.documentElement.dataset.ready === 'true'")
    offline = page_state(chromium)
    assert offline == live
    assert offline["counts"] == {"passed": 2, "failed": 1, "error": 0, "skipped": 1,
                                 "xfailed": 1, "xpassed": 0, "total": 5}
    assert offline["status"] == "finished" and offline["exit"] == "1"
    image = screenshot_in_detail(chromium, screenshot_test)
    assert image["src"].startswith("data:image/png;base64,")
    recorded = suite_dir.path / "out" / "run.screenshots" / live_image["source"].split("/")[-1]
    assert base64.b64decode(image["src"].split(",", 1)[1]) == recorded.read_bytes()
    assert image["width"] > 0
    assert console_errors(chromium) == []  # no CSP violation, nothing failed to load
    assert chromium.find_elements("css selector", '[data-testid="report-note"]') == []


@pytest.mark.browser
def test_screenshots_over_the_budget_are_linked_files(
    suite_dir: pytest.Pytester, start_live: Any, chromium: Any
) -> None:
    suite_dir.makepyfile(test_suite=SUITE)
    run = start_live(suite_dir.path, "--jb-live-report", "report.html",
                     "--jb-live-report-budget", "0")
    assert run.wait() == 1, run.output
    report = suite_dir.path / "report.html"
    linked = list((suite_dir.path / "report_files").glob("*.png"))
    assert len(linked) == 1
    assert "data:image/png" not in report.read_text(encoding="utf-8")

    network_off(chromium)
    chromium.get(report.as_uri())
    wait_for(chromium, "return document.documentElement.dataset.ready === 'true'")
    note = chromium.find_element("css selector", '[data-testid="report-note"]').text
    assert "1 screenshot(s) are over the 0 MiB budget" in note
    assert "report_files/" in note
    image = screenshot_in_detail(chromium, "test_suite.py::test_with_screenshot")
    assert image["src"] == f"report_files/{linked[0].name}"
    assert console_errors(chromium) == []


# -- without a browser ------------------------------------------------------------------


def _recording_lines() -> list[str]:
    header = {"format": "pytest-jbrealtime-recording", "version": 1, "run_id": "b" * 32}
    common = {"run_id": "b" * 32, "timestamp": "2026-11-30T07:30:00.000Z", "worker": "main"}
    events = [
        {"type": "session_started", "seq": 1, **common},
        {"type": "collection_finished", "seq": 2, **common, "total": 1,
         "tests": [{"test_id": "t.py::test_a", "file": "t.py", "cls": None, "name": "test_a",
                    "markers": []}], "errors": []},
        {"type": "test_started", "seq": 3, **common, "test_id": "t.py::test_a",
         "test_name": "test_a <script>alert(1)</script>"},
    ]
    return [json.dumps(x) for x in [header, *events]]


def test_report_csp_hashes_match_its_inline_script_and_style(tmp_path: Path) -> None:
    recording = tmp_path / "run.jsonl"
    recording.write_text("\n".join(_recording_lines()) + "\n")
    summary = write_report(recording, tmp_path / "r.html")
    html = summary.path.read_text(encoding="utf-8")
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html)
    assert csp is not None
    policy = csp.group(1).replace("&#x27;", "'")
    script = re.search(r'<script type="module">(.*?)</script>', html, re.S)
    style = re.search(r"<style>(.*?)</style>", html, re.S)
    assert script is not None and style is not None

    def digest(text: str) -> str:
        return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()

    assert f"script-src 'sha256-{digest(script.group(1))}'" in policy
    assert f"style-src 'sha256-{digest(style.group(1))}'" in policy
    assert "default-src 'none'" in policy and "connect-src 'none'" in policy
    assert "import " not in re.sub(r"//.*", "", script.group(1)).split("\n")[0]
    # The test data is inside the compressed payload, never in the markup.
    assert "<script>alert(1)" not in html
    # The recording ended early: the page says so.
    assert "The recording ends at event 3 before the run finished" in html


def test_viewer_module_with_an_import_it_cannot_inline_is_refused(tmp_path: Path) -> None:
    (tmp_path / "modules.json").write_text('["a.js"]')
    (tmp_path / "a.js").write_text("import { x } from 'https://cdn.example/x.js';\n")
    with pytest.raises(ReportError, match=r"a\.js has an import the report cannot inline"):
        inline_viewer_script(tmp_path)
    (tmp_path / "a.js").write_text(
        "import {\n  one,\n  two,\n} from './b.js';\nimport './c.js';\nexport const a = 1;\n")
    assert inline_viewer_script(tmp_path).strip().endswith("export const a = 1;")


def test_report_command_writes_a_report_of_a_recording(tmp_path: Path) -> None:
    recording = tmp_path / "nightly.jsonl"
    recording.write_text("\n".join(_recording_lines()) + "\n" + '{"type": "test_comp')
    done = subprocess.run(
        [sys.executable, "-m", "pytest_jbrealtime", "report", str(recording)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "line 5: the file ends in the middle of this line (truncated)" in done.stdout
    assert "report written to" in done.stdout
    assert (tmp_path / "nightly.html").is_file()
    assert read_recording(recording).events[-1]["seq"] == 3
