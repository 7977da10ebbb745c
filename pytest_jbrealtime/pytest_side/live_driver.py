"""The watched WebDriver: Selenium's EventFiringWebDriver with a listener that publishes.

Imported only by :func:`pytest_jbrealtime.pytest_side.selenium.watch` while a run is watched, so
neither Selenium nor this module is loaded when the plugin is off.

Events: ``browser_action`` for each command (navigate, back, forward, find, click,
change_value, execute_script, close, quit, exception), ``page_loaded`` after a
navigation (a click that opened a new document counts), with ``load_time`` from the
browser's navigation timing, and screenshots after navigations and clicks in
``actions`` mode. The listener never raises into the test: a failure of its own is
dropped, the command goes on.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, cast

from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.command import Command
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.abstract_event_listener import AbstractEventListener
from selenium.webdriver.support.event_firing_webdriver import (
    EventFiringWebDriver,
    EventFiringWebElement,
)

from pytest_jbrealtime.protocol.events import BrowserAction, BrowserActionDetails, PageLoaded
from pytest_jbrealtime.pytest_side.publisher import EventPublisher
from pytest_jbrealtime.pytest_side.screenshots import ScreenshotStore

if TYPE_CHECKING:
    from typing import Unpack  # 3.11; only read by mypy

NAVIGATION_SCRIPT = (
    "const n = performance.getEntriesByType('navigation')[0];"
    "return [location.href, performance.timeOrigin, n ? n.loadEventEnd : null,"
    " n ? n.domContentLoadedEventEnd : null];"
)
MAX_MESSAGE_CHARS = 500
MAX_SCRIPT_CHARS = 120
LOCATOR_ATTRIBUTE = "_jb_live_locator"


def _first_line(text: str, limit: int) -> str:
    lines = text.strip().splitlines()
    return lines[0][:limit] if lines else ""


def _locator(element: Any) -> str | None:
    return getattr(element, LOCATOR_ATTRIBUTE, None)


def _label(element: Any, locator: str) -> None:
    with contextlib.suppress(Exception):  # a foreign element type: it goes unlabelled
        setattr(element, LOCATOR_ATTRIBUTE, locator)


def _alert_open(driver: WebDriver) -> bool:
    # Any other command would make the browser dismiss the alert the test is about to read.
    try:
        driver.execute(Command.W3C_GET_ALERT_TEXT)
    except NoAlertPresentException:
        return False
    return True


class LiveListener(AbstractEventListener):
    """Turns the driver's commands into events; calls the user's own listener first."""

    def __init__(
        self,
        publisher: EventPublisher,
        store: ScreenshotStore | None,
        show_typed_text: bool,
        chained: AbstractEventListener | None = None,
    ) -> None:
        self.publisher = publisher
        self.store = store
        self.show_typed_text = show_typed_text
        self.chained = chained
        self.url: str | None = None
        self.time_origin: float | None = None
        self.last_test_id: str | None = None
        self.quit_done = False
        # Set by LiveWebElement just before send_keys / clear: the listener is not told.
        self.typed: tuple[Any, ...] | None = None
        self._pending_element: str | None = None

    # -- publishing ----------------------------------------------------------------

    def _emit(self, event_type: str, fields: BrowserAction | PageLoaded) -> None:
        test_id = self.publisher.current_test_id
        if test_id is not None:
            fields["test_id"] = test_id
            self.last_test_id = test_id
        self.publisher.publish(event_type, fields)
        # Browser commands are slow next to a pipe write: show each one as it happens.
        self.publisher.flush()

    def _action(
        self, action: str, element: str | None = None, url: str | None = None,
        **details: Unpack[BrowserActionDetails],
    ) -> None:
        self._pending_element = element
        fields: BrowserAction = {"action": action, "element": element,
                                 "url": url if url is not None else self.url}
        # The details are checked where they are passed (Unpack); mypy cannot merge them.
        cast("dict[str, Any]", fields).update(details)
        self._emit("browser_action", fields)

    def _navigated(self, driver: WebDriver, always: bool) -> None:
        """Publish ``page_loaded`` if a new document is showing (or ``always``)."""
        if _alert_open(driver):
            return
        href, origin, load_end, dom_end = driver.execute_script(NAVIGATION_SCRIPT)
        new_document = origin != self.time_origin
        self.url, self.time_origin = href, origin
        if not (always or new_document):
            return
        load_time = load_end if load_end else dom_end
        loaded: PageLoaded = {
            "url": href, "load_time": round(float(load_time), 1) if load_time else None,
        }
        self._emit("page_loaded", loaded)

    def _maybe_screenshot(self, driver: WebDriver, name: str) -> None:
        store = self.store
        if store is not None and store.due_after_action(driver):
            store.capture(driver, name, "action", self.publisher.current_test_id)

    def _safely(self, method: str, *args: Any) -> None:
        """Run the user's listener method (its errors are the test's), then ours (never)."""
        if self.chained is not None:
            getattr(self.chained, method)(*args)
        # The plugin must not break the test's command: our own failure is dropped.
        with contextlib.suppress(Exception):
            getattr(self, f"_on_{method}")(*args)

    # -- AbstractEventListener -------------------------------------------------------

    def before_navigate_to(self, url: str, driver: WebDriver) -> None:
        self._safely("before_navigate_to", url, driver)

    def _on_before_navigate_to(self, url: str, driver: WebDriver) -> None:
        self._action("navigate", url=url)

    def after_navigate_to(self, url: str, driver: WebDriver) -> None:
        self._safely("after_navigate_to", url, driver)

    def _on_after_navigate_to(self, url: str, driver: WebDriver) -> None:
        self._navigated(driver, always=True)
        self._maybe_screenshot(driver, f"after navigate to {self.url}")

    def before_navigate_back(self, driver: WebDriver) -> None:
        self._safely("before_navigate_back", driver)

    def _on_before_navigate_back(self, driver: WebDriver) -> None:
        self._action("back")

    def after_navigate_back(self, driver: WebDriver) -> None:
        self._safely("after_navigate_back", driver)

    def _on_after_navigate_back(self, driver: WebDriver) -> None:
        self._navigated(driver, always=True)
        self._maybe_screenshot(driver, f"after back to {self.url}")

    def before_navigate_forward(self, driver: WebDriver) -> None:
        self._safely("before_navigate_forward", driver)

    def _on_before_navigate_forward(self, driver: WebDriver) -> None:
        self._action("forward")

    def after_navigate_forward(self, driver: WebDriver) -> None:
        self._safely("after_navigate_forward", driver)

    def _on_after_navigate_forward(self, driver: WebDriver) -> None:
        self._navigated(driver, always=True)
        self._maybe_screenshot(driver, f"after forward to {self.url}")

    def before_find(self, by: str, value: Any, driver: WebDriver) -> None:
        self._safely("before_find", by, value, driver)

    def _on_before_find(self, by: str, value: Any, driver: WebDriver) -> None:
        self._action("find", f"{by}={value}")

    def after_find(self, by: str, value: Any, driver: WebDriver) -> None:
        if self.chained is not None:
            self.chained.after_find(by, value, driver)

    def before_click(self, element: WebElement, driver: WebDriver) -> None:
        self._safely("before_click", element, driver)

    def _on_before_click(self, element: WebElement, driver: WebDriver) -> None:
        self._action("click", _locator(element))

    def after_click(self, element: WebElement, driver: WebDriver) -> None:
        self._safely("after_click", element, driver)

    def _on_after_click(self, element: WebElement, driver: WebDriver) -> None:
        self._navigated(driver, always=False)
        self._maybe_screenshot(driver, f"after click on {_locator(element) or 'an element'}")

    def before_change_value_of(self, element: WebElement, driver: WebDriver) -> None:
        self._safely("before_change_value_of", element, driver)

    def _on_before_change_value_of(self, element: WebElement, driver: WebDriver) -> None:
        typed, self.typed = self.typed, None
        extra: BrowserActionDetails = {}
        if typed is None:  # typed through an element we did not wrap: length unknown
            extra["typed_characters"] = None
        elif not typed:
            extra["cleared"] = True
            extra["typed_characters"] = 0
        else:
            text = "".join(str(part) for part in typed)
            extra["typed_characters"] = len(text)
            if self.show_typed_text:
                extra["text"] = text
        self._action("change_value", _locator(element), **extra)

    def after_change_value_of(self, element: WebElement, driver: WebDriver) -> None:
        if self.chained is not None:
            self.chained.after_change_value_of(element, driver)

    def before_execute_script(self, script: str, driver: WebDriver) -> None:
        self._safely("before_execute_script", script, driver)

    def _on_before_execute_script(self, script: str, driver: WebDriver) -> None:
        self._action("execute_script", script=_first_line(str(script), MAX_SCRIPT_CHARS))

    def after_execute_script(self, script: str, driver: WebDriver) -> None:
        if self.chained is not None:
            self.chained.after_execute_script(script, driver)

    def before_close(self, driver: WebDriver) -> None:
        self._safely("before_close", driver)

    def _on_before_close(self, driver: WebDriver) -> None:
        self._action("close")

    def after_close(self, driver: WebDriver) -> None:
        if self.chained is not None:
            self.chained.after_close(driver)

    def before_quit(self, driver: WebDriver) -> None:
        self._safely("before_quit", driver)

    def _on_before_quit(self, driver: WebDriver) -> None:
        self._action("quit")

    def after_quit(self, driver: WebDriver) -> None:
        self.quit_done = True
        if self.store is not None:
            self.store.forget(driver)
        if self.chained is not None:
            self.chained.after_quit(driver)

    def on_exception(self, exception: Exception, driver: WebDriver) -> None:
        self._safely("on_exception", exception, driver)

    def _on_on_exception(self, exception: Exception, driver: WebDriver) -> None:
        self._action(
            "exception",
            self._pending_element,
            error_type=type(exception).__name__,
            message=_first_line(str(exception), MAX_MESSAGE_CHARS),
        )


def _as_live(result: Any, ef_driver: LiveDriver, locator: str | None) -> Any:
    """Selenium's wrapped elements as LiveWebElements, labelled with how they were found."""
    if isinstance(result, list):
        return [
            _as_live(item, ef_driver, f"{locator}[{index}]" if locator else None)
            for index, item in enumerate(result)
        ]
    if type(result) is EventFiringWebElement:
        raw = result.wrapped_element
        if locator is not None:
            _label(raw, locator)
        return LiveWebElement(raw, ef_driver)
    return result


