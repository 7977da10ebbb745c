"""The Stack button in real headless Chromium, on a real run: a click on a running
test's Stack shows the stack of its process, naming the function it is blocked in."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.browser.viewer_page import ViewerPage
from tests.test_stacks import SLEEPER, SLEEPS, suite

if TYPE_CHECKING:
    from selenium.webdriver import Chrome


def open_test(page: ViewerPage, driver: Chrome, test_id: str) -> None:
    page.search(test_id.split("::")[1])
    page.wait_for(lambda: page.visible_count() == 1)
    driver.find_element("css selector", f'[data-test-id="{test_id}"]').click()
    page.wait_for(lambda: page.text("detail-name") == test_id.split("::")[1])


def stack_functions(page: ViewerPage, testid: str) -> list[str]:
    """The functions of the test's own thread, outermost first (read in one go: the
    detail is rebuilt whenever its test changes)."""
    return list(page.driver.execute_script(
        "const t = document.querySelector(`[data-testid='${arguments[0]}'] "
        "details[data-current=true]`);"
        "return t ? [...t.querySelectorAll('.stack-function')].map((n) => n.textContent) : [];",
        testid))


def click(page: ViewerPage, testid: str) -> None:
    page.driver.execute_script(
        "document.querySelector(`[data-testid='${arguments[0]}']`).click()", testid)


def test_the_stack_button_shows_where_the_running_test_is(
    tmp_path: Path, start_live: Any, driver: Chrome
) -> None:
    directory, gates = suite(tmp_path)
    run = start_live(directory, "--jb-live-editor", "vscode",
                     env={"JB_TEST_GATE_DIR": str(gates)})
    page = ViewerPage(driver).open(run.wait_for_link())
    try:
        page.wait_for(lambda: page.statuses().get(SLEEPS) == "running")
        open_test(page, driver, SLEEPS)
        assert page.text("stack-status").startswith("Ask")
        click(page, "stack-button")
        # Read in one script: the detail is rebuilt whenever its running test changes.
        page.wait_for(lambda: page.driver.execute_script(
            "const n = document.querySelector(`[data-testid='stack-status']`);"
            "return n ? n.dataset.state : null;") == "answered")
        functions = stack_functions(page, "stack")
        assert SLEEPER in functions, functions
        assert functions[-1] == SLEEPER, "innermost last: blocked in time.sleep in it"
        assert page.driver.execute_script(
            "const open = document.querySelectorAll("
            "`[data-testid='stack'] details[data-current=true][open]`);"
            "return open.length === 1 && open[0].textContent.includes('time.sleep');")
        # path:line opens the editor (--jb-live-editor): the sleeper's frame is a link.
        href = page.driver.execute_script(
            "const links = document.querySelectorAll("
            "`[data-testid='stack'] details[data-current=true] a.stack-location`);"
            "return links.length ? links[links.length - 1].getAttribute('href') : null;")
        assert href and href.startswith("vscode://file/") and "test_sleepy.py:" in href, href
    finally:
        (gates / "sleeps").touch()
        (gates / "spins").touch()
    page.wait_finished(timeout=120)
    # Finished: no button, the last answer still shown.
    assert not page.find_all("stack-button")
    assert SLEEPER in stack_functions(page, "stack")
    assert run.wait(60) == 0
    assert not page.csp_violations()


def test_a_stalled_test_is_marked_with_its_stack(
    tmp_path: Path, start_live: Any, driver: Chrome
) -> None:
    directory, gates = suite(tmp_path)
    run = start_live(directory, "--jb-live-stall-after", "2",
                     env={"JB_TEST_GATE_DIR": str(gates)})
    page = ViewerPage(driver).open(run.wait_for_link())
    try:
        page.wait_for(lambda: page.statuses().get(SLEEPS) == "running")
        open_test(page, driver, SLEEPS)
        page.wait_for(lambda: page.find_all("stalled-mark"), timeout=60)
        row = driver.find_element("css selector", f'[data-test-id="{SLEEPS}"]')
        assert "stalled" in (row.get_attribute("class") or "")
        assert row.find_element("css selector", ".row-meta").text == "stalled"
        assert SLEEPER in stack_functions(page, "stalled-stack")
        assert "past 2" in page.text("stalled-section").lower()
        toasts = [t.text for t in page.find_all("toast")]
        assert any("Stalled: test_sleeps" in t for t in toasts), toasts
    finally:
        (gates / "sleeps").touch()
        (gates / "spins").touch()
    page.wait_finished(timeout=120)
    assert page.find_all("stalled-mark"), "the mark stays once the test has ended"
    assert run.wait(60) == 0
    assert not page.csp_violations()


def test_a_test_whose_worker_was_sigkilled_says_why_it_has_no_stack_of_its_end(
    tmp_path: Path, start_live: Any, driver: Chrome
) -> None:
    """The report's detail: the *interrupted* section says there is no stack from the
    end (SIGKILL) and shows its stall alert's, labelled."""
    from tests.test_interrupted import run_killed_with_sigkill

    report = tmp_path / "report.html"
    run_killed_with_sigkill(tmp_path, start_live, "--jb-live-report", str(report))
    page = ViewerPage(driver).open(report.as_uri())
    open_test(page, driver, SLEEPS)
    page.wait_for(lambda: page.find_all("interrupted-note"))
    note = page.text("interrupted-note")
    assert "nothing runs in a process killed with SIGKILL" in note, note
    assert "stall alert" in note, note
    assert "worker crashed (sigkill)" in page.text("interrupted-section").lower()
    assert SLEEPER in stack_functions(page, "interrupted-stack")
    assert not page.csp_violations()
