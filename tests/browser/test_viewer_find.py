"""Finding and linking in the viewer (issue 17), in real headless Chromium watching real
``pytest --jb-live`` runs: a test's link opens it in a new tab, the search language
narrows the list, sorting by duration, the keyboard, the sticky header."""

from __future__ import annotations

import textwrap
from collections.abc import Callable

import pytest
from selenium.webdriver import Chrome
from selenium.webdriver.common.keys import Keys

from tests.browser.suites import MIXED_SUITE
from tests.browser.viewer_page import ViewerPage
from tests.support import LiveProcess

pytestmark = pytest.mark.browser

StartLive = Callable[..., LiveProcess]

FAILED = {"test_mixed.py::test_fail", "test_mixed.py::TestGroup::test_param[3]"}

# Durations far enough apart that the order cannot flip on a loaded machine.
TIMED_SUITE = textwrap.dedent(
    """
    import time
    import pytest

    @pytest.mark.slow
    def test_slowest():
        time.sleep(1.2)

    def test_middle():
        time.sleep(0.6)

    def test_quick():
        pass

    class TestMany:
        @pytest.mark.parametrize("n", range(40))
        def test_item(self, n):
            print(f"item output {n}")
    """
)


def store_ids(page: ViewerPage, script: str) -> list[str]:
    return list(page.driver.execute_script(script))


def listed_ids(page: ViewerPage) -> list[str]:
    """Every test the list holds (rendered or not), in list order."""
    return store_ids(page, "return window.__jbLive.view.list.rows"
                           ".filter((r) => r.kind === 'test').map((r) => r.test.id);")


def click_row(page: ViewerPage, test_id: str) -> None:
    page.driver.find_element(
        "css selector", f'[data-testid="test-row"][data-test-id="{test_id}"]').click()


def test_copied_link_opens_the_same_test_in_a_new_tab(
    suite_dir: pytest.Pytester, start_live: StartLive, driver: Chrome
) -> None:
    suite_dir.makepyfile(test_mixed=MIXED_SUITE)
    run = start_live(suite_dir.path, "--jb-live-linger", "60")
    page = ViewerPage(driver).open(run.wait_for_link())
    page.wait_finished()

    page.set_status_filter("failures")
    page.search("param")
    page.wait_for(lambda: page.visible_count() == 1)
    target = "test_mixed.py::TestGroup::test_param[3]"
    click_row(page, target)
    page.wait_for(lambda: page.text("detail-name") == "test_param[3]")
    # The address says it all: a reload or a new tab restores it.
    assert "test=" in driver.current_url and "status=failures" in driver.current_url
    page.find("copy-link").click()
    page.wait_for(lambda: page.find("copy-link").get_attribute("data-link"))
    link = page.find("copy-link").get_attribute("data-link") or ""
    assert "token=" not in link
    assert link.split("#")[0] == driver.current_url.split("#")[0]
    # The matched words are highlighted in the row.
    # Shown rows only: the list keeps rows it no longer needs, hidden, for later renders.
    marks = driver.find_elements("css selector", '[data-testid="test-row"]:not([hidden]) mark')
    assert [m.text.lower() for m in marks] == ["param"]

    driver.switch_to.new_window("tab")
    other = ViewerPage(driver).open(link)
    other.wait_for(lambda: other.find("test-detail").text.find("test_param[3]") != -1)
    assert other.text("detail-name") == "test_param[3]"
    assert other.find("filter-status").get_attribute("value") == "failures"
    assert other.find("search").get_attribute("value") == "param"
    selected = driver.find_elements("css selector", '[data-testid="test-row"].selected')
    assert [r.get_attribute("data-test-id") for r in selected] == [target]
    # A reload keeps it too.
    driver.refresh()
    other.wait_for(lambda: driver.execute_script(
        "return document.documentElement.dataset.ready === 'true'"))
    other.wait_for(lambda: other.text("detail-name") == "test_param[3]")


