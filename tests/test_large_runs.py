"""Very large runs: a collection bigger than a frame may be, read in parts; a viewer that
reads is never closed; a late joiner of the finished run gets everything.

Not timed (the machine is shared): the speed of these is in benchmarks/.
"""

from __future__ import annotations

import json

from pytest_jbrealtime.protocol.collection import PART_CHARS, collection_events
from pytest_jbrealtime.protocol.events import CollectedTest

MIB = 1024 * 1024
TESTS = 3000
# Long parameter ids, as real suites have (URLs, file paths): ~200 characters each, so
# the collection is about 1.5 M characters, many parts of PART_CHARS.
BIG_SUITE = f"""
import pytest

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
