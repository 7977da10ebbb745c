"""The frames a viewer is sent: the log after its cursor, one event alone or a ``batch``.

A frame holds the events of the viewer's groups, at most ``VIEWER_SOCKET.max_send_bytes``
of them (at least one). Viewers of every event (the ``general`` group) that stand at the
same cursor share one frame, built once (:class:`FrameCache`): with 100 viewers, building
each frame per viewer was a quarter of the hub's CPU (docs/benchmarks.md, "Hub").
"""

from __future__ import annotations

from dataclasses import dataclass

from pytest_jbrealtime.protocol import GROUP_GENERAL
from pytest_jbrealtime.server.metrics import text_size
from pytest_jbrealtime.shared.limit_config import VIEWER_SOCKET
from pytest_jbrealtime.shared.log import EventLog, LoggedEvent

MAX_BATCH = 1000
# Shared frames kept (FrameCache): viewers in step need one; a few lagging ones more.
SHARED_FRAMES = 32


@dataclass(frozen=True, slots=True)
class Frame:
    """What a viewer sends next: the log up to ``last_seq``, as ``count`` of its events."""

    last_seq: int
    # None: none of the covered events is in the viewer's groups (it only moves on).
    text: str | None
    count: int


def build_frame(entries: list[LoggedEvent], groups: frozenset[str]) -> Frame:
    """The next frame from ``entries`` (not empty): the events in ``groups``, up to
    ``max_send_bytes`` (at least one); one event alone, more in a ``batch``."""
    wanted: list[str] = []
    size = 0
    covered = entries
    for index, entry in enumerate(entries):
        if not entry.in_groups(groups):
            continue
        entry_size = text_size(entry.text) + 1
        if wanted and size + entry_size > VIEWER_SOCKET.max_send_bytes:
            covered = entries[:index]
            break
        wanted.append(entry.text)
        size += entry_size
    if not wanted:
        text = None
    elif len(wanted) == 1:
        text = wanted[0]
    else:
        text = f'{{"type":"batch","count":{len(wanted)},"messages":[{",".join(wanted)}]}}'
    return Frame(covered[-1].seq, text, len(wanted))


class FrameCache:
    """Frames for viewers of every event, built once for all that read the same range.

    Such a viewer's next frame depends only on its cursor and the log's length (the
    range it reads), so woken together, viewers in step send the same text.
    """

    _ALL = frozenset({GROUP_GENERAL})

    def __init__(self, log: EventLog) -> None:
        self.log = log
        self._frames: dict[tuple[int, int, int], Frame] = {}

    def after(self, cursor: int) -> Frame | None:
        end = min(len(self.log), cursor + MAX_BATCH)
        if end <= cursor:
            return None
        key = (self.log.generation, cursor, end)
        frame = self._frames.get(key)
        if frame is None:
            frame = build_frame(self.log.read_after(cursor, end - cursor), self._ALL)
            if len(self._frames) >= SHARED_FRAMES:
                del self._frames[next(iter(self._frames))]  # the oldest
            self._frames[key] = frame
        return frame