def test_search_language_narrows_and_status_failed_is_exactly_the_failures(
    suite_dir: pytest.Pytester, start_live: StartLive, driver: Chrome
) -> None:
    suite_dir.makepyfile(test_mixed=MIXED_SUITE)
    run = start_live(suite_dir.path, "--jb-live-linger", "60")
    page = ViewerPage(driver).open(run.wait_for_link())
    page.wait_finished()
    statuses = page.statuses()
    failed = {test for test, status in statuses.items() if status == "failed"}
    assert failed == FAILED

    page.search("status:failed")
    page.wait_for(lambda: page.visible_count() == 2)
    assert set(listed_ids(page)) == FAILED
    # For screen readers a row's status is words, not only the dot's colour; the selected
    # row is the listbox's selected option, and the selection is said.
    rows = [row for row in page.find_all("test-row") if row.is_displayed()]
    assert [row.accessible_name.endswith(", failed") for row in rows] == [True, True], [
        row.accessible_name for row in rows]
    assert {row.aria_role for row in rows} == {"option"}
    click_row(page, "test_mixed.py::test_fail")
    page.wait_for(lambda: page.find("announcer").get_attribute("textContent")
                  == "Selected test_fail, failed")
    selected = [row for row in page.find_all("test-row")
                if row.is_displayed() and row.get_attribute("aria-selected") == "true"]
    assert [row.get_attribute("data-test-id") for row in selected] == ["test_mixed.py::test_fail"]
    # Failure text and captured output are searched too.
    page.search("about to fail")  # printed by test_fail
    page.wait_for(lambda: listed_ids(page) == ["test_mixed.py::test_fail"])
    page.search('"fixture broke"')  # the error's traceback
    page.wait_for(lambda: listed_ids(page) == ["test_mixed.py::test_error"])
    page.search("status:passed file:test_mixed param")
    page.wait_for(lambda: page.visible_count() == 2)
    assert set(listed_ids(page)) == {"test_mixed.py::TestGroup::test_param[1]",
                                     "test_mixed.py::TestGroup::test_param[2]"}
    # The detail highlights the words in the traceback.
    page.search("status:failed assert")
    page.wait_for(lambda: page.visible_count() == 2)
    click_row(page, "test_mixed.py::test_fail")
    page.wait_for(lambda: any(m.text.lower() == "assert" for m in driver.find_elements(
        "css selector", '[data-testid="traceback"] mark')))


def test_sort_by_duration_and_name(
    suite_dir: pytest.Pytester, start_live: StartLive, driver: Chrome
) -> None:
    suite_dir.makepyfile(test_timed=TIMED_SUITE)
    run = start_live(suite_dir.path, "--jb-live-linger", "60")
    page = ViewerPage(driver).open(run.wait_for_link())
    page.wait_finished()
    from selenium.webdriver.support.ui import Select

    Select(page.find("sort-by")).select_by_value("duration")
    page.wait_for(lambda: listed_ids(page)[:2] == ["test_timed.py::test_slowest",
                                                 "test_timed.py::test_middle"])
    durations = store_ids(
        page, "return window.__jbLive.view.list.rows.map((r) => r.test.duration);")
    assert durations == sorted(durations, reverse=True)
    assert "sort=duration" in driver.current_url
    # Sorted, it is one flat list of whole node ids: no headers.
    assert page.find_all("group-row") == []
    page.search("duration:>1s")
    page.wait_for(lambda: listed_ids(page) == ["test_timed.py::test_slowest"])
    page.search("marker:slow")
    page.wait_for(lambda: listed_ids(page) == ["test_timed.py::test_slowest"])
    page.search("")
    Select(page.find("sort-by")).select_by_value("name")
    page.wait_for(lambda: len(listed_ids(page)) == 43
                  and listed_ids(page) == sorted(listed_ids(page)))


