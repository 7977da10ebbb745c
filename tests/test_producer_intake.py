"""Unit tests of the xdist merge (server/producers.py), without sockets.

The whole-run behaviour is in test_xdist_live.py; these pin the orderings that a
real run hits only by timing: a worker hangs up as soon as the server has received
its last frame, often before the controller's lifecycle for that test came down
the pipe.
"""

from __future__ import annotations

import json
from typing import Any

from pytest_jbrealtime.server.producers import ProducerIntake, parse_frame
from pytest_jbrealtime.shared.log import EventLog

TEST = "test_a.py::test_one"


def publish(frame_id: int, after: dict[str, list[int]], *names: str) -> str:
    events = [{"type": "test_progress", "test_id": TEST, "step_name": n, "kind": "step"}
              for n in names]
    return json.dumps({"type": "publish", "id": frame_id, "after": after, "events": events})


def lifecycle(*phases: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = [{"type": "test_started", "test_id": TEST}]
    events += [{"type": "test_progress", "test_id": TEST, "step_name": p, "kind": "phase"}
               for p in phases]
    return events


def names(log: EventLog) -> list[str]:
    return [e.event.get("step_name") or e.event["type"] for e in log.read_after(0)]


def test_a_hung_up_producer_s_frame_still_waits_for_its_test() -> None:
    log = EventLog("run")
    intake = ProducerIntake(log)
    stream = intake.open_stream()
    intake.add(stream, parse_frame(publish(1, {TEST: [1, 2]}, "work")))
    intake.close_stream(stream)
    assert names(log) == []  # the controller has not said the test started yet

    intake.from_pipe([*lifecycle("setup", "call"), {"type": "test_completed", "test_id": TEST}])
    assert names(log) == ["test_started", "setup", "call", "work", "test_completed"]
    assert intake.streams == []  # emptied and gone


def test_session_finished_lets_every_held_frame_in_before_it() -> None:
    log = EventLog("run")
    intake = ProducerIntake(log)
    stream = intake.open_stream()
    intake.add(stream, parse_frame(publish(1, {TEST: [2, 1]}, "never reached")))
    intake.close_stream(stream)
    intake.from_pipe([*lifecycle("setup"), {"type": "session_finished"}])
    assert names(log) == ["test_started", "setup", "never reached", "session_finished"]
    assert [e.event["seq"] for e in log.read_after(0)] == [1, 2, 3, 4]


def test_a_frame_without_constraints_goes_in_at_once() -> None:
    log = EventLog("run")
    intake = ProducerIntake(log)
    stream = intake.open_stream()
    intake.add(stream, parse_frame(publish(1, {}, "free")))
    assert names(log) == ["free"]
