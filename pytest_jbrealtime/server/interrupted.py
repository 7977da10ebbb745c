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
from typing import Any

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
        # test id -> its latest stall alert with a stack: the last word offered when
        # its process ends without one (SIGKILL).
        self.stalled: dict[str, dict[str, Any]] = {}
        log.listeners.append(self._observe)

    def _observe(self, entries: list[LoggedEvent]) -> None:
        for entry in entries:
            event = entry.event
            kind = event.get("type")
            if kind == "test_stalled" and event.get("threads"):
                self.stalled[str(event.get("test_id"))] = event
            elif kind == "test_completed":
                self.stalled.pop(str(event.get("test_id")), None)
            elif kind == "worker_crashed" and isinstance(event.get("test_id"), str):
                died_by = event.get("signal")
                # After this append is done (a listener must not append within one).
                with contextlib.suppress(RuntimeError):  # no loop: a unit's log
                    asyncio.get_running_loop().call_soon(
                        self._worker_died, str(event.get("worker")), event["test_id"],
                        died_by if isinstance(died_by, str) else None)

    def _worker_died(self, worker: str, test_id: str, died_by: str | None) -> None:
        self._log_dump(worker, {test_id}, "worker crashed", died_by)

    def run_killed(self) -> None:
        """pytest is gone without ``session_finished``: every process's last words."""
        if self.log.finished or self.run_dir is None:
            return
        by_worker: dict[str, set[str]] = {}
        for test_id, where in self.whereabouts.running.items():
            by_worker.setdefault(where.worker, set()).add(test_id)
        for worker, tests in by_worker.items():
            self._log_dump(worker, tests, None)

    def _log_dump(self, worker: str, tests: set[str], crash: str | None,
                  died_by: str | None = None) -> None:
        """``crash``: "worker crashed" (xdist says so), or None: pytest itself is gone."""
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
        if threads:
            reason = f"{crash or 'terminated'} (SIGTERM)"
            self.log.extend([interrupted_event(test_id, worker, reason, threads)
                             for test_id in sorted(tests)])
        else:
            reason = (crash or "pytest ended") + (f" ({died_by})" if died_by else "")
            self.log.extend([self._without_stack(test_id, worker, reason, died_by)
                             for test_id in sorted(tests)])
        self.logged += len(tests)

    def _without_stack(self, test_id: str, worker: str, reason: str,
                       died_by: str | None) -> dict[str, Any]:
        """The process ended without a word: SIGKILL (nothing runs in the process, not
        even a C signal handler), ``os._exit``, or a crash. Said so; with the stacks of
        the test's last stall alert, if it had one, labelled as such."""
        why = (f"nothing runs in a process killed with {died_by}" if died_by == "SIGKILL"
               else f"the process was ended by {died_by}" if died_by
               else "the process ended without a word (SIGKILL, os._exit or a crash)")
        event = interrupted_event(test_id, worker, reason, [])
        event["stack_note"] = f"no stack from its end: {why}"
        stall = self.stalled.get(test_id)
        if stall is not None:
            event["threads"] = stall["threads"]
            event["taken_at"] = stall.get("taken_at")
            event["stack_note"] += (f"; these are the stacks of its last stall alert, taken "
                                    f"at {stall.get('taken_at')} ({stall.get('running_for')} s "
                                    "into the test)")
        return event
