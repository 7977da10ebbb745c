"""Following a run's Redis stream into this hub's local copy, which its viewers read.

Every hub that serves a run follows its stream (``XREAD BLOCK``) into a local
:class:`~pytest_jbrealtime.shared.log.EventLog`. If Redis loses the run (restarted
without persistence), the follower puts its copy back, epoch included; a copy that no
longer matches what Redis holds starts its viewers over with a ``reset``, never a
silent gap. Used by ``redis_streams.RedisBackend``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from typing import Any

from redis.exceptions import RedisError

from pytest_jbrealtime.hub.backends.redis_layout import (
    LIVE_KEY,
    RESTORE_SCRIPT,
    RUNS_KEY,
    log_key,
    meta_key,
)
from pytest_jbrealtime.hub.runlog import HubRun

READ_COUNT = 2000
BLOCK_MS = 1000
logger = logging.getLogger("pytest_jbrealtime.hub")


def decoded(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _score(timestamp: str | None) -> float:
    from pytest_jbrealtime.hub.backends.memory import epoch_of

    return epoch_of(timestamp) or time.time()


class FollowedRun(HubRun):
    """A run this hub serves: its local copy of the stream and the follower filling it."""

    def __init__(self, run_id: str, epoch: str) -> None:
        super().__init__(run_id)
        self.epoch = epoch
        self.follower: asyncio.Task[None] | None = None


class StreamFollower:
    """Reads runs' streams into their local copies, and puts a copy back Redis lost."""

    def __init__(self, redis: Any, max_stream_length: int) -> None:
        self.redis = redis
        self.max_stream_length = max_stream_length
        self._restore = redis.register_script(RESTORE_SCRIPT)

    async def read(self, run: FollowedRun, block: int | None) -> bool:
        """Read what the stream has beyond the local copy; False if nothing came."""
        got = False
        while True:
            response = await self.redis.xread(
                {log_key(run.run_id): f"0-{len(run.log)}"}, count=READ_COUNT, block=block)
            if not response:
                return got
            entries = response[0][1]
            items: list[tuple[dict[str, Any], str]] = []
            expected = len(run.log) + 1
            for entry_id, fields in entries:
                seq = int(decoded(entry_id).split("-")[1])
                if seq != expected + len(items):
                    # Not the next one: the start was trimmed (MAXLEN) or another
                    # incarnation replaced the run. Never a silent gap.
                    raise LostRun(f"expected seq {expected + len(items)}, Redis has {seq}")
                text = decoded(fields[b"t"])
                items.append((json.loads(text), text))
            run.log.add_stamped(items)
            got = True
            if len(entries) < READ_COUNT:
                return got
            block = None

    async def follow(self, run: FollowedRun) -> None:
        delay = 0.1
        check = False
        while True:
            try:
                if check:
                    await self._check(run)
                    check = False
                if not await self.read(run, block=BLOCK_MS):
                    check = True  # idle: make sure the stream is still this run's
                delay = 0.1
            except LostRun as exc:
                logger.warning("run %s: %s; viewers start over", run.run_id, exc)
                await self._start_over(run)
                await asyncio.sleep(delay)  # a stream that still does not fit: not in a loop
                delay = min(delay * 2, 2.0)
            except RedisError as exc:
                logger.warning("run %s: Redis: %s; trying again", run.run_id, exc)
                check = True
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("run %s: following the stream failed", run.run_id)
                await asyncio.sleep(1.0)

    async def _check(self, run: FollowedRun) -> None:
        """Is Redis's copy of the run still the one this hub follows?"""
        meta = meta_key(run.run_id)
        epoch, seq = await self.redis.hmget(meta, ["epoch", "seq"])
        if epoch is None:
            # Redis lost the run (restarted without persistence): put our copy back.
            if await self.put_back(run):
                return
            epoch, seq = await self.redis.hmget(meta, ["epoch", "seq"])
            if epoch is None:
                return
        if decoded(epoch) != run.epoch:
            raise LostRun("the run in Redis is another incarnation")
        held = len(run.log)
        if int(decoded(seq or b"0")) < held:
            raise LostRun(f"Redis holds {int(decoded(seq or b'0'))} events, this hub {held}")
        if held:
            entries = await self.redis.xrange(log_key(run.run_id), f"0-{held}", f"0-{held}")
            if entries and decoded(entries[0][1][b"t"]) != run.log.read_after(held - 1, 1)[0].text:
                raise LostRun("Redis holds other events")

    async def put_back(self, run: FollowedRun) -> bool:
        entries = run.log.read_after(0, len(run.log))
        if not entries:
            return False
        meta = {**run.state.to_meta(), "epoch": run.epoch, "ending": "0"}
        fields = [item for pair in meta.items() for item in pair]
        events = [item for entry in entries for item in (str(entry.seq), entry.text)]
        restored = await self._restore(
            keys=[meta_key(run.run_id), log_key(run.run_id), RUNS_KEY, LIVE_KEY],
            args=[run.run_id, self.max_stream_length, _score(run.state.created),
                  len(meta), *fields, *events],
        )
        if restored:
            logger.warning("run %s: Redis had lost it; put back %d events",
                           run.run_id, len(entries))
        return bool(restored)

    async def _start_over(self, run: FollowedRun) -> None:
        try:
            epoch = await self.redis.hget(meta_key(run.run_id), "epoch")
        except RedisError:
            return
        run.epoch = decoded(epoch) if epoch is not None else uuid.uuid4().hex
        run.reset("the log store lost this run and holds another copy; starting over")


class LostRun(Exception):
    """The local copy no longer matches Redis's: the viewers start over."""
