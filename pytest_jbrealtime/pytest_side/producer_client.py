"""A producer connection: an xdist worker's event sink, a WebSocket to the controller's server.

The worker's hot path only hands a batch to a queue (:meth:`send_batch`); a daemon
thread owns the socket, encodes the batches as ``publish`` frames (protocol in
``server/producers.py``) and sends them. :meth:`sync` waits — bounded — until the
server has received everything sent so far; the worker calls it before xdist
relays a report or a test's end, and only when something was sent since the last
sync, so tests that publish nothing from the worker never wait.

If the server cannot be reached (or goes away), events are counted and dropped and
the tests go on; :attr:`problem` says why, for the one warning the controller prints.
"""

from __future__ import annotations

import json
import queue
import threading
from typing import Any

from pytest_jbrealtime.protocol.compact import expanded
from pytest_jbrealtime.shared.unpatched import shield_websockets_sync, system

CONNECT_TIMEOUT = 3.0
SYNC_TIMEOUT = 5.0
# Frames of 60 KiB at most: a worker's events go out in small steps (the server would
# take a producer's 16 MiB, limit_config.PRODUCER_SOCKET).
MAX_FRAME_CHARS = 60 * 1024
_STOP = object()

_encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True, default=str)


class _Barrier:
    def __init__(self) -> None:
        self.done = threading.Event()


def frame_texts(
    frame_id: int, after: dict[str, list[int]], events: list[dict[str, Any]]
) -> tuple[list[str], int]:
    """``publish`` frames for ``events`` (ids from ``frame_id`` on), and how many were too big."""
    head = '{"type":"publish","after":' + _encoder.encode(after) + ',"id":'
    frames: list[str] = []
    chunk: list[str] = []
    size = 0
    oversized = 0
    for event in events:
        text = _encoder.encode(event)
        if len(text) + len(head) + 32 > MAX_FRAME_CHARS:
            oversized += 1
            continue
        if chunk and size + len(text) + len(head) + 32 > MAX_FRAME_CHARS:
            frames.append(f'{head}{frame_id + len(frames)},"events":[{",".join(chunk)}]}}')
            chunk, size = [], 0
        chunk.append(text)
        size += len(text) + 1
    if chunk:
        frames.append(f'{head}{frame_id + len(frames)},"events":[{",".join(chunk)}]}}')
    return frames, oversized


class ProducerConnection:
    """An :class:`~pytest_jbrealtime.pytest_side.publisher.EventSink` that publishes to a server."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self._token = token
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._unsynced = False
        self.dead = False
        self.problem: str | None = None
        self.dropped = 0
        self.sync_timeouts = 0
        # Per current test: [attempt, phase events]: what its events must follow.
        self.after: dict[str, list[int]] = {}
        self._thread = threading.Thread(target=self._run, name="jb-live-producer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    # -- EventSink (the worker's main thread) ------------------------------------

    def send_batch(self, events: list[dict[str, Any]]) -> None:
        if self.dead:
            self.dropped += len(events)
            return
        # A worker publishes no phase of its own (the controller does), but a record
        # must never reach the server as JSON's list: events only (compact.py).
        self._queue.put((dict(self.after), expanded(events)))
        self._unsynced = True

    def sync(self, timeout: float = SYNC_TIMEOUT) -> None:
        """Wait until the server has received everything sent so far (bounded)."""
        if not self._unsynced or self.dead or self.sync_timeouts:
            return
        self._unsynced = False
        barrier = _Barrier()
        self._queue.put(barrier)
        if not barrier.done.wait(timeout):
            # Order is best effort from here on: never hold the tests up twice.
            self.sync_timeouts += 1
            if self.problem is None:
                self.problem = f"the live server did not confirm events within {timeout:g} s"

    def close(self, timeout: float) -> None:
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout)
        if self._thread.is_alive() and self.problem is None:
            self.problem = f"events still unsent after {timeout:g} s were dropped"

    # -- the sender thread ----------------------------------------------------------

    def _fail(self, problem: str) -> None:
        if self.problem is None:
            self.problem = problem
        self.dead = True
        # Whatever is still queued will never be sent: count it, release waiters.
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, _Barrier):
                item.done.set()
            elif isinstance(item, tuple):
                self.dropped += len(item[1])

    def _run(self) -> None:
        import inspect

        from websockets.sync.client import connect

        # Its handshake's deadline reads time.monotonic: on a loaded machine the
        # connection may still be opening while the worker's first test patches the
        # clock (a mock's values taken by this thread: StopIteration in the test).
        shield_websockets_sync()
        options: dict[str, Any] = {}
        if "ping_interval" in inspect.signature(connect).parameters:
            # No keepalive thread (websockets >= 15): it reads time.monotonic, which a
            # test may have patched; the server pings us and the answer needs no clock.
            options["ping_interval"] = None
        try:
            opened = connect(
                f"{self.url}?token={self._token}",
                open_timeout=CONNECT_TIMEOUT,
                close_timeout=1.0,
                max_size=None,
                compression=None,
                **options,
            )
        except Exception as exc:
            self._fail(f"cannot connect to the live server ({type(exc).__name__}: {exc})")
            return
        try:
            with opened as connection:
                self._send_until_stopped(connection)
        except Exception as exc:  # the server went away mid-run
            self._fail(f"lost the live server ({type(exc).__name__}: {exc})")

    def _send_until_stopped(self, connection: Any) -> None:
        next_id = 1
        acks = _Acks(connection)
        while True:
            item = self._queue.get()
            if item is _STOP:
                acks.wait(next_id - 1, SYNC_TIMEOUT)
                return
            if isinstance(item, _Barrier):
                acks.wait(next_id - 1, SYNC_TIMEOUT)
                item.done.set()
                continue
            after, events = item
            frames, oversized = frame_texts(next_id, after, events)
            self.dropped += oversized
            for text in frames:
                connection.send(text)
            next_id += len(frames)


class _Acks:
    """The server's acks, read by a thread of their own with ``recv()`` and no timeout:
    websockets' timeouts read ``time.monotonic``, which a test may have patched while
    its steps are sent. Waiting for them is a ``threading.Condition``'s (its own clock)."""

    def __init__(self, connection: Any) -> None:
        self.last = 0
        self.closed = False
        self._connection = connection
        self._changed = threading.Condition()
        threading.Thread(target=self._read, name="jb-live-acks", daemon=True).start()

    def _read(self) -> None:
        try:
            for text in self._connection:
                reply = system.json_loads(text)
                if isinstance(reply, dict) and reply.get("type") == "ack":
                    with self._changed:
                        self.last = max(self.last, int(reply["id"]))
                        self._changed.notify_all()
        except Exception:  # closed, or a reply we cannot read: the sender notices
            pass
        finally:
            with self._changed:
                self.closed = True
                self._changed.notify_all()

    def wait(self, until: int, timeout: float) -> None:
        """Until the server acknowledged frame ``until`` (or closed), at most ``timeout``."""
        with self._changed:
            self._changed.wait_for(lambda: self.last >= until or self.closed, timeout)
