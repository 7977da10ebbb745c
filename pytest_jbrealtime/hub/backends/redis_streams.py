"""Run logs in Redis Streams, shared by every hub on one Redis.

The keys and the Lua scripts that change them are in ``redis_layout.py``.

Appends are one Lua script each (seq, de-duplication, counts and "did this end the
run" in one atomic step), so hubs appending to one run concurrently never clash.
Every hub that serves a run follows its stream (``XREAD BLOCK``, ``redis_follow.py``)
into a local :class:`~pytest_jbrealtime.shared.log.EventLog` that its viewers read: a
viewer on hub A sees, in order, what a shard published to hub B, and a ``resume`` works
on any hub.

If Redis loses a run (restarted without persistence), the first hub that follows it
notices (the epoch is gone) and puts its copy back, epoch included: viewers resume
as if nothing happened and producers send again what was not acknowledged. A hub
whose copy no longer matches what Redis holds (another incarnation of the run, or a
shorter copy put back by a hub that was behind) starts its viewers over with a
``reset``; never a silent gap.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from pytest_jbrealtime.hub.backends.base import (
    Abandoned,
    AppendResult,
    JoinResult,
    LiveQuota,
    LogBackend,
    StoreUnavailable,
    UnknownRun,
)
from pytest_jbrealtime.hub.backends.redis_follow import (
    FollowedRun,
    LostRun,
    StreamFollower,
    decoded,
)
from pytest_jbrealtime.hub.backends.redis_layout import (
    APPEND_SCRIPT,
    CLAIM_SCRIPT,
    END_MARK,
    HEARTBEAT_SCRIPT,
    INTERRUPTED_MARK,
    JOIN_SCRIPT,
    LIVE_KEY,
    RUNS_KEY,
    WATCH_TTL,
    log_key,
    meta_key,
    screenshot_key,
    token_live_key,
    watch_key,
)
from pytest_jbrealtime.hub.runlog import HubRun, stamp_parts
from pytest_jbrealtime.hub.runstate import RunState, shard_summary
from pytest_jbrealtime.protocol.events import ShardJoined, ShardResumed, unstamped
from pytest_jbrealtime.shared.log import iso_timestamp
from pytest_jbrealtime.shared.names import valid_run_id

MAX_STREAM_LENGTH = 1_000_000
logger = logging.getLogger("pytest_jbrealtime.hub")


class RedisBackend(LogBackend):
    def __init__(self, url: str, retention_seconds: float,
                 max_stream_length: int = MAX_STREAM_LENGTH) -> None:
        self.url = url
        self.retention_seconds = retention_seconds
        self.max_stream_length = max_stream_length
        # Any: redis-py types replies as unions of every reply shape; ours are known.
        self.redis: Any = aioredis.Redis.from_url(url)
        self._join = self.redis.register_script(JOIN_SCRIPT)
        self._append = self.redis.register_script(APPEND_SCRIPT)
        self._heartbeat = self.redis.register_script(HEARTBEAT_SCRIPT)
        self._claim = self.redis.register_script(CLAIM_SCRIPT)
        self.follower = StreamFollower(self.redis, max_stream_length)
        self.runs: dict[str, FollowedRun] = {}
        self._opening: dict[str, asyncio.Lock] = {}
        # This hub in the viewer counts it writes (``watch_key``).
        self.hub_id = uuid.uuid4().hex
        # The viewer counts this hub wrote last, per run.
        self._watch_written: dict[str, int] = {}
        # When each followed run was last opened (time.monotonic()).
        self._used: dict[str, float] = {}

    async def start(self) -> None:
        try:
            await self.redis.ping()
        except RedisError as exc:
            raise StoreUnavailable(f"Redis at {self.url.split('@')[-1]}: {exc}") from None

    async def close(self) -> None:
        for run in self.runs.values():
            if run.follower is not None:
                run.follower.cancel()
        with contextlib.suppress(RedisError):
            await self.redis.aclose()

    # -- following a run ---------------------------------------------------------------

    async def open_run(self, run_id: str) -> HubRun | None:
        self._used[run_id] = time.monotonic()
        run = self.runs.get(run_id)
        if run is not None:
            return run
        lock = self._opening.setdefault(run_id, asyncio.Lock())
        try:
            async with lock:
                return await self._open(run_id)
        finally:
            if not lock.locked():
                self._opening.pop(run_id, None)  # unknown ids must not pile up locks
            if run_id not in self.runs:
                self._used.pop(run_id, None)

    async def _open(self, run_id: str) -> HubRun | None:
        run = self.runs.get(run_id)
        if run is not None:
            return run
        try:
            epoch = await self.redis.hget(meta_key(run_id), "epoch")
            if epoch is None:
                return None
            run = FollowedRun(run_id, decoded(epoch))
            # Caught up before any viewer reads it: a resume from another hub is never
            # "out of range" here just because this copy is still loading.
            await self.follower.read(run, block=None)
        except RedisError as exc:
            raise StoreUnavailable(str(exc)) from None
        except LostRun as exc:  # its start was trimmed away: not servable from here
            raise StoreUnavailable(f"run {run_id}: {exc}") from None
        self.runs[run_id] = run
        run.follower = asyncio.create_task(self.follower.follow(run))
        return run

    # -- producers ---------------------------------------------------------------------

    async def join(
        self, run_id: str, shard: str, producer: str, info: dict[str, Any],
        expected_shards: int = 0, quota: LiveQuota | None = None,
    ) -> JoinResult:
        now = time.time()
        followed = self.runs.get(run_id)
        try:
            if followed is not None and await self.redis.exists(meta_key(run_id)) == 0:
                await self.follower.put_back(followed)  # Redis lost it while we hold a copy
            result = await self._join(
                keys=[meta_key(run_id), log_key(run_id), RUNS_KEY, LIVE_KEY,
                      token_live_key(quota.token if quota is not None else "")],
                args=[run_id, shard, producer, uuid.uuid4().hex, iso_timestamp(now), now,
                      expected_shards, quota.per_token if quota is not None else -1,
                      quota.total if quota is not None else 0,
                      max(1, int(self.retention_seconds))],
            )
            name, last, new = decoded(result[0]), int(result[1]), int(result[2])
            if quota is not None and new < 0:
                raise quota.refusal("token" if new == -1 else "total", last)
            if new == 1:
                joined: ShardJoined = {"shard": name, "producer": producer,
                                       "expected_shards": expected_shards, "run_info": info}
                await self._append_events(run_id, None, [unstamped("shard_joined", joined)])
            elif new == 2:  # given up on (--shard-timeout), and here it is again
                resumed: ShardResumed = {"shard": name}
                await self._append_events(run_id, None, [unstamped("shard_resumed", resumed)])
            # This hub follows every run it takes events for, so it can put it back.
            await self.open_run(run_id)
        except RedisError as exc:
            raise StoreUnavailable(str(exc)) from None
        return JoinResult(name, last)

    async def append(
        self, run_id: str, shard: str | None, events: list[dict[str, Any]]
    ) -> AppendResult:
        try:
            result = await self._append_events(run_id, shard, events)
            followed = self.runs.get(run_id)
            if result is None and followed is not None and await self.follower.put_back(followed):
                result = await self._append_events(run_id, shard, events)
        except RedisError as exc:
            raise StoreUnavailable(str(exc)) from None
        if result is None:
            raise UnknownRun(run_id)
        return result

    async def _append_events(
        self, run_id: str, shard: str | None, events: list[dict[str, Any]]
    ) -> AppendResult | None:
        args: list[Any] = [shard or "", self.max_stream_length, int(self.retention_seconds),
                           iso_timestamp(time.time()), len(events)]
        for event in events:
            head, tail = stamp_parts(run_id, event)
            kind = event["type"]
            result = event.get("result") if kind == "test_completed" else None
            total = event.get("total") if kind == "collection_finished" else None
            if kind == "shard_finished":
                finish = json.dumps(shard_summary(event))
            elif kind == "session_finished" and shard is None:
                finish = INTERRUPTED_MARK if event.get("status") == "interrupted" else END_MARK
            else:
                finish = ""
            args += [event.get("shard_seq", 0), head, tail,
                     result if isinstance(result, str) else "",
                     str(total) if isinstance(total, int) else "", finish]
        reply = await self._append(keys=[meta_key(run_id), log_key(run_id), LIVE_KEY],
                                   args=[*args, run_id])
        if int(reply[0]) < 0:
            return None
        ended = None
        if int(reply[2]):
            pairs = [decoded(v) for v in reply[3:]]
            ended = {pairs[i]: json.loads(pairs[i + 1]) for i in range(0, len(pairs), 2)}
        return AppendResult(int(reply[1]), ended)

    # -- the run list ------------------------------------------------------------------

    async def list_runs(self) -> list[dict[str, Any]]:
        try:
            run_ids = [decoded(r) for r in await self.redis.zrevrange(RUNS_KEY, 0, -1)]
            async with self.redis.pipeline(transaction=False) as pipe:
                for run_id in run_ids:
                    pipe.hgetall(meta_key(run_id))
                metas = await pipe.execute()
            listings = []
            gone = []
            for run_id, meta in zip(run_ids, metas, strict=True):
                if not meta or not valid_run_id(run_id):
                    gone.append(run_id)  # expired after its retention period
                    continue
                plain = {decoded(k): decoded(v) for k, v in meta.items()}
                state = RunState.from_meta(run_id, plain)
                followed = self.runs.get(run_id)
                listings.append({**state.listing(
                    viewers=len(followed.registry.viewers) if followed is not None else 0),
                    "loaded": followed is not None})
            if gone:
                await self.redis.zrem(RUNS_KEY, *gone)
        except RedisError as exc:
            raise StoreUnavailable(str(exc)) from None
        return listings


    # -- the runs' life ----------------------------------------------------------------

    async def heartbeat(self, connected: set[tuple[str, str]]) -> None:
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for run_id, shard in sorted(connected):
                    await self._heartbeat(keys=[meta_key(run_id)], args=[shard], client=pipe)
                deadline = time.time() + WATCH_TTL
                for run_id, run in self.runs.items():
                    count = len(run.registry.viewers)
                    if count or self._watch_written.get(run_id):
                        pipe.hset(watch_key(run_id), self.hub_id, f"{count} {deadline:.3f}")
                        pipe.expire(watch_key(run_id), int(WATCH_TTL) * 2)
                        self._watch_written[run_id] = count
                await pipe.execute()
        except RedisError as exc:
            raise StoreUnavailable(str(exc)) from None

    async def claim_abandoned(self, timeout: float) -> list[Abandoned]:
        claimed = []
        try:
            run_ids = [decoded(r) for r in await self.redis.smembers(LIVE_KEY)]
            for run_id in sorted(run_ids):
                reply = await self._claim(keys=[meta_key(run_id), LIVE_KEY],
                                          args=[run_id, int(timeout * 1000)])
                if not int(reply[0]):
                    continue
                missing, count = int(reply[1]), int(reply[2])
                vanished = [decoded(v) for v in reply[3:3 + count]]
                pairs = [decoded(v) for v in reply[3 + count:]]
                summaries = {pairs[i]: json.loads(pairs[i + 1]) for i in range(0, len(pairs), 2)}
                claimed.append(Abandoned(run_id, summaries, vanished, missing))
        except RedisError as exc:
            raise StoreUnavailable(str(exc)) from None
        return claimed

    async def viewer_count(self, run_id: str) -> int:
        run = self.runs.get(run_id)
        total = len(run.registry.viewers) if run is not None else 0
        try:
            counts = await self.redis.hgetall(watch_key(run_id))
        except RedisError as exc:
            raise StoreUnavailable(str(exc)) from None
        now = time.time()
        for hub_id, value in counts.items():
            if decoded(hub_id) == self.hub_id:
                continue  # ours is the live count above
            count, _, deadline = decoded(value).partition(" ")
            with contextlib.suppress(ValueError):
                if float(deadline) > now:
                    total += int(count)
        return total

    async def evict(self, keep_seconds: float) -> list[str]:
        now = time.monotonic()
        gone = [
            run_id for run_id, run in self.runs.items()
            if run.state.ended and not run.registry.viewers and run_id not in self._opening
            and now - self._used.get(run_id, now) > keep_seconds
            and not self._watch_written.get(run_id)
        ]
        for run_id in gone:
            run = self.runs.pop(run_id)
            if run.follower is not None:
                run.follower.cancel()
            self._used.pop(run_id, None)
            self._watch_written.pop(run_id, None)
        return gone

    # -- screenshots: each hub keeps files; Redis lets the others serve them too ---------

    async def share_screenshot(self, run_id: str, screenshot_id: str, png: bytes) -> None:
        try:
            await self.redis.set(screenshot_key(run_id, screenshot_id), png,
                                 ex=max(1, int(self.retention_seconds)))
        except RedisError as exc:  # this hub still serves it from its own folder
            logger.warning("screenshot %s of run %s not shared: %s", screenshot_id, run_id, exc)

    async def shared_screenshot(self, run_id: str, screenshot_id: str) -> bytes | None:
        try:
            png = await self.redis.get(screenshot_key(run_id, screenshot_id))
        except RedisError:
            return None
        return bytes(png) if png is not None else None
