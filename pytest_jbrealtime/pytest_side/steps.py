"""User steps, progress and custom events, raised from inside tests.

``with step("Log in"):`` (or ``@step("Log in")``) emits ``test_progress`` when the
step begins and again when it ends (``passed`` / ``failed``); ``emit(type, data)``
emits a ``custom`` event. Everything here is a cheap no-op when the plugin is off,
except the validation of ``emit``: a malformed custom event is the caller's bug and
fails the same way whether or not the run is watched.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import ContextDecorator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from pytest_jbrealtime.protocol import PHASE_PROGRESS, PHASES, RESERVED_TYPES
from pytest_jbrealtime.protocol.events import Custom, TestProgress
from pytest_jbrealtime.pytest_side.publisher import EventPublisher, active_publisher
from pytest_jbrealtime.shared.unpatched import system

# Each phase's window of the progress bar: from its start to the next phase's (or 100).
PHASE_WINDOWS = {
    phase: (PHASE_PROGRESS[phase], PHASE_PROGRESS[PHASES[i + 1]] if i + 1 < len(PHASES) else 100.0)
    for i, phase in enumerate(PHASES)
}

CUSTOM_TYPE = re.compile(r"^[a-z][a-z0-9_]*([.:-][a-z0-9_]+)*$")
MAX_CUSTOM_TYPE_CHARS = 64
MAX_CUSTOM_DATA_BYTES = 64 * 1024


class InvalidEventError(ValueError):
    """A custom event whose type or data cannot be sent."""


def validate_custom_event(event_type: object, data: object) -> Any:
    """The data as plain JSON values (a copy), or InvalidEventError saying what is wrong."""
    if not isinstance(event_type, str):
        raise InvalidEventError(
            f"custom event type must be a str, not {type(event_type).__name__}"
        )
    if event_type in RESERVED_TYPES:
        raise InvalidEventError(
            f"custom event type {event_type!r} is reserved for the plugin's own events; "
            "pick another name (e.g. 'myplugin.{event_type}')"
        )
    if len(event_type) > MAX_CUSTOM_TYPE_CHARS or not CUSTOM_TYPE.match(event_type):
        raise InvalidEventError(
            f"custom event type {event_type[:80]!r} is malformed: use 1-"
            f"{MAX_CUSTOM_TYPE_CHARS} characters, lower-case letters, digits and '_', "
            "starting with a letter, parts joined by '.', ':' or '-' (e.g. 'cart.item_added')"
        )
    try:
        text = system.json_dumps(data, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidEventError(
            f"data of custom event {event_type!r} is not JSON: {exc}"
        ) from None
    if len(text.encode()) > MAX_CUSTOM_DATA_BYTES:
        raise InvalidEventError(
            f"data of custom event {event_type!r} is {len(text.encode())} bytes as JSON; "
            f"the limit is {MAX_CUSTOM_DATA_BYTES}"
        )
    # A copy: the caller may change its object after emitting, the event must not change.
    return system.json_loads(text)


def _error_summary(error: BaseException) -> str:
    message = str(error).strip().splitlines()
    return f"{type(error).__name__}: {message[0]}" if message else type(error).__name__


@dataclass
class _TestSteps:
    """The user steps of one test so far."""

    started: int = 0
    finished: int = 0
    open: list[int] = field(default_factory=list)


class StepTracker:
    """Numbers the user steps of the running test and places them on its progress bar.

    ``expected_counts`` are each test's step counts from its last run (pytest's
    cache); ``note_step`` tells the session how many steps a test has so far, to be
    kept for the next run.
    """

    def __init__(
        self,
        publisher: EventPublisher,
        expected_counts: dict[str, int] | None = None,
        note_step: Callable[[str, int], None] | None = None,
    ) -> None:
        self.publisher = publisher
        self._expected_counts = expected_counts or {}
        self._note_step = note_step
        self._tests: dict[str, _TestSteps] = {}

    @property
    def phase(self) -> str:
        """The running test's phase, as whoever publishes its phases keeps it."""
        return self.publisher.current_phase

    def test_finished(self, test_id: str) -> None:
        self._tests.pop(test_id, None)

    def _percentage(self, done: int, expected: int | None) -> float:
        """Where ``done`` finished steps of ``expected`` put the bar, within this phase.

        Each phase has its window, so steps never move the bar behind a phase's start.
        """
        low, high = PHASE_WINDOWS.get(self.phase, PHASE_WINDOWS["call"])
        if not expected:  # first run: the bar moves by phases only
            return low
        return round(low + (high - low) * min(done, expected) / expected, 1)

    def begin(self, name: str) -> tuple[str, int] | None:
        test_id = self.publisher.current_test_id
        if test_id is None:  # outside a test (e.g. a session fixture): nothing to show it on
            return None
        steps = self._tests.setdefault(test_id, _TestSteps())
        index = steps.started = steps.started + 1
        if self._note_step is not None:
            self._note_step(test_id, index)
        expected = self._expected_counts.get(test_id)
        parent = steps.open[-1] if steps.open else None
        steps.open.append(index)
        begun: TestProgress = {
            "test_id": test_id,
            "step_index": index,
            "step_name": name,
            "progress_percentage": self._percentage(steps.finished, expected),
            "status": "running",
            "kind": "user",
            "depth": len(steps.open) - 1,
            "parent_index": parent,
            "expected_steps": expected,
        }
        self.publisher.publish("test_progress", begun)
        self.publisher.flush()
        return test_id, index

    def end(self, token: tuple[str, int], name: str, error: BaseException | None) -> None:
        test_id, index = token
        steps = self._tests.get(test_id)
        if steps is not None:
            steps.finished += 1
            if index in steps.open:
                steps.open.remove(index)
        expected = self._expected_counts.get(test_id)
        fields: TestProgress = {
            "test_id": test_id,
            "step_index": index,
            "step_name": name,
            "progress_percentage": self._percentage(
                steps.finished if steps is not None else index, expected
            ),
            "status": "passed" if error is None else "failed",
            "kind": "user",
            "depth": len(steps.open) if steps is not None else 0,
        }
        if error is not None:
            fields["error"] = _error_summary(error)
        self.publisher.publish("test_progress", fields)
        self.publisher.flush()

    def progress(self, percentage: float, name: str | None) -> None:
        test_id = self.publisher.current_test_id
        if test_id is None:
            return
        steps = self._tests.get(test_id)
        progress: TestProgress = {
            "test_id": test_id,
            "step_index": steps.started if steps is not None else 0,
            "step_name": name,
            "progress_percentage": percentage,
            "status": "running",
            "kind": "progress",
        }
        self.publisher.publish("test_progress", progress)
        self.publisher.flush()


