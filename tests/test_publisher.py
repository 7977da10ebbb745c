"""Phase records (protocol/compact.py) as the publisher (pytest_side/publisher.py) hands them over.

Unit tests with a list as the sink; the whole path (pipe, server, viewer) is in
test_live_stream.py and test_xdist_live.py, which see every phase as a ``test_progress``.
"""

from __future__ import annotations

from typing import Any

import pytest

from pytest_jbrealtime.protocol.compact import expanded, phase_event
from pytest_jbrealtime.protocol.events import phase_progress
from pytest_jbrealtime.pytest_side.publisher import EventPublisher


class ListSink:
    def __init__(self) -> None:
        self.batches: list[list[Any]] = []

    def send_batch(self, events: list[Any]) -> None:
        self.batches.append(list(events))

    def close(self, timeout: float) -> None:
        pass

    def items(self) -> list[Any]:
        return [item for batch in self.batches for item in batch]


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
