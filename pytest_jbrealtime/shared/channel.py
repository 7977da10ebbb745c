"""The pipe between the pytest process and the server process.

Frames are ``<4-byte little-endian length><marshal payload>``; a payload is a
``(kind, body)`` tuple. marshal, not JSON, because the pytest side must stay cheap:
``marshal.dumps`` of a batch of plain dicts is a single C call, and the server process
does the one JSON encoding each event gets.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import marshal
import os
import struct
import threading
from typing import Any

from pytest_jbrealtime.shared.unpatched import clock, system

# JB_LIVE_SERVER_LOG_LEVEL=info (or debug) makes the server log every request, for
# debugging; the default logs only warnings and errors. Set by whoever starts pytest; the
# server process reads it (server/redact.py) and pytest's side keeps the run folder for it.
LOG_LEVEL_ENV = "JB_LIVE_SERVER_LOG_LEVEL"

HEADER = struct.Struct("<I")
F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
PIPE_SIZE = 1 << 20
MAX_PENDING = 256 << 20
# The flusher's longest wait for room in the pipe before it looks again.
FLUSH_WAIT = 0.05

# pytest's publisher hands its buffer to the pipe every FLUSH_EVENTS events or
# FLUSH_SECONDS after its last hand-off, at its next publish (pytest_side/publisher.py).
FLUSH_EVENTS = 256
FLUSH_SECONDS = 0.02
# What a quiet pipe means: pytest may hold events published just before a long test
# (nothing publishes during it to hand them over). After this long without a frame the
# server asks pytest's stack responder for them (shared/stack_responder.py, FLUSH). Three
# hand-off intervals: a stream of short tests, whose frames the server reads at its 20 ms
# polls, never looks quiet; an ask costs pytest's thread a hand-over of the GIL to the
# responder's. An ask that brings nothing is asked again, twice as late each time up to
# ASK_FOR_HELD_MAX_SECONDS: pytest may have buffered events just after it (a run that
# waited for its viewers, then started a long test, held its test_started for the
# whole test when the server asked once a quiet spell). Once a second at most during a
# long test: a thread woken once a second costs pytest nothing measurable
# (docs/benchmarks.md), and a start held by that race shows at most a second late.
ASK_FOR_HELD_SECONDS = 3 * FLUSH_SECONDS
ASK_FOR_HELD_MAX_SECONDS = 1.0

# Frame kinds, pytest -> server.
CONFIG = "config"  # body: dict, the server's settings (sent first, once)
EVENTS = "events"  # body: list of event dicts, in publication order
FINISH = "finish"  # body: dict, the run is over (linger, drain timeout)


def encode_frame(kind: str, body: Any) -> bytes:
    try:
        payload = system.marshal_dumps((kind, body))
    except ValueError:
        # Something not marshal-able slipped into an event (a plugin's custom data):
        # fall back to its text rather than lose the batch.
        payload = system.marshal_dumps((kind, _plain(body)))
    return HEADER.pack(len(payload)) + payload


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return str(value)


class FrameDecoder:
    """Reassembles frames from the chunks a pipe read returns.

    One read holds many frames (the server polls every 20 ms): they are decoded from a
    view of the buffer, without two copies of each, and the consumed bytes dropped once
    per read (10% less time for a read of 2,000 frames).
    """

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[tuple[str, Any]]:
        self._buffer += data
        frames: list[tuple[str, Any]] = []
        start = 0
        size = len(self._buffer)
        with memoryview(self._buffer) as view:
            while size - start >= HEADER.size:
                (length,) = HEADER.unpack_from(view, start)
                end = start + HEADER.size + length
                if size < end:
                    break
                kind, body = marshal.loads(view[start + HEADER.size : end])
                frames.append((kind, body))
                start = end
        if start:
            del self._buffer[:start]
        return frames


class PipeWriter:
    """Writes frames to a non-blocking pipe without ever blocking the caller.

    What the pipe cannot take now waits in ``_pending``; a daemon thread, started only
    while something is pending, writes it as the server reads (a long test publishes
    nothing, and its predecessor's large output must not wait for the next publish).
    :meth:`drain` (at session end) waits, for a bounded time. A dead reader turns every
    later write into a no-op: the run must go on.
    """

    def __init__(self, fd: int) -> None:
        self._fd = fd
        os.set_blocking(fd, False)
        # A 1 MiB pipe (Linux; 64 KiB otherwise) so bursts of large events (captured
        # output, tracebacks) go out whole instead of waiting for the next publish.
        with contextlib.suppress(OSError, AttributeError):
            fcntl.fcntl(fd, F_SETPIPE_SZ, PIPE_SIZE)
        self._pending = bytearray()
        self.broken = False
        # Held only around non-blocking writes: pytest's thread never waits long on it.
        self._lock = threading.Lock()
        self._flusher: threading.Thread | None = None

    def write(self, frame: bytes) -> None:
        if self.broken:
            return
        with self._lock:
            if len(self._pending) > MAX_PENDING:
                # The server has stopped reading for good; holding more would only grow
                # pytest's memory. The sink warns once, as for a dead server.
                self.broken = True
                self._pending.clear()
                return
            self._pending += frame
            self._write_some()
            if self._pending and self._flusher is None:
                self._flusher = threading.Thread(target=self._flush_pending, daemon=True,
                                                 name="jb-live-pipe")
                self._flusher.start()

    def _flush_pending(self) -> None:
        while True:
            with self._lock:
                if not self._pending or self.broken:
                    self._flusher = None
                    return
            with contextlib.suppress(OSError, ValueError):
                system.select([], [self._fd], [], FLUSH_WAIT)
            with self._lock:
                self._write_some()

    def _write_some(self) -> None:
        try:
            while self._pending:
                written = system.write(self._fd, self._pending)
                del self._pending[:written]
        except BlockingIOError:
            pass
        except OSError as exc:
            if exc.errno != errno.EAGAIN:
                self.broken = True
                self._pending.clear()

    def drain(self, timeout: float) -> bool:
        """Wait until everything pending is written; False if it could not be."""
        deadline = clock.monotonic() + timeout
        while self._pending and not self.broken:
            remaining = deadline - clock.monotonic()
            if remaining <= 0:
                return False
            with contextlib.suppress(OSError, ValueError):
                system.select([], [self._fd], [], min(remaining, FLUSH_WAIT))
            with self._lock:
                self._write_some()
        return not self.broken

    def close(self) -> None:
        with self._lock:
            # Under the lock: the flusher never writes to a number the OS gave out again.
            self.broken = True
            self._pending.clear()
            with contextlib.suppress(OSError):
                system.close(self._fd)
