"""Run logs in Redis Streams, shared by every hub on one Redis.

Keys (``{run_id}`` is a hash tag, so a run's keys live on one cluster slot):

- ``jblive:run:{RUN_ID}:log``: the run's stream. Entry id ``0-SEQ``: the stream id is
  the seq. Field ``t``: the event's JSON text, stamped once by the hub that appended
  it. ``XADD … MAXLEN ~ cap`` bounds it.
- ``jblive:run:{RUN_ID}:meta``: a hash of the run's state (``RunState.to_meta``): seq,
  epoch (a random id of this incarnation of the run in Redis), shards, each shard's
  last ``shard_seq`` (``m:SHARD``), counts.
- ``jblive:runs``: a sorted set of run ids by creation time (the run list).
- ``jblive:live``: a set of the run ids not ended yet (the ones whose shards hubs watch);
  its size is what the cap on live runs in all counts. A run leaves it when it ends,
  or when a hub gives up on its shards (``--shard-timeout``): a dead hub's runs are
  ended by the others and hold no slot for ever.
- ``jblive:token:HASH:live``: the live runs a producer token joined (its cap); members
  that left ``jblive:live`` are dropped at its next join.
- ``jblive:run:{RUN_ID}:watch``: a hash of how many viewers each hub has on the run
  (``HUB_ID`` -> ``COUNT EXPIRY``), written every few seconds by hubs that have some.

Each shard's last sign of life is ``h:SHARD`` in the meta hash (Redis's own clock, in
ms): every hub writes it every few seconds for the producers connected to it, so a
shard on hub B is alive for hub A too, and any hub can end a run whose shards are gone.

Appends are one Lua script each (seq, de-duplication, counts and "did this end the
run" in one atomic step), so hubs appending to one run concurrently never clash.
Every hub that serves a run follows its stream (``XREAD BLOCK``) into a local
:class:`~pytest_jbrealtime.shared.log.EventLog` that its viewers read: a viewer on hub A
sees, in order, what a shard published to hub B, and a ``resume`` works on any hub.

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
import hashlib
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
from pytest_jbrealtime.hub.runlog import HubRun, stamp_parts
from pytest_jbrealtime.hub.runstate import RunState, shard_summary
from pytest_jbrealtime.shared.log import iso_timestamp
from pytest_jbrealtime.shared.names import valid_run_id

PREFIX = "jblive"
RUNS_KEY = f"{PREFIX}:runs"
LIVE_KEY = f"{PREFIX}:live"
INTERRUPTED_MARK = "!interrupted"
# A hub's viewer count of a run counts this long after it last wrote it.
WATCH_TTL = 30.0
MAX_STREAM_LENGTH = 1_000_000
READ_COUNT = 2000
BLOCK_MS = 1000
END_MARK = "!end"
logger = logging.getLogger("pytest_jbrealtime.hub")


def meta_key(run_id: str) -> str:
    return f"{PREFIX}:run:{{{run_id}}}:meta"


def log_key(run_id: str) -> str:
    return f"{PREFIX}:run:{{{run_id}}}:log"


def token_live_key(token: str) -> str:
    # Hashed: a token's claims (its ``sub``) need not be in Redis's key space.
    return f"{PREFIX}:token:{hashlib.sha256(token.encode()).hexdigest()[:32]}:live"


def watch_key(run_id: str) -> str:
    return f"{PREFIX}:run:{{{run_id}}}:watch"


def screenshot_key(run_id: str, screenshot_id: str) -> str:
    return f"{PREFIX}:run:{{{run_id}}}:shot:{screenshot_id}"


# Redis's clock in ms, as a string (a Lua number that big would print as 1.7e+12).
NOW_MS = """
local clock = redis.call('TIME')
local now = clock[1] .. string.format('%03d', math.floor(tonumber(clock[2]) / 1000))
"""


# KEYS: meta, stream, runs, live, the token's live runs. ARGV: run_id, shard, producer,
# epoch, now (ISO), now (score), expected shards, the caps on live runs per token and in
# all (-1: no caps), the token set's expiry (s). Returns {shard name, last shard_seq held, 1
# if it joined now, 2 if it had been given up on (interrupted) and opens the run again};
# {'', count, -1} past the token's cap, {'', count, -2} past the cap in all: nothing
# joined. Counted and taken in this one step, so hubs on one Redis share the caps.
JOIN_SCRIPT = NOW_MS + """
local meta, stream, runs, live, mine = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local per_token, total = tonumber(ARGV[8]), tonumber(ARGV[9])
if per_token >= 0 then
  for _, other in ipairs(redis.call('SMEMBERS', mine)) do
    if redis.call('SISMEMBER', live, other) == 0 then redis.call('SREM', mine, other) end
  end
  if redis.call('SISMEMBER', mine, ARGV[1]) == 0 then
    local count = redis.call('SCARD', mine)
    if count >= per_token then return {'', count, -1} end
    count = redis.call('SCARD', live)
    if redis.call('SISMEMBER', live, ARGV[1]) == 0 and count >= total then
      return {'', count, -2}
    end
    redis.call('SADD', mine, ARGV[1])
  end
  redis.call('EXPIRE', mine, ARGV[10])
