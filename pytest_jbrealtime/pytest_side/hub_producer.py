"""The pytest side of publishing to a hub: a thread that owns the connection.

The hot path hands batches to a queue (:meth:`HubProducer.send_batch`). The thread
numbers each event, writes it to the spool (``spool.py``, on disk) and to the local
recording, and sends what the hub does not have yet. The hub may be down when the run
starts, or go away and come back: the thread reconnects with backoff, re-joins, learns
the last event the hub holds, and sends from the next one — in order, nothing lost,
nothing twice (the hub drops numbers it already has). The tests never wait for it;
at the end it gets a bounded time to deliver the rest. The hub's stack requests come
down the same connection and are answered from this thread (``hub/stacks.py``), and
its acks bring the verdicts its history gave the tests (for the CI outputs).

Screenshots ride the same connection: the spool holds only their events (the image is
already a file in the run folder), and before a publish frame with a
``screenshot_captured`` event the thread sends that image as a binary frame
(``hub/screenshots.py``). So an image reaches the hub just before its event, is sent
again with its event after a reconnect, and costs the tests nothing more.

When the process is about to end (SIGTERM, pytest-timeout's thread method), this
thread sends the last word first: ``hub_last_word.py``.
"""

from __future__ import annotations

import contextlib
import json
import queue
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pytest_jbrealtime.hub.screenshots import MAX_SCREENSHOT_BYTES, screenshot_frame
from pytest_jbrealtime.hub.stacks import PRODUCER_ASK_TIMEOUT, answer_stack_request
from pytest_jbrealtime.protocol import CloseCode
from pytest_jbrealtime.protocol.compact import expanded
from pytest_jbrealtime.pytest_side.hub_last_word import (
    LastWord,
    LastWordDuties,
    end_as_sigterm,
)
from pytest_jbrealtime.pytest_side.hub_spool import Spool
from pytest_jbrealtime.shared.log import EventLog
from pytest_jbrealtime.shared.stack_responder import ask_responder, responder_path
from pytest_jbrealtime.shared.stalls import StallWatch, stalled_event
from pytest_jbrealtime.shared.unpatched import clock, shield_websockets_sync, system

CONNECT_TIMEOUT = 3.0
JOIN_TIMEOUT = 5.0
FIRST_RETRY = 0.25
LAST_RETRY = 4.0
# One publish frame carries up to this much (the hub takes frames up to 16 MiB).
FRAME_BYTES = 1024 * 1024
# Sent but not acknowledged, at most: the hub keeps up or we wait for its acks.
IN_FLIGHT_BYTES = 8 * 1024 * 1024
SPOOL_BYTES = 512 * 1024 * 1024
_STOP = object()


# How a screenshot's event looks in the spool (compact JSON): only these lines are parsed.
SCREENSHOT_MARK = b'"type":"screenshot_captured"'
TOKEN_ENV = "JB_LIVE_TOKEN"
NO_TOKEN = f"{TOKEN_ENV} is not set (a producer token of the hub)"

# ASCII: text with lone surrogates (captured output of any bytes) still encodes.
_encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True, default=str)


class FatalHubError(Exception):
    """Trying again cannot help (the hub refused the token, or is no hub)."""


