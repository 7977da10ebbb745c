"""The slowest view and the worker timeline (issue 17), in real headless Chromium watching
real ``pytest --jb-live`` runs, serial and ``-n 2``, finished and live."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver import Chrome

from tests.browser.test_viewer_find import TIMED_SUITE
from tests.browser.test_viewer_live import write_gated_suite
from tests.browser.viewer_page import ViewerPage
from tests.hub_support import HubProcess, Shard, mint
from tests.support import LiveProcess, wait_until

pytestmark = pytest.mark.browser

StartLive = Callable[..., LiveProcess]

XDIST_SUITE = textwrap.dedent(
    """
    import time
    import pytest

    @pytest.mark.parametrize("n", range(16))
    def test_work(n):
        time.sleep(0.05)
        assert n != 7
    """
)


def timeline(page: ViewerPage) -> dict[str, str]:
    node = page.find("worker-timeline")
    return {"bars": node.get_attribute("data-bars") or "",
            "lanes": node.get_attribute("data-lanes") or ""}


def click_bar(page: ViewerPage, test_id: str) -> None:
    """Click the middle of a test's bar, where the canvas drew it."""
    page.driver.execute_script("""
      const [testId] = arguments;
      const t = window.__jbLive.view.timeline;
      const lanes = t.lanesInOrder();
      const index = lanes.findIndex((lane) => lane.bars.some((bar) => bar.id === testId));
      const bar = lanes[index].bars.find((b) => b.id === testId);
      const { x } = t.geometry();
      const rect = t.canvas.getBoundingClientRect();
      const clientX = rect.left + (x(bar.start) + x(bar.end)) / 2;
      const clientY = rect.top + index * 16 + 8;
      for (const type of ['mousemove', 'click']) {
        t.canvas.dispatchEvent(new MouseEvent(type, { clientX, clientY, bubbles: true }));
      }
    """, test_id)


def test_slowest_view_is_sorted_by_duration_and_clicks_to_the_test(
    suite_dir: pytest.Pytester, start_live: StartLive, driver: Chrome
) -> None:
    suite_dir.makepyfile(test_timed=TIMED_SUITE)
    run = start_live(suite_dir.path, "--jb-live-linger", "60")
    page = ViewerPage(driver).open(run.wait_for_link())
    page.wait_finished()
    page.wait_for(lambda: len(page.find_all("slowest-row")) == 10)
    rows = page.find_all("slowest-row")
    durations = [float(r.get_attribute("data-duration") or "nan") for r in rows]
    assert durations == sorted(durations, reverse=True)
    assert [r.get_attribute("data-test-id") for r in rows[:2]] == [
        "test_timed.py::test_slowest", "test_timed.py::test_middle"]
    assert durations[0] >= 1.2
    files = page.find_all("slowest-file")
    assert [f.get_attribute("data-file") for f in files] == ["test_timed.py"]
    rows[1].click()
    page.wait_for(lambda: page.text("detail-name") == "test_middle")
    # A serial run has one lane, main, with every test on it.
    assert page.find("worker-timeline").is_displayed()
    page.wait_for(lambda: timeline(page) == {"bars": "43", "lanes": "main"})
    files[0].click()
    page.wait_for(lambda: page.find("search").get_attribute("value") == "file:test_timed.py")


def test_worker_timeline_of_an_xdist_run(
    pytester: pytest.Pytester, start_live: StartLive, driver: Chrome
) -> None:
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\n")
    pytester.makepyfile(test_work=XDIST_SUITE)
    run = start_live(pytester.path, "-n", "2", "--jb-live-linger", "120")
    wait_until(lambda: "serving the finished run" in run.output, timeout=240)
    page = ViewerPage(driver).open(run.link)
    page.wait_finished()
    # One lane per worker, a bar per finished test.
    page.wait_for(lambda: timeline(page) == {"bars": "16", "lanes": "gw0,gw1"})
    # At a glance: on a 1400x900 window it is in sight without scrolling the panels row.
    assert driver.execute_script("""
      const panels = document.getElementById('panels').getBoundingClientRect();
      const plot = document.querySelector('[data-testid="worker-timeline"]')
        .getBoundingClientRect();
      return innerWidth === 1400 && plot.top >= panels.top && plot.bottom <= panels.bottom;""")
    facts = [f.text for f in driver.find_elements(
        "css selector", '[data-testid="timeline-facts"] li')]
    assert len(facts) == 2 and facts[0].startswith("gw0: ") and facts[1].startswith("gw1: ")
    tests = sum(int(fact.split(": ")[1].split()[0]) for fact in facts)
    assert tests == 16
    # Hover names the test; a click selects it.
    click_bar(page, "test_work.py::test_work[7]")
    page.wait_for(lambda: page.text("detail-name") == "test_work[7]")
    tip = driver.find_element("css selector", ".timeline-tip")
    assert "test_work.py::test_work[7]" in (tip.get_attribute("textContent") or "")
    # Scrubbed back to before the tests ran, the timeline shows no bar; back to the end, all.
    driver.execute_script("""
      const input = document.querySelector('[data-testid="timeline-scrubber"]');
      input.value = input.min;
      input.dispatchEvent(new Event('change'));
    """)
    page.wait_for(lambda: timeline(page)["bars"] == "0")
    page.find("scrubber-end").click()
    page.wait_for(lambda: timeline(page)["bars"] == "16")


