"""The last word of an interrupted run: the stacks of the tests running when it ended.

Three ways a run ends mid-test, three ways to catch what it was doing:

- **SIGTERM** (a cancelled CI job, ``kill``, a supervisor): ``faulthandler`` is
  registered for it in each test process (:class:`LastWords`), writing every thread's
  stack to ``last-words-<worker>.txt`` in the run folder from the C signal handler —
  even while the test is blocked in C code holding the GIL — and then chaining to the
  handler there was (the default: the process dies as it would have, status 143). The
  server process outlives pytest (its own session); when pytest's pipe closes without
  ``session_finished``, or the controller reports a worker crashed, it reads the file
  (:func:`parse_dump`) and logs a ``test_interrupted`` event for the test that was
  running there (``server/stall_alerts.py``);
- **Ctrl-C**: pytest turns it into ``KeyboardInterrupt``; the session's
  ``pytest_keyboard_interrupt`` publishes ``test_interrupted`` with the stack the
  exception unwound (:func:`frames_of_traceback`) and the other threads';
- **pytest-timeout**: its default (signal) method fails the test with the stack in
  the failure, which ``test_completed`` carries; its thread method ends the process
  like SIGTERM does, without a signal (not caught here).

Nothing here runs until the run is interrupted; registering costs one ``sigaction``.
"""

from __future__ import annotations

import contextlib
import faulthandler
import re
import signal
from linecache import getline as _getline
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from pytest_jbrealtime.shared.stack_responder import MAX_CODE_CHARS, MAX_FRAMES, TEST_FRAME

THREAD_LINE = re.compile(
    r"^(Current thread|Thread) (0x[0-9a-fA-F]+)(?: \[(.*)\])? \(most recent call first\):")
FRAME_LINE = re.compile(r'^  File "(.*)", line (\d+) in (.*)$')


def last_words_path(run_dir: Path | str, worker: str) -> Path:
    return Path(run_dir) / f"last-words-{worker}.txt"


class LastWords:
    """faulthandler's dump on SIGTERM into the run folder, for one test process."""

    def __init__(self, run_dir: Path | str, worker: str) -> None:
        self.path = last_words_path(run_dir, worker)
        self._file: IO[str] | None = None

    def arm(self) -> bool:
        sigterm = getattr(signal, "SIGTERM", None)
        if sigterm is None or not hasattr(faulthandler, "register"):
            return False  # Windows: no faulthandler.register
        try:
            self._file = open(self.path, "w", encoding="utf-8")  # noqa: SIM115 (kept open)
            # chain=True: after the dump, the handler there was (the process dies as
            # it would have without us).
            faulthandler.register(sigterm, file=self._file, all_threads=True, chain=True)
        except (OSError, RuntimeError, ValueError):
            self._close()
            return False
        return True

    def disarm(self) -> None:
        """The tests are over: SIGTERM is the run's own again (and the file goes)."""
        if self._file is None:
            return
        with contextlib.suppress(Exception):
            faulthandler.unregister(signal.SIGTERM)
        self._close()
        with contextlib.suppress(OSError):
            self.path.unlink()

    def _close(self) -> None:
        file, self._file = self._file, None
        if file is not None:
            with contextlib.suppress(OSError):
                file.close()


def _frame(file: str, line: int, function: str) -> dict[str, Any]:
    return {"file": file, "line": line, "function": function,
            "code": _getline(file, line).strip()[:MAX_CODE_CHARS]}


def _mark_current(threads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The thread inside pytest's run of a test first, as ``current``."""
    running = [t for t in threads if any(f["function"] == TEST_FRAME for f in t["frames"])]
    for thread in threads:
        thread["current"] = bool(running) and thread is running[0]
    threads.sort(key=lambda t: not t["current"])
    return threads


def parse_dump(text: str) -> list[dict[str, Any]]:
    """faulthandler's text (most recent call first) as ``threads`` of a ``stack``
    frame (innermost last). Names are the thread ids: faulthandler has no names."""
    threads: list[dict[str, Any]] = []
    frames: list[dict[str, Any]] | None = None
    for line in text.splitlines():
        header = THREAD_LINE.match(line)
        if header:
            frames = []
            name = header.group(3) or f"thread {header.group(2)}"
            threads.append({"name": name, "current": False, "frames": frames})
            continue
        match = FRAME_LINE.match(line)
        if match and frames is not None and len(frames) < MAX_FRAMES:
            frames.append(_frame(match.group(1), int(match.group(2)), match.group(3)))
    for thread in threads:
        thread["frames"].reverse()
    return _mark_current([t for t in threads if t["frames"]])


def read_dump(run_dir: Path | str, worker: str) -> list[dict[str, Any]]:
    """The threads a process dumped when it got SIGTERM ([] if it did not); the file is
    then removed (a worker id used again must not find the old words)."""
    path = last_words_path(run_dir, worker)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    if not text.strip():
        return []
    with contextlib.suppress(OSError):
        path.unlink()
    return parse_dump(text)


def frames_of_traceback(tb: TracebackType | None) -> list[dict[str, Any]]:
    """The stack an exception unwound, outermost first (where it was raised last)."""
    frames = []
    while tb is not None:
        code = tb.tb_frame.f_code
        frames.append(_frame(code.co_filename, tb.tb_lineno,
                             getattr(code, "co_qualname", code.co_name)))
        tb = tb.tb_next
    return frames[-MAX_FRAMES:]


def interrupted_event(test_id: str, worker: str, reason: str,
                      threads: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``test_interrupted`` event (unstamped)."""
    return {"type": "test_interrupted", "test_id": test_id, "worker": worker,
            "reason": reason, "threads": threads}
