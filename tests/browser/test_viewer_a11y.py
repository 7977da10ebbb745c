"""Accessibility and every screen (issue 17), in real headless Chromium: axe-core (from
axe-selenium-python, which ships it: nothing is fetched) finds no serious or critical
violation on the live page mid-run and finished, the HTML report, the hub's run list and a
hub run page, in both themes; at 390x844 nothing is wider than the screen; at 200% zoom the
list still shows several rows."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from selenium.webdriver.support.ui import Select

from tests.browser.suites import MIXED_SUITE
from tests.browser.test_viewer_live import write_gated_suite
from tests.browser.viewer_page import ViewerPage
from tests.hub_support import HubProcess, Shard, mint
from tests.support import LiveProcess

if TYPE_CHECKING:
    from selenium.webdriver import Chrome

pytestmark = pytest.mark.browser

StartLive = Callable[..., LiveProcess]
BLOCKING = ("serious", "critical")
PHONE = (390, 844)


def axe_problems(driver: Chrome) -> list[str]:
    """axe-core's serious and critical violations on the page as it is, one line each."""
    from axe_selenium_python import Axe

    axe = Axe(driver)
    axe.inject()
    results: dict[str, Any] = axe.run()
    problems = []
    for violation in results["violations"]:
        if violation["impact"] not in BLOCKING:
            continue
        for node in violation["nodes"]:
            problems.append(f"{violation['impact']} {violation['id']}: {node['target']} "
                            f"{node.get('failureSummary', '')[:300]}")
    return problems


def set_theme(driver: Chrome, theme: str) -> None:
    """Pick the theme with the toggle, as a user does (it is remembered for the next page)."""
    toggle = driver.find_element("css selector", '[data-testid="theme-toggle"]')
    if driver.execute_script("return document.documentElement.dataset.theme") != theme:
        toggle.click()
    assert driver.execute_script("return document.documentElement.dataset.theme") == theme


def theme(driver: Chrome) -> str:
    return str(driver.execute_script("return document.documentElement.dataset.theme"))


def system_prefers(driver: Chrome, scheme: str) -> None:
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {
        "features": [{"name": "prefers-color-scheme", "value": scheme}]})


def follows_the_system_until_toggled(driver: Chrome, page: ViewerPage) -> None:
    """prefers-color-scheme is followed, live, until the toggle picks; the pick is kept."""
    for scheme in ("dark", "light", "dark"):
        system_prefers(driver, scheme)
        page.wait_for(lambda wanted=scheme: theme(driver) == wanted)
    page.find("theme-toggle").click()
    assert theme(driver) == "light"
    system_prefers(driver, "dark")
    driver.refresh()
    page.wait_for(lambda: driver.execute_script(
        "return document.documentElement.dataset.ready === 'true'"))
    assert theme(driver) == "light"
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})


def both_themes_clean(driver: Chrome, where: str) -> None:
    problems = {}
    for theme in ("dark", "light"):
        set_theme(driver, theme)
        problems[theme] = axe_problems(driver)
    assert problems == {"dark": [], "light": []}, f"{where}: {problems}"


def page_width(driver: Chrome) -> dict[str, int]:
    return dict(driver.execute_script(
        "return {scroll: document.documentElement.scrollWidth,"
        " client: document.documentElement.clientWidth,"
        " body: document.body.scrollWidth};"))


def assert_no_sideways_scroll(driver: Chrome, where: str) -> None:
    width = page_width(driver)
    assert width["scroll"] <= width["client"] and width["body"] <= width["client"], (where, width)
    # Nothing laid out past the right edge either (overflow hidden would hide it, not fix it).
    wide = driver.execute_script("""
      const limit = document.documentElement.clientWidth + 1;
      return [...document.querySelectorAll('body *')].filter((node) => {
        const rect = node.getBoundingClientRect();
        if (rect.width === 0 || rect.height === 0) return false;
        const scrolls = '.list, .detail pre, .lanes-list, .slowest-list, .visually-hidden';
        if (node.closest(scrolls)) return false;
        return rect.right > limit;
      }).slice(0, 5).map((node) => node.outerHTML.slice(0, 120));
    """)
    assert wide == [], (where, wide)


