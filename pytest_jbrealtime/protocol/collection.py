"""A run's collection as events no bigger than a frame can carry.

packaging's 26,948 tests made one ``collection_finished`` of 7.5 MB: a frame that
alone passed a viewer's 1 MiB send cap, so a reading viewer was closed as slow. Now the
tests are split into parts of at most ``PART_CHARS`` characters of node ids, names and
markers: ``collection_finished`` carries the first part (and ``total``, ``errors``,
``parts``), and ``collection_part`` events carry the rest, right after it, in order.
A consumer appends each part's ``tests`` to the collection (docs/protocol.md).
"""

from __future__ import annotations

from collections.abc import Iterator

from pytest_jbrealtime.protocol.events import (
    CollectedTest,
    CollectionError,
    CollectionFinished,
    CollectionPart,
)

# Characters of a part's strings (ids, files, names, markers). JSON can make a
# character up to 6 bytes (``\u0001``); 128 Ki characters of the usual ASCII ids are
# about 150 KiB of JSON, and even the worst case stays under 1 MiB.
PART_CHARS = 128 * 1024
# What each entry's keys and punctuation add to its strings.
ENTRY_OVERHEAD = 64


def _entry_chars(test: CollectedTest) -> int:
    return (len(test["test_id"]) + len(test["file"]) + len(test["name"])
            + len(test["cls"] or "") + sum(len(m) + 3 for m in test["markers"])
            + ENTRY_OVERHEAD)


def _split(tests: list[CollectedTest], limit: int) -> Iterator[list[CollectedTest]]:
    part: list[CollectedTest] = []
    size = 0
    for test in tests:
        chars = _entry_chars(test)
        if part and size + chars > limit:
            yield part
            part, size = [], 0
        part.append(test)
        size += chars
    yield part


def collection_events(
    tests: list[CollectedTest],
    errors: list[CollectionError],
    limit: int = PART_CHARS,
) -> list[tuple[str, CollectionFinished | CollectionPart]]:
    """The events that publish a collection: ``collection_finished`` with the first part,
    then one ``collection_part`` for each further part."""
    parts = list(_split(tests, limit))
    finished: CollectionFinished = {
        "total": len(tests), "tests": parts[0], "errors": errors, "parts": len(parts),
    }
    events: list[tuple[str, CollectionFinished | CollectionPart]] = [
        ("collection_finished", finished)
    ]
    for number, part in enumerate(parts[1:], start=2):
        events.append(("collection_part", {"part": number, "parts": len(parts), "tests": part}))
    return events
