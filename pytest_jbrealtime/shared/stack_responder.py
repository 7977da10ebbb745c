"""Stacks on demand, in a process that runs tests (serial pytest, an xdist worker).

:class:`StackResponder` is a daemon thread blocked in ``accept()`` on a Unix socket in
the run folder (``stack-<worker>.sock``). A blocked ``accept()`` holds no GIL and no
timer wakes it, so until someone asks it costs the tests nothing. Whoever serves the
run (the server process, or the hub link's thread on a hub run) connects, sends one
line, and reads back one JSON document: the Python stack of every thread of this
process, the thread running the tests first. Answering needs the GIL only for the
moment it takes to walk the frames: a test spinning in pure Python hands it over
within the interpreter's switch interval (5 ms), one sleeping or blocked in C without
the GIL at once.

The run server also asks it, with ``flush``, to hand over the events pytest's
publisher holds when the events pipe has been quiet (server/process.py): what a test
published just before a long call reaches viewers without a flush before every call.

The folder is the run's own (``mkdtemp``, mode 0700), so only the run's user can ask.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
from linecache import getline as _getline
from pathlib import Path
from threading import enumerate as _threads
from threading import get_ident as _get_ident
from types import FrameType
from typing import Any

from pytest_jbrealtime.shared.timestamps import iso_timestamp
from pytest_jbrealtime.shared.unpatched import clock, system

# Bound what one answer may hold: a suite with hundreds of threads or a runaway
# recursion must not turn a click into megabytes.
MAX_THREADS = 64
MAX_FRAMES = 120
MAX_CODE_CHARS = 300
REQUEST_TIMEOUT = 2.0
# pytest's function that runs one test's phases (_pytest/runner.py).
TEST_FRAME = "runtestprotocol"
# The request line; anything else is ignored (answered with nothing).
REQUEST = b"stack\n"
# The same, asked for a run's last word (the xdist controller's Ctrl-C): the answer's
# test is noted (``last_word_for``), so the worker does not publish it a second time.
LAST_WORD = b"last\n"
LAST_WORD_SETTLE = 0.3
# The run server, after a quiet pipe (channel.ASK_FOR_HELD_SECONDS): hand over the
# events the publisher holds. No answer; what was held comes down the events pipe.
FLUSH = b"flush\n"
# A note for the run's main process (a stall alert, stalls.py): this line, then JSON.
STALLED_NOTE = b"stalled\n"
MAX_NOTE_BYTES = 4 << 20

# Bound at import: a test may patch sys or linecache, the answer must not change.
_current_frames = sys._current_frames


def responder_path(run_dir: Path | str, worker: str) -> Path:
    """Where the responder of ``worker`` (``main``, ``gw0`` …) listens in the run folder."""
    return Path(run_dir) / f"stack-{worker}.sock"


def frame_list(frame: FrameType | None) -> tuple[list[dict[str, Any]], int]:
    """A thread's frames, outermost first (innermost last, as tracebacks read), and
    how many outer frames were left out past ``MAX_FRAMES``."""
    frames: list[dict[str, Any]] = []
    while frame is not None:
        code = frame.f_code
        line = frame.f_lineno or 0
        frames.append({
            "file": code.co_filename,
            "line": line,
            "function": getattr(code, "co_qualname", code.co_name),
            "code": _getline(code.co_filename, line).strip()[:MAX_CODE_CHARS],
        })
        if len(frames) >= MAX_FRAMES:
            omitted = 0
            outer = frame.f_back
            while outer is not None:
                omitted += 1
                outer = outer.f_back
            frames.reverse()
            return frames, omitted
        frame = frame.f_back
    frames.reverse()
    return frames, 0


def current_stacks(test_thread: int | None, skip: frozenset[int] = frozenset()) -> list[
    dict[str, Any]
]:
    """Every thread's stack: ``test_thread`` first (``current``), the others by name."""
    names = {thread.ident: thread.name for thread in _threads()}
    threads: list[dict[str, Any]] = []
    for ident, frame in _current_frames().items():
        if ident in skip:
            continue
        frames, omitted = frame_list(frame)
        entry: dict[str, Any] = {
            "name": names.get(ident, f"thread {ident}"),
            "current": ident == test_thread,
            "frames": frames,
        }
        if omitted:
            entry["omitted_frames"] = omitted
        threads.append(entry)
    # The thread inside pytest's run of a test is the test's, whichever thread that is.
    running = [t for t in threads if any(f["function"] == TEST_FRAME for f in t["frames"])]
    if running:
        for thread in threads:
            thread["current"] = thread is running[0]
    threads.sort(key=lambda t: (not t["current"], t["name"]))
    return threads[:MAX_THREADS]


