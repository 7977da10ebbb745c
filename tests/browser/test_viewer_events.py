"""The viewer showing the protocol's other event types from a real run, in headless Chromium:
a screenshot that failed (`warning`), a test run again by pytest-rerunfailures (`rerun`
attempts), and a custom event. (Crashed xdist workers and `crashed`
tests: test_worker_lanes.py.)"""

from __future__ import annotations

import textwrap
from collections.abc import Callable

import pytest
from selenium.webdriver import Chrome

from tests.browser.viewer_page import ViewerPage
from tests.support import LiveProcess

pytestmark = pytest.mark.browser

# The browser a test drives is gone when it asks for a screenshot: the plugin warns
# (`warning`, source `screenshot`) and the test passes. The flaky test fails once and passes
# when pytest-rerunfailures runs it again.
EVENTS_SUITE = textwrap.dedent(
    """
    import pathlib

    import pytest
    import pytest_jbrealtime
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    FLAG = pathlib.Path(__file__).with_name("flaky-ran-once")

    def chromium():
        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
            options.add_argument(flag)
        return webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"),
                                options=options)

    def test_screenshot_of_a_gone_browser(jb_live):
        driver = chromium()
        driver.quit()
        assert pytest_jbrealtime.screenshot(driver, "after quit") is None
        jb_live.emit("shop.checked", {"items": 2})

    def test_flaky():
        if not FLAG.exists():
            FLAG.write_text("once")
            assert 1 == 2, "first attempt"

    def test_plain():
        pass
    """
)


def test_warning_rerun_and_custom_events_are_shown(
    suite_dir: pytest.Pytester, start_live: Callable[..., LiveProcess], driver: Chrome
) -> None:
    suite_dir.makepyfile(test_events=EVENTS_SUITE)
    run = start_live(suite_dir.path, "--reruns", "1", "--jb-live-wait-viewers", "1",
                     "--jb-live-linger", "60", env={"SE_OFFLINE": "true"})
    page = ViewerPage(driver).open(run.wait_for_link())
    page.wait_finished(timeout=120)

    assert page.statuses() == {
        "test_events.py::test_screenshot_of_a_gone_browser": "passed",
        "test_events.py::test_flaky": "passed",
        "test_events.py::test_plain": "passed",
    }
    assert page.counts()["passed"] == 3 and page.counts()["failed"] == 0
    # One warning in the run: the summary says so, and it came live, so it was toasted.
    page.wait_for(lambda: page.text("warnings") == "1")
    toasts = [t for t in page.find_all("toast") if t.get_attribute("data-kind") == "warning"]
    assert len(toasts) == 1 and "after quit" in toasts[0].text

    def timeline_of(test_id: str) -> list[tuple[str, str]]:
        page.search(test_id.split("::")[1])
        page.wait_for(lambda: page.visible_count() == 1)
        driver.find_element("css selector", f'[data-test-id="{test_id}"]').click()
        page.wait_for(lambda: page.text("detail-name") == test_id.split("::")[1])
        items = driver.find_elements("css selector", '[data-testid="timeline"] li')
        return [(i.get_attribute("data-type") or "", i.text) for i in items]

    shot = timeline_of("test_events.py::test_screenshot_of_a_gone_browser")
    assert [kind for kind, _ in shot] == ["warning", "custom"], shot
    assert "screenshot 'after quit' failed" in shot[0][1]
    assert "shop.checked" in shot[1][1] and '"items":2' in shot[1][1]
    assert "1 warning" in page.find("test-detail").text

    flaky = timeline_of("test_events.py::test_flaky")
    assert [kind for kind, _ in flaky] == ["test_completed"], flaky
    assert "run again" in flaky[0][1] and "first attempt" in flaky[0][1]
    assert "1 rerun" in page.find("test-detail").text
    assert page.text("detail-status").lower() == "passed"
    assert page.csp_violations() == []
