"""The event log: the one ordered record of a run that everything else reads.

Each event gets its run-wide ``seq`` and its JSON text once, when it is appended.
Viewers are cursors into the log (see ``server/viewers.py``), the recording is the
log written to disk, and replay serves a log read back from a file.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterable
from typing import Any

from pytest_jbrealtime.timestamps import iso_timestamp as iso_timestamp

SYSTEM_MONITOR_TYPES = frozenset({"system_status", "resource_alert"})

_encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str)


class LoggedEvent:
    """An event as stored: the stamped dict and its JSON text, encoded once."""

    __slots__ = ("event", "text")

    def __init__(self, event: dict[str, Any], text: str) -> None:
        self.event = event
        self.text = text

    def in_groups(self, groups: frozenset[str]) -> bool:
        if "general" in groups:
            return True
        if self.event["type"] in SYSTEM_MONITOR_TYPES:
            return "system_monitor" in groups
        test_id = self.event.get("test_id")
        return test_id is not None and f"test_{test_id}" in groups


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
        "timestamp": iso_timestamp(epoch if isinstance(epoch, float) else time.time()),
    }
    rest.update(fields)
    rest.setdefault("worker", "main")
    return event_type, rest


def encode_event(value: Any) -> str:
    """An event's (or a part's) JSON text, as the log stores and sends it."""
    return _encoder.encode(value)


AppendListener = Callable[[list[LoggedEvent]], None]


class EventLog:
    """In-memory log of one run, with a way to wait for what comes next."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self._entries: list[LoggedEvent] = []
        self._grown = asyncio.Event()
        self.finished = False
        self.closed = False
        self.listeners: list[AppendListener] = []

    def __len__(self) -> int:
        return len(self._entries)

    def stamp(self, raw: dict[str, Any]) -> dict[str, Any]:
        """Give an unstamped event its seq, run id and timestamp, common fields first."""
        event_type, rest = stamped_fields(self.run_id, raw)
        return {"type": event_type, "seq": len(self._entries) + 1, **rest}

    def extend(self, raw_events: Iterable[dict[str, Any]]) -> list[LoggedEvent]:
        """Stamp and append events as they are published."""
        added: list[LoggedEvent] = []
        for raw in raw_events:
            stamped = self.stamp(raw)
            entry = LoggedEvent(stamped, _encoder.encode(stamped))
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
            seq = len(self._entries) + index + 1
            if event.get("seq") != seq:
                items.append((renumbered := {**event, "seq": seq}, _encoder.encode(renumbered)))
            else:
                items.append((event, texts[index] if texts is not None
                              else _encoder.encode(event)))
        return self.add_stamped(items)

    def truncate(self) -> None:
        """Forget every event (the hub's store lost them); the caller resets the viewers."""
        self._entries.clear()
        self.finished = False

    def _appended(self, added: list[LoggedEvent]) -> list[LoggedEvent]:
        if not added:
            return added
        if any(entry.event["type"] == "session_finished" for entry in added):
            self.finished = True
        for listener in self.listeners:
            listener(added)
        self._wake()
        return added

    def _wake(self) -> None:
        grown, self._grown = self._grown, asyncio.Event()
        grown.set()

    def read_after(self, seq: int, limit: int = 1000) -> list[LoggedEvent]:
        return self._entries[seq : seq + limit]

    async def wait_beyond(self, seq: int) -> None:
        """Return once the log holds more than ``seq`` events, or is closed."""
        while len(self._entries) <= seq and not self.closed:
            await self._grown.wait()

    def close(self) -> None:
        """Wake every waiter for good (the server is stopping)."""
        self.closed = True
        self._wake()
