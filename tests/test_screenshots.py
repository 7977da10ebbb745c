"""Units: the screenshot store and the screenshot route (the real browser: test_selenium_live)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from selenium.common.exceptions import NoAlertPresentException, WebDriverException

from pytest_jbrealtime.pytest_side.publisher import EventPublisher
from pytest_jbrealtime.pytest_side.screenshots import SCREENSHOT_TIMEOUT, ScreenshotStore
from pytest_jbrealtime.server.screenshots import find_screenshot
from tests.support import ListSink


class ClientConfig:
    timeout: float | None = 120.0


class Executor:
    def __init__(self) -> None:
        self._client_config = ClientConfig()


class FakeDriver:
    """Stands in for a WebDriver: an optional alert, a PNG or an error."""

    def __init__(self, png: bytes = b"\x89PNG fake", alert: str | None = None,
                 error: Exception | None = None) -> None:
        self.command_executor = Executor()
        self.alert = alert
        self.error = error
        self.png = png
        self.timeouts_seen: list[float | None] = []

    def execute(self, command: str) -> dict[str, Any]:
        if self.error is not None:
            raise self.error
        if self.alert is None:
            raise NoAlertPresentException()
        return {"value": self.alert}

    def get_screenshot_as_png(self) -> bytes:
        self.timeouts_seen.append(self.command_executor._client_config.timeout)
        return self.png


def store_with(tmp_path: Path, **kwargs: Any) -> tuple[ScreenshotStore, ListSink]:
    sink = ListSink()
    return ScreenshotStore(EventPublisher(sink), tmp_path, **kwargs), sink


def test_capture_writes_the_file_and_bounds_the_browser_timeout(tmp_path: Path) -> None:
    store, sink = store_with(tmp_path)
    driver = FakeDriver()
    screenshot_id = store.capture(driver, "home", "manual", "t.py::test_a")
    assert screenshot_id is not None
    assert (tmp_path / "screenshots" / f"{screenshot_id}.png").read_bytes() == driver.png
    assert driver.timeouts_seen == [SCREENSHOT_TIMEOUT]
    assert driver.command_executor._client_config.timeout == 120.0  # put back
    [event] = sink.events
    assert event["type"] == "screenshot_captured"
    assert event["screenshot_url"] == f"/screenshots/{screenshot_id}.png"
    assert (event["test_id"], event["name"], event["reason"]) == ("t.py::test_a", "home", "manual")


@pytest.mark.parametrize(
    ("driver", "expected"),
    [
        (FakeDriver(alert="sure?"), "an alert is open ('sure?')"),
        (FakeDriver(error=WebDriverException("invalid session id")), "invalid session id"),
    ],
)
def test_a_browser_that_cannot_be_captured_is_a_warning(
    tmp_path: Path, driver: FakeDriver, expected: str
) -> None:
    store, sink = store_with(tmp_path)
    assert store.capture(driver, "x", "failure", "t.py::test_a") is None
    [event] = sink.events
    assert event["type"] == "warning" and event["source"] == "screenshot"
    assert expected in event["message"]
    assert not list(tmp_path.glob("screenshots/*"))


def test_actions_mode_is_throttled_per_driver(tmp_path: Path) -> None:
    store, _ = store_with(tmp_path, mode="actions", interval_ms=60_000)
    first, second = FakeDriver(), FakeDriver()
    assert store.due_after_action(first)
    store.capture(first, "a", "action", None)
    assert not store.due_after_action(first)
    assert store.due_after_action(second)
    failure_store, _ = store_with(tmp_path, mode="failure")
    assert not failure_store.due_after_action(first)


def test_route_serves_only_well_formed_existing_ids(tmp_path: Path) -> None:
    (tmp_path / "screenshots").mkdir()
    (tmp_path / "screenshots" / "000001-abcd.png").write_bytes(b"png")
    (tmp_path / "secret.png").write_bytes(b"not a screenshot")
    folder = tmp_path / "screenshots"
    assert find_screenshot(folder, "000001-abcd") == folder / "000001-abcd.png"
    for bad in ("000002-none", "..", "../secret", "a.b", "x" * 65):
        assert find_screenshot(folder, bad) is None, bad
    assert find_screenshot(None, "000001-abcd") is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--jb-live-screenshots", "sometimes"), "expected one of off, failure, actions"),
        (("--jb-live-screenshot-interval", "-5"), "expected a whole number >= 0"),
    ],
)
def test_bad_screenshot_options_are_usage_errors(
    pytester: pytest.Pytester, args: tuple[str, ...], message: str
) -> None:
    pytester.makepyfile("def test_a(): pass")
    result = pytester.runpytest_subprocess(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{args[0]}: invalid value*{message}*"])
