"""The server's side of an interrupted run: log the last words of dead test processes.

``last_words.py`` has each test process dump its threads into the run folder when it
gets SIGTERM, or when pytest-timeout's thread method is about to end it. This reads
them when the log says the process is gone: a
``worker_crashed`` (an xdist worker died; the controller knows which test it ran), or
pytest's pipe closing without ``session_finished`` (the whole run was killed). Each
test that was running there gets a ``test_interrupted`` event, in the log and so in
the recording and the report.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from pytest_jbrealtime.server.stacks import TestWhereabouts
from pytest_jbrealtime.shared.last_words import interrupted_event, read_dump, read_timeout_words
from pytest_jbrealtime.shared.log import EventLog, LoggedEvent


class InterruptedTests:
    def __init__(self, log: EventLog, run_dir: Path | None,
                 whereabouts: TestWhereabouts) -> None:
        self.log = log
        self.run_dir = run_dir
        self.whereabouts = whereabouts
        self.logged = 0
        log.listeners.append(self._observe)

    def _observe(self, entries: list[LoggedEvent]) -> None:
        for entry in entries:
            event = entry.event
            if event.get("type") == "worker_crashed" and isinstance(event.get("test_id"), str):
                # After this append is done (a listener must not append within one).
                with contextlib.suppress(RuntimeError):  # no loop: a unit's log
                    asyncio.get_running_loop().call_soon(
                        self._worker_died, str(event.get("worker")), event["test_id"])

    def _worker_died(self, worker: str, test_id: str) -> None:
        self._log_dump(worker, {test_id}, "worker crashed")

    def run_killed(self) -> None:
        """pytest is gone without ``session_finished``: every process's last words."""
        if self.log.finished or self.run_dir is None:
            return
        by_worker: dict[str, set[str]] = {}
        for test_id, where in self.whereabouts.running.items():
            by_worker.setdefault(where.worker, set()).add(test_id)
        for worker, tests in by_worker.items():
            self._log_dump(worker, tests, "terminated")

    def _log_dump(self, worker: str, tests: set[str], reason: str) -> None:
        if self.run_dir is None:
            return
        timed_out = read_timeout_words(self.run_dir, worker)
        if timed_out is not None and timed_out["test_id"] in tests:
            # pytest-timeout ended it (os._exit: no signal, so no SIGTERM dump either).
            self.log.extend([interrupted_event(timed_out["test_id"], worker,
                                               str(timed_out.get("reason")),
                                               list(timed_out.get("threads") or []))])
            self.logged += 1
            return
        threads = read_dump(self.run_dir, worker)
        if not threads:
            return
        reason = f"{reason} (SIGTERM)"
        self.log.extend([interrupted_event(test_id, worker, reason, threads)
                         for test_id in sorted(tests)])
        self.logged += len(tests)
