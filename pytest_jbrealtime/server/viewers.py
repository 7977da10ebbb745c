"""Viewer connections: each one a cursor into the event log.

A viewer's sender sends everything after its cursor (one ``batch`` frame when more
than one event is waiting) and then sleeps until the log grows. Nothing is copied per
viewer: a slow viewer only means a cursor that lags.

Wake-ups are coalesced: a viewer's wake-up is an ``asyncio.Event``, so however many
appends a loop turn makes, a waiting sender runs once after them; on the hub, appends
wake the viewers at most once per ``wake_delay``. Viewers of every event (the
``general`` group) that stand at the same cursor share one frame, built once
(``frames.py``). With 100 viewers, building each frame per viewer was a quarter
of the hub's CPU (docs/benchmarks.md, "Hub").
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import TYPE_CHECKING, Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from pytest_jbrealtime import __version__
from pytest_jbrealtime.protocol import (
    GROUP_GENERAL,
    GROUP_SYSTEM_MONITOR,
    PROTOCOL_VERSION,
    TEST_GROUP_PREFIX,
    CloseCode,
)
from pytest_jbrealtime.server.frames import MAX_BATCH, Frame, FrameCache, build_frame
from pytest_jbrealtime.server.metrics import ServerMetrics, text_size
from pytest_jbrealtime.shared.limit_config import VIEWER_SOCKET
from pytest_jbrealtime.shared.log import EventLog, LoggedEvent

if TYPE_CHECKING:
    from pytest_jbrealtime.server.stacks import StackService

MAX_SAFE_INTEGER = 2**53 - 1
FIRST_MESSAGE_GRACE = 0.2
CLIENT_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
GROUP = re.compile(f"{GROUP_GENERAL}|{GROUP_SYSTEM_MONITOR}|{TEST_GROUP_PREFIX}.+", re.S)
# Stack requests one viewer may have in flight (each asks a test process).
MAX_STACK_REQUESTS = 4
# pytest sets no limit on a test id (a parametrized id is its value); ours is what fits
# in one viewer frame (64 KiB, limit_config.py) with room for the JSON around it
# (docs/protocol.md). Longer ids still stream; they cannot be subscribed to one by one.
MAX_TEST_ID_CHARS = 60 * 1024
# Groups one viewer may be in: each event is matched against them.
MAX_GROUPS = 1000


class ProtocolError(Exception):
    """A viewer message the server cannot act on; the text goes back as an ``error``."""


def _dumps(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"))


class ViewerConnection:
    """One connected viewer: its groups, its cursor, and its outbox of control frames."""

    def __init__(self, websocket: WebSocket, client_id: str, registry: ViewerRegistry) -> None:
        self.websocket = websocket
        self.client_id = client_id
        self.registry = registry
        self.log = registry.log
        self.groups: frozenset[str] = frozenset({"general"})
        self.cursor = 0
        self._cursor_moves = 0
        self._outbox: list[str] = []
        self._wake = asyncio.Event()
        self._first_message = asyncio.Event()
        self.acked_seq = 0
        # Traffic of this connection (server/metrics.py reads these).
        self.connected_at = time.monotonic()
        self.frames_sent = self.bytes_sent = self.frames_received = self.bytes_received = 0
        self.last_received_type = "invalid"
        self._stack_requests: set[asyncio.Task[None]] = set()

    def wake(self) -> None:
        self._wake.set()

    def post(self, message: dict[str, Any]) -> None:
        self._outbox.append(_dumps(message))
        self._wake.set()

    async def serve(self) -> None:
        self.post(
            {
                "type": "hello",
                "run_id": self.log.run_id,
                "client_id": self.client_id,
                "protocol": PROTOCOL_VERSION,
                "version": __version__,
                "log_length": len(self.log),
            }
        )
        receiver = asyncio.create_task(self._receive_loop())
        try:
            await asyncio.wait(
                [receiver, asyncio.create_task(self._first_message.wait())],
                timeout=FIRST_MESSAGE_GRACE,
                return_when=asyncio.FIRST_COMPLETED,
            )
            sender = asyncio.create_task(self._send_loop())
            done, _ = await asyncio.wait([receiver, sender], return_when=asyncio.FIRST_COMPLETED)
            for task in (receiver, sender):
                task.cancel()
            for task in done:
                exc = task.exception() if not task.cancelled() else None
                if exc is not None and not isinstance(exc, (WebSocketDisconnect, OSError)):
                    raise exc
        finally:
            receiver.cancel()
            for task in self._stack_requests:
                task.cancel()

    # -- sending ---------------------------------------------------------------

    async def _send_loop(self) -> None:
        while True:
            self._wake.clear()
            while self._outbox:
                text = self._outbox.pop(0)
                await self.websocket.send_text(text)
                self._count_sent(text, 0)
            moves = self._cursor_moves
            frame = self._next_frame()
            if frame is not None:
                if frame.text is not None:
                    await self._send_frame(frame.text, frame.count)
                if moves == self._cursor_moves:
                    self.cursor = frame.last_seq
                continue
            if self.registry.closing:
                # 1000 tells the viewer it has the whole run; without session_finished
                # (pytest died) it is 1001, going away, and a viewer may try again.
                if self.log.finished:
                    await self.websocket.close(code=CloseCode.RUN_COMPLETE, reason="run finished")
                else:
                    await self.websocket.close(code=CloseCode.GOING_AWAY, reason="server stopping")
                return
            await self._wake.wait()

    def _next_frame(self) -> Frame | None:
        # A viewer in no group is paused, not skipped ahead: whatever it subscribes
        # to next is delivered from where its cursor stands.
        if not self.groups:
            return None
        if GROUP_GENERAL in self.groups:
            return self.registry.frames.after(self.cursor)
        entries = self.log.read_after(self.cursor, MAX_BATCH)
        return build_frame(entries, self.groups) if entries else None

    async def _send_frame(self, text: str, count: int) -> None:
        await self.websocket.send_text(text)
        self.registry.messages_sent += count
        self._count_sent(text, count)

    def _count_sent(self, text: str, events: int) -> None:
        self.frames_sent += 1
        self.bytes_sent += self.registry.metrics.sent(self.client_id, text, events)

    # -- receiving -------------------------------------------------------------

    async def _receive_loop(self) -> None:
        while True:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                raise WebSocketDisconnect(message.get("code", 1000))
            self._first_message.set()
            text = message.get("text")
            self.last_received_type = "invalid"
            try:
                if text is None:
                    raise ProtocolError("binary frames are not supported; send JSON text")
                self._handle(text)
            except ProtocolError as exc:
                self.post({"type": "error", "message": str(exc)})
            self._count_received(message)

    def _count_received(self, message: Any) -> None:
        text, data = message.get("text"), message.get("bytes")
        size = text_size(text) if text is not None else len(data or b"")
        self.frames_received += 1
        self.bytes_received += size
        self.registry.metrics.received(self.client_id, self.last_received_type, size)

    def _handle(self, text: str) -> None:
        try:
            message = json.loads(text)
        except (ValueError, RecursionError):
            raise ProtocolError("message is not valid JSON") from None
        if not isinstance(message, dict):
            raise ProtocolError("message must be a JSON object")
        kind = message.get("type")
        if not isinstance(kind, str):
            raise ProtocolError("message has no 'type' string")
        self.last_received_type = kind[:64]
        handler = getattr(self, f"_on_{kind}", None)
        if handler is None:
            raise ProtocolError(f"unknown message type {kind[:64]!r}")
        handler(message)

    @staticmethod
    def _field(message: dict[str, Any], name: str, kind: type) -> Any:
        value = message.get(name)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ProtocolError(
                f"{message['type']!r} needs field {name!r} of type {kind.__name__}"
            )
        return value

    def _group(self, message: dict[str, Any]) -> str:
        group: str = self._field(message, "group", str)
        if not GROUP.fullmatch(group):
            raise ProtocolError("group must be 'general', 'system_monitor' or 'test_<test id>'")
        if len(group) > len(TEST_GROUP_PREFIX) + MAX_TEST_ID_CHARS:
            raise ProtocolError(f"group's test id is longer than {MAX_TEST_ID_CHARS} characters")
        return group

    def _on_subscribe(self, message: dict[str, Any]) -> None:
        group = self._group(message)
        if group not in self.groups and len(self.groups) >= MAX_GROUPS:
            raise ProtocolError(f"a viewer may be in at most {MAX_GROUPS} groups")
        self.groups = self.groups | {group}
        # A paused viewer (no group) waits for the log to grow; a finished run's never
        # does, so the sender is told: its new group's events are already there.
        self.wake()

    def _on_unsubscribe(self, message: dict[str, Any]) -> None:
        self.groups = self.groups - {self._group(message)}

    def _on_resume(self, message: dict[str, Any]) -> None:
        run_id = self._field(message, "run_id", str)
        last_seq = self._field(message, "last_seq", int)
        if run_id != self.log.run_id or not 0 <= last_seq <= len(self.log):
            self.post({"type": "reset", "run_id": self.log.run_id,
                       "reason": "unknown run" if run_id != self.log.run_id
                       else "seq out of range"})
            last_seq = 0
        self.cursor = last_seq
        self._cursor_moves += 1
        self.wake()

    def reset(self, reason: str) -> None:
        """Start this viewer over from seq 1 with a ``reset`` (its log was replaced:
        the hub's store lost the run and it was put back, see hub/runlog.py)."""
        self.post({"type": "reset", "run_id": self.log.run_id, "reason": reason})
        self.cursor = 0
        self._cursor_moves += 1
        self.wake()

    def _on_ping(self, message: dict[str, Any]) -> None:
        ping_id = message.get("id")
        if ping_id is not None and not isinstance(ping_id, (str, int)):
            raise ProtocolError("'ping' field 'id' must be a string or an integer")
        # Echoed back: bounded, so a ping cannot make the server send what it likes.
        if isinstance(ping_id, str) and len(ping_id) > VIEWER_SOCKET.max_echo_chars:
            raise ProtocolError(f"'ping' field 'id': at most {VIEWER_SOCKET.max_echo_chars} "
                                "characters")
        if isinstance(ping_id, int) and not -MAX_SAFE_INTEGER <= ping_id <= MAX_SAFE_INTEGER:
            raise ProtocolError("'ping' field 'id': an integer JavaScript can hold")
        self.post({"type": "pong", "id": ping_id, "log_length": len(self.log)})

    def _on_ack(self, message: dict[str, Any]) -> None:
        self.acked_seq = max(self.acked_seq, self._field(message, "seq", int))

    def _on_stack_request(self, message: dict[str, Any]) -> None:
        from pytest_jbrealtime.server.stacks import UNAVAILABLE, stack_error

        test_id: str = self._field(message, "test_id", str)
        if len(test_id) > MAX_TEST_ID_CHARS:
            raise ProtocolError(f"'test_id' is longer than {MAX_TEST_ID_CHARS} characters")
        service = self.registry.stacks
        if service is None:
            self.post(stack_error(test_id, UNAVAILABLE, "this server cannot take stacks"))
            return
        if len(self._stack_requests) >= MAX_STACK_REQUESTS:
            self.post(stack_error(test_id, UNAVAILABLE,
                                  f"{MAX_STACK_REQUESTS} stack requests already pending"))
            return

        async def answer() -> None:
            self.post(await service.stack(test_id))

        # Answered when the process answers; the connection reads on meanwhile.
        task = asyncio.create_task(answer())
        self._stack_requests.add(task)
        task.add_done_callback(self._stack_requests.discard)


class ViewerRegistry:
    """All connected viewers of one log; wakes them when the log grows.

    ``wake_delay`` 0 (a run's server, whose latency matters): at once, each append
    (setting a set Event is a no-op: a sender runs once per loop turn however many
    appends it missed; deferring the wake-up by ``call_soon`` cost a loop turn, which
    with 100 viewers sending is milliseconds). Otherwise once per ``wake_delay``
    seconds (the hub: appends from many producers, or Redis reads, within a few ms
    make one wake-up, and one shared frame, instead of one each).
    """

    def __init__(self, log: EventLog, wake_delay: float = 0.0) -> None:
        self.log = log
        self.wake_delay = wake_delay
        self.frames = FrameCache(log)
        self._wake_due = False
        self.viewers: set[ViewerConnection] = set()
        self.closing = False
        self.messages_sent = 0
        self.total_connections = 0
        self.metrics = ServerMetrics()
        # Answers stack requests for this log's run (server/stacks.py); None: cannot.
        self.stacks: StackService | None = None
        self.count_changed = asyncio.Event()
        log.listeners.append(self._log_grew)

    def _log_grew(self, _added: list[LoggedEvent]) -> None:
        if self._wake_due:
            return  # the wake-up already due covers these too
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # appended outside the loop (a tool's log): at once
            loop = None
        if self.wake_delay <= 0 or loop is None:
            self.wake_all()
            return
        self._wake_due = True
        loop.call_later(self.wake_delay, self._wake_due_viewers)

    def _wake_due_viewers(self) -> None:
        self._wake_due = False
        self.wake_all()

    def wake_all(self) -> None:
        for viewer in self.viewers:
            viewer.wake()

    def add(self, viewer: ViewerConnection) -> None:
        self.viewers.add(viewer)
        self.total_connections += 1
        self.metrics.opened()
        self._announce_count()

    def remove(self, viewer: ViewerConnection) -> None:
        if viewer in self.viewers:
            self.metrics.closed(time.monotonic() - viewer.connected_at)
        self.viewers.discard(viewer)
        self._announce_count()

    def _announce_count(self) -> None:
        for viewer in self.viewers:
            viewer.post({"type": "viewers", "count": len(self.viewers)})
        self.count_changed.set()

    def all_caught_up(self) -> bool:
        return all(v.cursor >= len(self.log) for v in self.viewers)

    def close_when_caught_up(self) -> None:
        self.closing = True
        self.wake_all()
