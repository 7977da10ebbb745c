"""The hub's history: every run's per-test results and totals, and verdicts from them.

History is per project and branch (the labels a run joins with, ``--jb-live-project`` /
``--jb-live-branch``), kept in a real database (``history_db.py``: SQLite by default,
PostgreSQL to share it between hubs). ``HubHistory`` is what the hub's intake calls, on
its event loop (the database in a thread): it replaces the ``history`` of each
``test_completed`` with a verdict from this history (rules:
``pytest_jbrealtime/shared/verdicts.py``), stores each result as it comes (so a run whose
shards publish to several hubs loses none) and the run's totals when it ends.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from pytest_jbrealtime.hub.history_db import HistoryDatabase, as_number
from pytest_jbrealtime.protocol.events import PastResult, Verdict
from pytest_jbrealtime.shared.verdicts import history_info

logger = logging.getLogger("pytest_jbrealtime.hub")

DEFAULT_KEEP_RUNS = 500
DEFAULT_KEEP_DAYS = 90.0
UNLABELLED = ""
# A run this hub judged but whose end another hub saw (several hubs on one Redis), or
# that never ended: its judge leaves memory once unused this long.
IDLE_JUDGE_SECONDS = 3600.0


@dataclass
class RunJudge:
    """One run's verdicts on this hub: its labels, and the history it is judged by."""

    project: str
    branch: str
    recent: dict[str, list[PastResult]] | None = None
    reran: set[str] = field(default_factory=set)
    used: float = field(default_factory=time.monotonic)
    # The run's row being written: the join is answered without waiting for the database.
    stored: asyncio.Task[Any] | None = None


class HubHistory:
    """The intake's view of the history (async; the database runs in a thread)."""

    def __init__(self, database: HistoryDatabase, keep_runs: int = DEFAULT_KEEP_RUNS,
                 keep_days: float = DEFAULT_KEEP_DAYS) -> None:
        self.database = database
        self.keep_runs = keep_runs
        self.keep_days = keep_days
        self._runs: dict[str, RunJudge] = {}
        self._loading: dict[str, asyncio.Lock] = {}

    async def start(self) -> None:
        await asyncio.to_thread(self.database.open)
        await asyncio.to_thread(self.database.prune, self.keep_runs, self.keep_days)

    async def close(self) -> None:
        await asyncio.to_thread(self.database.close)

    async def joined(self, run_id: str, run_info: dict[str, Any]) -> None:
        project = _label(run_info.get("project"))
        branch = _label(run_info.get("branch"))
        now = time.monotonic()
        for idle in [r for r, j in self._runs.items() if now - j.used > IDLE_JUDGE_SECONDS]:
            self._forget(idle)
        judge = self._runs.get(run_id)
        if judge is None:
            judge = self._runs[run_id] = RunJudge(project, branch)
        if judge.stored is None:
            judge.stored = asyncio.create_task(
                self._safely(self.database.start_run, run_id, project, branch, time.time()))

    async def judge(self, run_id: str, events: list[dict[str, Any]]) -> dict[str, Verdict]:
        """Give each ``test_completed`` its verdict from this history, and keep its result.

        The verdicts given (test_id -> verdict) go back to the producer with the frame's
        ``ack``, for its CI outputs (docs/ci.md).
        """
        completed = [e for e in events if e.get("type") == "test_completed"
                     and isinstance(e.get("test_id"), str)]
        judge = self._runs.get(run_id)
        verdicts: dict[str, Verdict] = {}
        if not completed or judge is None:
            return verdicts
        judge.used = time.monotonic()
        if judge.stored is not None:
            await judge.stored
        recent = await self._recent(run_id, judge)
        rows: list[tuple[str, str, float, str | None]] = []
        for event in completed:
            test_id, result = event["test_id"], str(event.get("result"))
            duration = as_number(event.get("duration")) or 0.0
            if result == "rerun":
                judge.reran.add(test_id)
                event["history"] = None
                continue
            if recent is None:  # the database is down: the producer's own verdict stays
                continue
            info = history_info(result, duration, recent.get(test_id, []),
                                passed_on_rerun=test_id in judge.reran)
            event["history"] = info
            verdicts[test_id] = info["verdict"]
            rows.append((test_id, result, duration, info["verdict"]))
        if rows:
            await self._safely(self.database.add_results, run_id, rows)
        return verdicts

    def _forget(self, run_id: str) -> None:
        self._runs.pop(run_id, None)
        self._loading.pop(run_id, None)

    @property
    def judged_runs(self) -> int:
        return len(self._runs)

    async def finished(self, run_id: str, end: dict[str, Any]) -> None:
        judge = self._runs.get(run_id)
        if judge is not None and judge.stored is not None:
            await judge.stored
        self._forget(run_id)
        await self._safely(self.database.finish_run, run_id, time.time(), end)
        await self._safely(self.database.prune, self.keep_runs, self.keep_days)

    async def _recent(self, run_id: str, judge: RunJudge) -> dict[str, list[PastResult]] | None:
        async with self._loading.setdefault(run_id, asyncio.Lock()):
            if judge.recent is None:
                judge.recent = await self._safely(
                    self.database.recent, judge.project, judge.branch, run_id)
            return judge.recent

    async def _safely(self, call: Any, *args: Any) -> Any:
        """A database call; a failure is logged, never raised into the intake."""
        try:
            return await asyncio.to_thread(call, *args)
        except Exception as exc:
            logger.warning("history database: %s failed: %r", call.__name__, exc)
            return None

    async def read(self, call: Any, *args: Any) -> Any:
        """For the hub's pages: a database read, in a thread (errors raised)."""
        return await asyncio.to_thread(call, *args)


def _label(value: Any) -> str:
    return value.strip()[:200] if isinstance(value, str) else UNLABELLED
