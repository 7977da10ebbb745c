"""Selenium, live: real headless Chromium, a real login site, a real WebSocket viewer.

Each inner suite runs in a ``pytest --jb-live`` subprocess; the outer test watches
it over WebSocket as a viewer would, and opens "gates" (files) that the inner tests
wait for, which proves the events arrived while those tests were still running.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

import pytest_jbrealtime
from tests.selenium_suite import SITE, missing_browser
from tests.support import LiveProcess, Watched, of_test, watch_reacting

pytestmark = pytest.mark.browser

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PASSWORD = "s3cret-pw"


@pytest.fixture(autouse=True)
def _browser_installed() -> None:
    problem = missing_browser()
    if problem is not None:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests must run in CI: {problem}")
        pytest.skip(problem)


@pytest.fixture
def site_suite(suite_dir: pytest.Pytester, tmp_path: Path) -> pytest.Pytester:
    suite_dir.makeconftest(SITE)
    return suite_dir


def results(watched: Watched) -> dict[str, str]:
    return {e["test_id"]: e["result"] for e in watched.of_type("test_completed")}


LOGIN_TESTS = f"""
from selenium.webdriver.common.by import By


def test_login(browser, site, wait_for_gate):
    browser.get(site + "/login")
    browser.find_element(By.ID, "username").send_keys("admin")
    browser.find_element(By.ID, "password").send_keys("{PASSWORD}")
    browser.find_element(By.CSS_SELECTOR, "#login").click()
    assert browser.find_element(By.ID, "greeting").text == "Welcome, admin"
    wait_for_gate("login-seen")


def test_dashboard_fails(browser, site):
    browser.get(site + "/welcome?user=guest")
    assert browser.find_element(By.ID, "greeting").text == "Welcome, admin"


def test_zz_after_failure(wait_for_gate):
    wait_for_gate("failure-screenshot-fetched")
"""


def test_login_streams_actions_page_loads_and_screenshots_while_it_runs(
    site_suite: pytest.Pytester, start_live: Callable[..., LiveProcess], tmp_path: Path
) -> None:
    site_suite.makepyfile(test_login=LOGIN_TESTS)
    gates = tmp_path / "gates"
    gates.mkdir()
    run = start_live(
        site_suite.path, "--jb-live-wait-viewers", "1",
        "--jb-live-screenshots", "actions", "--jb-live-screenshot-interval", "0",
        env={"JB_TEST_GATE_DIR": str(gates)},
    )
    login, failing = "test_login.py::test_login", "test_login.py::test_dashboard_fails"
    seen: dict[str, Any] = {}

    def fetch(url: str, token: str | None) -> httpx.Response:
        query = {"token": token} if token is not None else {}
        return httpx.get(f"{run.http_base}{url}", params=query, timeout=10)

    def react(watched: Watched) -> None:
        if not (gates / "login-seen").exists():
            events = of_test(watched, login, "page_loaded", "screenshot_captured")
            welcome = [i for i, e in enumerate(events)
                       if e["type"] == "page_loaded" and e["url"].endswith("/welcome?user=admin")]
            if welcome and any(e["type"] == "screenshot_captured" for e in events[welcome[0]:]):
                seen["login_completed_before_gate"] = bool(of_test(watched, login,
                                                                   "test_completed"))
                shot = events[-1]
                seen["login_shot"] = fetch(shot["screenshot_url"], run.token)
                (gates / "login-seen").touch()
        if not (gates / "failure-screenshot-fetched").exists():
            shots = [e for e in of_test(watched, failing, "screenshot_captured")
                     if e["reason"] == "failure"]
            if shots:
                url = shots[0]["screenshot_url"]
                seen["failure_shot"] = fetch(url, run.token)
                seen["failure_shot_no_token"] = fetch(url, None)
                seen["failure_shot_bad_token"] = fetch(url, run.token[:-4] + "AAAA")
                seen["failing_completed_before_fetch"] = bool(of_test(watched, failing,
                                                                      "test_completed"))
                (gates / "failure-screenshot-fetched").touch()

    watched = watch_reacting(run.ws_url(), react)
    assert run.wait() == 1, run.output
    assert results(watched) == {
        login: "passed", failing: "failed", "test_login.py::test_zz_after_failure": "passed",
    }, run.output
    assert watched.seqs == list(range(1, len(watched.events) + 1))

    # Seen while the login test was still running (it waited for the gate).
    assert seen["login_completed_before_gate"] is False
    assert seen["login_shot"].status_code == 200
    assert seen["login_shot"].content.startswith(PNG_SIGNATURE)

    timeline = [
        (e["type"], e.get("action"), e.get("element"))
        for e in of_test(watched, login, "browser_action", "page_loaded", "screenshot_captured")
    ]
    assert timeline == [
        ("browser_action", "navigate", None),
        ("page_loaded", None, None),
        ("screenshot_captured", None, None),
        ("browser_action", "find", "id=username"),
        ("browser_action", "change_value", "id=username"),
        ("browser_action", "find", "id=password"),
        ("browser_action", "change_value", "id=password"),
        ("browser_action", "find", "css selector=#login"),
        ("browser_action", "click", "css selector=#login"),
        ("page_loaded", None, None),
        ("screenshot_captured", None, None),
        ("browser_action", "find", "id=greeting"),
    ]
    actions = of_test(watched, login, "browser_action")
    loads = of_test(watched, login, "page_loaded")
    assert actions[0]["url"].endswith("/login")
    assert [e["url"].rsplit("/", 1)[-1] for e in loads] == ["login", "welcome?user=admin"]
    assert all(isinstance(e["load_time"], float) and e["load_time"] > 0 for e in loads)
    assert actions[-1]["url"].endswith("/welcome?user=admin")  # the last known page

    # Typed text is hidden: the count is there, the text is nowhere in the stream.
    typed = [e for e in actions if e["action"] == "change_value"]
    assert [e["typed_characters"] for e in typed] == [5, len(PASSWORD)]
    assert all("text" not in e for e in typed)
    assert PASSWORD not in json.dumps(watched.events)

    # The failing test: its failure screenshot, served with the token and only with it.
    failure_shots = [e for e in of_test(watched, failing, "screenshot_captured")
                     if e["reason"] == "failure"]
    assert len(failure_shots) == 1
    assert failure_shots[0]["screenshot_url"] == (
        f"/screenshots/{failure_shots[0]['screenshot_id']}.png"
    )
    assert seen["failing_completed_before_fetch"] is False
    assert seen["failure_shot"].status_code == 200
    assert seen["failure_shot"].headers["content-type"] == "image/png"
    assert seen["failure_shot"].content.startswith(PNG_SIGNATURE)
    assert seen["failure_shot_no_token"].status_code == 401
    assert seen["failure_shot_bad_token"].status_code == 401
    assert not watched.of_type("warning")


ROBUSTNESS_TESTS = """
import pytest
from selenium.webdriver.common.by import By