def test_worker_timeline_follows_a_live_run_and_shows_an_idle_worker(
    suite_dir: pytest.Pytester, start_live: StartLive, driver: Chrome
) -> None:
    # One test holds its worker until released; the other worker runs out of tests and idles.
    release = write_gated_suite(suite_dir.path, before=12, after=5)
    run = start_live(suite_dir.path, "-n", "2", "--jb-live-linger", "60",
                     "--jb-live-monitor-interval", "0.5")
    page = ViewerPage(driver).open(run.wait_for_link())
    page.wait_for(lambda: page.statuses().get("test_gated.py::test_gate") == "running")
    # Mid-run: a bar for every test started so far (the gate's still open), one lane a worker.
    drawn = """
      const node = document.querySelector('[data-testid="worker-timeline"]');
      const started = window.__jbLive.view.store.order.filter((t) => t.status !== 'queued');
      return [Number(node.dataset.bars), started.length, node.dataset.lanes];"""
    page.wait_for(lambda: (lambda bars, started, lanes: bars == started and lanes == "gw0,gw1")(
        *driver.execute_script(drawn)))
    # The slowest view is live as well: the tests finished so far, slowest first.
    slowest = """
      const done = window.__jbLive.view.store.order.filter((t) => typeof t.duration === 'number');
      const rows = [...document.querySelectorAll('[data-testid="slowest-row"]')];
      return [done.length, rows.map((row) => Number(row.dataset.duration))];"""
    page.wait_for(lambda: (lambda done, rows: 0 < len(rows) == min(10, done)
                           and rows == sorted(rows, reverse=True))(
        *driver.execute_script(slowest)))
    # The worker without the gate goes idle, and the timeline says so while the run goes on.
    page.wait_for(lambda: any("idle for the last" in fact.text for fact in driver.find_elements(
        "css selector", '[data-testid="timeline-facts"] li')), timeout=90)
    assert page.run_status()[0] == "running"
    gate_worker = driver.execute_script(
        "return window.__jbLive.view.store.tests.get('test_gated.py::test_gate').worker")
    idle = [fact.get_attribute("data-worker") for fact in driver.find_elements(
        "css selector", '[data-testid="timeline-facts"] li') if "idle for the last" in fact.text]
    assert gate_worker in ("gw0", "gw1") and idle and gate_worker not in idle, (gate_worker, idle)
    release.touch()
    page.wait_finished()
    page.wait_for(lambda: timeline(page) == {"bars": "18", "lanes": "gw0,gw1"})


def test_a_sharded_hub_run_keeps_each_shards_workers_apart(
    tmp_path: Path, driver: Chrome, running: list[Any]
) -> None:
    """Two shards under xdist both have a gw0 and a gw1: four lanes on the timeline and in
    the workers panel, not two lanes each carrying two shards' tests over each other."""
    hub = HubProcess(tmp_path / "data")
    running.append(hub)
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_work.py").write_text(XDIST_SUITE)
    shards = [Shard(suite, hub.url, "-n", "2", "-k", selection, "--jb-live-shards", "2",
                    run_id="sharded", env={"JB_LIVE_SHARD": name})
              for name, selection in (("part-a", "not 7"), ("part-b", "7"))]
    running += shards
    assert [shard.wait(240) for shard in shards] == [0, 1]
    page = ViewerPage(driver).open(f"{hub.url}/runs/sharded/?token={mint('viewer')}")
    page.wait_finished()
    page.wait_for(lambda: timeline(page) == {
        "bars": "16", "lanes": "part-a gw0,part-a gw1,part-b gw0,part-b gw1"})
    lanes = driver.execute_script("""
      return [...document.querySelectorAll('[data-testid="worker-lanes"] .lane')].map(
        (lane) => [lane.dataset.worker, lane.querySelector('[data-testid="lane-done"]')
          .textContent]);""")
    done = {worker: int(text.split()[0]) for worker, text in lanes}
    assert sorted(done) == ["part-a gw0", "part-a gw1", "part-b gw0", "part-b gw1"], lanes
    assert done["part-a gw0"] + done["part-a gw1"] == 15
    assert done["part-b gw0"] + done["part-b gw1"] == 1