end
if redis.call('EXISTS', meta) == 0 then
  redis.call('HSET', meta, 'epoch', ARGV[4], 'seq', 0, 'created', ARGV[5], 'updated', ARGV[5],
             'joined', 0, 'finished', 0, 'ended', 0, 'expected', 0)
  redis.call('ZADD', runs, ARGV[6], ARGV[1])
end
local expected = tonumber(ARGV[7])
if expected > tonumber(redis.call('HGET', meta, 'expected') or '0') then
  redis.call('HSET', meta, 'expected', expected)
end
local name, number = ARGV[2], 1
while true do
  local producer = redis.call('HGET', meta, 'n:' .. name)
  if not producer then break end
  if producer == ARGV[3] then
    redis.call('HSET', meta, 'h:' .. name, now)
    local mark = tonumber(redis.call('HGET', meta, 'm:' .. name) or '0')
    if redis.call('HGET', meta, 'status') == 'interrupted'
       and redis.call('HEXISTS', meta, 'f:' .. name) == 0 then
      redis.call('HSET', meta, 'ended', 0, 'ending', 0, 'status', '')
      redis.call('PERSIST', meta)
      redis.call('PERSIST', stream)
      redis.call('SADD', live, ARGV[1])
      return {name, mark, 2}
    end
    return {name, mark, 0}
  end
  number = number + 1
  name = ARGV[2] .. '.' .. number
end
redis.call('HSET', meta, 'n:' .. name, ARGV[3], 'ended', 0, 'ending', 0, 'status', '',
           'h:' .. name, now)