def in_first_screen(driver: Chrome, testid: str) -> bool:
    """Whether the element is inside the viewport as the page is scrolled now."""
    return bool(driver.execute_script("""
      const node = document.querySelector(`[data-testid="${arguments[0]}"]`);
      const rect = node.getBoundingClientRect();
      return rect.height > 0 && rect.top >= 0 && rect.bottom <= window.innerHeight;""", testid))


def phone(driver: Chrome) -> None:
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": PHONE[0], "height": PHONE[1], "deviceScaleFactor": 3, "mobile": True})


def desktop_zoomed(driver: Chrome, zoom: float) -> None:
    """1400x900 at `zoom` as the browser's zoom does it: fewer CSS pixels, more device ones."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": int(1400 / zoom), "height": int(900 / zoom), "deviceScaleFactor": zoom,
        "mobile": False})


def test_live_page_mid_run_and_finished_has_no_serious_violation(
    suite_dir: pytest.Pytester, start_live: StartLive, driver: Chrome
) -> None:
    suite_dir.makepyfile(test_mixed=MIXED_SUITE)
    release = write_gated_suite(suite_dir.path, before=12, after=5)
    run = start_live(suite_dir.path, "-n", "2", "--jb-live-linger", "60",
                     "--jb-live-monitor-interval", "0.5")
    page = ViewerPage(driver).open(run.wait_for_link())
    page.wait_for(lambda: page.statuses().get("test_gated.py::test_gate") == "running")
    page.wait_for(lambda: page.find("worker-timeline").is_displayed())
    both_themes_clean(driver, "live page mid-run")
    release.touch()
    page.wait_finished()
    page.find("test-list").click()
    both_themes_clean(driver, "live page finished")
    page.search("status:failed")
    page.wait_for(lambda: page.visible_count() == 3)
    # A failed test selected: the detail with its traceback.
    driver.execute_script("document.querySelector('[data-testid=\"test-list\"]').scrollTop = 0;")
    driver.find_element("css selector", '[data-testid="test-row"]').click()
    page.wait_for(lambda: page.find_all("traceback"))
    both_themes_clean(driver, "live page, a failure open")


def test_report_on_every_screen(
    suite_dir: pytest.Pytester, start_live: StartLive, driver: Chrome
) -> None:
    suite_dir.makepyfile(test_mixed=MIXED_SUITE)
    report = suite_dir.path / "report.html"
    run = start_live(suite_dir.path, "--jb-live-report", str(report))
    assert run.wait() == 1
    page = ViewerPage(driver).open(report.as_uri())
    page.wait_for(lambda: page.find("count-total").get_attribute("textContent") == "9")
    follows_the_system_until_toggled(driver, page)
    both_themes_clean(driver, "report")
    phone(driver)
    try:
        driver.refresh()
        page.wait_for(lambda: driver.execute_script(
            "return document.documentElement.dataset.ready === 'true'"))
        page.wait_for(lambda: page.find("count-total").get_attribute("textContent") == "9")
        assert_no_sideways_scroll(driver, "report at 390x844")
        # The list and the detail are separate screens, with a way back.
        assert page.find("test-list").is_displayed()
        assert not page.find("test-detail").is_displayed()
        rows = [r for r in page.find_all("test-row") if r.is_displayed()]
        assert len(rows) >= 5
        report_address = driver.current_url.split("#")[0]
        driver.find_element(
            "css selector", '[data-testid="test-row"][data-test-id="test_mixed.py::test_fail"]'
        ).click()
        page.wait_for(lambda: page.find("test-detail").is_displayed())
        assert not page.find("test-list").is_displayed()
        assert_no_sideways_scroll(driver, "report detail at 390x844")
        # The way back is on the detail's first screen, above it, not after the whole detail.
        assert in_first_screen(driver, "detail-back")
        assert driver.execute_script("""
          const rect = (id) => document.querySelector(`[data-testid="${id}"]`)
            .getBoundingClientRect();
          return rect('detail-back').bottom <= rect('test-detail').top;""")
        # The phone's own back button returns to the list, on the same page.
        driver.back()
        page.wait_for(lambda: page.find("test-list").is_displayed())
        assert driver.current_url.split("#")[0] == report_address
        rows = [r for r in page.find_all("test-row") if r.is_displayed()]
        rows[1].click()
        page.wait_for(lambda: page.find("test-detail").is_displayed())
        page.find("detail-back").click()
        page.wait_for(lambda: page.find("test-list").is_displayed())
        assert driver.current_url.split("#")[0] == report_address
        # The panels row is one line until unfolded.
        assert page.find("panels-fold").is_displayed()
        assert not page.find("slowest").is_displayed()
        page.find("panels-fold").click()
        page.wait_for(lambda: page.find("slowest").is_displayed())
        assert_no_sideways_scroll(driver, "report, panels unfolded, at 390x844")
        both_themes_clean(driver, "report at 390x844")

        # Zoomed to 200% on an open page (no reload): the panels fold, the list keeps its rows.
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        page.wait_for(lambda: page.find("slowest").is_displayed())
        desktop_zoomed(driver, 2)
        page.wait_for(lambda: not page.find("slowest").is_displayed())
        assert page.find("panels-fold").get_attribute("aria-expanded") == "false"
        assert_no_sideways_scroll(driver, "report zoomed to 200% without a reload")
        rows_on_screen = driver.execute_script("""
          return [...document.querySelectorAll('[data-testid="test-row"]')].filter((row) => {
            const rect = row.getBoundingClientRect();
            return rect.height > 0 && rect.top >= 0 && rect.bottom <= window.innerHeight;
          }).length;""")
        assert rows_on_screen >= 3, rows_on_screen
        driver.refresh()
        page.wait_for(lambda: page.find("count-total").get_attribute("textContent") == "9")
        assert_no_sideways_scroll(driver, "report at 200%")
        list_height = driver.execute_script(
            "return document.querySelector('[data-testid=\"test-list\"]').clientHeight")
        assert list_height >= 5 * 28, list_height
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_live_page_on_a_phone(
    suite_dir: pytest.Pytester, start_live: StartLive, driver: Chrome
) -> None:
    release = write_gated_suite(suite_dir.path, before=30, after=5)
    run = start_live(suite_dir.path, "-n", "2", "--jb-live-linger", "60",
                     "--jb-live-monitor-interval", "0.5")
    phone(driver)
    try:
        page = ViewerPage(driver).open(run.wait_for_link())
        page.wait_for(lambda: page.statuses().get("test_gated.py::test_gate") == "running")
        page.wait_for(lambda: driver.execute_script(
            "return !window.__jbLive.view.timeline.root.hidden"))
        assert_no_sideways_scroll(driver, "live page at 390x844 mid-run")
        # Monitor, lanes, timeline and slowest fold to one line: the list gets the screen.
        assert not page.find("worker-lanes").is_displayed()
        folded = driver.execute_script(
            "return document.getElementById('panels').getBoundingClientRect().height")
        assert folded < 50, folded
        # (Toasts come and go above it: a loaded machine raises CPU alerts.)
        top = driver.execute_script(
            "return document.querySelector('[data-testid=\"test-list\"]')"
            ".getBoundingClientRect().top"
            " - document.getElementById('toasts').getBoundingClientRect().height")
        assert top < PHONE[1] * 0.6, top
        # The whole command, shown on a tap, wraps within the screen.
        page.find("run-title").click()
        page.wait_for(lambda: "--jb-live-linger 60" in page.text("run-title"))
        assert_no_sideways_scroll(driver, "live page at 390x844, the whole command shown")
        release.touch()
        page.wait_finished()
        assert_no_sideways_scroll(driver, "live page at 390x844 finished")
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_hub_run_list_and_run_page(tmp_path: Path, driver: Chrome, running: list[Any]) -> None:
    from tests.test_hub import SUITE_A, SUITE_B

    hub = HubProcess(tmp_path / "data")
    running.append(hub)
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_a.py").write_text(SUITE_A)
    (suite / "test_b.py").write_text(SUITE_B)
    shards = [Shard(suite, hub.url, "-k", "not nothing", name, "--jb-live-shards", "2",
                    run_id="sharded", env={"JB_LIVE_SHARD": f"part-{name[5]}"})
              for name in ("test_a.py", "test_b.py")]
    running += shards
    assert [shard.wait() for shard in shards] == [1, 1]
    green = Shard(suite, hub.url, "test_a.py", "-k", "not 7", run_id="green")
    running.append(green)
    assert green.wait() == 0

    page = ViewerPage(driver).open(f"{hub.url}/?token={mint('viewer')}")
    page.wait_for(lambda: len(page.find_all("run-link")) == 2)
    both_themes_clean(driver, "hub run list")
    # Searched, filtered by outcome, sorted; failures, pass rate and duration per run. (Read
    # in one script: the list is redrawn every 2 s.)
    def runs() -> list[dict[str, str]]:
        return list(driver.execute_script("""
          return [...document.querySelectorAll('#run-rows tr')].map((r) => ({
            id: r.dataset.runId, failures: r.dataset.failures, passRate: r.dataset.passRate,
            duration: r.dataset.duration}));"""))

    def ids() -> list[str]:
        return [run["id"] for run in runs()]

    assert ids() == ["green", "sharded"]
    facts = {run["id"]: run for run in runs()}
    assert (facts["green"]["failures"], facts["green"]["passRate"]) == ("0", "1")
    assert facts["sharded"]["failures"] == "2"  # test_numbers[7] failed, one errored in setup
    assert 0 < float(facts["sharded"]["passRate"] or "nan") < 1
    assert all(float(run["duration"] or "nan") > 0 for run in facts.values())
    Select(page.find("hub-sort")).select_by_value("failures")
    page.wait_for(lambda: ids() == ["sharded", "green"])
    Select(page.find("hub-filter")).select_by_value("passed")
    page.wait_for(lambda: ids() == ["green"])
    Select(page.find("hub-filter")).select_by_value("all")
    page.find("hub-search").send_keys("SHARD")
    page.wait_for(lambda: ids() == ["sharded"])
    driver.execute_script("document.querySelector('[data-testid=\"run-link\"]').click();")
    page.wait_for(lambda: driver.current_url == f"{hub.url}/runs/sharded/")
    page.wait_for(lambda: driver.execute_script(
        "return document.documentElement.dataset.ready === 'true'"))
    page.wait_finished()
    both_themes_clean(driver, "hub run page")
    # The timeline has a lane per shard (each ran serially, each its own `main`), a bar a test.
    started = driver.execute_script(
        "return window.__jbLive.view.store.order.filter((t) => t.status !== 'queued').length")
    assert started > 10
    page.wait_for(lambda: (page.find("worker-timeline").get_attribute("data-lanes"),
                           page.find("worker-timeline").get_attribute("data-bars"))
                  == ("part-a,part-b", str(started)))
    # The title names both shards and what each ran, without the plugin's options.
    title = page.find("run-title")
    assert "2 shards" in title.text
    assert title.text.startswith("suite — 2 shards: part-a (pytest "), title.text
    assert "-k 'not nothing' test_a.py), part-b (pytest " in title.text
    assert "--jb-live" not in title.text
    assert "--jb-live-hub" in (title.get_attribute("title") or "")
    # A click shows the whole commands (there is no hover on a phone); another, the title.
    short = title.text
    title.click()
    page.wait_for(lambda: title.get_attribute("aria-expanded") == "true")
    assert "part-a: pytest " in title.text and "--jb-live-hub" in title.text
    title.click()
    page.wait_for(lambda: title.text == short)
    # Back to the list from the run page.
    page.find("hub-back").click()
    page.wait_for(lambda: driver.current_url == f"{hub.url}/")
    page.wait_for(lambda: len(page.find_all("run-link")) == 2)
    # The theme picked on the run page is remembered on the list.
    assert driver.execute_script("return document.documentElement.dataset.theme") == "light"
    phone(driver)
    try:
        driver.refresh()
        page.wait_for(lambda: len(page.find_all("run-link")) == 2)
        assert_no_sideways_scroll(driver, "hub run list at 390x844")
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
