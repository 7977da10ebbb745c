"""The publisher's hand-offs (pytest_side/publisher.py) and phase records (protocol/compact.py).

Unit tests with a list as the sink; the whole path (pipe, server, viewer) is in
test_live_stream.py and test_xdist_live.py, which see every phase as a ``test_progress``.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any

import pytest

from pytest_jbrealtime.protocol.compact import expanded, phase_event
from pytest_jbrealtime.protocol.events import phase_progress
from pytest_jbrealtime.pytest_side.publisher import FLUSH_SECONDS, EventPublisher


class ListSink:
    def __init__(self) -> None:
        self.batches: list[list[Any]] = []
        self.lock = threading.Lock()

    def send_batch(self, events: list[Any]) -> None:
        with self.lock:
            self.batches.append(list(events))

    def close(self, timeout: float) -> None:
        pass

    def items(self) -> list[Any]:
        with self.lock:
            return [item for batch in self.batches for item in batch]


def test_flush_soon_hands_over_without_another_publish() -> None:
    sink = ListSink()
    publisher = EventPublisher(sink)
    publisher.flush()  # as at the run's start: the interval counts from here
    publisher.publish("custom", {"name": "before the call"})  # type: ignore[arg-type]
    assert sink.items() == []  # buffered: within the interval, no hand-off yet
    publisher.flush_soon()
    deadline = time.monotonic() + 10
    while not sink.items() and time.monotonic() < deadline:
        time.sleep(0.005)
    assert [e["name"] for e in sink.items()] == ["before the call"]
    publisher.close(1.0)


def test_the_timer_neither_loses_nor_repeats_events_published_meanwhile() -> None:
    sink = ListSink()
    publisher = EventPublisher(sink)
    count = 20_000
    for index in range(count):
        publisher.publish("custom", {"index": index})  # type: ignore[arg-type]
        if index % 50 == 0:
            publisher.flush_soon()
        if index % 1000 == 0:
            time.sleep(FLUSH_SECONDS * 1.5)  # the timer flushes while we publish on
    publisher.close(1.0)
    assert [e["index"] for e in sink.items()] == list(range(count))
    # The timer did hand over some batches (it ran; the test is not vacuous).
    assert len(sink.batches) > 1


def test_close_stops_the_timer_thread() -> None:
    publisher = EventPublisher(ListSink())
    publisher.flush_soon()
    timer = publisher._timer
    assert timer is not None and timer.is_alive()
    publisher.close(1.0)
    timer.join(5)
    assert not timer.is_alive()


def test_phase_records_become_the_events_publish_makes() -> None:
    sink = ListSink()
    publisher = EventPublisher(sink, worker="gw3")
    publisher.publish_phase("t.py::test_a", "call")
    publisher.publish("test_progress", phase_progress("t.py::test_a", "call"))
    publisher.flush()
    record, event = sink.items()
    assert isinstance(record, tuple)
    made = phase_event(record)
    assert made.pop("ts") == pytest.approx(event.pop("ts"), abs=5)
    assert made == event
    assert made["worker"] == "gw3"


def test_expanded_keeps_the_order_and_the_dicts() -> None:
    first = {"type": "test_started", "test_id": "a"}
    batch: list[Any] = [first, ("a", "setup", 1.0, "main"), {"type": "custom"}]
    events = expanded(batch)
    assert events[0] is first
    assert [e["type"] for e in events] == ["test_started", "test_progress", "custom"]
    assert events[1]["step_name"] == "setup"


def test_an_observer_sees_a_phase_as_an_event() -> None:
    sink = ListSink()
    publisher = EventPublisher(sink)
    seen: list[dict[str, Any]] = []
    publisher.observer = seen.append
    publisher.publish_phase("t.py::test_a", "setup")
    assert seen and seen[0]["type"] == "test_progress" and seen[0]["step_name"] == "setup"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX")
def test_a_forked_child_can_flush_while_the_timer_held_the_lock() -> None:
    sink = ListSink()
    publisher = EventPublisher(sink)
    publisher.flush_soon()
    with publisher._flush_lock:  # as if the timer were mid-flush at the fork
        pid = os.fork()
        if pid == 0:  # the child: a flush must not wait for a thread it does not have
            signal.alarm(10)  # a deadlock ends the child (SIGALRM), not the suite
            try:
                publisher.publish("custom", {"name": "child"})  # type: ignore[arg-type]
                publisher.flush()
            finally:
                os._exit(0 if sink.items() else 1)
    _, status = os.waitpid(pid, 0)
    publisher.close(1.0)
    assert os.waitstatus_to_exitcode(status) == 0
