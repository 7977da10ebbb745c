"""The hub in headless Chromium: the run list, and a run opened from it in the live viewer."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from selenium.webdriver.common.by import By

from tests.browser.viewer_page import ViewerPage
from tests.hub_support import HubProcess, Shard, mint
from tests.test_hub import SUITE_A, SUITE_B

if TYPE_CHECKING:
    from selenium.webdriver import Chrome

pytestmark = pytest.mark.browser


def test_run_list_opens_each_run_in_the_viewer(tmp_path: Path, driver: Chrome,
                                               running: list[Any]) -> None:
    hub = HubProcess(tmp_path / "data")
    running.append(hub)
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_a.py").write_text(SUITE_A)
    (suite / "test_b.py").write_text(SUITE_B)
    shards = [Shard(suite, hub.url, name, "--jb-live-shards", "2", run_id="sharded")
              for name in ("test_a.py", "test_b.py")]
    running += shards
    assert [shard.wait() for shard in shards] == [1, 1]
    other = Shard(suite, hub.url, "test_b.py", run_id="newer")
    running.append(other)
    assert other.wait() == 1

    page = ViewerPage(driver).open(f"{hub.url}/?token={mint('viewer')}")
    assert "token" not in driver.current_url  # kept by the page (credential.js), no cookie
    assert driver.get_cookies() == []
    rows = lambda: driver.find_elements(By.CSS_SELECTOR, "#run-rows tr")  # noqa: E731
    page.wait_for(lambda: len(rows()) == 2)
    assert [row.get_attribute("data-run-id") for row in rows()] == ["newer", "sharded"]
    assert all(row.get_attribute("data-status") == "finished" for row in rows())
    assert "2/2" in rows()[1].text

    rows()[1].find_element(By.CSS_SELECTOR, "a").click()
    page.wait_for(lambda: driver.current_url == f"{hub.url}/runs/sharded/")
    page.wait_for(lambda: driver.execute_script(
        "return document.documentElement.dataset.ready === 'true'"))
    page.wait_finished()
    expected = Counter(shards[0].counts()) + Counter(shards[1].counts())
    counts = page.counts()
    assert {k: counts[k] for k in ("passed", "failed", "error", "skipped", "xfailed")} == {
        k: expected.get(k, 0) for k in ("passed", "failed", "error", "skipped", "xfailed")}
    assert counts["total"] == 16
    health = page.store_health()
    assert health["seqErrors"] == 0 and health["duplicates"] == 0
    page.wait_for(lambda: page.connection_state() == "disconnected")  # 1000: the whole run
    assert page.csp_violations() == []


def test_the_lists_refresh_leaves_an_unchanged_run_focused_and_clickable(
        tmp_path: Path, driver: Chrome, running: list[Any]) -> None:
    """The list refreshes every two seconds. A finished run's row drawn the same stays the
    same element: the keyboard focus on its link stays, and a click lands (it once failed
    CI with a stale element, the row replaced between finding the link and clicking it)."""
    hub = HubProcess(tmp_path / "data")
    running.append(hub)
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_a.py").write_text(SUITE_A)
    shard = Shard(suite, hub.url, run_id="steady")
    running.append(shard)
    assert shard.wait() == 1

    page = ViewerPage(driver).open(f"{hub.url}/?token={mint('viewer')}")
    page.wait_for(lambda: [row.get_attribute("data-status") for row in driver.find_elements(
        By.CSS_SELECTOR, "#run-rows tr")] == ["finished"])  # nothing more to change in it
    link = page.find("run-link")
    # Each refresh that reached the list sets the state line (after drawing the rows).
    driver.execute_script("""
        window.refreshesSeen = 0;
        new MutationObserver(() => { window.refreshesSeen += 1; })
          .observe(document.getElementById('hub-state'),
                   { childList: true, characterData: true, subtree: true });
        arguments[0].focus();""", link)
    page.wait_for(lambda: driver.execute_script("return window.refreshesSeen") >= 2)
    assert driver.execute_script("return document.activeElement === arguments[0]", link)
    link.click()  # the element found before the refreshes
    page.wait_for(lambda: driver.current_url == f"{hub.url}/runs/steady/")
    page.wait_finished()


def test_an_interrupted_run_in_the_viewer_and_the_run_list(tmp_path: Path, driver: Chrome,
                                                         running: list[Any]) -> None:
    from tests.test_hub import held_suite
    from tests.test_hub_lifecycle import wait_for_hold

    hub = HubProcess(tmp_path / "data", 0, None, "--shard-timeout", "1.5")
    running.append(hub)
    gate = held_suite(tmp_path / "held")
    shard = Shard(gate.parent, hub.url, run_id="cut", env={"JB_LIVE_SHARD": "ci-3",
                                                           "JB_TEST_GATE": str(gate)})
    running.append(shard)
    wait_for_hold(hub, "cut")
    page = ViewerPage(driver).open(f"{hub.url}/runs/cut/?token={mint('viewer')}")
    shard.process.kill()  # the CI machine is gone
    page.wait_finished()
    assert page.run_status()[1] == "2"
    toast = page.wait_for(lambda: [t for t in page.find_all("toast")
                                   if "Run interrupted" in t.text])
    assert "no producer for 1.5 s: shard ci-3" in toast[0].text
    page.wait_for(lambda: page.connection_state() == "disconnected")

    page.open(f"{hub.url}/")
    rows = lambda: driver.find_elements(By.CSS_SELECTOR, "#run-rows tr")  # noqa: E731
    page.wait_for(lambda: len(rows()) == 1)
    assert rows()[0].get_attribute("data-status") == "interrupted"
    assert "interrupted (failed)" in rows()[0].text
    assert page.csp_violations() == []


def test_a_screenshot_of_a_hub_run_shows_in_its_viewer(tmp_path: Path, driver: Chrome,
                                                       running: list[Any]) -> None:
    from tests.test_hub_xdist import SHOT_TEST

    hub = HubProcess(tmp_path / "data")
    running.append(hub)
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_shot.py").write_text("import pytest_jbrealtime\n" + SHOT_TEST)
    shard = Shard(suite, hub.url, run_id="pictured")
    running.append(shard)
    assert shard.wait() == 0, shard.text

    page = ViewerPage(driver).open(f"{hub.url}/runs/pictured/?token={mint('viewer')}")
    assert driver.current_url == f"{hub.url}/runs/pictured/"  # the page kept the token
    page.wait_finished()
    driver.find_element(By.CSS_SELECTOR, '[data-test-id="test_shot.py::test_shot"]').click()
    page.wait_for(lambda: page.text("detail-name") == "test_shot")
    image = page.wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "img.screenshot"))[0]
    driver.execute_script("arguments[0].scrollIntoView()", image)  # loading=lazy
    # Loaded from the hub (the run's address, the page's token) and decoded: 7x4.
    page.wait_for(lambda: driver.execute_script(
        "return arguments[0].complete && arguments[0].naturalWidth", image) == 7)
    # Fetched with the page's token from the run's address, shown from a blob: the image's
    # address carries no token (viewer/credential.js).
    assert image.get_attribute("src").startswith(f"blob:{hub.url}/")
    fetched = driver.execute_script(
        "return performance.getEntriesByType('resource').map((e) => e.name)")
    assert any(name.startswith(f"{hub.url}/runs/pictured/screenshots/") and "token" not in name
               for name in fetched), fetched
    assert driver.execute_script("return arguments[0].naturalHeight", image) == 4
    assert page.csp_violations() == []
