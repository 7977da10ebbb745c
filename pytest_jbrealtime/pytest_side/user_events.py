"""UserEventsPlugin: what tests raise themselves — steps, custom events, Selenium.

Registered next to the session plugin while a run is watched. It sets up the step
tracker and the screenshot store that ``steps.py``, ``selenium.py`` and the
``jb_live`` fixture use, watches pytest-selenium's ``driver`` fixture without any
change to the user's tests, and takes the failure screenshot of a test that used a
watched driver.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from pytest_jbrealtime.pytest_side.publisher import EventPublisher
from pytest_jbrealtime.pytest_side.screenshots import ScreenshotStore, set_active_store
from pytest_jbrealtime.pytest_side.selenium import set_watch_defaults, watch, watched_drivers
from pytest_jbrealtime.pytest_side.session import LivePlugin
from pytest_jbrealtime.pytest_side.steps import StepTracker, set_active_tracker
from pytest_jbrealtime.shared.settings import LiveSettings

PYTEST_SELENIUM_MODULE = "pytest_selenium.pytest_selenium"


def _is_pytest_selenium_driver(fixturedef: pytest.FixtureDef[Any]) -> bool:
    return fixturedef.argname == "driver" and (
        getattr(fixturedef.func, "__module__", None) == PYTEST_SELENIUM_MODULE
    )


class UserEventsPlugin:
    def __init__(
        self,
        settings: LiveSettings,
        publisher: EventPublisher,
        session_plugin: LivePlugin | None,
        run_dir: Path | None,
    ) -> None:
        self.publisher = publisher
        self.tracker = StepTracker(
            publisher,
            expected_counts=session_plugin.history.step_counts if session_plugin else None,
            note_step=session_plugin.note_user_step if session_plugin else None,
        )
        self.store = ScreenshotStore(
            publisher,
            run_dir,
            mode=settings.jb_live_screenshots,
            interval_ms=settings.jb_live_screenshot_interval,
        )
        set_active_tracker(self.tracker)
        set_active_store(self.store)
        set_watch_defaults(settings.jb_live_show_typed_text)

    def close(self) -> None:
        set_active_tracker(None)
        set_active_store(None)
        set_watch_defaults(False)

    def pytest_unconfigure(self) -> None:
        self.close()

    # -- steps: which phase's window of the progress bar they move in ---------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        self.tracker.phase = "setup"

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_call(self, item: pytest.Item) -> None:
        self.tracker.phase = "call"

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> None:
        self.tracker.phase = "teardown"

    def pytest_runtest_logfinish(self, nodeid: str) -> None:
        self.tracker.test_finished(nodeid)

    # -- Selenium ----------------------------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_fixture_setup(
        self, fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
    ) -> Generator[None, Any, Any]:
        value = yield
        if not _is_pytest_selenium_driver(fixturedef):
            return value
        try:
            watched = watch(value)
            cached = fixturedef.cached_result
            if watched is not value and cached is not None and cached[2] is None:
                # pytest hands out the cached value to `selenium` and the test, not ours.
                fixturedef.cached_result = (watched, cached[1], None)
            return watched
        except Exception:  # an unexpected driver: the test gets it unwatched
            return value

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        if self.store.mode != "off" and report.failed and report.when != "teardown":
            # Now, before teardown: the driver fixture quits the browser there.
            self._failure_screenshots(item.nodeid, report.when)
        return report

    def _failure_screenshots(self, test_id: str, when: str) -> None:
        for driver in watched_drivers():
            try:
                listener = driver.jb_live_listener
                if listener.last_test_id != test_id or listener.quit_done:
                    continue
                self.store.capture(driver.wrapped_driver, f"{when} failed", "failure", test_id)
            except Exception as exc:  # never into pytest's report
                self.store.warn(f"failure screenshot not taken: {exc!r}", test_id)
