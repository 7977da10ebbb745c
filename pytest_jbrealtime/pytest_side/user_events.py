"""UserEventsPlugin: what tests raise themselves — steps, custom events, Selenium.

Registered next to the session plugin while a run is watched. It sets up the step
tracker and the screenshot store that ``steps.py``, ``selenium.py`` and the
``jb_live`` fixture use; when pytest-selenium is there, watches its ``driver`` fixture
without any change to the user's tests; once a driver is watched, takes the failure
screenshot of a test that used it. A test's phases, which place its steps, are kept
by whoever publishes them (``EventPublisher.current_phase``).
"""

from __future__ import annotations

import sys
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
PYTEST_SELENIUM_WATCHER = "jb-live-pytest-selenium"
FAILURE_SCREENSHOTS = "jb-live-failure-screenshots"


def _is_pytest_selenium_driver(fixturedef: pytest.FixtureDef[Any]) -> bool:
    return fixturedef.argname == "driver" and (
        getattr(fixturedef.func, "__module__", None) == PYTEST_SELENIUM_MODULE
    )


class UserEventsPlugin:
    """Sets up what user code publishes through; adds the hooks Selenium needs only when
    it is there (none run for a test that uses no browser: a hook a test costs pytest's
    thread, docs/benchmarks.md)."""

    def __init__(
        self,
        settings: LiveSettings,
        publisher: EventPublisher,
        session_plugin: LivePlugin | None,
        run_dir: Path | None,
        pluginmanager: pytest.PytestPluginManager,
    ) -> None:
        self.publisher = publisher
        self.pluginmanager = pluginmanager
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
        set_watch_defaults(settings.jb_live_show_typed_text, on_first_watch=self._watching)
        selenium = sys.modules.get(PYTEST_SELENIUM_MODULE)
        if selenium is not None and pluginmanager.is_registered(selenium):
            pluginmanager.register(PytestSeleniumWatcher(), PYTEST_SELENIUM_WATCHER)

    def _watching(self) -> None:
        """The first driver is watched: from now on a failed test gets its screenshot."""
        if self.store.mode != "off" and not self.pluginmanager.has_plugin(FAILURE_SCREENSHOTS):
            self.pluginmanager.register(FailureScreenshots(self.store), FAILURE_SCREENSHOTS)

    def close(self) -> None:
        set_active_tracker(None)
        set_active_store(None)
        set_watch_defaults(False)

    def pytest_unconfigure(self) -> None:
        self.close()


class PytestSeleniumWatcher:
    """Watches pytest-selenium's ``driver`` fixture without any change to the user's tests
    (registered only when pytest-selenium is: it wraps every fixture's setup)."""

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


class FailureScreenshots:
    """The failure screenshot of a test that used a watched driver (registered once a
    driver is watched: a run without a browser pays nothing for it)."""

    def __init__(self, store: ScreenshotStore) -> None:
        self.store = store

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        if report.failed and report.when != "teardown":
            # Now, before teardown: the driver fixture quits the browser there.
            self._take(item.nodeid, report.when)
        return report

    def _take(self, test_id: str, when: str) -> None:
        for driver in watched_drivers():
            try:
                listener = driver.jb_live_listener
                if listener.last_test_id != test_id or listener.quit_done:
                    continue
                self.store.capture(driver.wrapped_driver, f"{when} failed", "failure", test_id)
            except Exception as exc:  # never into pytest's report
                self.store.warn(f"failure screenshot not taken: {exc!r}", test_id)
