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
  running there (``server/interrupted.py``). On a hub run nothing outlives pytest: the
  registration does not chain, and the hub producer's thread sends the last word and
  then raises the signal again (``pytest_side/hub_producer.py``);
- **Ctrl-C**: pytest turns it into ``KeyboardInterrupt``; the session's
  ``pytest_keyboard_interrupt`` publishes ``test_interrupted`` with the stack the
  exception unwound (:func:`frames_of_traceback`) and the other threads'. Under xdist
  the signal reaches the controller, whose workers are still in their tests when its
  ``pytest_keyboard_interrupt`` runs (xdist stops them after): it asks each worker's
  stack responder (:func:`ask_workers`) and publishes what they answer;
- **pytest-timeout**: its default (signal) method fails the test with the stack in
  the failure, which ``test_completed`` carries. Its thread method has a timer thread
  call ``pytest_timeout.timeout_timer``, which prints the stacks and ends the process
  with ``os._exit(1)``: :class:`LastWords` puts a wrapper in that module attribute
  while the tests run (looked up when each timer is made) that first writes the
  stacks, as JSON, to ``timeout-<worker>.json`` in the run folder, where the server
  finds them when the process is gone (on a hub run: hands them to the hub producer's
  thread and waits, bounded, for their delivery), and then calls the original. Nothing
  runs per test: the wrapper runs only in the timer thread of a timeout that fired
  (pytest-timeout's own thread; none of ours).

Nothing here runs until the run is interrupted; registering costs one ``sigaction``.
"""

from __future__ import annotations

import contextlib
import faulthandler
import os
import re
import signal
import sys
import threading
from collections.abc import Callable
from linecache import getline as _getline
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from pytest_jbrealtime.shared.stack_responder import (
    LAST_WORD,
    MAX_CODE_CHARS,
    MAX_FRAMES,
    TEST_FRAME,
    ask_responder,
    current_stacks,
    responder_path,
)
from pytest_jbrealtime.shared.timestamps import iso_timestamp
from pytest_jbrealtime.shared.unpatched import clock, system

THREAD_LINE = re.compile(
    r"^(Current thread|Thread) (0x[0-9a-fA-F]+)(?: \[(.*)\])? \(most recent call first\):")
FRAME_LINE = re.compile(r'^  File "(.*)", line (\d+) in (.*)$')


# A hub run's SIGTERM: how long the main thread waits for the last word to be sent
# (the producer gives the hub 2 s), and how long the producer's thread then waits for
# the main thread to end the process before it does so itself.
MAIN_THREAD_WAIT = 4.0
TAKE_OVER_WAIT = 1.0

# The function pytest-timeout's thread method runs when a test's time is up.
TIMEOUT_MODULE = "pytest_timeout"
TIMEOUT_FUNCTION = "timeout_timer"


def last_words_path(run_dir: Path | str, worker: str) -> Path:
    return Path(run_dir) / f"last-words-{worker}.txt"


def timeout_words_path(run_dir: Path | str, worker: str) -> Path:
    return Path(run_dir) / f"timeout-{worker}.json"


def timeout_reason(settings: Any) -> str:
    seconds = getattr(settings, "timeout", None)
    after = f", {seconds:g} s" if isinstance(seconds, (int, float)) else ""
    return f"pytest-timeout (thread method{after})"


class LastWords:
    """faulthandler's dump on SIGTERM into the run folder, for one test process; and
    the stacks of a test whose pytest-timeout (thread method) fired."""

    def __init__(self, run_dir: Path | str, worker: str, chain: bool = True,
                 on_timeout: Callable[[dict[str, Any]], None] | None = None) -> None:
        """``chain=False`` (a hub run: no server outlives this process to read the dump):
        SIGTERM only writes the dump; the hub producer's thread sees it, sends the last
        word and raises the signal again (pytest_side/hub_producer.py). ``on_timeout``
        (a hub run) takes the ``test_interrupted`` of a pytest-timeout about to end the
        process, and returns once it is delivered (bounded)."""
        self.path = last_words_path(run_dir, worker)
        self.chain = chain
        self.worker = worker
        self.on_timeout = on_timeout
        self.timeout_path = timeout_words_path(run_dir, worker)
        self._file: IO[str] | None = None
        # Tests run on the thread that configures pytest (serially and on xdist workers).
        self.test_thread = threading.get_ident()
        self._patched: tuple[Any, Callable[..., Any]] | None = None
        # chain=False: the main thread's own SIGTERM handler, which holds the tests
        # still until the hub producer's thread has sent the last word (``delivered``),
        # then ends the process with the handler there was. Without it the tests ran
        # on while the word was sent, and a run that SIGTERM ends in plain pytest could
        # pass (exit 0) on a hub.
        self.delivered = threading.Event()
        self.main_took_over = threading.Event()
        self._previous_handler: Any = None
        self._own_handler = False

    def arm(self) -> bool:
        self._wrap_timeout()
        sigterm = getattr(signal, "SIGTERM", None)
        if sigterm is None or not hasattr(faulthandler, "register"):
            return False  # Windows: no faulthandler.register
        try:
            self._file = open(self.path, "w", encoding="utf-8")  # noqa: SIM115 (kept open)
            if not self.chain and threading.current_thread() is threading.main_thread():
                self._previous_handler = signal.signal(sigterm, self._on_sigterm)
                self._own_handler = True
            # chain=True: after the dump (written at once, even when the test is stuck
            # in C), the handler there was: the process dies as it would have without
            # us; on a hub run, ours (``_on_sigterm``) runs next in the main thread.
            faulthandler.register(sigterm, file=self._file, all_threads=True,
                                  chain=self.chain or self._own_handler)
        except (OSError, RuntimeError, ValueError):
            self._restore_handler()
            self._close()
            return False
        return True

    def _on_sigterm(self, signum: int, frame: Any) -> None:
        """A hub run's SIGTERM, in the main thread: no test goes on while the producer's
        thread sends the last word (``MAIN_THREAD_WAIT`` at most); then the signal
        again, to the handler there was (the default ends the process as -15)."""
        self.main_took_over.set()
        if self._file is not None:  # (armed: a dump was written, the producer sends it)
            self.delivered.wait(MAIN_THREAD_WAIT)
        with contextlib.suppress(Exception):
            faulthandler.unregister(signal.SIGTERM)
        self._restore_handler()
        os.kill(system.getpid(), signal.SIGTERM)

    def end_from_thread(self) -> None:
        """The last word is out and the main thread did not take over (stuck in C, where
        Python handlers do not run): end the process as SIGTERM ends it, from here."""
        self.delivered.set()
        if self.main_took_over.wait(TAKE_OVER_WAIT):
            return  # the main thread ends it (``_on_sigterm``)
        with contextlib.suppress(Exception):
            faulthandler.unregister(signal.SIGTERM)
        with contextlib.suppress(Exception):
            import ctypes  # signal.signal is for the main thread only; libc's is not

            ctypes.CDLL(None).signal(int(signal.SIGTERM), 0)  # SIG_DFL
        os.kill(system.getpid(), signal.SIGTERM)

    def _restore_handler(self) -> None:
        if self._own_handler and threading.current_thread() is threading.main_thread():
            self._own_handler = False
            with contextlib.suppress(Exception):
                signal.signal(signal.SIGTERM, self._previous_handler
                              if self._previous_handler is not None else signal.SIG_DFL)

    def _wrap_timeout(self) -> None:
        """pytest-timeout's ``timeout_timer`` through :meth:`_timed_out` (if loaded)."""
        module = sys.modules.get(TIMEOUT_MODULE)
        original = getattr(module, TIMEOUT_FUNCTION, None)
        if module is None or not callable(original) or self._patched is not None:
            return
        words = self

        def timeout_timer(item: Any, settings: Any, *args: Any, **kwargs: Any) -> Any:
            with contextlib.suppress(Exception):  # its dump and exit come what may
                words._timed_out(item, settings)
            result = original(item, settings, *args, **kwargs)
            # It returned (a debugger is attached): the process lives on, the words go.
            with contextlib.suppress(OSError):
                words.timeout_path.unlink()
            return result

        timeout_timer.__wrapped__ = original  # type: ignore[attr-defined]
        setattr(module, TIMEOUT_FUNCTION, timeout_timer)
        self._patched = (module, original)

    def _unwrap_timeout(self) -> None:
        patched, self._patched = self._patched, None
        if patched is not None:
            module, original = patched
            setattr(module, TIMEOUT_FUNCTION, original)

    def _timed_out(self, item: Any, settings: Any) -> None:
        """In pytest-timeout's timer thread, just before it ends the process."""
        test_id = str(getattr(item, "nodeid", ""))
        reason = timeout_reason(settings)
        threads = current_stacks(self.test_thread, frozenset({threading.get_ident()}))
        if self.on_timeout is not None:  # a hub run: no server to find a file
            self.on_timeout(interrupted_event(test_id, self.worker, reason, threads))
            return
        words = {"test_id": test_id, "reason": reason, "taken_at": iso_timestamp(clock.time()),
                 "threads": threads}
        partial = self.timeout_path.with_suffix(".partial")
        partial.write_text(system.json_dumps(words, default=str), encoding="utf-8")
        os.replace(partial, self.timeout_path)

    def disarm(self) -> None:
        """The tests are over: SIGTERM is the run's own again (and the files go)."""
        self._unwrap_timeout()
        with contextlib.suppress(OSError):
            self.timeout_path.unlink()
        if self._file is None:
            return
        with contextlib.suppress(Exception):
            faulthandler.unregister(signal.SIGTERM)
        if signal.getsignal(signal.SIGTERM) == self._on_sigterm:  # (not replaced since)
            self._restore_handler()
        self._own_handler = False
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


def read_timeout_words(run_dir: Path | str, worker: str) -> dict[str, Any] | None:
    """What :meth:`LastWords._timed_out` wrote for ``worker`` (None if nothing); the file
    is then removed."""
    path = timeout_words_path(run_dir, worker)
    try:
        words = system.json_loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    with contextlib.suppress(OSError):
        path.unlink()
    if not isinstance(words, dict) or not isinstance(words.get("test_id"), str):
        return None
    return words


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


def threads_at_interrupt(tb: TracebackType | None) -> list[dict[str, Any]]:
    """Ctrl-C in this process: the stack the ``KeyboardInterrupt`` unwound as this
    thread's (current), and every other thread as it is now."""
    own = {"name": "MainThread", "current": True, "frames": frames_of_traceback(tb)}
    others = current_stacks(None, frozenset({threading.get_ident()}))
    for thread in others:
        thread["current"] = False
    return [own, *others]


def ask_workers(run_dir: Path | str, running: dict[str, str],
                timeout: float) -> dict[str, list[dict[str, Any]]]:
    """The threads of each worker in ``running`` (worker -> its test) that answered
    within ``timeout`` while still in that test, asked all at once (one thread each: a
    worker stuck in C code holding the GIL must not hold up the others' answers)."""
    answers: dict[str, dict[str, Any]] = {}

    def ask(worker: str) -> None:
        # LAST_WORD: the worker, if Ctrl-C reached it too, does not tell it again.
        answers[worker] = ask_responder(responder_path(run_dir, worker), timeout, LAST_WORD)

    askers = [threading.Thread(target=ask, args=(worker,), daemon=True,
                               name=f"jb-live-last-words-{worker}") for worker in running]
    for asker in askers:
        asker.start()
    for asker in askers:
        asker.join(timeout + 0.5)
    return {worker: answer["threads"] for worker, test_id in running.items()
            if (answer := answers.get(worker, {})).get("test_id") == test_id
            and answer.get("threads")}
