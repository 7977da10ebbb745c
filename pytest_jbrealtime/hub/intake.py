"""Producers on the hub: pytest processes publishing their runs over ``/ws/producer``.

Frames (JSON text; docs/hub.md):

- producer -> hub: ``{"type": "join", "run_id": R, "shard": S, "producer": P, "shards": N,
  "run_info": {}}`` once per connection (``shards``: how many the run waits for, 0: any),
  then ``{"type": "publish", "run_id": R, "first": N, "events": [...]}``
  where the events are the producer's N-th, N+1-th … (it numbers every event it makes);
- producer -> hub, binary: a screenshot, ``{"type": "screenshot", "run_id": R,
  "screenshot_id": S}`` + newline + the PNG (``hub/screenshots.py``), sent just before
  the publish frame that holds its ``screenshot_captured`` event; stored before that
  frame is read, so the image is there before viewers see the event. Not acknowledged
  on its own (the next publish's ack covers it);
- hub -> producer: ``{"type": "joined", "run_id": R, "shard": S2, "last": M}`` (M: the
  last event the hub holds from it, so it sends again from M+1), and after each
  publish ``{"type": "ack", "run_id": R, "last": M}`` once those are stored (with
  ``"verdicts": {test_id: verdict}`` when the hub's history judged tests of the frame), and
  ``{"type": "viewers", "run_id": R, "count": N}`` whenever the number of viewers
  watching the run changes (``--jb-live-wait-viewers``);
- hub -> producer ``{"type": "stack_request", "id": N, "worker": W}`` and its answer
  producer -> hub ``{"type": "stack", "id": N, "answer": {...}}`` (``hub/stacks.py``).

A frame sent twice (after a reconnect) is harmless: events the run already holds are
dropped by the backend. Each event is tagged with ``shard`` and ``shard_seq``; a
shard's ``session_finished`` goes in as ``shard_finished``, and when every shard that
joined has finished (and at least ``shards`` of them), the hub appends the run's one
``session_finished`` (summed counts).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import Counter
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from pytest_jbrealtime.hub.backends.base import (
    LiveQuota,
    LiveRunsFull,
    LogBackend,
    StoreUnavailable,
    UnknownRun,
)
from pytest_jbrealtime.hub.history import HubHistory
from pytest_jbrealtime.hub.lifecycle import push_viewer_counts
from pytest_jbrealtime.hub.runstate import merged_session_finished
from pytest_jbrealtime.hub.scopes import TokenScope, token_key
from pytest_jbrealtime.hub.screenshots import (
    HubScreenshots,
    ScreenshotFrameError,
    parse_screenshot_frame,
)
from pytest_jbrealtime.hub.stacks import Send, ShardStackRequests
from pytest_jbrealtime.protocol import CloseCode
from pytest_jbrealtime.protocol.frames import HubAck
from pytest_jbrealtime.shared.limit_config import ServerLimits
from pytest_jbrealtime.shared.names import valid_run_id, valid_shard

# Fields the log or the hub assigns; a producer cannot choose them.
ASSIGNED_FIELDS = ("seq", "run_id", "timestamp", "shard", "shard_seq")
# Event types only the hub writes: a shard's joining, end and return (a published
# shard_joined could set the run's expected shards to 10^9 and keep it open for ever).
HUB_ONLY_PREFIX = "shard_"
logger = logging.getLogger("pytest_jbrealtime.hub")


class FrameError(Exception):
    """A producer frame the hub cannot take (answered with an ``error``)."""


class JoinRefused(Exception):
    """A join the hub will not take: the connection is closed with ``code``."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code


def producer_events(
    message: dict[str, Any], shard: str
) -> list[dict[str, Any]]:
    first, events = message.get("first"), message.get("events")
    if not isinstance(first, int) or isinstance(first, bool) or first < 1:
        raise FrameError("publish needs 'first' (the number of its first event, >= 1)")
    if not isinstance(events, list):
        raise FrameError("publish needs 'events' (a list)")
    clean: list[dict[str, Any]] = []
    for offset, event in enumerate(events):
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            raise FrameError("every event needs a type")
        if event["type"].startswith(HUB_ONLY_PREFIX):
            raise FrameError(f"{event['type'][:64]!r} events are the hub's own; "
                             "a producer may not publish them")
        for name in ASSIGNED_FIELDS:
            event.pop(name, None)
        if not isinstance(event.get("ts"), float):
            event.pop("ts", None)
        if event["type"] == "session_finished":
            event["type"] = "shard_finished"  # the run ends when all its shards have
        event["shard"] = shard
        event["shard_seq"] = first + offset
        clean.append(event)
    return clean


