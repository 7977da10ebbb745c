"""viewer/lanes.js in real headless Chromium, fed by a real `pytest -n 2` run's stream.

The module is loaded into the served viewer page and given its own WebSocket (the page's
cookie), so it sees the whole run from seq 1: a lane per worker, the crashed worker's
marker naming the test it took down, and done counts that add up to the run's tests.
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

MOUNT = """
const done = arguments[arguments.length - 1];
import('/lanes.js').then((lanes) => {
  const panel = new lanes.WorkerLanes((testId) => { window.__laneSelected = testId; });
  document.body.prepend(panel.root);
  window.__lanes = panel;
  const socket = new WebSocket(`ws://${location.host}/ws/lanes-test`);
  socket.onmessage = (frame) => {
    const message = JSON.parse(frame.data);
    panel.applyEvents(message.type === 'batch' ? message.messages : [message]);
  };
  done('mounted');
}, (error) => done(String(error)));
"""


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
    assert driver.execute_async_script(MOUNT) == "mounted"
    page.wait_for(lambda: sum(
        int(r["done"].split()[0]) for r in lane_rows(driver).values()) == 8, timeout=60)
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
    # A click on a crashed lane selects the test it took down.
    driver.execute_script(
        "document.querySelector('.lane[data-state=\"crashed\"] [data-testid=\"lane-current\"]')"
        ".click()")
    assert driver.execute_script("return window.__laneSelected") == "test_crash.py::test_dies"
