"""Producer connections: what xdist workers know reaches the run's one log.

A worker (``xdist_worker.py``) publishes over ``/ws/producer`` with a producer token.
The controller's events come down the pipe; a worker's come over this socket, so
the two streams race. The intake merges them so that each test's events stay in
order: a producer frame carries ``after`` = ``{test_id: [attempt, reports]}``, and
waits until the log holds that test's ``attempt``-th ``test_started`` and, in that
attempt, the controller's phase events for ``reports`` relayed reports. A frame is
acknowledged once its events are in the log, and the worker waits for that before
it lets xdist send the report or the end of a test (only when it sent something),
so nothing of a test can land after the controller's next phase or its
``test_completed``.

Frames (JSON text):

- producer -> server: ``{"type": "publish", "id": N, "after": {...}, "events": [...]}``
- server -> producer: ``{"type": "ack", "id": N}`` (every frame up to N is in the log)

Nothing waits forever: a frame held longer than ``HOLD_SECONDS`` goes in as it is, and
a producer that disconnects has everything it sent appended.
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

from pytest_jbrealtime.log import EventLog, LoggedEvent

HOLD_SECONDS = 3.0
# Fields the log assigns; a producer cannot choose them.
LOG_FIELDS = ("seq", "run_id", "timestamp")
PHASE_STEPS = frozenset({"call", "teardown"})


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
            raise ProducerFrameError("after: {test_id: [attempt, reports]}")
        constraints[test_id] = (bound[0], bound[1])
    return HeldFrame(frame_id, clean, constraints, time.monotonic() + HOLD_SECONDS)


class ProducerIntake:
    """Merges producer frames into the log after the lifecycle events they follow."""

    def __init__(self, log: EventLog) -> None:
        self.log = log
        self.streams: list[ProducerStream] = []
        # Per test: how many test_started the log holds, and the phase events of the
        # latest attempt (the controller publishes one per relayed setup/call report).
        self._progress: dict[str, tuple[int, int]] = {}
        self._merging = False
        self._timer: asyncio.TimerHandle | None = None
        log.listeners.append(self._on_append)

    def _on_append(self, entries: list[LoggedEvent]) -> None:
        if self._merging:  # a producer's own events move no test forward
            return
        moved = False
        for entry in entries:
            event = entry.event
            kind = event["type"]
            if kind == "test_started":
                attempt, _ = self._progress.get(event.get("test_id", ""), (0, 0))
                self._progress[event.get("test_id", "")] = (attempt + 1, 0)
                moved = True
            elif (
                kind == "test_progress"
                and event.get("step_name") in PHASE_STEPS
                and event.get("kind") in (None, "phase")
            ):
                attempt, reports = self._progress.get(event.get("test_id", ""), (0, 0))
                self._progress[event.get("test_id", "")] = (attempt, reports + 1)
                moved = True
            elif kind == "session_finished":
                self._merge_soon(force=True)
                return
        if moved:
            self._merge_soon(force=False)

    def _merge_soon(self, force: bool) -> None:
        # Not from inside the log's append: the other listeners (the recording) must
        # see the pipe's batch before anything merged after it.
        if not any(stream.frames for stream in self.streams):
            return
        try:
            asyncio.get_running_loop().call_soon(self.merge, force)
        except RuntimeError:  # no loop (a unit test): nothing else is appending
            self.merge(force)

    def _ready(self, frame: HeldFrame) -> bool:
        for test_id, (attempt, reports) in frame.after.items():
            logged = self._progress.get(test_id, (0, 0))
            if logged < (attempt, reports):
                return False
        return True

    def add(self, stream: ProducerStream, frame: HeldFrame) -> None:
        stream.frames.append(frame)
        self.merge()

    def merge(self, force: bool = False) -> None:
        """Append every frame whose test has got far enough (all of them if ``force``)."""
        if self._merging:
            return
        now = time.monotonic()
        earliest: float | None = None
        self._merging = True
        try:
            for stream in self.streams:
                frames = stream.frames
                while frames and (force or now >= frames[0].deadline or self._ready(frames[0])):
                    frame = frames.popleft()
                    self.log.extend(frame.events)
                    stream.acked = frame.frame_id
                    stream.ack_ready.set()
                if frames and (earliest is None or frames[0].deadline < earliest):
                    earliest = frames[0].deadline
        finally:
            self._merging = False
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
        stream = ProducerStream()
        self.streams.append(stream)
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
        except (WebSocketDisconnect, RuntimeError, KeyError):
            pass  # gone (a crashed worker): what it sent still goes in below
        finally:
            acker.cancel()
            self.streams.remove(stream)
            if stream.frames:
                self._merging = True
                try:
                    for frame in stream.frames:
                        self.log.extend(frame.events)
                finally:
                    self._merging = False
                stream.frames.clear()

    async def _send_acks(self, websocket: WebSocket, stream: ProducerStream) -> None:
        sent = 0
        with contextlib.suppress(Exception):  # the connection is closing
            while True:
                await stream.ack_ready.wait()
                stream.ack_ready.clear()
                if stream.acked > sent:
                    sent = stream.acked
                    await websocket.send_text(json.dumps({"type": "ack", "id": sent}))