class HubIntake:
    def __init__(self, backend: LogBackend, screenshots: HubScreenshots | None = None,
                 history: HubHistory | None = None,
                 limits: ServerLimits | None = None) -> None:
        self.backend = backend
        # Verdicts from the hub's database (hub/history.py); None: the producers' own.
        self.history = history
        self.screenshots = screenshots or HubScreenshots(None, 0)
        self.limits = limits or ServerLimits()
        self.connections = 0
        # (run, shard) of each producer connected now, for the shards' heartbeat.
        self.joined: Counter[tuple[str, str]] = Counter()
        self._locks: dict[int, asyncio.Lock] = {}
        self._tracked: dict[int, tuple[tuple[str, str], asyncio.Task[None]]] = {}
        # Stack requests down the producers' connections (hub/stacks.py).
        self.stacks = ShardStackRequests()
        self._stack_senders: dict[int, Send] = {}

    def connected(self) -> set[tuple[str, str]]:
        return set(self.joined)

    async def serve(self, websocket: WebSocket) -> None:
        """One producer connection (the gate checked its token: role ``producer``)."""
        await websocket.accept()
        self.connections += 1
        try:
            await self._serve(websocket)
        except JoinRefused as refused:
            with contextlib.suppress(Exception):
                await websocket.send_text(json.dumps({"type": "error",
                                                      "message": str(refused)}))
                await websocket.close(refused.code, str(refused)[:120])
        except (WebSocketDisconnect, RuntimeError):
            pass  # gone; it sends again what we did not acknowledge
        except StoreUnavailable as exc:
            with contextlib.suppress(Exception):
                await websocket.close(CloseCode.TRY_LATER,
                                      f"log store unavailable: {exc}"[:120])
        except UnknownRun:
            with contextlib.suppress(Exception):
                await websocket.close(CloseCode.RUN_LOST, "the run is not in the store; join again")
        finally:
            self.connections -= 1
            self._untrack(websocket)

    async def _serve(self, websocket: WebSocket) -> None:
        joined: tuple[str, str] | None = None
        while True:
            received = await websocket.receive()
            if received["type"] == "websocket.disconnect":
                raise WebSocketDisconnect(received.get("code", 1000))
            if received.get("bytes") is not None:
                try:
                    await self._screenshot(received["bytes"], joined)
                except (ScreenshotFrameError, FrameError, OSError) as exc:
                    await websocket.send_text(json.dumps({"type": "error", "message": str(exc)}))
                continue
            text = received.get("text") or ""
            try:
                message = json.loads(text)
                if not isinstance(message, dict):
                    raise FrameError("expected a JSON object")
                kind = message.get("type")
                if kind == "join":
                    joined = await self._join(websocket, message, joined)
                    self._track(websocket, joined)
                elif kind == "publish":
                    if joined is None:
                        raise FrameError("join a run before publishing")
                    await self._publish(websocket, message, *joined)
                elif kind == "stack":
                    self.stacks.answered(message)
                else:
                    raise FrameError("expected a join or publish frame")
            except (FrameError, ValueError) as exc:
                await self._send(websocket, {"type": "error", "message": str(exc)})

    # -- a joined producer: alive while connected, told its run's viewer count ----------

    def _track(self, websocket: WebSocket, joined: tuple[str, str]) -> None:
        self.joined[joined] += 1

        async def send(text: str) -> None:
            async with self._locks.setdefault(id(websocket), asyncio.Lock()):
                await websocket.send_text(text)

        pusher = asyncio.create_task(push_viewer_counts(self.backend, joined[0], send))
        self._tracked[id(websocket)] = (joined, pusher)

        async def send_message(message: dict[str, Any]) -> None:
            await send(json.dumps(message))

        self._stack_senders[id(websocket)] = send_message
        self.stacks.connected(joined, send_message)

    def _untrack(self, websocket: WebSocket) -> None:
        self._locks.pop(id(websocket), None)
        tracked = self._tracked.pop(id(websocket), None)
        if tracked is None:
            return
        joined, pusher = tracked
        pusher.cancel()
        sender = self._stack_senders.pop(id(websocket), None)
        if sender is not None:
            self.stacks.disconnected(joined, sender)
        self.joined[joined] -= 1
        if self.joined[joined] <= 0:
            del self.joined[joined]

    async def _send(self, websocket: WebSocket, message: dict[str, Any]) -> None:
        # One frame at a time: the viewer counts are sent from another task.
        async with self._locks.setdefault(id(websocket), asyncio.Lock()):
            await websocket.send_text(json.dumps(message))

    async def _join(
        self, websocket: WebSocket, message: dict[str, Any], joined: tuple[str, str] | None
    ) -> tuple[str, str]:
        run_id, shard = message.get("run_id"), message.get("shard")
        producer, info = message.get("producer"), message.get("run_info", {})
        if joined is not None:
            raise FrameError("one join per connection")
        if not valid_run_id(run_id) or not valid_shard(shard):
            raise FrameError("join needs run_id (1-64 of [A-Za-z0-9_.-]) and shard "
                             "(1-64 of [A-Za-z0-9_.:@-])")
        if not isinstance(producer, str) or not 1 <= len(producer) <= 64:
            raise FrameError("join needs 'producer' (a string naming this producer)")
        expected = message.get("shards", 0)
        if isinstance(expected, bool) or not isinstance(expected, int) or not 0 <= expected <= 1e4:
            raise FrameError("'shards' (the shards the run waits for) must be 0-10000")
        assert isinstance(run_id, str) and isinstance(shard, str)
        claims = websocket.scope.get("state", {}).get("claims") or {}
        scope = TokenScope.of(claims)
        if not scope.named:
            raise JoinRefused(CloseCode.NOT_YOURS, "this producer token names no run or project "
                              "(mint one with --run or --project)")
        if not scope.allows(run_id):
            raise JoinRefused(CloseCode.NOT_YOURS, f"this token publishes into {scope.describe()}")
        quota = LiveQuota(token_key(claims), self.limits.max_live_runs_per_token,
                          self.limits.max_live_runs)
        try:
            result = await self.backend.join(run_id, shard, producer,
                                             info if isinstance(info, dict) else {}, expected,
                                             quota)
        except LiveRunsFull as full:
            raise JoinRefused(CloseCode.TRY_LATER, str(full)) from None
        if self.history is not None:
            await self.history.joined(run_id, info if isinstance(info, dict) else {})
        await websocket.send_text(json.dumps(
            {"type": "joined", "run_id": run_id, "shard": result.shard, "last": result.last}))
        return run_id, result.shard

    async def _screenshot(self, data: bytes, joined: tuple[str, str] | None) -> None:
        if joined is None:
            raise FrameError("join a run before sending screenshots")
        run_id, screenshot_id, png = parse_screenshot_frame(data)
        if run_id != joined[0]:
            raise FrameError(f"this connection publishes into run {joined[0]!r}")
        # Written (and shared with the other hubs on the store) before the next frame is
        # read: before its event reaches the log.
        await asyncio.to_thread(self.screenshots.put, run_id, screenshot_id, png)
        await self.backend.share_screenshot(run_id, screenshot_id, png)

    async def _publish(
        self, websocket: WebSocket, message: dict[str, Any], run_id: str, shard: str
    ) -> None:
        if message.get("run_id") != run_id:
            raise FrameError(f"this connection publishes into run {run_id!r}")
        events = producer_events(message, shard)
        verdicts = (await self.history.judge(run_id, events)
                    if self.history is not None else {})
        result = await self.backend.append(run_id, shard, events)
        if result.ended is not None:
            end = merged_session_finished(result.ended)
            await self.backend.append(run_id, None, [end])
            if self.history is not None:
                await self.history.finished(run_id, end)
        ack: HubAck = {"type": "ack", "run_id": run_id, "last": result.last}
        if verdicts:  # for the producer's CI outputs (docs/ci.md)
            ack["verdicts"] = verdicts
        await self._send(websocket, {**ack})
