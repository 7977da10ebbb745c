"""Producer connections: what xdist workers know reaches the run's one log.

A worker (``xdist_worker.py``) publishes over ``/ws/producer`` with a producer token.
The controller's events come down the pipe; a worker's come over this socket, so
the two streams race. The intake merges them so that each test's events stay in
order: a producer frame carries ``after`` = ``{test_id: [attempt, phases]}`` and is
held until the controller's stream has passed that test's ``attempt``-th
``test_started`` and, in that attempt, ``phases`` phase events (``setup`` at the
start, then one per relayed setup / call report); it then goes into the log right
there, before anything later in the controller's batch
(:meth:`ProducerIntake.from_pipe`). The other bound is the worker's: before xdist
relays a report or a test's end, it waits until the server has *received* what it
published (``ack``; only when it sent something), so the
controller's next phase event or ``test_completed`` reaches the server after it.

Frames (JSON text):

- producer -> server: ``{"type": "publish", "id": N, "after": {...}, "events": [...]}``
- server -> producer: ``{"type": "ack", "id": N}`` (every frame up to N is received)

Nothing waits forever: a frame held longer than ``HOLD_SECONDS`` goes in as it is,
and ``session_finished`` lets everything still held in before it. A producer that
disconnects keeps its held frames waiting like any other: a worker finishes (and
hangs up) as soon as the server has *received* its last frames, which is often
before the controller has relayed that test's lifecycle down the pipe.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from pytest_jbrealtime.protocol import PHASES
from pytest_jbrealtime.protocol.compact import expanded
from pytest_jbrealtime.shared.log import EventLog

# Only for a lifecycle that never comes (nothing waits on a held frame).
HOLD_SECONDS = 10.0
# Fields the log assigns; a producer cannot choose them.
LOG_FIELDS = ("seq", "run_id", "timestamp")


class ProducerFrameError(Exception):
    """A producer frame the intake cannot take (answered with an ``error``)."""


@dataclass
class HeldFrame:
    frame_id: int
    events: list[dict[str, Any]]
    after: dict[str, tuple[int, int]]
    deadline: float


@dataclass
class ProducerStream:
    """One producer connection's frames that are not in the log yet, in order."""

    frames: deque[HeldFrame] = field(default_factory=deque)
    acked: int = 0
    ack_ready: asyncio.Event = field(default_factory=asyncio.Event)
    # The connection is gone; the stream goes once its last frame is in the log.
    closed: bool = False


def parse_frame(text: str) -> HeldFrame:
    try:
        message = json.loads(text)
    except ValueError:
        raise ProducerFrameError("not JSON") from None
    if not isinstance(message, dict) or message.get("type") != "publish":
        raise ProducerFrameError("expected a publish frame")
    frame_id, events, after = message.get("id"), message.get("events"), message.get("after", {})
    if not isinstance(frame_id, int) or not isinstance(events, list) or not isinstance(after, dict):
        raise ProducerFrameError("publish needs id (int), events (list), after (object)")
    clean: list[dict[str, Any]] = []
    for event in events:
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            raise ProducerFrameError("every event needs a type")
        for name in LOG_FIELDS:
            event.pop(name, None)
        clean.append(event)
    constraints: dict[str, tuple[int, int]] = {}
    for test_id, bound in after.items():
        if not (
            isinstance(bound, list) and len(bound) == 2
            and all(isinstance(b, int) for b in bound)
        ):
            raise ProducerFrameError("after: {test_id: [attempt, phases]}")
        constraints[test_id] = (bound[0], bound[1])
    return HeldFrame(frame_id, clean, constraints, time.monotonic() + HOLD_SECONDS)


