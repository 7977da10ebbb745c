"""History in the viewer (viewer/history.js), in headless Chromium, on the issue's story.

Two runs of the story suite fill pytest's cache; the page watches the third live: row
badges, the New failures count and filter, the selected test's history strip.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from selenium.webdriver import Chrome

from tests.browser.viewer_page import ViewerPage
from tests.history_support import STORY, SUITE
from tests.support import LiveProcess

pytestmark = pytest.mark.browser

StartLive = Callable[..., LiveProcess]
FILE = "test_story.py"


def test_badges_new_failure_filter_and_history_strip(
    pytester: pytest.Pytester, start_live: StartLive, driver: Chrome
) -> None:
    pytester.makepyfile(test_story=SUITE)
    for run in (1, 2):
        (pytester.path / "run.txt").write_text(str(run))
        start_live(pytester.path).wait()
    (pytester.path / "run.txt").write_text("3")
    live = start_live(pytester.path, "--jb-live-wait-viewers", "1")
    page = ViewerPage(driver).open(live.wait_for_link())
    page.wait_finished()
    live.wait()

    def badges() -> dict[str, str | None]:
        return {
            row.get_attribute("data-test-id").rpartition("::")[2]: (
                row.find_element("css selector", '[data-testid="row-badge"]')
                .get_attribute("data-verdict"))
            for row in page.find_all("test-row") if row.is_displayed()
        }

    expected = {name: verdicts[2] for name, verdicts in STORY.items()}
    page.wait_for(lambda: badges() == {**expected, "test_stable": None})
    badge = driver.find_element(
        "css selector", f'[data-test-id="{FILE}::test_starts_failing"] [data-testid="row-badge"]')
    assert badge.text == "new failure" and badge.is_displayed()
    stable = driver.find_element(
        "css selector", f'[data-test-id="{FILE}::test_stable"] [data-testid="row-badge"]')
    assert not stable.is_displayed()

    # The count at the top, and a click on it shows only the new failures.
    assert page.text("count-new-failures") == "1"
    page.find("count-new-failures").click()
    page.wait_for(lambda: page.visible_count() == 1)
    assert [r["id"] for r in page.rendered_rows()] == [f"{FILE}::test_starts_failing"]
    assert page.find("filter-status").get_attribute("value") == "new_failures"
    page.set_status_filter("all")
    page.wait_for(lambda: page.visible_count() == 6)

    # The flipping test's strip: passed, failed (earlier, oldest first), passed now.
    driver.find_element("css selector", f'[data-test-id="{FILE}::test_flips"]').click()
    page.wait_for(lambda: page.find_all("history-strip"))
    strip = page.find("history-strip")
    assert strip.get_attribute("data-verdict") == "flaky"
    marks = [(m.get_attribute("data-result"), m.get_attribute("data-when"))
             for m in page.find_all("history-mark")]
    assert marks == [("passed", "earlier"), ("failed", "earlier"), ("passed", "now")]
    assert page.text("history-verdict") == "flaky"
    # Each mark shows its duration.
    durations = [m.find_element("css selector", ".history-duration").text
                 for m in page.find_all("history-mark")]
    assert all(d.endswith(" ms") or d.endswith(" s") for d in durations), durations

    # The failures view: the new failure's group first, though the known one failed first.
    page.find("view-failures").click()
    page.wait_for(lambda: len(page.find_all("failure-link")) == 2)
    links = page.find_all("failure-link")
    assert [link.get_attribute("data-test-id") for link in links] == [
        f"{FILE}::test_starts_failing", f"{FILE}::test_keeps_failing"]
    assert [b.get_attribute("data-verdict") for b in page.find_all("verdict-badge")] == [
        "new_failure", "known_failure"]
    page.find("view-tests").click()

    driver.find_element("css selector", f'[data-test-id="{FILE}::test_slows_down"]').click()
    page.wait_for(lambda: page.find("history-strip").get_attribute("data-verdict") == "slower")
    assert "median" in page.find("history-strip").text
    assert page.csp_violations() == []


def test_a_first_run_shows_no_new_badges_and_no_count(
    pytester: pytest.Pytester, start_live: StartLive, driver: Chrome
) -> None:
    pytester.makepyfile(test_story=SUITE)
    (pytester.path / "run.txt").write_text("1")
    live = start_live(pytester.path, "--jb-live-wait-viewers", "1")
    page = ViewerPage(driver).open(live.wait_for_link())
    page.wait_finished()
    live.wait()
    verdicts = driver.execute_script(
        "return window.__jbLive.store.order.map((t) => t.history && t.history.verdict);")
    assert set(verdicts) == {"new_test"}
    assert not any(b.is_displayed() for b in page.find_all("row-badge"))
    assert not page.find("count-new-failures").is_displayed()