import pytest_jbrealtime


def test_action_after_quit_raises_in_the_test(browser, site):
    browser.get(site + "/login")
    browser.quit()
    with pytest.raises(Exception):
        browser.get(site + "/login")
    assert pytest_jbrealtime.screenshot(browser, "after quit") is None


def test_killed_driver_then_failing(browser, site):
    browser.get(site + "/login")
    browser.service.process.kill()
    browser.service.process.wait()
    assert False, "intended failure after the browser died"


def test_killed_driver_screenshot_passes(browser, site):
    browser.get(site + "/login")
    browser.service.process.kill()
    browser.service.process.wait()
    assert pytest_jbrealtime.screenshot(browser, "dead") is None


def test_alert_is_left_for_the_test(browser, site, jb_live):
    browser.get(site + "/alert")
    browser.find_element(By.ID, "ask").click()
    assert pytest_jbrealtime.screenshot(browser, "with alert") is None
    alert = browser.switch_to.alert
    assert alert.text == "are you sure?"
    alert.accept()
    taken = pytest_jbrealtime.screenshot(browser, "after alert")
    assert (taken is not None) == jb_live.enabled


def test_typed_text_shown_when_asked(raw_browser, site):
    browser = pytest_jbrealtime.watch(raw_browser, show_typed_text=True)
    browser.get(site + "/login")
    browser.find_element(By.ID, "username").send_keys("visible-user")
    browser.find_element(By.ID, "username").clear()
