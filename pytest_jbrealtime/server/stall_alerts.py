"""Stall alerts on a run's own server: the server process keeps the clock (stalls.py).

It sees every ``test_started`` and ``test_completed`` go into the log, so it knows
what runs and for how long without anything in pytest waking up. When a test is due,
it takes the stack from the test's process (``server/stacks.py``), appends a
``test_stalled`` event to the log (so viewers and the recording get it), and tells
pytest's main process through its stack responder's socket (a ``stalled`` note), which
prints it at once (``stalls.StallNotices``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any

from pytest_jbrealtime.server.stacks import StackFetch, StackUnavailable
from pytest_jbrealtime.shared.log import EventLog, LoggedEvent
from pytest_jbrealtime.shared.stack_responder import STALLED_NOTE, responder_path
from pytest_jbrealtime.shared.stalls import Stall, StallWatch, stalled_event

# The longest the loop sleeps: a test that starts meanwhile is looked at within this.
IDLE_SECONDS = 0.5
NOTE_TIMEOUT = 2.0


class ServerStallAlerts:
    def __init__(self, log: EventLog, setting: float | str | None, fetch: StackFetch,
                 run_dir: Path | None) -> None:
        self.log = log
        self.watch = StallWatch(setting)
        self._fetch = fetch
        self._run_dir = run_dir
        self.alerts = 0
        log.listeners.append(self._observe)

    def _observe(self, entries: list[LoggedEvent]) -> None:
        for entry in entries:
            if entry.event.get("type") in ("test_started", "test_completed",
                                           "session_finished"):
                self.watch.observe(entry.event)

    async def run(self) -> None:
        while True:
            for stall in self.watch.due():
                await self._alert(stall)
            wait = self.watch.seconds_to_next()
            await asyncio.sleep(IDLE_SECONDS if wait is None else min(max(wait, 0.01),
                                                                       IDLE_SECONDS))

    async def _alert(self, stall: Stall) -> None:
        try:
            answer = await self._fetch(stall.test)
        except StackUnavailable as exc:
            answer = {"error": str(exc)}
        except Exception as exc:  # a stall alert without its stack is still worth having
            answer = {"error": repr(exc)}
        event = stalled_event(stall, answer)
        self.log.extend([event])
        self.alerts += 1
        stamped = self.log.read_after(len(self.log) - 1, 1)
        await self._tell_pytest(stamped[0].event if stamped else event)

    async def _tell_pytest(self, event: dict[str, Any]) -> None:
        if self._run_dir is None:
            return
        path = responder_path(self._run_dir, "main")
        with contextlib.suppress(OSError, asyncio.TimeoutError):
            _, writer = await asyncio.wait_for(asyncio.open_unix_connection(str(path)),
                                               NOTE_TIMEOUT)
            try:
                writer.write(STALLED_NOTE + json.dumps(event, default=str).encode())
                await asyncio.wait_for(writer.drain(), NOTE_TIMEOUT)
            finally:
                writer.close()
