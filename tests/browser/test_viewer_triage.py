"""Failure triage in the viewer (issue 16), in headless Chromium at a desktop's and a
phone's size, on a real run of TRIAGE_SUITE: failures grouped by cause, colours instead of
escapes, one way of counting (pytest's summary line), flaky tests and their attempts,
pytest's warnings, the detail at its top, no toast over the detail. (The report after a
cancel: tests/test_report_cancel.py.)"""

from __future__ import annotations

import re
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By

from tests.browser.suites import TRIAGE_SUITE, summary_counts
from tests.browser.viewer_page import ViewerPage
from tests.support import LiveProcess

pytestmark = pytest.mark.browser

StartLive = Callable[..., LiveProcess]

DESKTOP = (1400, 900)
PHONE = (390, 844)
FAILURE_IDS = {
    *(f"test_triage.py::test_payload[{api}]" for api in (17, 23, 42)),
    "test_triage.py::test_timeout[1]", "test_triage.py::test_timeout[2]",
    "test_triage.py::test_colour", "test_triage.py::test_dict",
    "test_triage.py::TestDatabase::test_setup_error", "test_triage.py::test_subtests",
}
FLAKY_ID = "test_triage.py::test_flaky"

# Records, from the moment the page starts, every toast whose box meets the detail panel's
# or the list's (checked on each animation frame and each change of the toast strip), and
# the text of every toast shown.
OVERLAP_WATCH = """
window.__overlaps = [];
window.__toastsSeen = 0;
window.__toastTexts = [];
const meets = (a, b) =>
  a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
const check = () => {
  const detail = document.getElementById('test-detail');
  const list = document.getElementById('test-list');
  for (const toast of document.querySelectorAll('[data-testid="toast"]')) {
    const box = toast.getBoundingClientRect();
    for (const panel of [detail, list]) {
      if (panel && panel.offsetParent !== null && meets(box, panel.getBoundingClientRect())) {
        window.__overlaps.push(`${toast.textContent} over ${panel.id}`);
      }
    }
  }
};
const frame = () => { check(); requestAnimationFrame(frame); };
document.addEventListener('DOMContentLoaded', () => {
  new MutationObserver(() => {
    const shown = document.querySelectorAll('[data-testid="toast"]');
    window.__toastsSeen = Math.max(window.__toastsSeen, shown.length);
    for (const toast of shown) {
      const text = toast.querySelector('.toast-text').textContent;
      if (!window.__toastTexts.includes(text)) window.__toastTexts.push(text);
    }
    check();
  }).observe(document.getElementById('toasts'), { childList: true });
  frame();
});
"""


def chip(page: ViewerPage, name: str) -> int:
    # textContent: the counts kept apart are hidden while zero.
    node = page.find(f"count-{name.replace(' ', '-')}")
    return int(node.get_attribute("textContent") or "0")


def run_suite(suite_dir: pytest.Pytester, start_live: StartLive, *args: str) -> LiveProcess:
    suite_dir.makepyfile(test_triage=TRIAGE_SUITE)
    # -vv: pytest's full diff of the dict comparison (its - / + / ? lines).
    return start_live(suite_dir.path, "-vv", "--jb-live-wait-viewers", "1", *args)


def assert_counts_agree(page: ViewerPage, output: str) -> None:
    pytest_counts = summary_counts(output)
    main = {name: chip(page, name) for name in
            ("passed", "failed", "error", "skipped", "xfailed", "xpassed", "running", "queued")}
    # The chips add up to the total, and they are pytest's numbers.
    assert sum(main.values()) == chip(page, "total")
    assert main["running"] == main["queued"] == 0
    assert main["passed"] == pytest_counts["passed"] == 9  # 6 ok, gate, flaky, warns
    # pytest 9 counts a failed subtest as failed; the viewer counts subtests apart.
    assert main["failed"] + chip(page, "subtests failed") == pytest_counts["failed"]
    assert main["failed"] == 8 and chip(page, "subtests failed") == 1
    assert main["error"] == pytest_counts["error"] == 1
    # Passed subtests: pytest says so only with its subtests verbosity above 0.
    assert chip(page, "subtests passed") == pytest_counts.get("subtests passed", 2) == 2
    assert chip(page, "rerun") == pytest_counts["rerun"] == 1
    assert chip(page, "warnings") == pytest_counts["warnings"] == 2
    assert chip(page, "flaky") == 1
    title = page.driver.title
    assert "8 failed" in title and "1 error" in title