_tracker: StepTracker | None = None


def active_tracker() -> StepTracker | None:
    """The running session's step tracker, or None when the plugin is off."""
    return _tracker


def set_active_tracker(tracker: StepTracker | None) -> None:
    global _tracker
    _tracker = tracker


class step(ContextDecorator):  # lower case: it reads as a function, `with step("…"):`
    """A named step of the running test: a context manager or a decorator, nestable.

    ``test_progress`` is emitted when it begins (``status: running``) and when it ends
    (``passed``, or ``failed`` with ``error`` if it raised; the exception goes on).
    """

    def __init__(self, name: str) -> None:
        if not isinstance(name, str) or not name.strip():
            raise ValueError("a step needs a non-empty name")
        self.name = name
        self._token: tuple[str, int] | None = None

    def _recreate_cm(self) -> step:
        # Each call of a decorated function is its own step (and may recurse).
        return step(self.name)

    def __enter__(self) -> step:
        tracker = _tracker
        if tracker is not None:
            self._token = tracker.begin(self.name)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        tracker, token = _tracker, self._token
        self._token = None
        if tracker is not None and token is not None:
            tracker.end(token, self.name, exc)


def progress(percentage: float, name: str | None = None) -> None:
    """Set the running test's progress bar to ``percentage`` (0-100), optionally naming it."""
    if isinstance(percentage, bool) or not isinstance(percentage, (int, float)) or not (
        0 <= percentage <= 100
    ):
        raise ValueError(f"progress percentage must be a number from 0 to 100, not {percentage!r}")
    if name is not None and not isinstance(name, str):
        raise TypeError(f"progress name must be a str or None, not {type(name).__name__}")
    tracker = _tracker
    if tracker is not None:
        tracker.progress(float(percentage), name)


def emit(event_type: str, data: Any = None) -> None:
    """Send a ``custom`` event (``name`` = ``event_type``, ``data``) tied to the running test.

    Raises :class:`InvalidEventError` for a reserved or malformed type or data that is
    not JSON, whether or not the plugin is on.
    """
    clean = validate_custom_event(event_type, data)
    publisher = active_publisher()
    if publisher is not None:
        publish_custom(publisher, event_type, clean, publisher.current_test_id)


def publish_custom(
    publisher: EventPublisher, event_type: str, clean: Any, test_id: str | None
) -> None:
    """A validated custom event (``validate_custom_event``), tied to ``test_id``."""
    fields: Custom = {"name": event_type, "data": clean}
    if test_id is not None:
        fields["test_id"] = test_id
    publisher.publish("custom", fields)
