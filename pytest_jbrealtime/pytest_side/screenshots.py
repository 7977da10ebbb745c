"""Browser screenshots: taken from a Selenium driver, written under the run's folder.

Each one becomes a ``screenshot_captured`` event whose ``screenshot_url`` the
embedded server serves (``server/screenshots.py``). A screenshot that cannot be
taken (the browser is gone, hangs, or has an alert open) becomes a ``warning``
event: it never raises into the test and never changes its result.
"""

from __future__ import annotations

import contextlib
import secrets
from pathlib import Path
from typing import Any

from pytest_jbrealtime.protocol.events import PluginWarning, ScreenshotCaptured
from pytest_jbrealtime.pytest_side.publisher import EventPublisher
from pytest_jbrealtime.shared.recording import SCREENSHOTS_DIRECTORY
from pytest_jbrealtime.shared.unpatched import clock

# A screenshot of a hung browser must not hold the test for Selenium's default 120 s.
SCREENSHOT_TIMEOUT = 10.0
MAX_NAME_CHARS = 200


def _warning_text(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__


class _CommandTimeout:
    """Lowers the driver's HTTP timeout for one command, and puts it back."""

    def __init__(self, driver: Any, seconds: float) -> None:
        executor = getattr(driver, "command_executor", None)
        self._client_config = getattr(executor, "_client_config", None)
        self._seconds = seconds
        self._saved: Any = None

    def __enter__(self) -> None:
        config = self._client_config
        if config is None:
            return
        try:
            self._saved = config.timeout
            if self._saved is None or self._saved > self._seconds:
                config.timeout = self._seconds
        except Exception:  # another Selenium's config: go on with its own timeout
            self._client_config = None

    def __exit__(self, *exc_info: object) -> None:
        if self._client_config is not None:
            with contextlib.suppress(Exception):
                self._client_config.timeout = self._saved


def _alert_text(driver: Any) -> str | None:
    """The open alert's text, or None: a screenshot would dismiss the user's alert."""
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.remote.command import Command

    try:
        response = driver.execute(Command.W3C_GET_ALERT_TEXT)
    except NoAlertPresentException:
        return None
    value = response.get("value") if isinstance(response, dict) else None
    return str(value) if value is not None else ""


class ScreenshotStore:
    """Where screenshots go, how often automatic ones may be taken, and their events."""

    def __init__(
        self,
        publisher: EventPublisher,
        run_dir: Path | None,
        mode: str = "failure",
        interval_ms: int = 500,
    ) -> None:
        self.publisher = publisher
        self.directory = run_dir / SCREENSHOTS_DIRECTORY if run_dir is not None else None
        self.mode = mode
        self.interval = interval_ms / 1000.0
        self._count = 0
        self._last_taken: dict[int, float] = {}

    def due_after_action(self, driver: Any) -> bool:
        """Whether ``actions`` mode wants a screenshot of ``driver`` now (throttled)."""
        if self.mode != "actions":
            return False
        last = self._last_taken.get(id(driver))
        return last is None or clock.monotonic() - last >= self.interval

    def forget(self, driver: Any) -> None:
        self._last_taken.pop(id(driver), None)

    def warn(self, message: str, test_id: str | None) -> None:
        fields: PluginWarning = {"source": "screenshot", "message": message}
        if test_id is not None:
            fields["test_id"] = test_id
        self.publisher.publish("warning", fields)
        self.publisher.flush()

    def capture(
        self, driver: Any, name: str, reason: str, test_id: str | None
    ) -> str | None:
        """Take one screenshot of ``driver`` (an unwrapped WebDriver); its id, or None."""
        name = str(name)[:MAX_NAME_CHARS]
        if self.directory is None:
            self.warn(f"screenshot {name!r} not taken: this process has no run folder", test_id)
            return None
        self._last_taken[id(driver)] = clock.monotonic()
        started = clock.perf_counter()
        try:
            with _CommandTimeout(driver, SCREENSHOT_TIMEOUT):
                alert = _alert_text(driver)
                if alert is not None:
                    self.warn(
                        f"screenshot {name!r} not taken: an alert is open ({alert[:100]!r})",
                        test_id,
                    )
                    return None
                png = driver.get_screenshot_as_png()
        except Exception as exc:  # a dead or hung browser: the test goes on unchanged
            self.warn(f"screenshot {name!r} failed: {_warning_text(exc)}", test_id)
            return None
        self._count += 1
        screenshot_id = f"{self._count:06d}-{secrets.token_hex(4)}"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            (self.directory / f"{screenshot_id}.png").write_bytes(png)
        except OSError as exc:
            self.warn(f"screenshot {name!r} could not be written: {exc}", test_id)
            return None
        fields: ScreenshotCaptured = {
            "screenshot_id": screenshot_id,
            "screenshot_url": f"/screenshots/{screenshot_id}.png",
            "name": name,
            "reason": reason,
            "bytes": len(png),
            "capture_ms": round((clock.perf_counter() - started) * 1000, 1),
        }
        if test_id is not None:
            fields["test_id"] = test_id
        self.publisher.publish("screenshot_captured", fields)
        self.publisher.flush()
        return screenshot_id


_store: ScreenshotStore | None = None


def active_store() -> ScreenshotStore | None:
    """The running session's screenshot store, or None when the plugin is off."""
    return _store


def set_active_store(store: ScreenshotStore | None) -> None:
    global _store
    _store = store
