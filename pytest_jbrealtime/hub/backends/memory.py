"""The reference backend: run logs in memory, each written to the data folder as it grows.

A run's folder holds its log as a recording (``DATA/runs/RUN_ID/log.jsonl``, the
format of ``--jb-live-record``, so ``python -m pytest_jbrealtime replay`` opens it).
Events are on disk (flushed) before viewers see them and before the producer gets its
ack, so a restarted hub has everything it acknowledged and nothing a viewer saw is
missing from it. At start the hub reads every kept run back; runs that ended more than
the retention period ago, and runs idle that long, are deleted.

A finished run's log leaves memory once nobody has read it for ``--keep-finished``
seconds (only its state stays, for the run list); a viewer opening it later has it read
back from its folder. Runs that had ended are not kept in memory after a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from pytest_jbrealtime.hub.backends.base import (
    RETENTION_CHECK_SECONDS,
    Abandoned,
    AppendResult,
    JoinResult,
    LiveQuota,
    LogBackend,
    UnknownRun,
)
from pytest_jbrealtime.hub.runlog import HubRun
from pytest_jbrealtime.hub.runstate import RunState
from pytest_jbrealtime.protocol.events import ShardJoined, ShardResumed, unstamped
from pytest_jbrealtime.shared.log import LoggedEvent
from pytest_jbrealtime.shared.names import valid_run_id
from pytest_jbrealtime.shared.recorder import RecordingWriter
from pytest_jbrealtime.shared.recording import RecordingError, read_recording

LOG_NAME = "log.jsonl"
logger = logging.getLogger("pytest_jbrealtime.hub")


def epoch_of(timestamp: str | None) -> float | None:
    if not timestamp:
        return None
    try:
        return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class RunFile:
    """The first listener of a run's log: writes each batch to disk before anyone sees it.

    The first append after the hub (re)loaded the run writes the file anew from the log
    (which also drops a line a crash cut short); later ones append. The file is open
    only while a batch is written: a hub with many runs holds no descriptor per run
    (issue 15: ~1,000 open run logs exhausted a 1,024-descriptor hub).
    """

    def __init__(self, run: HubRun, folder: Path) -> None:
        self.run = run
        self.path = folder / LOG_NAME
        self.written = False
        self.loading = False

    def __call__(self, entries: list[LoggedEvent]) -> None:
        if self.loading:
            return
        try:
            if not self.written:
                self._write_anew()
            else:
                with open(self.path, "ab") as file:
                    file.write("".join(entry.text + "\n" for entry in entries).encode())
        except OSError as exc:
            logger.error("run %s: writing its log failed: %s", self.run.run_id, exc)

    def _write_anew(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Same name in a side folder: the header then names ``log.screenshots`` as the
        # recording's screenshot folder, where the hub keeps them (hub/screenshots.py).
        temporary = self.path.parent / ".new" / LOG_NAME
        writer = RecordingWriter(temporary, run_id=self.run.run_id, run_info={"hub": True},
                                 run_dir=None, warn=lambda m: logger.error("%s", m))
        try:
            writer(self.run.log.read_after(0, len(self.run.log)))
        finally:
            writer.close()
        os.replace(temporary, self.path)
        self.written = True

    def close(self) -> None:
        """Nothing is held open between batches."""


class MemoryBackend(LogBackend):
    def __init__(self, data_dir: Path | None, retention_seconds: float) -> None:
        self.data_dir = data_dir
        self.retention_seconds = retention_seconds
        self.runs: dict[str, HubRun] = {}
        self._files: dict[str, RunFile] = {}
        # Runs whose end the hub has been told to write (once per end).
        self._ending: set[str] = set()
        self._expiry: asyncio.Task[None] | None = None
        # When each shard's producer was last connected (time.monotonic()), per run.
        self._seen: dict[str, dict[str, float]] = {}
        # Finished runs whose log is not in memory: their state, for the run list.
        self.evicted: dict[str, RunState] = {}
        # When each run in memory was last opened or appended to (time.monotonic()).
        self._used: dict[str, float] = {}
        # The runs each producer token joined that were live then (LiveQuota.token).
        self._live_of: dict[str, set[str]] = {}

    # -- life --------------------------------------------------------------------------

    @property
    def runs_dir(self) -> Path | None:
        return self.data_dir / "runs" if self.data_dir is not None else None

    async def start(self) -> None:
        if self.runs_dir is not None:
            self.runs_dir.mkdir(parents=True, exist_ok=True)
            for folder in sorted(self.runs_dir.iterdir()):
                if folder.is_dir() and valid_run_id(folder.name):
                    self._load(folder, keep=False)
        self.expire()
        self._expiry = asyncio.create_task(self._expire_hourly())

    async def close(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
        for run_file in self._files.values():
            run_file.close()

    def _new_run(self, run_id: str) -> HubRun:
        run = HubRun(run_id)
        if self.runs_dir is not None:
            run_file = RunFile(run, self.runs_dir / run_id)
            run.log.listeners.insert(0, run_file)
            self._files[run_id] = run_file
        self.runs[run_id] = run
        self._used[run_id] = time.monotonic()
        return run

    def _load(self, folder: Path, keep: bool = True) -> HubRun | None:
        """Read a run back from its folder; one that ended stays in memory only if ``keep``."""
        path = folder / LOG_NAME
        try:
            recording = read_recording(path)
        except (RecordingError, OSError) as exc:
            logger.error("run %s not loaded: %s", folder.name, exc)
            return None
        for problem in recording.problems:
            logger.warning("run %s: %s", folder.name, problem)
        run = self._new_run(folder.name)
        run_file = self._files[run.run_id]
        run_file.loading = True
        try:
            run.log.add_recorded(recording.events, recording.texts)
        finally:
            run_file.loading = False
        if run.state.all_shards_finished or run.state.ended:
            self._ending.add(run.run_id)
        self.evicted.pop(run.run_id, None)
        if run.state.ended and not keep:
            self._drop(run.run_id)
            return None
        # Shards of a run that was live give their producers the whole timeout again to
        # reconnect (the hub was down: they are sending their spool once it is back).
        now = time.monotonic()
        seen = self._seen.setdefault(run.run_id, {})
        for name in run.state.shards:
            seen.setdefault(name, now)
        return run

    def _drop(self, run_id: str) -> None:
        """The run's log leaves memory; its state stays for the run list."""
        run = self.runs.pop(run_id)
        self.evicted[run_id] = run.state
        self._used.pop(run_id, None)
        self._seen.pop(run_id, None)
        run_file = self._files.pop(run_id, None)
        if run_file is not None:
            run_file.close()

    def expire(self, now: float | None = None) -> list[str]:
        """Delete runs that ended (or went quiet) more than the retention period ago."""
        now = time.time() if now is None else now
        gone = []
        states = [(run_id, run.state) for run_id, run in self.runs.items()]
        for run_id, state in [*states, *self.evicted.items()]:
            updated = epoch_of(state.updated)
            if updated is None or now - updated < self.retention_seconds:
                continue
            run = self.runs.get(run_id)
            if run is not None and run.registry.viewers:
                continue
            gone.append(run_id)
            self.runs.pop(run_id, None)
            self.evicted.pop(run_id, None)
            self._used.pop(run_id, None)
            self._seen.pop(run_id, None)
            run_file = self._files.pop(run_id, None)
            if run_file is not None:
                run_file.close()
            if self.runs_dir is not None:
                shutil.rmtree(self.runs_dir / run_id, ignore_errors=True)
        return gone

    async def _expire_hourly(self) -> None:
        while True:
            await asyncio.sleep(RETENTION_CHECK_SECONDS)
            with contextlib.suppress(Exception):  # a failed clean-up is tried again later
                self.expire()

    # -- the seam ----------------------------------------------------------------------

    async def open_run(self, run_id: str) -> HubRun | None:
        run = self.runs.get(run_id)
        if run is None and run_id in self.evicted and self.runs_dir is not None:
            run = self._load(self.runs_dir / run_id)
            if run is not None:
                logger.info("run %s read back from the data folder", run_id)
        if run is not None:
            self._used[run_id] = time.monotonic()
        return run

    async def join(
        self, run_id: str, shard: str, producer: str, info: dict[str, Any],
        expected_shards: int = 0, quota: LiveQuota | None = None,
    ) -> JoinResult:
        if quota is not None:
            self._count_live(run_id, quota)
        run = await self.open_run(run_id) or self._new_run(run_id)
        shards = run.state.shards
        name, number = shard, 1
        while name in shards and shards[name].producer != producer:
            number += 1
            name = f"{shard}.{number}"
        if name not in shards:
            joined: ShardJoined = {"shard": name, "producer": producer,
                                   "expected_shards": expected_shards, "run_info": info}
            run.log.extend([unstamped("shard_joined", joined)])
            self._ending.discard(run_id)
        elif run.state.interrupted and not shards[name].finished:
            # The hub had given up on it (--shard-timeout), and here it is again.
            resumed: ShardResumed = {"shard": name}
            run.log.extend([unstamped("shard_resumed", resumed)])
            self._ending.discard(run_id)
        self._seen.setdefault(run_id, {})[name] = time.monotonic()
        return JoinResult(name, run.state.marks.get(name, 0))

    def _count_live(self, run_id: str, quota: LiveQuota) -> None:
        """Count the run as live for the token, within the caps (no await: one step)."""
        live = {name for name, run in self.runs.items() if not run.state.ended}
        mine = self._live_of.setdefault(quota.token, set())
        mine &= live  # the token's runs that have ended count no more
        if run_id in mine:
            return
        if len(mine) >= quota.per_token:
            raise quota.refusal("token", len(mine))
        if run_id not in live and len(live) >= quota.total:
            raise quota.refusal("total", len(live))
        mine.add(run_id)

    async def append(
        self, run_id: str, shard: str | None, events: list[dict[str, Any]]
    ) -> AppendResult:
        run = await self.open_run(run_id)
        if run is None:
            raise UnknownRun(run_id)
        if shard is None:
            run.log.extend(events)
            return AppendResult(0)
        mark = run.state.marks.get(shard, 0)
        kept = [event for event in events if event["shard_seq"] > mark]
        run.log.extend(kept)
        ended = None
        if (
            any(event["type"] == "shard_finished" for event in kept)
            and run.state.all_shards_finished
            and run_id not in self._ending
        ):
            self._ending.add(run_id)
            ended = run.state.summaries()
        return AppendResult(run.state.marks.get(shard, 0), ended)

    async def list_runs(self) -> list[dict[str, Any]]:
        listings = [{**run.listing(), "loaded": True} for run in self.runs.values()]
        listings += [{**state.listing(), "loaded": False} for state in self.evicted.values()]
        listings.sort(key=lambda r: r["created"] or "", reverse=True)
        return listings

    # -- the runs' life ----------------------------------------------------------------

    async def heartbeat(self, connected: set[tuple[str, str]]) -> None:
        now = time.monotonic()
        for run_id, shard in connected:
            if run_id in self.runs:
                self._seen.setdefault(run_id, {})[shard] = now

    async def claim_abandoned(self, timeout: float) -> list[Abandoned]:
        now = time.monotonic()
        claimed = []
        for run_id, run in self.runs.items():
            state = run.state
            if state.ended or run_id in self._ending or not state.shards:
                continue
            seen = self._seen.setdefault(run_id, {})
            for name in state.shards:
                seen.setdefault(name, now)
            unfinished = [name for name, shard in state.shards.items() if not shard.finished]
            if unfinished:
                if any(now - seen[name] <= timeout for name in unfinished):
                    continue
            elif (len(state.shards) >= state.expected_shards
                  or now - max(seen[name] for name in state.shards) <= timeout):
                continue  # (all finished and none missing: it is ending already)
            self._ending.add(run_id)
            claimed.append(Abandoned(run_id, state.summaries(), unfinished,
                                     max(state.expected_shards - len(state.shards), 0)))
        return claimed

    async def viewer_count(self, run_id: str) -> int:
        run = self.runs.get(run_id)
        return len(run.registry.viewers) if run is not None else 0

    async def evict(self, keep_seconds: float) -> list[str]:
        if self.runs_dir is None:
            return []  # nowhere to read it back from
        now = time.monotonic()
        gone = [
            run_id for run_id, run in self.runs.items()
            if run.state.ended and run.log.finished and not run.registry.viewers
            and now - self._used.get(run_id, now) > keep_seconds
        ]
        for run_id in gone:
            self._drop(run_id)
        return gone
