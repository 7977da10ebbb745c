"""The Redis layout of the hub's run logs: its keys, and the Lua scripts that change them.

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

Each script is one atomic step on one run's keys, so hubs sharing a Redis never clash;
``redis_streams.RedisBackend`` calls them.
"""

from __future__ import annotations

import hashlib

PREFIX = "jblive"
RUNS_KEY = f"{PREFIX}:runs"
LIVE_KEY = f"{PREFIX}:live"
INTERRUPTED_MARK = "!interrupted"
# A hub's viewer count of a run counts this long after it last wrote it.
WATCH_TTL = 30.0
END_MARK = "!end"


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
