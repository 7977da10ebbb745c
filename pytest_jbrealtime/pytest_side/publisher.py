"""Publishing events from the pytest process: the hot path.

A hook calls :meth:`EventPublisher.publish`, which costs one dict and one list
append. Events leave the process in bulk: every ``FLUSH_EVENTS`` events or
``FLUSH_SECONDS`` since the last hand-off, whenever the session asks (:meth:`flush`),
and at most ``FLUSH_SECONDS`` after :meth:`flush_soon` (a test's call phase begins:
nothing may wait behind a long test) even when pytest's thread publishes nothing more.
Measured alternatives are in docs/benchmarks.md: waking the server once per event
cost 38% on a trivial suite; a hand-off at every call phase was a pipe write per test.
"""

from __future__ import annotations

import contextlib
import os
import threading
import weakref
from collections.abc import Callable
from typing import Any, Protocol

from pytest_jbrealtime.protocol.compact import PhaseRecord
from pytest_jbrealtime.protocol.events import EventPayload, phase_progress
from pytest_jbrealtime.shared.unpatched import clock

FLUSH_EVENTS = 256
FLUSH_SECONDS = 0.02


class EventSink(Protocol):
    """Where batches of events go: the server pipe, or a producer connection.

    A batch may hold phase records (tuples, protocol/compact.py) among the event
    dicts: the sink, or the process it hands the batch to, expands them.
    """

    def send_batch(self, events: list[dict[str, Any]]) -> None: ...

    def close(self, timeout: float) -> None: ...


class EventPublisher:
    """Buffers events and hands them to a sink in batches.

    Thread-safe for one publishing thread and the flush timer: :meth:`publish` only
    appends to ``_buffer`` (one atomic list operation, no lock on the hot path); every
    hand-off takes ``_flush_lock`` and removes from the buffer's front exactly what it
    sends, so an event appended meanwhile stays for the next one, and batches reach the
    sink in order. The lock is re-entrant: a signal handler on pytest's thread (a last
    word, last_words.py) may flush while that thread is inside :meth:`flush`.
    """

    def __init__(self, sink: EventSink, worker: str = "main") -> None:
        self._sink = sink
        # Never replaced, only appended to and cut from the front (see the class doc).
        # Event dicts and phase records (protocol/compact.py), in publication order.
        self._buffer: list[Any] = []
        self._last_flush = clock.monotonic()
        self._flush_lock = threading.RLock()
        self._flush_due = threading.Event()
        self._timer: threading.Thread | None = None
        self._closed = False
        _publishers.add(self)
        self.worker = worker
        # The test running now, so that events from user code (steps, Selenium)
        # are tied to it without the user passing it around.
        self.current_test_id: str | None = None
        # Sees each published event (event_hook.py); None while no plugin wants them.
        self.observer: Callable[[dict[str, Any]], None] | None = None

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
        """A test's phase begins: its ``test_progress`` as a phase record
        (protocol/compact.py), turned into the event by whoever takes the batch."""
        if self.observer is not None:  # a plugin sees each event as it is published
            self.publish("test_progress", phase_progress(test_id, phase))
            return
        record: PhaseRecord = (test_id, phase, clock.time(), self.worker)
        self._buffer.append(record)
        if len(self._buffer) >= FLUSH_EVENTS or (
            clock.monotonic() - self._last_flush >= FLUSH_SECONDS
        ):
            self.flush()

    def flush(self) -> None:
        with self._flush_lock:
            self._last_flush = clock.monotonic()
            buffer = self._buffer
            if buffer:
                batch = buffer[:]
                del buffer[: len(batch)]
                self._sink.send_batch(batch)

    def flush_soon(self) -> None:
        """What is buffered leaves within ``FLUSH_SECONDS``, even if pytest's thread
        publishes nothing more (a test's call phase begins and may be long).

        Handed to the timer thread rather than done now: the hand-off at every call
        phase was one pipe write (and a marshal call) per test, measured as the largest
        single part of the plugin's cost on a suite of trivial tests (docs/benchmarks.md).
        """
        if self._flush_due.is_set() or self._closed:
            return
        self._flush_due.set()
        if self._timer is None:
            self._timer = threading.Thread(target=self._flush_when_due, daemon=True,
                                           name="jb-live-flush")
            self._timer.start()

    def _flush_when_due(self) -> None:
        due = self._flush_due
        while True:
            due.wait()
            if self._closed:
                return
            # Not clock.sleep: a wait on an Event reads no clock a test may have patched.
            threading.Event().wait(FLUSH_SECONDS)
            due.clear()
            if self._closed:
                return
            # The sink's own failures are its to report (a broken pipe warns once).
            with contextlib.suppress(Exception):
                self.flush()

    def _after_fork(self) -> None:
        """In a forked child (a test's multiprocessing): the timer thread is not there
        and the lock may have been held by it at the fork."""
        self._flush_lock = threading.RLock()
        self._flush_due = threading.Event()
        self._timer = None

    def forward(self, events: list[dict[str, Any]]) -> None:
        """Events made in another process (an xdist worker's), as they are, in order.

        They go after everything published here so far, at once.
        """
        self._buffer.extend(events)
        self.flush()

    def stop_timer(self) -> None:
        """No timed hand-off from now on (the run's stream is ending): the last
        :meth:`flush` is the caller's."""
        self._closed = True
        self._flush_due.set()  # wakes the timer thread, which ends

    def close(self, timeout: float) -> None:
        self.stop_timer()
        self.flush()
        self._sink.close(timeout)


_publishers: weakref.WeakSet[EventPublisher] = weakref.WeakSet()


def _reset_after_fork() -> None:
    for publisher in list(_publishers):
        publisher._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


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