class LiveWebElement(EventFiringWebElement):
    """An element of a watched driver: tells the listener what is typed into it."""

    def _live_listener(self) -> LiveListener | None:
        listener = self._listener
        return listener if isinstance(listener, LiveListener) else None

    def send_keys(self, *value: Any) -> None:
        listener = self._live_listener()
        if listener is not None:
            listener.typed = value
        super().send_keys(*value)

    def clear(self) -> None:
        listener = self._live_listener()
        if listener is not None:
            listener.typed = ()
        super().clear()

    def _live_driver(self) -> LiveDriver:
        return cast(LiveDriver, self._ef_driver)

    def _child_locator(self, by: str, value: Any) -> str:
        parent = _locator(self.wrapped_element)
        return f"{parent} >> {by}={value}" if parent else f"{by}={value}"

    def find_element(self, by: str = By.ID, value: Any = None) -> WebElement:
        found = super().find_element(by, value)
        return _as_live(found, self._live_driver(), self._child_locator(by, value))  # type: ignore[no-any-return]

    def find_elements(self, by: str = By.ID, value: Any = None) -> list[WebElement]:
        found = super().find_elements(by, value)
        return _as_live(found, self._live_driver(), self._child_locator(by, value))  # type: ignore[no-any-return]


class LiveDriver(EventFiringWebDriver):
    """A watched WebDriver: behaves as the driver it wraps, and publishes what it does."""

    @property
    def jb_live_listener(self) -> LiveListener:
        return cast(LiveListener, self._listener)

    def find_element(self, by: str = By.ID, value: Any = None) -> WebElement:
        return _as_live(super().find_element(by, value), self, f"{by}={value}")  # type: ignore[no-any-return]

    def find_elements(self, by: str = By.ID, value: Any = None) -> list[WebElement]:
        return _as_live(super().find_elements(by, value), self, f"{by}={value}")  # type: ignore[no-any-return]

    def execute_script(self, script: str, *args: Any) -> Any:
        return _as_live(super().execute_script(script, *args), self, None)

    def execute_async_script(self, script: str, *args: Any) -> Any:
        result = super().execute_async_script(script, *args)  # type: ignore[no-untyped-call]
        return _as_live(result, self, None)

    def __repr__(self) -> str:
        return f"<watched {self.wrapped_driver!r}>"


def make_live_driver(
    driver: Any, publisher: EventPublisher, store: ScreenshotStore | None, show_typed_text: bool
) -> LiveDriver:
    """Wrap ``driver`` (a WebDriver, or an EventFiringWebDriver whose listener is kept)."""
    chained: AbstractEventListener | None = None
    if isinstance(driver, EventFiringWebDriver):
        # Selenium has no public way to read it; keeping the user's listener is the point.
        chained = driver._listener
        driver = driver.wrapped_driver
    listener = LiveListener(publisher, store, show_typed_text, chained)
    listener.last_test_id = publisher.current_test_id
    return LiveDriver(driver, listener)