redis.call('SADD', live, ARGV[1])
redis.call('HINCRBY', meta, 'joined', 1)
redis.call('PERSIST', meta)
redis.call('PERSIST', stream)
return {name, 0, 1}
"""

# KEYS: meta, stream, live. ARGV: shard ('' for the hub's own events), stream cap,
# retention seconds, now (ISO), n, then per event: shard_seq, head, tail, result, total,
# finish; last the run id.
# Returns {seq, last shard_seq held, 1 if this ended the run, then the shards' ends
# as name, summary pairs}; {-1} if the run is not in Redis.
APPEND_SCRIPT = """
local meta, stream = KEYS[1], KEYS[2]
if redis.call('EXISTS', meta) == 0 then return {-1} end
local shard = ARGV[1]
local mark = 0
if shard ~= '' then mark = tonumber(redis.call('HGET', meta, 'm:' .. shard) or '0') end
local seq = tonumber(redis.call('HGET', meta, 'seq') or '0')
local ended = 0
local n = tonumber(ARGV[5])
for i = 0, n - 1 do
  local b = 6 + i * 6
  local shard_seq = tonumber(ARGV[b])
  if shard == '' or shard_seq > mark then
    seq = seq + 1
    redis.call('XADD', stream, 'MAXLEN', '~', ARGV[2], '0-' .. seq, 't',
               ARGV[b + 1] .. seq .. ARGV[b + 2])
    if shard ~= '' then mark = shard_seq end
    if ARGV[b + 3] ~= '' then redis.call('HINCRBY', meta, 'c:' .. ARGV[b + 3], 1) end
    if ARGV[b + 4] ~= '' then redis.call('HSET', meta, 't:' .. shard, ARGV[b + 4]) end
    local finish = ARGV[b + 5]
    if finish == '!end' or finish == '!interrupted' then
      redis.call('HSET', meta, 'ended', 1, 'ending', 0)
      if finish == '!interrupted' then redis.call('HSET', meta, 'status', 'interrupted') end
      redis.call('SREM', KEYS[3], ARGV[#ARGV])
      redis.call('EXPIRE', meta, ARGV[3])
      redis.call('EXPIRE', stream, ARGV[3])
    elseif finish ~= '' then
      if redis.call('HEXISTS', meta, 'f:' .. shard) == 0 then
        redis.call('HINCRBY', meta, 'finished', 1)
      end
      redis.call('HSET', meta, 'f:' .. shard, finish)
      local joined = tonumber(redis.call('HGET', meta, 'joined'))
      local finished = tonumber(redis.call('HGET', meta, 'finished'))
      local expected = tonumber(redis.call('HGET', meta, 'expected') or '0')
      if finished >= joined and joined >= expected
         and redis.call('HGET', meta, 'ended') ~= '1'
         and redis.call('HGET', meta, 'ending') ~= '1' then
        redis.call('HSET', meta, 'ending', 1)
        ended = 1
      end
    end
  end
end
redis.call('HSET', meta, 'seq', seq, 'updated', ARGV[4])
if shard ~= '' then redis.call('HSET', meta, 'm:' .. shard, mark) end
local out = {seq, mark, ended}
if ended == 1 then
  local fields = redis.call('HGETALL', meta)
  for j = 1, #fields, 2 do
    if string.sub(fields[j], 1, 2) == 'f:' then
      table.insert(out, string.sub(fields[j], 3))
      table.insert(out, fields[j + 1])
    end
  end
end
return out
"""

# KEYS: meta, stream, runs, live. ARGV: run_id, stream cap, created score, number of
# meta fields, the fields as name, value pairs, then the events as seq, text pairs.
# Puts a run back that Redis lost, unless it is there again already.
RESTORE_SCRIPT = """
local meta, stream, runs, live = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
if redis.call('EXISTS', meta) == 1 then return 0 end
redis.call('DEL', stream)
local fields = tonumber(ARGV[4])
local b = 5 + fields * 2
for i = b, #ARGV, 2 do
  redis.call('XADD', stream, 'MAXLEN', '~', ARGV[2], '0-' .. ARGV[i], 't', ARGV[i + 1])
end
for i = 5, 4 + fields * 2, 2 do
  redis.call('HSET', meta, ARGV[i], ARGV[i + 1])
end
redis.call('ZADD', runs, ARGV[3], ARGV[1])
if redis.call('HGET', meta, 'ended') ~= '1' then redis.call('SADD', live, ARGV[1]) end
return 1
"""


# KEYS: meta. ARGV: shard. The shard's producer is connected (to this hub) now.
HEARTBEAT_SCRIPT = NOW_MS + """
if redis.call('HEXISTS', KEYS[1], 'n:' .. ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], 'h:' .. ARGV[1], now)
end
return 0
"""

# KEYS: meta, live. ARGV: run_id, timeout (ms). Claims the run (sets ``ending``) if its
# unfinished shards were all last seen over the timeout ago (or, all joined ones
# finished, it waits for shards that never joined and none was seen for the timeout).
# Returns {0} or {1, missing, number vanished, the vanished names, then the finished
# shards' ends as name, summary pairs}.
CLAIM_SCRIPT = NOW_MS + """
local meta, live = KEYS[1], KEYS[2]
if redis.call('EXISTS', meta) == 0 or redis.call('HGET', meta, 'ended') == '1' then
  redis.call('SREM', live, ARGV[1])
  return {0}
end
if redis.call('HGET', meta, 'ending') == '1' then return {0} end
local timeout, current = tonumber(ARGV[2]), tonumber(now)
local fields = redis.call('HGETALL', meta)
local shards, finished, seen = {}, {}, {}
for j = 1, #fields, 2 do
  local kind, name = string.sub(fields[j], 1, 2), string.sub(fields[j], 3)
  if kind == 'n:' then table.insert(shards, name)
  elseif kind == 'f:' then finished[name] = fields[j + 1]
  elseif kind == 'h:' then seen[name] = tonumber(fields[j + 1]) end
end
if #shards == 0 then return {0} end
local vanished, latest = {}, 0
for _, name in ipairs(shards) do
  local last = seen[name]
  if not last then
    redis.call('HSET', meta, 'h:' .. name, now)
    last = current
  end
  if last > latest then latest = last end
  if not finished[name] then
    if current - last <= timeout then return {0} end
    table.insert(vanished, name)
  end
end
local expected = tonumber(redis.call('HGET', meta, 'expected') or '0')
if #vanished == 0 and (#shards >= expected or current - latest <= timeout) then return {0} end
redis.call('HSET', meta, 'ending', 1)
local missing = expected - #shards
if missing < 0 then missing = 0 end
local out = {1, missing, #vanished}
for _, name in ipairs(vanished) do table.insert(out, name) end
for name, summary in pairs(finished) do
  table.insert(out, name)
  table.insert(out, summary)
end
return out
"""


def _decode(value: Any) -> str:
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
        self._restore = self.redis.register_script(RESTORE_SCRIPT)
        self._heartbeat = self.redis.register_script(HEARTBEAT_SCRIPT)
        self._claim = self.redis.register_script(CLAIM_SCRIPT)
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
            run = FollowedRun(run_id, _decode(epoch))
            # Caught up before any viewer reads it: a resume from another hub is never
            # "out of range" here just because this copy is still loading.
            await self._read(run, block=None)
        except RedisError as exc:
            raise StoreUnavailable(str(exc)) from None
        except LostRun as exc:  # its start was trimmed away: not servable from here
            raise StoreUnavailable(f"run {run_id}: {exc}") from None
        self.runs[run_id] = run
        run.follower = asyncio.create_task(self._follow(run))
        return run

    async def _read(self, run: FollowedRun, block: int | None) -> bool:
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
                seq = int(_decode(entry_id).split("-")[1])
                if seq != expected + len(items):
                    # Not the next one: the start was trimmed (MAXLEN) or another
                    # incarnation replaced the run. Never a silent gap.
                    raise LostRun(f"expected seq {expected + len(items)}, Redis has {seq}")
                text = _decode(fields[b"t"])
                items.append((json.loads(text), text))
            run.log.add_stamped(items)
            got = True
            if len(entries) < READ_COUNT:
                return got
            block = None

    async def _follow(self, run: FollowedRun) -> None:
        delay = 0.1
        check = False
        while True:
            try:
                if check:
                    await self._check(run)
                    check = False
                if not await self._read(run, block=BLOCK_MS):
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
            if await self._put_back(run):
                return
            epoch, seq = await self.redis.hmget(meta, ["epoch", "seq"])
            if epoch is None:
                return
        if _decode(epoch) != run.epoch:
            raise LostRun("the run in Redis is another incarnation")
        held = len(run.log)
        if int(_decode(seq or b"0")) < held:
            raise LostRun(f"Redis holds {int(_decode(seq or b'0'))} events, this hub {held}")
        if held:
            entries = await self.redis.xrange(log_key(run.run_id), f"0-{held}", f"0-{held}")
            if entries and _decode(entries[0][1][b"t"]) != run.log.read_after(held - 1, 1)[0].text:
                raise LostRun("Redis holds other events")

    async def _put_back(self, run: FollowedRun) -> bool:
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
        run.epoch = _decode(epoch) if epoch is not None else uuid.uuid4().hex
        run.reset("the log store lost this run and holds another copy; starting over")

    # -- producers ---------------------------------------------------------------------

    async def join(
        self, run_id: str, shard: str, producer: str, info: dict[str, Any],
        expected_shards: int = 0, quota: LiveQuota | None = None,
    ) -> JoinResult:
        now = time.time()
        followed = self.runs.get(run_id)
        try:
            if followed is not None and await self.redis.exists(meta_key(run_id)) == 0:
                await self._put_back(followed)  # Redis lost it while we hold a copy
            result = await self._join(
                keys=[meta_key(run_id), log_key(run_id), RUNS_KEY, LIVE_KEY,
                      token_live_key(quota.token if quota is not None else "")],
                args=[run_id, shard, producer, uuid.uuid4().hex, iso_timestamp(now), now,
                      expected_shards, quota.per_token if quota is not None else -1,
                      quota.total if quota is not None else 0,
                      max(1, int(self.retention_seconds))],
            )
            name, last, new = _decode(result[0]), int(result[1]), int(result[2])
            if quota is not None and new < 0:
                raise quota.refusal("token" if new == -1 else "total", last)
            if new == 1:
                await self._append_events(run_id, None, [{
                    "type": "shard_joined", "shard": name, "producer": producer,
                    "expected_shards": expected_shards, "run_info": info}])
            elif new == 2:  # given up on (--shard-timeout), and here it is again
                await self._append_events(run_id, None, [{"type": "shard_resumed",
                                                          "shard": name}])
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
            if result is None and run_id in self.runs and await self._put_back(self.runs[run_id]):
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
            pairs = [_decode(v) for v in reply[3:]]
            ended = {pairs[i]: json.loads(pairs[i + 1]) for i in range(0, len(pairs), 2)}
        return AppendResult(int(reply[1]), ended)

    # -- the run list ------------------------------------------------------------------

    async def list_runs(self) -> list[dict[str, Any]]:
        try:
            run_ids = [_decode(r) for r in await self.redis.zrevrange(RUNS_KEY, 0, -1)]
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
                plain = {_decode(k): _decode(v) for k, v in meta.items()}
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
            run_ids = [_decode(r) for r in await self.redis.smembers(LIVE_KEY)]
            for run_id in sorted(run_ids):
                reply = await self._claim(keys=[meta_key(run_id), LIVE_KEY],
                                          args=[run_id, int(timeout * 1000)])
                if not int(reply[0]):
                    continue
                missing, count = int(reply[1]), int(reply[2])
                vanished = [_decode(v) for v in reply[3:3 + count]]
                pairs = [_decode(v) for v in reply[3 + count:]]
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
            if _decode(hub_id) == self.hub_id:
                continue  # ours is the live count above
            count, _, deadline = _decode(value).partition(" ")
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


class LostRun(Exception):
    """The local copy no longer matches Redis's: the viewers start over."""
