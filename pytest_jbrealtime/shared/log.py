"""The event log: the one ordered record of a run that everything else reads.

Each event gets its run-wide ``seq`` and its JSON text once, when it is appended.
Viewers are cursors into the log (see ``server/viewers.py``), the recording is the
log written to disk, and replay serves a log read back from a file.
"""

from __future__ import annotations

import sys
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

from pytest_jbrealtime.protocol import (
    GROUP_GENERAL,
    GROUP_SYSTEM_MONITOR,
    SYSTEM_MONITOR_TYPES,
    TEST_GROUP_PREFIX,
)
from pytest_jbrealtime.shared.text import json_value, repaired_json
from pytest_jbrealtime.shared.timestamps import iso_timestamp as iso_timestamp
from pytest_jbrealtime.shared.unpatched import clock


def event_json(event: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The event and its JSON text, both valid UTF-8: what every transport can carry.

    Text UTF-8 cannot hold (lone surrogates) is repaired here, once (text.py).
    """
    return repaired_json(event)


class LoggedEvent:
    """An event as stored: its JSON text, encoded once, and what viewers filter on.

    The stamped dict is held only while the log's listeners hear of the append; then
    the log keeps the text alone, and ``event`` parses it back for the few readers of
    older events. A large run's server held each event twice (dict and text: ~830
    bytes an event of a trivial test, ~360 of them the text); at 100,000 tests that
    was some 400 MB of the server's memory (docs/benchmarks.md).
    """

    __slots__ = ("_event", "seq", "test_id", "text", "type")

    def __init__(self, event: dict[str, Any], text: str) -> None:
        self._event: dict[str, Any] | None = event
        self.text = text
        self.seq: int = event["seq"]
        self.type: str = event["type"]
        test_id = event.get("test_id")
        self.test_id: str | None = test_id if isinstance(test_id, str) else None

    @classmethod
    def stored(cls, text: str, seq: int, event_type: str, test_id: str | None) -> LoggedEvent:
        """An entry read back from a sealed block: its text and what was kept beside it."""
        entry = cls.__new__(cls)
        entry._event = None
        entry.text = text
        entry.seq = seq
        entry.type = event_type
        entry.test_id = test_id
        return entry

    @property
    def event(self) -> dict[str, Any]:
        event = self._event
        if event is None:
            parsed: dict[str, Any] = json_value(self.text)
            return parsed
        return event

    def release(self) -> None:
        """Drop the dict (the text says the same)."""
        self._event = None

    def in_groups(self, groups: frozenset[str]) -> bool:
        if GROUP_GENERAL in groups:
            return True
        if self.type in SYSTEM_MONITOR_TYPES:
            return GROUP_SYSTEM_MONITOR in groups
        test_id = self.test_id
        return test_id is not None and TEST_GROUP_PREFIX + test_id in groups


def stamped_fields(run_id: str, raw: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """An event's type and its stamped fields after ``seq``: run id, timestamp, its own.

    The one stamping rule: ``EventLog.stamp`` puts the seq between the two, and the
    hub's Redis store (hub/runlog.py ``stamp_parts``) does the same in its script.
    """
    fields = dict(raw)
    event_type = fields.pop("type")
    epoch = fields.pop("ts", None)
    fields.pop("seq", None)
    rest: dict[str, Any] = {
        "run_id": run_id,
        "timestamp": iso_timestamp(epoch if isinstance(epoch, float) else clock.time()),
    }
    rest.update(fields)
    rest.setdefault("worker", "main")
    return event_type, rest


AppendListener = Callable[[list[LoggedEvent]], None]

# A long run's older events are kept compressed, in sealed blocks: a log of more than
# SEAL_AFTER events seals its oldest SEAL_BLOCK at a time, keeping the newest
# KEEP_UNSEALED as they are (what live viewers read). A block of a trivial run's events
# is ~1.4 MB of JSON, ~70 KB sealed (zlib level 1: ~1.3 µs an event to seal, ~3 ms a
# block to read back). 100,000 trivial tests held ~350 MiB of text in the server
# without it (docs/benchmarks.md). Smaller runs pay nothing.
SEAL_AFTER = 131_072
SEAL_BLOCK = 4096
KEEP_UNSEALED = 16_384
# Blocks kept read back, for viewers catching up from different places.
OPEN_BLOCKS = 4


class _SealedBlock:
    """SEAL_BLOCK events: their texts compressed, their types and test ids as they were."""

    __slots__ = ("data", "test_ids", "types")

    def __init__(self, entries: list[LoggedEvent]) -> None:
        self.data = zlib.compress("\n".join(e.text for e in entries).encode("utf-8"), 1)
        self.types = tuple(sys.intern(e.type) for e in entries)
        self.test_ids = tuple(e.test_id for e in entries)

    def entries(self, first_seq: int) -> list[LoggedEvent]:
        # (JSON text holds no raw newline: one is written \n)
        texts = zlib.decompress(self.data).decode("utf-8").split("\n")
        return [LoggedEvent.stored(text, first_seq + index, self.types[index],
                                   self.test_ids[index])
                for index, text in enumerate(texts)]


class EventLog:
    """In-memory log of one run; listeners hear of every append (the viewers' registry)."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        # The newest events as they are; before them, ``_sealed`` blocks of older ones.
        self._entries: list[LoggedEvent] = []
        self._sealed: list[_SealedBlock] = []
        self._open: OrderedDict[int, list[LoggedEvent]] = OrderedDict()
        self.finished = False
        self.closed = False
        self.listeners: list[AppendListener] = []
        # Counts truncations: what was read before one does not describe the log after.
        self.generation = 0

    def __len__(self) -> int:
        return len(self._sealed) * SEAL_BLOCK + len(self._entries)

    def stamp(self, raw: dict[str, Any]) -> dict[str, Any]:
        """Give an unstamped event its seq, run id and timestamp, common fields first."""
        event_type, rest = stamped_fields(self.run_id, raw)
        return {"type": event_type, "seq": len(self) + 1, **rest}

    def extend(self, raw_events: Iterable[dict[str, Any]]) -> list[LoggedEvent]:
        """Stamp and append events as they are published."""
        added: list[LoggedEvent] = []
        for raw in raw_events:
            entry = LoggedEvent(*event_json(self.stamp(raw)))
            self._entries.append(entry)
            added.append(entry)
        return self._appended(added)

    def add_stamped(self, items: Iterable[tuple[dict[str, Any], str]]) -> list[LoggedEvent]:
        """Append events stamped elsewhere (the hub's store chose their seq): the next
        ones, in order, with their text."""
        added = [LoggedEvent(event, text) for event, text in items]
        self._entries.extend(added)
        return self._appended(added)

    def add_recorded(
        self, events: list[dict[str, Any]], texts: list[str] | None = None
    ) -> list[LoggedEvent]:
        """Append events read back from a recording (with their texts, if known), as
        recorded. Only ``seq`` is renumbered, where a skipped broken line left a gap:
        cursors stay gap-free."""
        items: list[tuple[dict[str, Any], str]] = []
        for index, event in enumerate(events):
            seq = len(self) + index + 1
            if event.get("seq") != seq or texts is None:
                items.append(event_json({**event, "seq": seq}))
            else:
                items.append((event, texts[index]))
        return self.add_stamped(items)

    def truncate(self) -> None:
        """Forget every event (the hub's store lost them); the caller resets the viewers."""
        self._entries.clear()
        self._sealed.clear()
        self._open.clear()
        self.finished = False
        self.generation += 1

    def _appended(self, added: list[LoggedEvent]) -> list[LoggedEvent]:
        if not added:
            return added
        if any(entry.type == "session_finished" for entry in added):
            self.finished = True
        for listener in self.listeners:
            listener(added)
        for entry in added:
            entry.release()
        self._seal()
        return added

    def _seal(self) -> None:
        """Seal the oldest unsealed blocks, if the log is long enough: a few at a time
        (the first time the log passes SEAL_AFTER, no append pays for all of them)."""
        for _ in range(4):
            if len(self) <= SEAL_AFTER or len(self._entries) < KEEP_UNSEALED + SEAL_BLOCK:
                return
            self._sealed.append(_SealedBlock(self._entries[:SEAL_BLOCK]))
            del self._entries[:SEAL_BLOCK]

    def _block(self, number: int) -> list[LoggedEvent]:
        entries = self._open.get(number)
        if entries is None:
            entries = self._sealed[number].entries(number * SEAL_BLOCK + 1)
            self._open[number] = entries
            if len(self._open) > OPEN_BLOCKS:
                self._open.popitem(last=False)
        else:
            self._open.move_to_end(number)
        return entries

    def read_after(self, seq: int, limit: int = 1000) -> list[LoggedEvent]:
        """The events after ``seq`` (at most ``limit``), in order."""
        sealed = len(self._sealed) * SEAL_BLOCK
        if seq >= sealed:
            return self._entries[seq - sealed : seq - sealed + limit]
        found: list[LoggedEvent] = []
        index, end = max(seq, 0), min(seq + limit, len(self))
        while index < end:
            if index < sealed:
                number = index // SEAL_BLOCK
                offset = index - number * SEAL_BLOCK
                part = self._block(number)[offset : offset + end - index]
            else:
                part = self._entries[index - sealed : end - sealed]
            found.extend(part)
            index += len(part)
        return found

    def close(self) -> None:
        """The server is stopping (the monitor stops sampling)."""
        self.closed = True