class HubProducer(LastWordDuties):
    def __init__(
        self,
        ws_url: str,
        token: str | None,
        run_id: str,
        shard: str,
        run_info: dict[str, Any],
        spool: Spool,
        local_log: EventLog | None = None,
        expected_shards: int = 0,
        screenshots_dir: Path | None = None,
        run_dir: Path | None = None,
        stall_after: float | str = "off",
        on_stalled: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.ws_url = ws_url
        self._token = token
        self.run_id = run_id
        self.shard = shard
        self.run_info = run_info
        self.spool = spool
        # The run as this process saw it, for the local recording (its listeners).
        self.local_log = local_log
        self.expected_shards = expected_shards
        # Where ScreenshotStore writes this run's images (the run folder's screenshots/).
        self.screenshots_dir = screenshots_dir
        # Where this run's stack responders listen (stack_responder.py, hub/stacks.py).
        self.run_dir = run_dir
        # Stall alerts (stalls.py): this thread sees every event and keeps the clock.
        self.stalls = StallWatch(stall_after) if stall_after != "off" else None
        self.on_stalled = on_stalled
        # The tests running now (test id -> worker), for the last word on SIGTERM.
        self.running: dict[str, str] = {}
        # faulthandler's SIGTERM dump of this process (watch_sigterm), and what to do
        # once the last word is delivered, before the process ends (close the recording).
        self.sigterm_dump: Path | None = None
        self._end_terminated: Callable[[], None] = end_as_sigterm
        self.before_exit: Callable[[], None] | None = None
        self.screenshots_sent = 0
        # Screenshots whose image could not be sent (gone, too big): their URL is a 404.
        self.screenshots_missing = 0
        self.producer_id = uuid.uuid4().hex
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._connection: Any = None
        self.acked = 0
        self._sent = 0
        self._retry_at = 0.0
        self._retry_delay = FIRST_RETRY
        self.connects = 0
        # Viewers watching the run on the hub (it says so when that changes).
        self.viewer_count = 0
        # The hub's verdicts (test_id -> verdict), as its acks bring them: the CI
        # outputs use them rather than this machine's (outputs.py). Written by the thread
        # only; read once it has stopped (or gave up).
        self.verdicts: dict[str, str] = {}
        self.fatal: str | None = None
        self.first_problem: str | None = None
        self._end_wait = 0.0
        self._thread = threading.Thread(target=self._run, name="jb-live-hub", daemon=True)

    # -- the main thread --------------------------------------------------------------

    def start(self) -> None:
        if self._token is None:
            self.fatal = NO_TOKEN
        self._thread.start()

    def send_batch(self, events: list[dict[str, Any]]) -> None:
        self._queue.put(events)

    def stop(self, end_wait: float) -> bool:
        """Deliver what is left within ``end_wait`` seconds; True if the hub has everything."""
        self._end_wait = end_wait
        self._queue.put(_STOP)
        self._thread.join(end_wait + 2.0)
        return not self._thread.is_alive() and self.undelivered == 0

    @property
    def undelivered(self) -> int:
        return self.spool.last - self.acked + self.spool.dropped

    # -- the thread ---------------------------------------------------------------------

    def _run(self) -> None:
        stop_at: float | None = None
        try:
            while True:
                now = clock.monotonic()
                if self._connection is not None:
                    timeout = 0.02
                else:
                    timeout = min(max(self._retry_at - now, 0.005), 0.25)
                if stop_at is not None:
                    timeout = min(timeout, 0.02)
                items = self._take(timeout)
                if any(item is _STOP for item in items):
                    stop_at = clock.monotonic() + self._end_wait
                try:
                    for item in items:
                        if isinstance(item, LastWord):
                            self._deliver_last(item.events)
                            item.done.set()
                        elif item is not _STOP:
                            self._record(item)
                    self._check_stalls()
                    self._check_sigterm()
                    if self.fatal is None:
                        self._talk()
                except Exception as exc:  # a bug here must not leave the queue growing
                    self.fatal = f"publishing stopped: {exc!r}"
                if stop_at is not None and (
                    self.fatal is not None
                    or self.acked >= self.spool.last
                    or clock.monotonic() >= stop_at
                ):
                    return
        finally:
            self._disconnect(None)

    def _take(self, timeout: float) -> list[Any]:
        items = []
        try:
            items.append(self._queue.get(timeout=timeout))
            while True:
                items.append(self._queue.get_nowait())
        except queue.Empty:
            pass
        return items

    def _check_stalls(self) -> None:
        if self.stalls is None:
            return
        for stall in self.stalls.due():
            answer = (ask_responder(responder_path(self.run_dir, stall.test.worker),
                                    PRODUCER_ASK_TIMEOUT)
                      if self.run_dir is not None else {"error": "no run folder"})
            event = stalled_event(stall, answer)
            event["ts"] = clock.time()
            self._record([event])
            if self.on_stalled is not None:
                self.on_stalled(event)

    def _record(self, batch: list[Any]) -> None:
        # Here, in the producer's thread: phase records become events (compact.py).
        events = expanded(batch)
        for event in events:
            kind = event.get("type")
            if kind == "test_started":
                self.running[str(event.get("test_id"))] = str(event.get("worker") or "main")
            elif kind == "test_completed":
                self.running.pop(str(event.get("test_id")), None)
        if self.stalls is not None:
            for event in events:
                if event.get("type") in ("test_started", "test_completed",
                                         "session_finished"):
                    self.stalls.observe(event)
        if self.local_log is not None:
            self.local_log.extend(events)
        for event in events:
            try:
                line = _encoder.encode(event).encode("ascii")
            except (TypeError, ValueError):  # not JSON at all (a cycle): this one is lost
                self.spool.dropped += 1
                continue
            self.spool.add(line)

    def _talk(self) -> None:
        """Connect if it is time, send what the hub lacks, read its acks."""
        if self._connection is None:
            if clock.monotonic() < self._retry_at:
                return
            try:
                self._connect()
            except FatalHubError as exc:
                self.fatal = str(exc)
                return
            except Exception as exc:
                self._disconnect(exc)
                return
        try:
            self._send_pending()
            self._read_acks(0)
        except FatalHubError as exc:
            self.fatal = str(exc)
            self._disconnect(None)
        except Exception as exc:
            self._disconnect(exc)

    def _connect(self) -> None:
        from websockets.exceptions import ConnectionClosed, InvalidStatus
        from websockets.sync.client import connect

        shield_websockets_sync()
        try:
            connection = connect(
                self.ws_url, additional_headers={"Authorization": f"Bearer {self._token}"},
                open_timeout=CONNECT_TIMEOUT, close_timeout=1.0, max_size=None,
                compression=None,
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            if 400 <= status < 500:
                raise FatalHubError(f"the hub refused the connection (HTTP {status})") from None
            raise
        # Entered as a context manager (websockets 17 warns otherwise); closed by _disconnect.
        connection = connection.__enter__()
        try:
            connection.send(system.json_dumps({
                "type": "join", "run_id": self.run_id, "shard": self.shard,
                "producer": self.producer_id, "shards": self.expected_shards,
                "run_info": self.run_info,
            }))
            reply = system.json_loads(connection.recv(timeout=JOIN_TIMEOUT))
        except ConnectionClosed as exc:
            connection.close()
            if exc.rcvd is not None and exc.rcvd.code == CloseCode.BAD_TOKEN:
                raise FatalHubError("the hub refused the producer token (4001)") from None
            raise
        except BaseException:
            connection.close()
            raise
        if reply.get("type") != "joined" or not isinstance(reply.get("last"), int):
            connection.close()
            raise FatalHubError(f"unexpected answer to join: {str(reply)[:200]}")
        self._connection = connection
        self.connects += 1
        self.shard = str(reply.get("shard") or self.shard)
        # What the hub holds decides where to go on: after a hub restart that may be
        # less than it acknowledged before (then the spool sends it again, if it still
        # has it) or more than it acknowledged (its ack was lost with the connection).
        self.acked = self._sent = int(reply["last"])
        self.spool.acknowledged(self.acked)
        self._retry_delay = FIRST_RETRY

    def _send_pending(self) -> None:
        while self._sent < self.spool.last:
            if self.spool.bytes_after(self.acked) - self.spool.bytes_after(self._sent) > (
                IN_FLIGHT_BYTES
            ):
                self._read_acks(0.05)
                return
            first = max(self._sent + 1, self.spool.base)
            lines = self.spool.read(first, FRAME_BYTES)
            if not lines:
                return
            for line in lines:
                if SCREENSHOT_MARK in line:
                    self._send_screenshot(line)
            frame = (
                '{"type":"publish","run_id":' + system.json_dumps(self.run_id) + ',"first":'
                + str(first) + ',"events":[' + b",".join(lines).decode("utf-8") + "]}"
            )
            self._connection.send(frame)
            self._sent = first + len(lines) - 1

    def _send_screenshot(self, line: bytes) -> None:
        """The image of a ``screenshot_captured`` event, just before the event itself."""
        try:
            event = system.json_loads(line)
        except ValueError:
            return
        if not isinstance(event, dict) or event.get("type") != "screenshot_captured":
            return  # another event that only mentions the name
        screenshot_id = event.get("screenshot_id")
        if not isinstance(screenshot_id, str) or self.screenshots_dir is None:
            return
        path = self.screenshots_dir / f"{Path(screenshot_id).name}.png"
        try:
            if path.stat().st_size > MAX_SCREENSHOT_BYTES:
                self.screenshots_missing += 1
                return
            png = path.read_bytes()
        except OSError:  # removed, or never written: the event goes without it
            self.screenshots_missing += 1
            return
        self._connection.send(screenshot_frame(self.run_id, screenshot_id, png))
        self.screenshots_sent += 1

    def _read_acks(self, timeout: float) -> None:
        while True:
            try:
                text = self._connection.recv(timeout=timeout)
            except TimeoutError:
                return
            message = system.json_loads(text)
            if message.get("type") == "ack" and isinstance(message.get("last"), int):
                verdicts = message.get("verdicts")
                if isinstance(verdicts, dict):  # before the ack counts: see stop()
                    self.verdicts.update(
                        (k, v) for k, v in verdicts.items() if isinstance(v, str))
                self.acked = max(self.acked, message["last"])
                self.spool.acknowledged(self.acked)
            elif message.get("type") == "viewers" and isinstance(message.get("count"), int):
                self.viewer_count = message["count"]
            elif message.get("type") == "stack_request":
                # Asked on this thread: the responders answer in milliseconds.
                answer = answer_stack_request(message, self.run_dir)
                self._connection.send(system.json_dumps(answer))
            elif message.get("type") == "error" and self.first_problem is None:
                self.first_problem = f"the hub said: {message.get('message')}"
            timeout = 0

    def _disconnect(self, exc: BaseException | None) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):  # already gone
                connection.close()
        if exc is not None:
            if self.first_problem is None:
                self.first_problem = f"{type(exc).__name__}: {exc}"[:300]
            self._retry_at = clock.monotonic() + self._retry_delay
            self._retry_delay = min(self._retry_delay * 2, LAST_RETRY)