def assert_triage(page: ViewerPage, size: tuple[int, int]) -> None:
    driver = page.driver
    # No escape anywhere, and the colours are there.
    assert_no_escapes(page)

    # Failures view: grouped by cause, counts right, one click to each test.
    show_view(page, "failures")
    groups = {g.get_attribute("data-cause") or "": int(g.get_attribute("data-count") or 0)
              for g in page.find_all("failure-group")}
    payload = next(c for c in groups if "payload mismatch" in c)
    assert groups[payload] == 3
    assert payload.startswith("AssertionError: payload mismatch for api N")
    timeout = next(c for c in groups if c.startswith("TimeoutError"))
    assert groups[timeout] == 2 and timeout == "TimeoutError: service N at 0x… timed out after N s"
    assert sum(groups.values()) == len(FAILURE_IDS)
    links = {link.get_attribute("data-test-id") for link in page.find_all("failure-link")}
    assert links == FAILURE_IDS
    target = next(link for link in page.find_all("failure-link")
                  if link.get_attribute("data-test-id") == "test_triage.py::test_dict")
    driver.execute_script("arguments[0].scrollIntoView()", target)
    target.click()
    page.wait_for(lambda: detail_name(page) == "test_dict")

    # Diff lines of the dict comparison highlighted; E lines too.
    traceback = page.find("traceback")
    assert traceback.find_elements(By.CSS_SELECTOR, ".tb-error")
    diff = traceback.find_elements(By.CSS_SELECTOR, ".tb-diff-minus, .tb-diff-plus")
    assert diff, traceback.text

    # n / p: next and previous failure from anywhere, in list order.
    body = driver.find_element(By.TAG_NAME, "body")
    body.send_keys("n")
    page.wait_for(lambda: detail_name(page) == "test_setup_error")
    body.send_keys("p")
    page.wait_for(lambda: detail_name(page) == "test_dict")

    # The failures filter shows failed + error.
    back_to_list(page)
    show_view(page, "tests")
    # n from the tests view too, the list focused (the key is the page's, not the view's).
    page.find("test-list").send_keys("n")
    page.wait_for(lambda: detail_name(page) == "test_setup_error")
    back_to_list(page)
    # An error is an error in the headers too: the class whose only problem is a setup
    # error says "1 error", the file "8 failed, 1 error".
    assert group_meta(page, "test_triage.py::TestDatabase") == "1 error · 1 test"
    assert group_meta(page, "test_triage.py") == "8 failed, 1 error · 18 tests"
    # Each chip's click shows the tests it counts, as many as it says.
    for name in ("passed", "failed", "error", "flaky"):
        page.find(f"count-{name}").find_element(By.XPATH, "..").click()
        page.wait_for(lambda name=name: page.visible_count() == chip(page, name))
        assert page.find("filter-status").get_attribute("value") == name
    page.set_status_filter("failures")
    page.wait_for(lambda: page.visible_count() == len(FAILURE_IDS))
    shown = set(driver.execute_script(
        "const v = window.__jbLive.view; return v.list.rows.filter((r) => r.kind === 'test')"
        ".map((r) => r.test.id);"))
    assert shown == FAILURE_IDS
    page.set_status_filter("error")
    page.wait_for(lambda: page.visible_count() == 1)
    page.set_status_filter("flaky")
    page.wait_for(lambda: page.visible_count() == 1)
    page.set_status_filter("all")

    # A newly selected test opens at its top: scrolled down in one, the next shows its name.
    show_view(page, "failures")
    select_failure(page, "test_triage.py::test_colour")
    detail = page.find("test-detail")
    driver.execute_script(
        "arguments[0].scrollTop = arguments[0].scrollHeight; window.scrollTo(0, 1e6)", detail)
    page.wait_for(lambda: not name_in_view(page))
    back_to_list(page)
    # Clicked with the page scrolled down (on a phone the page scrolls, not the list).
    link = next(link for link in page.find_all("failure-link")
                if link.get_attribute("data-test-id") == "test_triage.py::test_subtests")
    driver.execute_script("window.scrollTo(0, 1e6); arguments[0].scrollIntoView({block: 'end'})",
                          link)
    if size == PHONE:
        assert driver.execute_script("return window.scrollY") > 0
    link.click()
    page.wait_for(lambda: detail_name(page) == "test_subtests")
    assert int(detail.get_attribute("scrollTop") or 0) == 0
    assert name_in_view(page)
    back_to_list(page)

    # The flaky test: its badge, and one labelled tab per attempt with its own output.
    show_view(page, "tests")
    open_test(page, FLAKY_ID)
    assert page.find("flaky-badge").text.lower() == "flaky"
    tabs = page.find_all("attempt-tab")
    assert [t.get_attribute("data-attempt") for t in tabs] == ["1", "2"]
    assert tabs[1].get_attribute("aria-selected") == "true"
    # Each attempt's own output (the test prints "attempt N"), never the other's.
    shown = page.find("test-detail").text
    assert "attempt 2" in shown and "attempt 1" not in shown, shown
    tabs[0].click()
    page.wait_for(lambda: "not yet" in page.find("test-detail").text)
    # Attempt 1's own summary, its message in colour (yellow), no escape.
    assert page.find("test-detail").find_elements(By.CSS_SELECTOR, ".ansi-fg-3")
    assert_no_escapes(page)
    shown = page.find("test-detail").text
    assert "attempt 1" in shown and "attempt 2" not in shown, shown
    row = next(r for r in page.find_all("test-row") if r.get_attribute("data-test-id") == FLAKY_ID)
    assert row.get_attribute("data-status") == "passed"  # as pytest counts it
    meta = row.find_element(By.CSS_SELECTOR, ".row-meta").get_attribute("textContent") or ""
    assert meta.startswith("flaky · "), meta

    # pytest's warnings: the view lists them with their tests.
    back_to_list(page)
    show_view(page, "warnings")
    warning_groups = page.find_all("warning-group")
    assert sorted(g.get_attribute("data-category") or "" for g in warning_groups) == [
        "DeprecationWarning", "UserWarning"]
    assert "test_triage.py::test_warns" in page.find("warnings-view").text
    # With their counts, adding up to the warnings chip (pytest's "2 warnings").
    assert [g.get_attribute("data-count") for g in warning_groups] == ["1", "1"]
    assert chip(page, "warnings") == 2
    show_view(page, "tests")
    assert_no_escapes(page)