class ProducerIntake:
    """Merges producer frames into the log after the lifecycle events they follow."""

    def __init__(self, log: EventLog) -> None:
        self.log = log
        self.streams: list[ProducerStream] = []
        # Per test: how many test_started the log holds, and the phase events of the
        # latest attempt (setup with the start, then one per relayed setup/call report).
        self._progress: dict[str, tuple[int, int]] = {}
        self._timer: asyncio.TimerHandle | None = None

    def _advance(self, event: dict[str, Any]) -> bool:
        """Count a lifecycle event of the controller's; True if a test moved on."""
        kind = event.get("type")
        if kind == "test_started":
            test_id = event.get("test_id", "")
            attempt, _ = self._progress.get(test_id, (0, 0))
            self._progress[test_id] = (attempt + 1, 0)
            return True
        if (
            kind == "test_progress"
            and event.get("step_name") in PHASES
            and event.get("kind") in (None, "phase")
        ):
            test_id = event.get("test_id", "")
            attempt, phases = self._progress.get(test_id, (0, 0))
            self._progress[test_id] = (attempt, phases + 1)
            return True
        return False

    def from_pipe(self, batch: list[Any]) -> None:
        """Append a batch of the controller's events, held frames right where they fit.

        A held frame goes in just after the event that lets it, not after the whole
        batch: the same batch may already hold the test's next phase or its end. The
        batch's phase records become their events first (protocol/compact.py).
        """
        events = expanded(batch)
        start = 0
        for index, event in enumerate(events):
            if event.get("type") == "session_finished":
                # Whatever is still held goes in before the run's last event.
                self.log.extend(events[start:index])
                start = index
                self.merge(force=True)
            elif self._advance(event) and any(stream.frames for stream in self.streams):
                self.log.extend(events[start : index + 1])
                start = index + 1
                self.merge()
        if start < len(events):
            self.log.extend(events[start:])

    def _ready(self, frame: HeldFrame) -> bool:
        for test_id, (attempt, phases) in frame.after.items():
            logged = self._progress.get(test_id, (0, 0))
            if logged < (attempt, phases):
                return False
        return True

    def open_stream(self) -> ProducerStream:
        stream = ProducerStream()
        self.streams.append(stream)
        return stream

    def close_stream(self, stream: ProducerStream) -> None:
        """The producer is gone: its held frames wait for their tests all the same."""
        stream.closed = True
        self.merge()

    def add(self, stream: ProducerStream, frame: HeldFrame) -> None:
        stream.frames.append(frame)
        self.merge()

    def merge(self, force: bool = False) -> None:
        """Append every frame whose test has got far enough (all of them if ``force``)."""
        now = time.monotonic()
        earliest: float | None = None
        for stream in self.streams:
            frames = stream.frames
            while frames and (force or now >= frames[0].deadline or self._ready(frames[0])):
                self.log.extend(frames.popleft().events)
            if frames and (earliest is None or frames[0].deadline < earliest):
                earliest = frames[0].deadline
        self.streams = [s for s in self.streams if s.frames or not s.closed]
        self._schedule(earliest)

    def _schedule(self, deadline: float | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if deadline is None:
            return
        with contextlib.suppress(RuntimeError):  # no running loop (unit use): no timer
            loop = asyncio.get_running_loop()
            delay = max(0.0, deadline - time.monotonic())
            self._timer = loop.call_later(delay + 0.001, self.merge)

    async def serve(self, websocket: WebSocket) -> None:
        """One producer connection (the token was checked by the gate, role ``producer``)."""
        await websocket.accept()
        stream = self.open_stream()
        acker = asyncio.create_task(self._send_acks(websocket, stream))
        try:
            while True:
                text = await websocket.receive_text()
                try:
                    frame = parse_frame(text)
                except ProducerFrameError as exc:
                    await websocket.send_text(json.dumps({"type": "error", "message": str(exc)}))
                    continue
                self.add(stream, frame)
                # Received is enough: where it goes in the log is settled by ``after``.
                stream.acked = frame.frame_id
                stream.ack_ready.set()
        except (WebSocketDisconnect, RuntimeError, KeyError):
            pass
        finally:
            # Gone (finished, or a crashed worker): what it sent still goes in.
            acker.cancel()
            self.close_stream(stream)

    async def _send_acks(self, websocket: WebSocket, stream: ProducerStream) -> None:
        sent = 0
        with contextlib.suppress(Exception):  # the connection is closing
            while True:
                await stream.ack_ready.wait()
                stream.ack_ready.clear()
                if stream.acked > sent:
                    sent = stream.acked
                    await websocket.send_text(json.dumps({"type": "ack", "id": sent}))
