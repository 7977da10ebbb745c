"""One run on the hub: its log (what viewers read), its viewers and its state.

:class:`HubRun` ties the run server's ``EventLog`` (which also takes events stamped
elsewhere: read back from the data folder, or from a Redis stream where the seq was
given by Redis; and is emptied when the backend lost what it held, viewers then get a
``reset``) to its ``ViewerRegistry`` and ``RunState``.
"""

from __future__ import annotations

from typing import Any

from pytest_jbrealtime.hub.runstate import RunState
from pytest_jbrealtime.server.viewers import ViewerRegistry
from pytest_jbrealtime.shared.log import EventLog, LoggedEvent, stamped_fields
from pytest_jbrealtime.shared.text import json_text

# Viewers of a hub's run are woken at most once per this many seconds: a run's events
# come from many producers (and Redis followers), in frames a few ms apart; one
# wake-up then sends one shared frame for all of them (server/viewers.py).
WAKE_DELAY = 0.002


def stamp_parts(run_id: str, raw: dict[str, Any]) -> tuple[str, str]:
    """The stamped event's JSON text around its seq: ``head + str(seq) + tail``.

    The text ``EventLog.stamp`` gives (``log.stamped_fields``), for a store that picks
    the seq itself (Redis, atomically, in a script). Text UTF-8 cannot hold is repaired
    as on a run's server (log.event_json): Redis and the viewers' frames need UTF-8.
    """
    event_type, rest = stamped_fields(run_id, raw)
    head = '{"type":' + json_text(event_type) + ',"seq":'
    tail = "," + json_text(rest)[1:]
    return head, tail


class HubRun:
    """A run the hub serves: log, viewers, and what the log says (``state``)."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.log = EventLog(run_id)
        self.state = RunState(run_id)
        self.registry = ViewerRegistry(self.log, wake_delay=WAKE_DELAY)
        self.log.listeners.append(self._on_append)

    def _on_append(self, entries: list[LoggedEvent]) -> None:
        for entry in entries:
            self.state.fold(entry.event)
        if self.state.ended:
            # As on a run's own server: viewers that have the whole run are closed
            # with 1000 ("run finished") once they have caught up.
            self.registry.close_when_caught_up()
        elif self.registry.closing:
            self.registry.closing = False  # a late shard opened the run again

    def reset(self, reason: str) -> None:
        """The backend's copy was lost and replaced: every viewer starts over."""
        self.log.truncate()
        self.state = RunState(self.run_id)
        self.registry.closing = False
        for viewer in list(self.registry.viewers):
            viewer.reset(reason)

    def listing(self) -> dict[str, Any]:
        return self.state.listing(viewers=len(self.registry.viewers))
