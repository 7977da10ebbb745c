"""Phase records: the most frequent event of a run, as pytest's thread hands it over.

Three of a test's five events say that one of its phases began (``test_progress``
with ``step_name`` setup, call or teardown). pytest's thread hands each over as a
tuple, ``(test_id, phase, ts, worker)``, instead of an eight-key dict: a quarter of the
cost of publishing one (docs/benchmarks.md, *Tiny tests and very large runs*). Whoever takes a batch
from the publisher turns the records back into the events they stand for, in their
place, before anything reads them (the run server as it reads the pipe, the hub
producer's thread, a worker's connection), so every reader downstream sees only
events, each with its own ``seq``.
"""

from __future__ import annotations

from typing import Any

from pytest_jbrealtime.protocol.events import phase_progress

# (test_id, phase, ts, worker): what a phase beginning publishes on pytest's thread.
PhaseRecord = tuple[str, str, float, str]


def phase_event(record: PhaseRecord) -> dict[str, Any]:
    """The ``test_progress`` event a phase record stands for (as publish() makes it)."""
    test_id, phase, ts, worker = record
    event: dict[str, Any] = dict(phase_progress(test_id, phase))
    event["type"] = "test_progress"
    event["ts"] = ts
    event["worker"] = worker
    return event


def expanded(batch: list[Any]) -> list[dict[str, Any]]:
    """A publisher's batch with each phase record turned into its event, in order."""
    return [phase_event(item) if type(item) is tuple else item for item in batch]
