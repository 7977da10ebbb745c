"""Calls ``pytest_jb_live_event`` (hookspecs.py) for each event this process publishes.

It costs nothing while no plugin implements the hook: the publisher only gets an
observer once one does (pluggy's call with no implementations still costs ~8 µs,
measured, and the publisher is the hot path). Conftest files load during collection,
so the check runs again on each ``pytest_plugin_registered``.

The hook runs in the process that publishes the event: the pytest process of a
serial run, or the xdist worker a test runs on (events the server makes itself, the
monitor's, are not seen). Custom events emitted from inside the hook are published
but not passed to the hook again, so a plugin that answers every event cannot loop.
They are about the same test as the event they answer (``test_id``), if any.
"""

from __future__ import annotations

from collections.abc import Callable
from types import MappingProxyType
from typing import Any

import pytest

from pytest_jbrealtime.pytest_side.publisher import EventPublisher
from pytest_jbrealtime.pytest_side.steps import publish_custom, validate_custom_event

EVENT_HOOK_NAME = "jb-live-event-hook"


class EventHook:
    """Registered as a plugin next to a publisher; the publisher's observer when needed."""

    def __init__(
        self, config: pytest.Config, publisher: EventPublisher, warn: Callable[[str], None]
    ) -> None:
        self.config = config
        self.publisher = publisher
        self.warn = warn
        self._hook = config.hook.pytest_jb_live_event
        self._inside = False
        self._failed: set[str] = set()

    def pytest_plugin_registered(self) -> None:
        self.publisher.observer = self.observe if self._hook.get_hookimpls() else None

    def observe(self, event: dict[str, Any]) -> None:
        if self._inside:  # an event the hook itself emitted
            return
        self._inside = True
        try:
            test_id = event.get("test_id", self.publisher.current_test_id)

            def emit(event_type: str, data: Any = None) -> None:
                """A ``custom`` event about the same test, validated as ``jb_live.emit``."""
                clean = validate_custom_event(event_type, data)
                publish_custom(self.publisher, event_type, clean, test_id)

            self._hook(event=MappingProxyType(event), emit=emit, config=self.config)
        except Exception as exc:
            # Another plugin's bug must not change the run's outcome: say so, once per kind.
            kind = f"{type(exc).__name__}: {exc}"
            if kind not in self._failed:
                self._failed.add(kind)
                self.warn(f"a pytest_jb_live_event hook failed ({kind}); the run goes on")
        finally:
            self._inside = False