def group_meta(page: ViewerPage, group: str) -> str:
    """A file's or class header's counts, as the list shows them (scrolled into view)."""
    page.driver.execute_script(
        "const v = window.__jbLive.view; v.setFilter('all');"
        "v.list.scrollToIndex(v.list.rows.findIndex((r) => r.kind !== 'test'"
        " && r.key === arguments[0])); v.list.render();", group)
    row = page.wait_for(lambda: [r for r in page.find_all("group-row")
                                 if r.get_attribute("data-group") == group])
    return str(row[0].find_element(By.CSS_SELECTOR, ".row-meta").get_attribute("textContent"))


def detail_name(page: ViewerPage) -> str:
    # textContent: on a phone the detail may sit below the fold.
    return page.find("detail-name").get_attribute("textContent") or ""


def show_view(page: ViewerPage, name: str) -> None:
    """The tests, failures or warnings view: by its tab, or on a phone (no tabs) by the
    failure counter, the warnings chip and each view's way back."""
    tab = page.find(f"view-{name}")
    if tab.is_displayed():
        tab.click()
    elif name == "failures":
        page.find("failure-counter").click()
    elif name == "warnings":
        page.find("count-warnings").find_element(By.XPATH, "..").click()
    else:
        next(b for b in page.find_all("triage-back") if b.is_displayed()).click()
    page.wait_for(lambda: tab.get_attribute("aria-pressed") == "true")


def open_test(page: ViewerPage, test_id: str) -> None:
    """Select a test as a click does (on a phone, the detail becomes the screen)."""
    page.driver.execute_script(
        "const v = window.__jbLive.view; v.revealAndSelect(arguments[0]);"
        "if (v.openTest) v.openTest(arguments[0], {click: true});", test_id)
    page.wait_for(lambda: detail_name(page) == test_id.split("::")[-1])