"""


def test_dead_browser_and_alert_leave_results_unchanged(
    site_suite: pytest.Pytester, start_live: Callable[..., LiveProcess]
) -> None:
    site_suite.makepyfile(test_robust=ROBUSTNESS_TESTS)
    expected = {
        "test_robust.py::test_action_after_quit_raises_in_the_test": "passed",
        "test_robust.py::test_killed_driver_then_failing": "failed",
        "test_robust.py::test_killed_driver_screenshot_passes": "passed",
        "test_robust.py::test_alert_is_left_for_the_test": "passed",
        "test_robust.py::test_typed_text_shown_when_asked": "passed",
    }
    run = start_live(site_suite.path, "--jb-live-wait-viewers", "1",
                     "--jb-live-screenshots", "actions", "--jb-live-screenshot-interval", "0")
    watched = watch_reacting(run.ws_url(), lambda _w: None)
    assert run.wait() == 1, run.output
    assert results(watched) == expected, run.output
    assert "1 failed, 4 passed" in run.output

    # The same suite unwatched: the same outcomes.
    plain = site_suite.runpytest_subprocess("-p", "no:randomly")
    plain.assert_outcomes(passed=4, failed=1)

    def warnings_of(name: str) -> list[str]:
        return [e["message"] for e in of_test(watched, f"test_robust.py::{name}", "warning")]

    assert len(warnings_of("test_action_after_quit_raises_in_the_test")) == 1
    assert len(warnings_of("test_killed_driver_screenshot_passes")) == 1
    # The failure screenshot of a dead browser is a warning, not an error of the test.
    failing_warnings = warnings_of("test_killed_driver_then_failing")
    assert len(failing_warnings) == 1 and "failed" in failing_warnings[0]
    alert_warnings = warnings_of("test_alert_is_left_for_the_test")
    assert len(alert_warnings) == 2  # the action screenshot after the click, and ours
    assert all("alert is open" in m for m in alert_warnings)
    alert_shots = of_test(watched, "test_robust.py::test_alert_is_left_for_the_test",
                          "screenshot_captured")
    assert [e["name"] for e in alert_shots][-1] == "after alert"

    exceptions = [e for e in of_test(watched, "test_robust.py::test_action_after_quit_raises"
                                              "_in_the_test", "browser_action")
                  if e["action"] == "exception"]
    assert len(exceptions) == 1 and exceptions[0]["error_type"]

    shown = [e for e in of_test(watched, "test_robust.py::test_typed_text_shown_when_asked",
                                "browser_action") if e["action"] == "change_value"]
    assert [(e.get("text"), e["typed_characters"], e.get("cleared")) for e in shown] == [
        ("visible-user", 12, None), (None, 0, True),
    ]


PYTEST_SELENIUM_CONFTEST = """
import os
import pytest


@pytest.fixture
def chrome_options(chrome_options, tmp_path):
    os.environ["SE_OFFLINE"] = "true"
    chrome_options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}"):
        chrome_options.add_argument(flag)
    return chrome_options
"""

PYTEST_SELENIUM_TESTS = """
import os

from selenium.webdriver.common.by import By


def test_with_selenium_fixture(selenium, site):
    selenium.get(site + "/login")
    selenium.find_element(By.ID, "username").send_keys("admin")
    assert selenium.title == "Log in"
    assert type(selenium).__name__ == os.environ["EXPECTED_DRIVER_CLASS"]


def test_with_driver_fixture_fails(driver, site):
    driver.get(site + "/welcome?user=guest")
    assert driver.find_element(By.ID, "greeting").text == "nope"
"""


def test_pytest_selenium_fixture_is_watched_without_watch(
    site_suite: pytest.Pytester, start_live: Callable[..., LiveProcess],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("pytest_selenium")
    site_suite.makeconftest(SITE + PYTEST_SELENIUM_CONFTEST)
    site_suite.makepyfile(test_ps=PYTEST_SELENIUM_TESTS)
    options = ("--driver", "Chrome", "--driver-path", "/usr/bin/chromedriver")
    run = start_live(site_suite.path, "--jb-live-wait-viewers", "1", *options,
                     "--jb-live-show-typed-text", env={"EXPECTED_DRIVER_CLASS": "LiveDriver"})
    watched = watch_reacting(run.ws_url(), lambda _w: None)
    assert run.wait() == 1, run.output
    passing, failing = "test_ps.py::test_with_selenium_fixture", (
        "test_ps.py::test_with_driver_fixture_fails")
    assert results(watched) == {passing: "passed", failing: "failed"}, run.output
    timeline = [(e["type"], e.get("action"), e.get("element"))
                for e in of_test(watched, passing, "browser_action", "page_loaded")]
    assert timeline == [
        ("browser_action", "navigate", None),
        ("page_loaded", None, None),
        ("browser_action", "find", "id=username"),
        ("browser_action", "change_value", "id=username"),
    ]
    typed = [e for e in of_test(watched, passing, "browser_action")
             if e["action"] == "change_value"]
    assert [(e["typed_characters"], e["text"]) for e in typed] == [(5, "admin")]
    failure = of_test(watched, failing, "screenshot_captured")
    assert [e["reason"] for e in failure] == ["failure"]

    # Unwatched, pytest-selenium hands out its own driver, as before.
    monkeypatch.setenv("EXPECTED_DRIVER_CLASS", "WebDriver")
    plain = site_suite.runpytest_subprocess("-p", "no:randomly", *options)
    plain.assert_outcomes(passed=1, failed=1)


def test_watch_and_screenshot_are_no_ops_when_the_plugin_is_off() -> None:
    driver = object()
    assert pytest_jbrealtime.watch(driver) is driver
    assert pytest_jbrealtime.screenshot(driver, "x") is None
