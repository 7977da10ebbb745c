"""Scrubbing the timeline of a finished run's HTML report, in real headless Chromium.

A real ``pytest --jb-live --jb-live-record --jb-live-report`` run writes the report; the
report is opened from ``file://``; the scrubber is moved the way a user moves it (a click
on the slider's middle, the keyboard) and the page must show the counts of that moment,
computed here from the recording independently of the viewer.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from typing import Any

import pytest
from selenium.webdriver import Chrome
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys

from pytest_jbrealtime.shared.recording import read_recording
from tests.browser.suites import MIXED_SUITE
from tests.browser.viewer_page import STATUSES, ViewerPage
from tests.support import LiveProcess

pytestmark = pytest.mark.browser

MANY_SUITE = textwrap.dedent(
    """
    import pytest

    @pytest.mark.parametrize("n", range(40))
    def test_many(n):
        assert n % 9 != 4
    """
)


def counts_at(events: list[dict[str, Any]], seq: int) -> dict[str, int]:
    """What the page should count once events 1..seq have happened (before the session's
    end, whose counts are pytest's own)."""
    status: dict[str, str] = {}
    for event in events:
        if event["seq"] > seq:
            break
        kind = event["type"]
        assert kind != "session_finished", "counts_at is for a moment before the end"
        if kind == "collection_finished":
            for test in event["tests"]:
                status.setdefault(test["test_id"], "queued")
            for error in event.get("errors", []):
                status[error["test_id"]] = "error"
        elif kind == "test_started":
            status[event["test_id"]] = "running"
        elif kind == "test_completed" and event["result"] != "rerun":
            status[event["test_id"]] = event["result"]
    counts = {name: list(status.values()).count(name) for name in STATUSES}
    counts["total"] = len(status)
    return counts


def test_scrubbing_a_report_shows_the_counts_of_that_moment(
    suite_dir: pytest.Pytester, start_live: Callable[..., LiveProcess], driver: Chrome
) -> None:
    suite_dir.makepyfile(test_mixed=MIXED_SUITE, test_many=MANY_SUITE)
    recording_path = suite_dir.path / "run.jsonl"
    report_path = suite_dir.path / "report.html"
    run = start_live(suite_dir.path, "--jb-live-record", str(recording_path),
                     "--jb-live-report", str(report_path))
    assert run.wait(120) == 1, run.output
    events = read_recording(recording_path).events
    last_seq = events[-1]["seq"]
    assert events[-1]["type"] == "session_finished"

    page = ViewerPage(driver).open(report_path.as_uri())
    page.wait_finished()
    final = page.counts()
    assert final["total"] == 49 and final["failed"] == 6
    slider = page.find("timeline-scrubber")
    assert slider.is_displayed()
    assert int(slider.get_attribute("max") or 0) == last_seq
    assert int(slider.get_attribute("value") or 0) == last_seq

    # A click on the middle of the slider: the run as it was halfway through its events.
    ActionChains(driver).move_to_element(slider).click().perform()
    page.wait_for(lambda: page.find("scrubber-end").is_displayed())
    seq = int(slider.get_attribute("value") or 0)
    assert last_seq / 3 < seq < 2 * last_seq / 3, (seq, last_seq)
    page.wait_for(lambda: driver.execute_script(
        "return document.documentElement.dataset.shownSeq") == str(seq))
    expected = counts_at(events, seq)
    assert page.counts() == expected
    assert expected["passed"] > 0 and expected["queued"] > 0
    assert page.run_status()[0] == "running"
    assert f"As of event {seq} of {last_seq}" in page.text("scrubber-position")
    # The list agrees with the counts: its rows are the tests of that moment.
    page.set_status_filter("queued")
    page.wait_for(lambda: page.visible_count() == expected["queued"])
    page.set_status_filter("all")

    # The keyboard moves it too: Home is the first event, where nothing has run yet.
    slider.send_keys(Keys.HOME)
    page.wait_for(lambda: driver.execute_script(
        "return document.documentElement.dataset.shownSeq") == "1")
    assert page.counts()["total"] == 0 and page.run_status()[0] == "running"
    slider.send_keys(Keys.ARROW_RIGHT)  # collection: every test queued
    page.wait_for(lambda: page.counts()["queued"] == 49)

    # Back to the end: pytest's own counts again, nothing lost on the way.
    page.find("scrubber-end").click()
    page.wait_for(lambda: page.counts() == final)
    assert page.run_status() == ("finished", "1")
    assert not page.find("scrubber-end").is_displayed()
    assert page.find_all("toast") == []  # history, not news
    logs = [entry for entry in driver.get_log("browser")  # type: ignore[no-untyped-call]
            if entry["level"] == "SEVERE"]
    assert logs == []
