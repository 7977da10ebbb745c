"""The event log keeps a long run's older events sealed (compressed): reading them back
gives what was appended, in order, wherever a read starts and however much it asks."""

from __future__ import annotations

import json
import random

import pytest

from pytest_jbrealtime.shared import log as log_module
from pytest_jbrealtime.shared.log import EventLog


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(log_module, "SEAL_AFTER", 10)
    monkeypatch.setattr(log_module, "SEAL_BLOCK", 4)
    monkeypatch.setattr(log_module, "KEEP_UNSEALED", 5)
    monkeypatch.setattr(log_module, "OPEN_BLOCKS", 2)


def raw_event(n: int) -> dict[str, object]:
    if n % 7 == 0:
        return {"type": "system_status", "ts": 1.5, "cpu_usage": n, "note": "line\nbreak"}
    return {"type": "test_completed", "ts": 1.5, "test_id": f"t.py::test[{n % 5}]",
            "result": "passed", "longrepr": "caf\udce9 \u00e9 \n end"}


def test_sealed_events_read_back_as_appended(small_blocks: None) -> None:
    rng = random.Random(7)
    log = EventLog("r" * 32)
    seen: list[tuple[int, str, str | None, str]] = []
    n = 0
    while n < 200:
        batch = [raw_event(n + i) for i in range(rng.randint(1, 9))]
        for entry in log.extend(batch):
            seen.append((entry.seq, entry.type, entry.test_id, entry.text))
        n += len(batch)
    assert len(log) == len(seen) and [s[0] for s in seen] == list(range(1, len(seen) + 1))
    assert len(log._sealed) > 30  # most of it is sealed; the newest events are not
    assert len(log._entries) < 5 + 4 + 9
    for start in range(0, len(seen) + 2):
        for limit in (1, 3, 4, 5, 17, 1000):
            got = [(e.seq, e.type, e.test_id, e.text) for e in log.read_after(start, limit)]
            assert got == seen[start : start + limit], (start, limit)
    assert len(log._open) <= 2
    # An older event's dict is its text parsed back; groups filter as before.
    (entry,) = log.read_after(3, 1)
    assert entry.event == json.loads(entry.text) and entry.event["seq"] == 4
    assert entry.in_groups(frozenset({"test_t.py::test[3]"})) == (
        entry.test_id == "t.py::test[3]")
    # Stamping goes on from the log's length; a truncation forgets the sealed part too.
    assert log.extend([raw_event(1)])[0].seq == len(seen) + 1
    log.truncate()
    assert len(log) == 0 and log.read_after(0) == []
    assert log.extend([raw_event(1)])[0].seq == 1


def test_a_short_log_seals_nothing() -> None:
    log = EventLog("r" * 32)
    log.extend([raw_event(n) for n in range(5000)])
    assert log._sealed == [] and len(log) == 5000
