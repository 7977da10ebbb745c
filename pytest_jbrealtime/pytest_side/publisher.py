"""Publishing events from the pytest process: the hot path.

A hook calls :meth:`EventPublisher.publish`, which costs one dict and one list
append. Events leave the process in bulk: every ``FLUSH_EVENTS`` events or
``FLUSH_SECONDS`` since the last hand-off, and whenever the session asks
(:meth:`flush`). What a test publishes just before a long call would wait behind it:
the run server asks for it after a quiet spell (``held_events_asked``: the stack
responder's thread calls :meth:`flush`), else the session flushes before every call.
The frequent events (a test's start, its phases beginning, a passed test's end) are
buffered as compact records (protocol/compact.py), tuples the server turns into their
events. Measured alternatives
are in docs/benchmarks.md: waking the server once per event cost 38% on a trivial
suite; a timer thread handing over instead of the call phase cost more than the pipe
write it saved (it queues for the GIL behind every short release of pytest's thread).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Protocol

from pytest_jbrealtime.protocol.compact import (
    PassRecord,
    PhaseRecord,
    StartRecord,
    record_event,
)
from pytest_jbrealtime.protocol.events import EventPayload, HistoryInfo
from pytest_jbrealtime.shared.channel import FLUSH_EVENTS, FLUSH_SECONDS
from pytest_jbrealtime.shared.unpatched import clock


class EventSink(Protocol):
    """Where batches of events go: the server pipe, or a producer connection.

    A batch may hold compact records (tuples, protocol/compact.py) among the event
    dicts: the sink, or the process it hands the batch to, expands them.
    """

    def send_batch(self, events: list[dict[str, Any]]) -> None: ...

    def close(self, timeout: float) -> None: ...


class EventPublisher:
    """Buffers events and hands them to a sink in batches."""

    def __init__(self, sink: EventSink, worker: str = "main") -> None:
        self._sink = sink
        # Event dicts and compact records (protocol/compact.py), in publication order.
        self._buffer: list[Any] = []
        self._last_flush = clock.monotonic()
        self.worker = worker
        # The test running now, so that events from user code (steps, Selenium)
        # are tied to it without the user passing it around.
        self.current_test_id: str | None = None
        # Its phase (setup, call, teardown): where its user steps move its progress bar
        # (steps.py). Kept here, by the hooks that publish the phases, rather than by
        # hooks of its own: three fewer hook calls a test (docs/benchmarks.md).
        self.current_phase = "call"
        # Sees each published event (event_hook.py); None while no plugin wants them.
        self.observer: Callable[[dict[str, Any]], None] | None = None
        # True when the run server will ask for held events, through the stack
        # responder's thread (live_run.py): then a test's call needs no flush of its own.
        self.held_events_asked = False
        # Taking a batch and handing it over, as one step: the responder's thread may
        # flush too, and batches must reach the sink in order. Appends go without it
        # (a flush takes what is there and leaves what comes after); reentrant, for a
        # signal handler that publishes while pytest's thread is inside a flush.
        self._flush_lock = threading.RLock()

    def publish(self, event_type: str, fields: EventPayload) -> None:
        """Publish ``fields`` (a payload of protocol/events.py) as an ``event_type``.

        The payload dict itself becomes the event (no copy on the hot path): the
        caller hands it over.
        """
        # Not cast(): a function call on the hot path; the payload is a dict at runtime.
        event: dict[str, Any] = fields  # type: ignore[assignment]
        event["type"] = event_type
        event["ts"] = clock.time()
        event["worker"] = self.worker
        self._buffer.append(event)
        if self.observer is not None:
            self.observer(event)
        if len(self._buffer) >= FLUSH_EVENTS or (
            clock.monotonic() - self._last_flush >= FLUSH_SECONDS
        ):
            self.flush()

    def publish_phase(self, test_id: str, phase: str) -> None:
        """A test's phase begins: its ``test_progress``, as a phase record."""
        self.current_phase = phase
        record: PhaseRecord = (test_id, phase, clock.time(), self.worker)
        self._publish_record(record)

    def publish_call(self, test_id: str) -> None:
        """A test's call begins. What was published before it goes out now, unless the
        run server asks for it after a quiet pipe (``held_events_asked``): not from a
        timer thread, which in pytest's process queues for the GIL behind every short
        release pytest's thread makes (measured: docs/benchmarks.md)."""
        self.publish_phase(test_id, "call")
        if not self.held_events_asked:
            self.flush()

    def publish_started(
        self, test_id: str, test_name: str, file: str, estimated_duration: float | None
    ) -> None:
        """A test begins: its ``test_started``, as a start record."""
        record: StartRecord = (test_id, test_name, file, estimated_duration, clock.time(),
                               self.worker)
        self._publish_record(record)

    def publish_passed(
        self, test_id: str, duration: float, cpu_seconds: float | None,
        rss_growth: int | None, history: HistoryInfo | None,
    ) -> None:
        """A test passed, all its phases, with no output and no subtests: its
        ``test_completed``, as a pass record (protocol/compact.py)."""
        record: PassRecord = (test_id, duration, cpu_seconds, rss_growth, history,
                              clock.time(), self.worker)
        self._publish_record(record)

    def _publish_record(self, record: tuple[Any, ...]) -> None:
        if self.observer is not None:  # a plugin sees each event as it is published
            event = record_event(record)
            self._buffer.append(event)
            self.observer(event)
        else:
            self._buffer.append(record)
        if len(self._buffer) >= FLUSH_EVENTS or (
            clock.monotonic() - self._last_flush >= FLUSH_SECONDS
        ):
            self.flush()

    def flush(self) -> None:
        """Hand everything buffered to the sink (from any thread)."""
        with self._flush_lock:
            self._last_flush = clock.monotonic()
            buffer = self._buffer
            if buffer:
                # The same list stays the buffer: an append racing with this (from
                # pytest's thread, while the responder's flushes) lands after the batch.
                batch = buffer[:]
                del buffer[:len(batch)]
                self._sink.send_batch(batch)

    def forward(self, events: list[dict[str, Any]]) -> None:
        """Events made in another process (an xdist worker's), as they are, in order.

        They go after everything published here so far, at once.
        """
        self._buffer.extend(events)
        self.flush()

    def close(self, timeout: float) -> None:
        self.flush()
        self._sink.close(timeout)


def publish_interrupt(publisher: EventPublisher, test_id: str, traceback: Any) -> None:
    """Ctrl-C mid-test: ``test_id``'s last word, the stack the interrupt unwound
    (last_words.py), out at once; nothing if that fails (the run is ending)."""
    from pytest_jbrealtime.shared.last_words import threads_at_interrupt

    try:
        publisher.publish("test_interrupted", {
            "test_id": test_id, "reason": "KeyboardInterrupt",
            "threads": threads_at_interrupt(traceback),
        })
        publisher.flush()
    except Exception:  # the run is ending; its last word is not worth a crash
        pass


_active: EventPublisher | None = None


def active_publisher() -> EventPublisher | None:
    """The publisher of the running session, or None when the plugin is off."""
    return _active


def set_active_publisher(publisher: EventPublisher | None) -> None:
    global _active
    _active = publisher