class StackResponder:
    """Answers stack requests for this process (one per test process of a run)."""

    def __init__(self, run_dir: Path | str, worker: str, current_test: Any,
                 on_stalled: Any = None, on_flush: Any = None) -> None:
        """``current_test()`` names the test running now (or None), as the publisher knows
        it; ``on_stalled(event)``, if given, takes the stall alerts the server sends;
        ``on_flush()``, if given, hands over held events when the server asks."""
        self.path = responder_path(run_dir, worker)
        self.worker = worker
        self._current_test = current_test
        self._on_stalled = on_stalled
        self._on_flush = on_flush
        # Tests run on the thread that configures pytest (serially and on xdist workers).
        self.test_thread = _get_ident()
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self.answered = 0
        # The test whose last word the controller took, and the lock that makes taking
        # it and the worker's own Ctrl-C (xdist_worker.py) one or the other, never both.
        self.last_word_for: str | None = None
        self.last_word_lock = threading.Lock()

    def start(self) -> bool:
        """Listen; False (and no thread) when the socket cannot be made."""
        sock = system.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            sock.bind(str(self.path))
            sock.listen(8)
        except OSError:
            sock.close()
            return False
        # Not inherited by what the tests spawn (a child would hold the socket open).
        sock.set_inheritable(False)
        self._sock = sock
        self._thread = threading.Thread(target=self._serve, name="jb-live-stacks", daemon=True)
        self._thread.start()
        return True

    def snapshot(self) -> dict[str, Any]:
        """The answer to one request: this process's stacks now."""
        skip = frozenset({_get_ident()})  # this responder's own thread is no news
        return {
            "worker": self.worker,
            "pid": system.getpid(),
            "test_id": self._current_test(),
            "taken_at": iso_timestamp(clock.time()),
            "threads": current_stacks(self.test_thread, skip),
        }

    def _snapshot_or_error(self) -> dict[str, Any]:
        try:
            return self.snapshot()
        except Exception as exc:  # never let a formatting bug kill the thread
            return {"worker": self.worker, "error": f"cannot take the stacks: {exc!r}"}

    def _serve(self) -> None:
        sock = self._sock
        while sock is not None:
            try:
                connection, _ = sock.accept()  # blocks without the GIL until asked
            except OSError:
                return  # closed: the run is over
            # A requester gone mid-answer is no reason to stop answering.
            with connection, contextlib.suppress(Exception):
                self._answer(connection)

    def _answer(self, connection: socket.socket) -> None:
        connection.settimeout(REQUEST_TIMEOUT)
        request = b""
        while b"\n" not in request and len(request) < 64:
            chunk = connection.recv(64)
            if not chunk:
                return
            request += chunk
        line, _, rest = request.partition(b"\n")
        if line + b"\n" == STALLED_NOTE and self._on_stalled is not None:
            self._on_stalled(system.json_loads(rest + _read_to_end(connection, MAX_NOTE_BYTES)))
            return
        if request == FLUSH:
            if self._on_flush is not None:
                self._on_flush()
            return
        if request == LAST_WORD:
            # A terminal's Ctrl-C reaches this process too, at the same moment: give its
            # KeyboardInterrupt the time to reach the worker's hook, which then tells the
            # stack it unwound (a snapshot now could catch the test half unwound).
            clock.sleep(LAST_WORD_SETTLE)
            with self.last_word_lock:
                answer = self._snapshot_or_error()
                if isinstance(answer.get("test_id"), str):
                    self.last_word_for = answer["test_id"]
        elif request == REQUEST:
            answer = self._snapshot_or_error()
        else:
            return
        text = system.json_dumps(answer, ensure_ascii=True, default=str)
        connection.sendall(text.encode("ascii"))
        self.answered += 1

    def stop(self) -> None:
        sock, self._sock = self._sock, None
        if sock is None:
            return
        # shutdown() wakes the accept() blocked in the thread; close() alone may not.
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()
        with contextlib.suppress(OSError):
            self.path.unlink()


def _read_to_end(connection: socket.socket, limit: int) -> bytes:
    chunks = []
    size = 0
    while size < limit:
        chunk = connection.recv(1 << 16)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def ask_responder(path: Path | str, timeout: float,
                  request: bytes = REQUEST) -> dict[str, Any]:
    """Blocking client (the hub link's thread): the responder's answer, or an ``error``."""
    try:
        with system.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(path))
            sock.sendall(request)
            data = _read_to_end(sock, 64 << 20)
    except (FileNotFoundError, ConnectionRefusedError):
        return {"error": "no stack responder (the process has ended, or never started one)"}
    except TimeoutError:
        return {"error": f"the process did not answer within {timeout:g} s"}
    except OSError as exc:
        return {"error": f"cannot reach the process: {exc}"}
    try:
        answer = system.json_loads(data)
    except ValueError:
        return {"error": "the process answered nothing readable"}
    return answer if isinstance(answer, dict) else {"error": "unexpected answer"}
