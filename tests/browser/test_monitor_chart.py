"""viewer/monitor.js as the page mounts it, in real headless Chromium, fed the events of a
real monitored run.

The page is the real viewer (index.html, main.js and every module), served with the live
server's CSP, with the run's events embedded as a recording the way the HTML report does
it: main.js replays them and the view feeds the chart it mounted itself.
"""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.browser.test_viewer_recording import recording_block
from tests.browser.viewer_page import ViewerPage
from tests.monitor_support import WAIT_FOR_FILE, follow_sync, signal
from tests.support import LiveProcess, Watched

pytestmark = pytest.mark.browser

@pytest.fixture
def monitored_run(suite_dir: pytest.Pytester, start_live: Callable[..., LiveProcess]) -> Watched:
    """A real run: samples every 0.2 s, a failing test, and a memory alert (line below use)."""
    suite_dir.makepyfile(
        test_watched=WAIT_FOR_FILE + textwrap.dedent(
            """
            def test_first():
                wait_for_file("sampled")

            def test_fails():
                assert 1 == 2

            def test_last():
                pass
            """
        )
    )
    below_use = max(0.5, round(psutil.virtual_memory().percent / 2, 1))
    run = start_live(suite_dir.path, "--jb-live-wait-viewers", "1",
                     "--jb-live-monitor-interval", "0.2",
                     "--jb-live-alert-memory", str(below_use),
                     env={"SIGNAL_DIR": str(suite_dir.path)})

    def on_event(event: dict[str, Any], watched: Watched) -> None:
        if len(watched.of_type("system_status")) >= 5:
            signal(suite_dir.path, "sampled")

    watched = follow_sync(run.ws_url(), on_event)
    assert run.wait() == 1, run.output
    return watched


def test_chart_shows_cpu_memory_tests_and_alerts(
    monitored_run: Watched, viewer_dir: Path, tmp_path: Path,
    serve_dir: Callable[[Path], str], driver: Any,
) -> None:
    site = tmp_path / "site"
    shutil.copytree(viewer_dir, site)
    index = (site / "index.html").read_text()
    block = recording_block(monitored_run.events, compress=False)
    (site / "index.html").write_text(index.replace("</body>", block + "\n</body>"))
    samples = len(monitored_run.of_type("system_status"))
    alerts = monitored_run.of_type("resource_alert")
    assert samples >= 5 and [a["alert_type"] for a in alerts] == ["high_memory"]

    page = ViewerPage(driver).open(serve_dir(site))
    # The chart draws at most every 250 ms after a batch: wait for its drawn state.
    page.wait_for(lambda: page.find("monitor-canvas").get_attribute("data-samples") == str(samples))
    panel = driver.find_element("css selector", '[data-testid="monitor"]')
    assert panel.is_displayed()
    canvas = driver.find_element("css selector", '[data-testid="monitor-canvas"]')
    assert canvas.get_attribute("data-samples") == str(samples)
    assert canvas.get_attribute("data-starts") == "3"
    assert canvas.get_attribute("data-failures") == "1"
    numbers = driver.find_element("css selector", '[data-testid="monitor-numbers"]').text
    assert "CPU" in numbers and "memory" in numbers and "processes" in numbers
    items = driver.find_elements("css selector", '[data-testid="monitor-alert"]')
    assert [(i.get_attribute("data-alert-type"), i.get_attribute("data-state")) for i in items] \
        == [("high_memory", "raised")]
    assert alerts[0]["message"] in items[0].text

    # Something was drawn in the CPU and failure colours (the theme's: theme.js, style.css),
    # not just an empty box.
    coloured = driver.execute_script(
        """
        const canvas = document.querySelector('[data-testid="monitor-canvas"]');
        const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        const style = getComputedStyle(document.documentElement);
        const rgb = (name) => {
          const hex = style.getPropertyValue(name).trim().replace('#', '');
          return [0, 2, 4].map((at) => parseInt(hex.slice(at, at + 2), 16));
        };
        const count = ([r, g, b]) => {
          let n = 0;
          for (let i = 0; i < data.length; i += 4) {
            if (Math.abs(data[i] - r) < 24 && Math.abs(data[i + 1] - g) < 24
                && Math.abs(data[i + 2] - b) < 24 && data[i + 3] > 200) n += 1;
          }
          return n;
        };
        return {cpu: count(rgb('--running')), failed: count(rgb('--failed')),
                width: canvas.width};
        """
    )
    assert coloured["width"] > 100
    assert coloured["cpu"] > 20 and coloured["failed"] > 10, coloured

    # It sits in the page's panels row, under the summary; a serial run shows no worker lanes.
    assert driver.execute_script(
        "return document.querySelector('[data-testid=\"monitor\"]').parentElement.id") == "panels"
    assert not page.find("worker-lanes").is_displayed()
    # The page around it still works: the same run's counts.
    assert driver.find_element("css selector", '[data-testid="count-failed"]').text == "1"
    # A reset from the server forgets the run; the panel hides until samples come again.
    driver.execute_script(
        "window.__jbLive.view.enqueue({type: 'reset', run_id: 'x', reason: 'test'});"
        "window.__jbLive.view.flush();"
    )
    assert not panel.is_displayed()
    logs = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    assert logs == []