def back_to_list(page: ViewerPage) -> None:
    """A phone's detail screen back to the list (the button shows only there)."""
    buttons = page.find_all("detail-back")
    if buttons and buttons[0].is_displayed():
        buttons[0].click()
        page.wait_for(lambda: not buttons[0].is_displayed())


def name_in_view(page: ViewerPage) -> bool:
    """The detail's test name is on screen (inside the detail's box and the window)."""
    return bool(page.driver.execute_script("""
        const name = document.querySelector('[data-testid="detail-name"]').getBoundingClientRect();
        const detail = document.getElementById('test-detail').getBoundingClientRect();
        return name.height > 0 && name.top >= Math.max(0, detail.top) - 1
            && name.bottom <= Math.min(window.innerHeight, detail.bottom) + 1;
    """))


def set_size(driver: Chrome, size: tuple[int, int]) -> None:
    """The viewport, exactly (a headless window is at least 500 px wide)."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": size[0], "height": size[1], "deviceScaleFactor": 1, "mobile": size == PHONE})


def select_failure(page: ViewerPage, test_id: str) -> None:
    link = next(link for link in page.find_all("failure-link")
                if link.get_attribute("data-test-id") == test_id)
    page.driver.execute_script("arguments[0].scrollIntoView()", link)
    link.click()
    page.wait_for(lambda: detail_name(page) == test_id.split("::")[-1])


def assert_no_escapes(page: ViewerPage) -> None:
    """No escape character in any text or attribute of the page, nor in its title (a
    literal `\\x1b` in source is text)."""
    found = page.driver.execute_script("""
        const escape = /[\\x1b\\x9b\\u241b]/;
        const found = [];
        if (escape.test(document.title)) found.push(`title: ${document.title}`);
        const walker = document.createTreeWalker(document.documentElement,
          NodeFilter.SHOW_TEXT | NodeFilter.SHOW_ELEMENT);
        for (let node = walker.nextNode(); node; node = walker.nextNode()) {
          if (node.nodeType === Node.TEXT_NODE) {
            if (node.parentElement.tagName === 'SCRIPT') continue;  // the report's data
            if (escape.test(node.nodeValue)) found.push(
              `${node.parentElement.className || node.parentElement.tagName}: ${node.nodeValue}`);
            continue;
          }
          for (const attribute of node.attributes) {
            if (escape.test(attribute.value)) found.push(
              `${node.tagName}[${attribute.name}]: ${attribute.value}`);
          }
        }
        return found;
    """)
    assert found == []


def assert_colours(page: ViewerPage) -> None:
    open_test(page, "test_triage.py::test_colour")
    detail = page.find("test-detail")
    green = detail.find_elements(By.CSS_SELECTOR, ".ansi-fg-2")
    assert [g.text for g in green] == ["GREEN"]
    assert detail.find_elements(By.CSS_SELECTOR, '[data-testid="traceback"] .ansi-fg-1')
    # The one-line summary too: colour, not escapes.
    summary = detail.find_element(By.CSS_SELECTOR, ".detail-summary")
    assert [r.text for r in summary.find_elements(By.CSS_SELECTOR, ".ansi-fg-1")] == ["red message"]
    assert_no_escapes(page)
    back_to_list(page)


@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["1400x900", "390x844"])
def test_triage_live(
    suite_dir: pytest.Pytester, start_live: StartLive, driver: Chrome, size: tuple[int, int]
) -> None:
    set_size(driver, size)
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": OVERLAP_WATCH})
    run = run_suite(suite_dir, start_live, "--jb-live-editor", "vscode", "--jb-live-linger", "30")
    page = ViewerPage(driver).open(run.wait_for_link())
    (suite_dir.path / "release").touch()
    page.wait_finished()
    output_done = lambda: "serving the finished run" in run.output  # noqa: E731
    page.wait_for(output_done)
    assert_counts_agree(page, run.output)
    # The end of the run is toasted in pytest's words, and the toast goes by itself.
    toasts = driver.execute_script("return window.__toastTexts")
    assert "Run finished: 9 passed, 8 failed, 1 error (exit 1)" in toasts, toasts
    finished_toast = "return [...document.querySelectorAll('[data-testid=toast]')]" \
        ".some((t) => t.dataset.kind === 'finished')"
    page.wait_for(lambda: not driver.execute_script(finished_toast), timeout=40)
    # Failures were announced in the header, not over the page.
    counter = page.find("failure-counter")
    assert counter.is_displayed()
    assert "8 failed, 1 error" in (counter.get_attribute("textContent") or "")
    assert (page.find("failure-feed").get_attribute("textContent") or "").startswith("latest: ")
    assert_colours(page)
    assert_triage(page, size)
    editor_links(page, suite_dir.path)
    wrap_and_copy(page)
    # The run's end was toasted (in the strip), and no toast ever met the detail or list.
    assert driver.execute_script("return window.__toastsSeen") >= 1
    assert driver.execute_script("return window.__overlaps") == []
    assert page.csp_violations() == []
    run.process.send_signal(signal.SIGINT)
    run.wait()


def editor_links(page: ViewerPage, directory: Path) -> None:
    open_test(page, "test_triage.py::test_dict")
    links = page.find_all("editor-link")
    assert links
    hrefs = [link.get_attribute("href") or "" for link in links]
    assert hrefs[0].startswith(f"vscode://file{directory}/test_triage.py:")
    assert all(re.search(r"test_triage\.py:\d+$", h) for h in hrefs), hrefs
    # Every path:line of the traceback is one.
    text = page.find("traceback").get_attribute("textContent") or ""
    places = re.findall(r"[\w./-]+\.py:\d+", text)
    assert [link.get_attribute("textContent") for link in links] == places


def wrap_and_copy(page: ViewerPage) -> None:
    driver = page.driver
    detail = page.find("test-detail")
    toggle = page.find("wrap-toggle")
    assert "nowrap" not in (detail.get_attribute("class") or "")  # wrapped by default
    white_space = ("return getComputedStyle("
                   "document.querySelector('[data-testid=traceback]')).whiteSpace")
    assert driver.execute_script(white_space) == "pre-wrap"
    toggle.click()
    assert driver.execute_script(white_space) == "pre"
    page.find("wrap-toggle").click()
    assert driver.execute_script(white_space) == "pre-wrap"
    driver.execute_cdp_cmd("Browser.grantPermissions", {
        "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"],
        "origin": driver.execute_script("return location.origin")})
    page.find("copy-traceback").click()
    page.wait_for(lambda: page.find("copy-traceback").get_attribute("data-copied") == "true")
    copied = driver.execute_async_script(
        "navigator.clipboard.readText().then(arguments[0], (e) => arguments[0]('ERR ' + e))")
    assert "assert {'a': 1, 'b': 2, 'c': 3} == {'a': 1, 'b': 20, 'c': 3}" in copied
    assert "\x1b" not in copied
    page.find("copy-node-id").click()
    page.wait_for(lambda: driver.execute_async_script(
        "navigator.clipboard.readText().then(arguments[0])") == "test_triage.py::test_dict")


def test_triage_report_phone(
    suite_dir: pytest.Pytester, start_live: StartLive, driver: Chrome
) -> None:
    """The report, at a phone's size: the same triage, and no live-only control."""
    suite_dir.makepyfile(test_triage=TRIAGE_SUITE)
    (suite_dir.path / "release").touch()
    report = suite_dir.path / "report.html"
    run = start_live(suite_dir.path, "-vv", "--jb-live-report", str(report))
    assert run.wait() == 1
    set_size(driver, PHONE)
    page = ViewerPage(driver).open(report.as_uri())
    page.wait_finished()
    assert_counts_agree(page, run.output)
    for testid in ("notify-button", "connection-state", "reconnect-now", "viewer-count"):
        assert not page.find(testid).is_displayed(), testid
    assert page.find_all("toast") == []
    assert page.find("failure-counter").is_displayed()
    assert page.find_all("editor-link") == []  # off by default
    assert_colours(page)
    assert_triage(page, PHONE)
    width = driver.execute_script("return document.documentElement.clientWidth")
    assert width <= PHONE[0]
