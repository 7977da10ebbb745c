"""Compact records: the most frequent events of a run, as pytest's thread hands them over.

A trivial test publishes five events: ``test_started``, three ``test_progress`` (its
setup, call and teardown beginning) and ``test_completed``. pytest's thread hands
the frequent forms over as tuples instead of dicts of eight to fifteen keys: a record
costs a tuple where the event costs a dict, and marshal writes a tuple of a few
fields in a fraction of the time of the event (docs/benchmarks.md, *Tiny tests and
very large runs*). Three kinds, each of its own length:

* a phase record, ``(test_id, phase, ts, worker)``: a phase began (``test_progress``);
* a start record, ``(test_id, test_name, file, estimated_duration, ts, worker)``:
  ``test_started``;
* a pass record, ``(test_id, duration, cpu_seconds, rss_growth, history, ts,
  worker)``: the ``test_completed`` of a test whose setup, call and teardown passed,
  with no captured output and no subtests (the common case); any other test's
  ``test_completed`` is published as the event.

Whoever takes a batch from the publisher turns the records back into the events they
stand for, in their place, before anything reads them (the run server as it reads
the pipe, the hub producer's thread, a worker's connection), so every reader
downstream sees only events, each with its own ``seq``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pytest_jbrealtime.protocol.events import HistoryInfo, phase_progress

# (test_id, phase, ts, worker): what a phase beginning publishes on pytest's thread.
PhaseRecord = tuple[str, str, float, str]
# (test_id, test_name, file, estimated_duration, ts, worker): a test_started.
StartRecord = tuple[str, str, str, float | None, float, str]
# (test_id, duration, cpu_seconds, rss_growth, history, ts, worker): a passed test's
# test_completed (the module's docstring says which tests).
PassRecord = tuple[str, float, float | None, int | None, HistoryInfo | None, float, str]


def phase_event(record: PhaseRecord) -> dict[str, Any]:
    """The ``test_progress`` event a phase record stands for (as publish() makes it)."""
    test_id, phase, ts, worker = record
    event: dict[str, Any] = dict(phase_progress(test_id, phase))
    event["type"] = "test_progress"
    event["ts"] = ts
    event["worker"] = worker
    return event


def started_event(record: StartRecord) -> dict[str, Any]:
    """The ``test_started`` event a start record stands for."""
    test_id, test_name, file, estimated_duration, ts, worker = record
    return {"test_id": test_id, "test_name": test_name, "file": file,
            "estimated_duration": estimated_duration,
            "type": "test_started", "ts": ts, "worker": worker}


def passed_event(record: PassRecord) -> dict[str, Any]:
    """The ``test_completed`` event a pass record stands for: what the session plugin
    publishes for the same test (session.py's general path; tested alike)."""
    test_id, duration, cpu_seconds, rss_growth, history, ts, worker = record
    return {"test_id": test_id, "result": "passed", "duration": duration,
            "summary": "passed", "longrepr": None, "sections": [],
            "phases": {"setup": "passed", "call": "passed", "teardown": "passed"},
            "subtests": [], "categories": ["passed"], "history": history,
            "cpu_seconds": cpu_seconds, "rss_growth": rss_growth,
            "type": "test_completed", "ts": ts, "worker": worker}


# Each kind has its own length: how a record says what it is, at no cost on the wire.
_EVENT_OF: dict[int, Callable[[Any], dict[str, Any]]] = {
    4: phase_event, 6: started_event, 7: passed_event,
}


def record_event(record: tuple[Any, ...]) -> dict[str, Any]:
    """The event any compact record stands for."""
    return _EVENT_OF[len(record)](record)


def expanded(batch: list[Any]) -> list[dict[str, Any]]:
    """A publisher's batch with each record turned into its event, in order."""
    return [record_event(item) if type(item) is tuple else item for item in batch]
