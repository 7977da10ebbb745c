"""Very large runs: a collection bigger than a frame may be, read in parts; a viewer that
reads is never closed; a late joiner of the finished run gets everything.

Not timed (the machine is shared): the speed of these is in benchmarks/.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import websockets

from pytest_jbrealtime.protocol.collection import PART_CHARS, collection_events
from pytest_jbrealtime.protocol.events import CollectedTest
from tests.support import unpack

MIB = 1024 * 1024
TESTS = 3000
# Long parameter ids, as real suites have (URLs, file paths): ~200 characters each, so
# the collection is about 1.5 M characters, many parts of PART_CHARS.
BIG_SUITE = f"""
import pytest
import websockets

CASES = [f"case-{{n:05d}}-" + "x" * 190 for n in range({TESTS})]

@pytest.mark.parametrize("case", CASES, ids=CASES)
def test_case(case):
    pass
"""


def _collected(n: int, id_chars: int = 100) -> list[CollectedTest]:
    return [{"test_id": f"t.py::test[{n:06d}{'y' * id_chars}]", "file": "t.py", "cls": None,
             "name": f"test[{n:06d}]", "markers": ["parametrize"]} for n in range(n)]


def test_a_small_collection_is_one_event() -> None:
    tests = _collected(10)
    ((event_type, payload),) = collection_events(tests, [])
    assert event_type == "collection_finished"
    assert payload == {"total": 10, "tests": tests, "errors": [], "parts": 1}


def test_a_big_collection_is_split_in_order_under_the_bound() -> None:
    tests = _collected(5000)
    events = collection_events(tests, [{"test_id": "x.py", "file": "x.py", "longrepr": "E"}])
    types = [t for t, _ in events]
    assert types[0] == "collection_finished" and set(types[1:]) == {"collection_part"}
    assert len(events) > 3
    first = events[0][1]
    assert first["total"] == 5000 and first["parts"] == len(events) and first["errors"]
    assert [p.get("part", 1) for _, p in events] == list(range(1, len(events) + 1))
    joined = [t for _, p in events for t in p["tests"]]
    assert joined == tests
    for _, payload in events:
        assert len(json.dumps(payload["tests"])) <= 1.2 * PART_CHARS


def test_an_empty_collection_is_one_event() -> None:
    ((_, payload),) = collection_events([], [])
    assert payload["tests"] == [] and payload["parts"] == 1
async def _read_all(url: str, sizes: list[int], until: str = "session_finished",
                    timeout: float = 180) -> tuple[list[dict[str, Any]], int | None]:
    """Read as a fast viewer does, keeping every frame's size, until ``until`` arrives."""
    events: list[dict[str, Any]] = []

    async def run() -> int | None:
        async with websockets.connect(url, max_size=None) as ws:
            async for frame in ws:
                sizes.append(len(frame.encode() if isinstance(frame, str) else frame))
                events.extend(m for m in unpack(json.loads(frame)) if "seq" in m)
                if events and events[-1]["type"] == until:
                    return None
            return ws.close_code

    close_code = await asyncio.wait_for(run(), timeout)
    return events, close_code


def _collection(events: list[dict[str, Any]]) -> list[str]:
    parts = [e for e in events if e["type"] in ("collection_finished", "collection_part")]
    assert parts[0]["type"] == "collection_finished"
    assert len(parts) == parts[0]["parts"] > 1
    # The parts follow each other at once, in order.
    seqs = [e["seq"] for e in parts]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    return [t["test_id"] for e in parts for t in e["tests"]]


def test_big_collection_reaches_a_reader_and_a_late_joiner_in_bounded_frames(
    suite_dir: pytest.Pytester, start_live
) -> None:
    suite_dir.makepyfile(test_big=BIG_SUITE)
    run = start_live(suite_dir.path, "--jb-live-wait-viewers", "1",
                     "--jb-live-linger", "120", "-q")
    reader_sizes: list[int] = []
    events, close_code = asyncio.run(_read_all(run.ws_url("reader"), reader_sizes))
    assert close_code is None, f"the reading viewer was closed with {close_code}"
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    expected = [f"test_big.py::test_case[case-{n:05d}-{'x' * 190}]" for n in range(TESTS)]
    assert _collection(events) == expected
    assert sum(e["type"] == "test_completed" for e in events) == TESTS
    assert events[-1]["counts"]["passed"] == TESTS
    assert max(reader_sizes) <= MIB

    # A viewer joining the finished run gets the same log, in the same bounded frames.
    late_sizes: list[int] = []
    late, close_code = asyncio.run(_read_all(run.ws_url("late"), late_sizes))
    assert close_code is None
    assert [e["seq"] for e in late] == [e["seq"] for e in events]
    assert _collection(late) == expected
    assert max(late_sizes) <= MIB
    run.kill()
