"""The hub's history pages in headless Chromium: run-list columns, trend chart, comparison."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from selenium.webdriver.common.by import By

from tests.browser.viewer_page import ViewerPage
from tests.history_support import SUITE
from tests.hub_support import HubProcess, mint
from tests.test_hub_history import EXTRA, story_run

if TYPE_CHECKING:
    from selenium.webdriver import Chrome

pytestmark = pytest.mark.browser


def test_run_list_trend_and_compare_with_previous_run(
    pytester: pytest.Pytester, tmp_path: Path, driver: Chrome, running: list[Any]
) -> None:
    pytester.makepyfile(test_story=SUITE, test_extra=EXTRA)
    hub = HubProcess(tmp_path / "hub")
    running.append(hub)
    for run in (1, 2, 3):
        story_run(hub, pytester.path, run, running)

    page = ViewerPage(driver).open(f"{hub.url}/?token={mint('viewer')}")
    rows = lambda: driver.find_elements(By.CSS_SELECTOR, "#run-rows tr")  # noqa: E731
    page.wait_for(lambda: len(rows()) == 3)

    def column(testid_or_class: str) -> dict[str, str]:
        return {row.get_attribute("data-run-id"): row.find_element(
                    By.CSS_SELECTOR, testid_or_class).text for row in rows()}

    assert column('[data-testid="run-new-failures"]') == {
        "story-1": "0", "story-2": "1", "story-3": "1"}
    assert column(".pass-rate") == {"story-1": "71.4%", "story-2": "57.1%", "story-3": "71.4%"}
    assert all(text.endswith("s") for text in column(".duration").values())

    # The trend of shop · main: one bar per run, oldest first, failures as the data say.
    page.wait_for(lambda: len(page.find_all("trend-bar")) == 3)
    bars = page.find_all("trend-bar")
    assert [(b.get_attribute("data-run-id"), b.get_attribute("data-failed")) for b in bars] == [
        ("story-1", "2"), ("story-2", "3"), ("story-3", "2")]
    assert all(float(b.get_attribute("data-duration") or 0) > 0 for b in bars)
    assert "shop · main" in page.find("trend-label").text

    story3 = next(r for r in rows() if r.get_attribute("data-run-id") == "story-3")
    story3.find_element(By.CSS_SELECTOR, '[data-testid="compare-button"]').click()
    page.wait_for(lambda: page.find_all("compare-new_failures"))

    def listed(kind: str) -> list[str]:
        section = page.find(f"compare-{kind}")
        return [li.get_attribute("data-test-id").rpartition("::")[2]
                for li in section.find_elements(By.CSS_SELECTOR, "li")]

    assert listed("new_failures") == ["test_starts_failing"]
    assert listed("fixed") == ["test_fixed", "test_flips"]
    assert listed("slower") == ["test_slows_down"]
    assert listed("new_tests") == ["test_added"]
    assert listed("removed_tests") == ["test_removed"]
    assert "story-3 compared with story-2" in page.find("comparison").text
    assert page.csp_violations() == []
