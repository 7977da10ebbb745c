"""The ``jb_live`` fixture: steps, progress, custom events and screenshots in one handle.

Always available (the plugin registers it whether or not ``--jb-live`` is given), so
a test that uses it runs the same unwatched; every call is then a no-op.
"""

from __future__ import annotations

from typing import Any, TypeVar

import pytest

from pytest_jbrealtime.pytest_side import selenium, steps
from pytest_jbrealtime.pytest_side.publisher import active_publisher

DriverT = TypeVar("DriverT")


class LiveTest:
    """What a test can add to the live view of itself."""

    @property
    def enabled(self) -> bool:
        """Whether this run is being watched (``--jb-live``)."""
        return active_publisher() is not None

    @property
    def test_id(self) -> str | None:
        publisher = active_publisher()
        return publisher.current_test_id if publisher is not None else None

    def step(self, name: str) -> steps.step:
        """A named step: ``with jb_live.step("Log in"):`` or as a decorator."""
        return steps.step(name)

    def progress(self, percentage: float, name: str | None = None) -> None:
        """Move the test's progress bar to ``percentage`` (0-100)."""
        steps.progress(percentage, name)

    def emit(self, event_type: str, data: Any = None) -> None:
        """A ``custom`` event; InvalidEventError for a reserved or malformed type or data."""
        steps.emit(event_type, data)

    def watch(self, driver: DriverT, *, show_typed_text: bool | None = None) -> DriverT:
        return selenium.watch(driver, show_typed_text=show_typed_text)

    def screenshot(self, driver: Any, name: str = "screenshot") -> str | None:
        return selenium.screenshot(driver, name)


@pytest.fixture
def jb_live() -> LiveTest:
    """Steps, progress, custom events and screenshots for the live viewer (no-ops when off)."""
    return LiveTest()
