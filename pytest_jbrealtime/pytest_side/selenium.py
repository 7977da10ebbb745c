"""Selenium, live: ``watch(driver)`` and ``screenshot(driver, name)``.

This module imports nothing from Selenium: with the plugin off, ``watch`` hands the
driver back untouched and ``screenshot`` does nothing, at the cost of one function
call. With it on, the driver is wrapped by ``live_driver.LiveDriver`` (Selenium's own
EventFiringWebDriver), which behaves as the driver it wraps.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from pytest_jbrealtime.pytest_side.publisher import active_publisher
from pytest_jbrealtime.pytest_side.screenshots import active_store

if TYPE_CHECKING:
    from pytest_jbrealtime.pytest_side.live_driver import LiveDriver

DriverT = TypeVar("DriverT")

_show_typed_text = False
_watched: weakref.WeakSet[LiveDriver] = weakref.WeakSet()
# Called once, when the run's first driver is watched (user_events.py adds its hooks).
_on_first_watch: Callable[[], None] | None = None


def set_watch_defaults(
    show_typed_text: bool, on_first_watch: Callable[[], None] | None = None
) -> None:
    """The run's defaults for drivers watched from now on (from --jb-live-show-typed-text),
    and what to call when the first one is."""
    global _show_typed_text, _on_first_watch
    _show_typed_text = show_typed_text
    _on_first_watch = on_first_watch


def watch(driver: DriverT, *, show_typed_text: bool | None = None) -> DriverT:
    """The same driver, publishing what it does to the live run (unchanged when off).

    ``show_typed_text`` puts the text typed into fields in the events; by default they
    only say how many characters were typed (it is often a password).
    """
    publisher = active_publisher()
    if publisher is None:
        return driver
    from pytest_jbrealtime.pytest_side.live_driver import LiveDriver, make_live_driver

    if isinstance(driver, LiveDriver):
        return driver
    live = make_live_driver(
        driver,
        publisher,
        active_store(),
        _show_typed_text if show_typed_text is None else show_typed_text,
    )
    _watched.add(live)
    global _on_first_watch
    first, _on_first_watch = _on_first_watch, None
    if first is not None:
        # In the user's test: whatever goes wrong there is the plugin's, never theirs
        # (the driver is watched all the same; only its failure screenshots are lost).
        with contextlib.suppress(Exception):
            first()
    return live  # type: ignore[return-value]


def watched_drivers() -> Iterator[LiveDriver]:
    """The watched drivers still in use (not garbage collected)."""
    return iter(list(_watched))


def unwrap(driver: Any) -> Any:
    """The WebDriver under any EventFiringWebDriver wrapping (ours or the user's)."""
    while True:
        inner = getattr(driver, "wrapped_driver", None)
        if inner is None or inner is driver:
            return driver
        driver = inner


def screenshot(driver: Any, name: str = "screenshot") -> str | None:
    """Take a screenshot now and stream it to the viewers; its id, or None.

    Never raises for a browser that cannot be captured (gone, hung, an alert open):
    that becomes a ``warning`` event. A no-op returning None when the plugin is off.
    """
    store = active_store()
    publisher = active_publisher()
    if store is None or publisher is None:
        return None
    test_id = publisher.current_test_id
    try:
        raw = unwrap(driver)
    except Exception as exc:  # an object that is no driver at all
        store.warn(f"screenshot {name!r} not taken: {exc!r}", test_id)
        return None
    return store.capture(raw, name, "manual", test_id)
