"""What the hub producer's thread does when its process is about to end.

SIGTERM mid-test (``shared/last_words.py``): no server process outlives this one, so
the signal dumps the stacks into the run folder (faulthandler) and the main thread
holds the tests still; the producer's thread, which sees the dump appear, logs the
last word (``test_interrupted``), gives the hub a bounded time to take it, and lets
the main thread end the process with the same SIGTERM, as it would have ended
(or ends it itself when the main thread is stuck in C). pytest-timeout's thread
method, about to ``os._exit``, hands its last word over the same way and waits for it
(:meth:`LastWordDuties.last_word`).

``LastWordDuties`` is a part of ``HubProducer`` (``hub_producer.py``): it uses the
thread's spool, connection and records, named below for the type checker.
"""

from __future__ import annotations

import contextlib
import faulthandler
import os
import queue
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pytest_jbrealtime.pytest_side.hub_spool import Spool
from pytest_jbrealtime.shared.last_words import ask_workers, interrupted_event, read_dump
from pytest_jbrealtime.shared.unpatched import clock, system

# After SIGTERM: how long the hub gets to take the last word before the process ends.
LAST_WORD_WAIT = 2.0
# faulthandler writes its dump from the signal handler in a few calls: let it finish.
DUMP_SETTLE = 0.05


class LastWord:
    """A queue item: events to deliver at once, then ``done`` is set (the process ends)."""

    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.events = events
        self.done = threading.Event()


def end_as_sigterm() -> None:
    with contextlib.suppress(Exception):
        faulthandler.unregister(signal.SIGTERM)
    os.kill(system.getpid(), signal.SIGTERM)


class LastWordDuties:
    """The producer thread's part in a process's end (a mixin of ``HubProducer``)."""

    # Kept by HubProducer.
    spool: Spool
    acked: int
    fatal: str | None
    running: dict[str, str]
    run_dir: Path | None
    sigterm_dump: Path | None
    before_exit: Callable[[], None] | None
    _connection: Any
    _queue: queue.SimpleQueue[Any]
    _end_terminated: Callable[[], None]

    def _record(self, events: list[dict[str, Any]]) -> None:
        raise NotImplementedError

    def _talk(self) -> None:
        raise NotImplementedError

    def _read_acks(self, timeout: float) -> None:
        raise NotImplementedError

    def watch_sigterm(self, dump: Path, end: Callable[[], None]) -> None:
        """SIGTERM writes ``dump``; the main thread then waits (last_words.py,
        ``chain=False``) while this thread sends the last word, and ``end`` lets it end
        the process (or ends it from here, if the main thread is stuck in C)."""
        self.sigterm_dump = dump
        self._end_terminated = end

    def _check_sigterm(self) -> None:
        dump = self.sigterm_dump
        if dump is None:
            return
        try:
            if os.stat(dump).st_size == 0:
                return
        except OSError:  # disarmed: the tests are over
            return
        self.sigterm_dump = None
        self._terminated()

    def last_word(self, event: dict[str, Any]) -> None:
        """From another thread whose process ends next (pytest-timeout's timer): deliver
        ``event`` and what came before it, waiting ``LAST_WORD_WAIT`` (and a little)
        at most."""
        event["ts"] = clock.time()
        item = LastWord([event])
        self._queue.put(item)
        item.done.wait(LAST_WORD_WAIT + 1.0)

    def _deliver_last(self, events: list[dict[str, Any]]) -> None:
        """``events`` (and everything before them) to the hub, for ``LAST_WORD_WAIT`` at
        most, and the local recording closed: the process ends next."""
        self._record(events)
        deadline = clock.monotonic() + LAST_WORD_WAIT
        while (self.fatal is None and self.acked < self.spool.last
               and clock.monotonic() < deadline):
            self._talk()
            if self._connection is not None:
                self._read_acks(0.05)
            else:
                clock.sleep(0.05)
        if self.before_exit is not None:
            self.before_exit()

    def _terminated(self) -> None:
        """The process got SIGTERM: the last word of its running tests to the hub (and
        the local recording); then the signal again, with the handler there was before
        us, which ends the process as it would have."""
        try:
            clock.sleep(DUMP_SETTLE)
            self._deliver_last(self._last_words())
        except Exception:  # whatever went wrong, the process must still end
            pass
        finally:
            self._end_terminated()

    def _last_words(self) -> list[dict[str, Any]]:
        if self.run_dir is None:
            return []
        events = []
        threads = read_dump(self.run_dir, "main")
        workers: dict[str, str] = {}
        for test_id, worker in sorted(self.running.items()):
            if worker == "main":
                if threads:
                    events.append(interrupted_event(test_id, worker, "terminated (SIGTERM)",
                                                    threads))
            else:  # an xdist worker, alive still: its responder answers
                workers[worker] = test_id
        for worker, worker_threads in sorted(ask_workers(self.run_dir, workers, 1.0).items()):
            events.append(interrupted_event(workers[worker], worker, "terminated (SIGTERM)",
                                            worker_threads))
        for event in events:
            event["ts"] = clock.time()
        return events