def test_keys_sticky_header_and_folding(
    suite_dir: pytest.Pytester, start_live: StartLive, driver: Chrome
) -> None:
    suite_dir.makepyfile(test_timed=TIMED_SUITE.replace("time.sleep(1.2)", "pass").replace(
        "time.sleep(0.6)", "pass"))
    run = start_live(suite_dir.path, "--jb-live-linger", "60")
    page = ViewerPage(driver).open(run.wait_for_link())
    page.wait_finished()
    body = driver.find_element("css selector", "body")
    body.send_keys("/")
    assert driver.switch_to.active_element.get_attribute("data-testid") == "search"
    driver.switch_to.active_element.send_keys(Keys.ESCAPE)
    body.send_keys("?")
    page.wait_for(lambda: page.find("key-help").is_displayed())
    driver.switch_to.active_element.send_keys(Keys.ESCAPE)
    page.wait_for(lambda: not page.find("key-help").is_displayed())

    test_list = page.find("test-list")
    # Keyboard focus on the list, as Tab gives it: a click lands on whatever row is in
    # the middle of the list (a group header folds its group).
    driver.execute_script("arguments[0].focus();", test_list)
    test_list.send_keys(Keys.END)
    page.wait_for(lambda: page.text("detail-name") == "test_item[39]")
    # Deep in the list, the class's header stays on top.
    sticky = page.find("sticky-group")
    page.wait_for(lambda: sticky.is_displayed())
    assert sticky.get_attribute("data-group") == "test_timed.py::TestMany"
    assert "TestMany" in sticky.text
    test_list.send_keys(Keys.HOME)
    page.wait_for(lambda: driver.execute_script(
        "return window.__jbLive.view.list.cursorKey") == "test_timed.py")
    # Enter on a header folds and unfolds it.
    test_list.send_keys(Keys.ENTER)
    page.wait_for(lambda: len(page.rendered_rows()) == 0)
    test_list.send_keys(Keys.ENTER)
    page.wait_for(lambda: len(page.rendered_rows()) > 0)
    test_list.send_keys(Keys.ARROW_DOWN)
    page.wait_for(lambda: page.text("detail-name") == "test_slowest")
    # Enter on a test opens it: the keyboard goes to its detail.
    test_list.send_keys(Keys.ENTER)
    page.wait_for(lambda: driver.switch_to.active_element.get_attribute("data-testid")
                  == "test-detail")
    driver.execute_script("arguments[0].focus();", test_list)
    # ← on a test folds its group; → unfolds it.
    test_list.send_keys(Keys.ARROW_LEFT)
    page.wait_for(lambda: page.visible_count() == 43 and len(page.rendered_rows()) == 0)
    # Folding is said, and the header the keyboard is on is the list's active descendant.
    assert "folded" in (page.find("announcer").get_attribute("textContent") or "")
    active = driver.execute_script(
        "const list = arguments[0];"
        "return document.getElementById(list.getAttribute('aria-activedescendant')).dataset.group;",
        test_list)
    assert active == "test_timed.py"
    test_list.send_keys(Keys.ARROW_RIGHT)
    page.wait_for(lambda: len(page.rendered_rows()) > 0)
    page.find("fold-all").click()
    page.wait_for(lambda: len(page.rendered_rows()) == 0)
    page.find("unfold-all").click()
    page.wait_for(lambda: len(page.rendered_rows()) > 0)


ANNOUNCED_SUITE = textwrap.dedent(
    """
    import pathlib
    import time

    RELEASE = pathlib.Path(__file__).with_name("release")

    def test_gate():
        deadline = time.monotonic() + 60
        while not RELEASE.exists():
            assert time.monotonic() < deadline, "the test never released the gate"
            time.sleep(0.01)

    def test_breaks_first():
        assert False

    def test_fine():
        pass

    def test_breaks_second():
        raise ValueError("nope")
    """
)


def test_failures_are_announced_politely_and_once(
    suite_dir: pytest.Pytester, start_live: StartLive, driver: Chrome
) -> None:
    suite_dir.makepyfile(test_said=ANNOUNCED_SUITE)
    run = start_live(suite_dir.path, "--jb-live-linger", "60")
    page = ViewerPage(driver).open(run.wait_for_link())
    page.wait_for(lambda: page.statuses().get("test_said.py::test_gate") == "running")
    announcer = page.find("announcer")
    assert announcer.get_attribute("aria-live") == "polite"
    assert announcer.get_attribute("role") == "status"
    # Every text the live region is given, from now on.
    driver.execute_script("""
      window.__said = [];
      new MutationObserver(() => {
        const text = document.querySelector('[data-testid="announcer"]').textContent;
        if (text) window.__said.push(text);
      }).observe(document.querySelector('[data-testid="announcer"]'),
                 {childList: true, characterData: true, subtree: true});
    """)
    (suite_dir.path / "release").touch()
    page.wait_finished()
    # A reconnect replays nothing already said.
    driver.execute_script("window.__jbLive.client.reconnectNow();")
    page.wait_for(lambda: any(t.get_attribute("data-kind") == "finished"
                              for t in page.find_all("toast")))
    said: list[str] = page.wait_for(lambda: driver.execute_script(
        "return window.__said.some((t) => t.includes('Run finished')) && window.__said"))
    failures = [text for text in said if "test_breaks" in text]
    assert sum(text.count("test_breaks_first") for text in failures) == 1, said
    assert sum(text.count("test_breaks_second") for text in failures) == 1, said
    # The failure toasts are for the eyes: not live regions of their own.
    for toast in page.find_all("toast"):
        if toast.get_attribute("data-kind") == "failure":
            assert toast.get_attribute("role") is None
    assert driver.execute_script(
        "return document.getElementById('toasts').getAttribute('aria-live')") is None
