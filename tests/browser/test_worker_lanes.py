"""viewer/lanes.js as the page mounts it, in real headless Chromium, watching a real
`pytest -n 2` run.

The served viewer page is opened on the lingering run, so it gets the whole stream from
seq 1 over its own socket: a lane per worker, the crashed worker's marker naming the test
it took down, done counts that add up to the run's tests, and the crashed test counted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from selenium.webdriver import Chrome

from tests.browser.viewer_page import ViewerPage
from tests.support import LiveProcess, wait_until

pytestmark = pytest.mark.browser

SUITE = {
    "test_crash": "import os\n\ndef test_before(): pass\n\ndef test_dies():\n    os._exit(1)\n",
    "test_others": (
        "import pytest\n\n@pytest.mark.parametrize('n', range(6))\n"
        "def test_fine(n): assert n != 5\n"
    ),
}

def lane_rows(driver: Chrome) -> dict[str, dict[str, Any]]:
    rows = driver.execute_script("""
      return [...document.querySelectorAll('[data-testid="worker-lanes"] .lane')].map((row) => ({
        worker: row.dataset.worker, state: row.dataset.state,
        current: row.querySelector('[data-testid="lane-current"]').textContent,
        done: row.querySelector('[data-testid="lane-done"]').textContent,
        crashes: row.querySelector('[data-testid="lane-crashes"]').textContent,
        crashTitle: row.querySelector('[data-testid="lane-crashes"]').title,
      }));""")
    return {row["worker"]: row for row in rows}


def test_lanes_show_each_worker_its_done_count_and_the_crash(
    pytester: pytest.Pytester, start_live: Callable[..., LiveProcess], driver: Chrome
) -> None:
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\n")
    pytester.makepyfile(**SUITE)
    run = start_live(pytester.path, "-n", "2", "--jb-live-linger", "120")
    # The run is over and lingering: the page gets the whole stream as a replay.
    wait_until(lambda: "serving the finished run" in run.output, timeout=240)
    page = ViewerPage(driver).open(run.link)
    page.wait_for(lambda: sum(
        int(r["done"].split()[0]) for r in lane_rows(driver).values()) == 8, timeout=60)
    assert page.find("worker-lanes").is_displayed()
    assert driver.execute_script(
        "return document.querySelector('[data-testid=\"worker-lanes\"]').parentElement.id"
    ) == "panels"
    rows = lane_rows(driver)
    assert {"gw0", "gw1", "gw2"} <= set(rows), rows  # gw2 replaces the crashed worker
    crashed = [r for r in rows.values() if r["state"] == "crashed"]
    assert len(crashed) == 1
    assert crashed[0]["crashes"] == "✖"
    assert "test_crash.py::test_dies" in crashed[0]["crashTitle"]
    assert all(r["state"] in ("finished", "crashed") for r in rows.values())
    failed = sum(int(r["done"].split("done, ")[1].split()[0])
                 for r in rows.values() if "failed" in r["done"])
    assert failed == 2  # test_fine[5] and the crashed test_dies
    # The crashed test is counted as pytest counts it (failed), and as crashed.
    statuses = page.statuses()
    assert statuses["test_crash.py::test_dies"] == "crashed"
    assert list(statuses.values()).count("crashed") == 1
    assert page.text("count-failed") == "2"
    assert page.find("count-crashed").is_displayed() and page.text("count-crashed") == "1"
    # A click on a crashed lane selects the test it took down and shows it.
    page.find_all("lane-current")  # the rows exist
    driver.execute_script(
        "document.querySelector('.lane[data-state=\"crashed\"] [data-testid=\"lane-current\"]')"
        ".click()")
    page.wait_for(lambda: page.text("detail-name") == "test_dies")
    selected = driver.find_elements("css selector", '[data-testid="test-row"].selected')
    assert [r.get_attribute("data-test-id") for r in selected] == ["test_crash.py::test_dies"]
    assert selected[0].get_attribute("data-status") == "crashed"
    assert page.text("detail-status").lower() == "crashed"
    timeline = page.text("timeline")
    assert "crash" in timeline and "test_crash.py::test_dies" in timeline
