"""The Lua scripts of viewer presence (stages.presence runs them through `LuaScript`). Each runs
atomically in Redis and touches the keys it is given as KEYS; all presence keys share one hash
tag, so in Redis Cluster they live in one slot. The one key a script finds only at run time — the
sorted set of the stage a viewer sat on before — is named from the same tagged prefix (ARGV), so it
is in that slot too.
"""

from ivsproject.redis import LuaScript

# Lua helper shared by the scripts: the stage id of a `seats` value ("stageId|participantId|joinedAtMs";
# a bare "stageId" as written before this layout reads as a seat without metadata).
_SEAT_STAGE = """
local function seat_stage(v)
  if not v then return false end
  local bar = string.find(v, '|', 1, true)
  if bar then return string.sub(v, 1, bar - 1) end
  return v
end
"""

# KEYS: seats hash, registry generation, rate counter (any key when not counting), then the
#       candidate stages' sorted sets in preference order.
# ARGV: sorted-set prefix, now, capacity, userId, explicit ("1"/"0"), participantId, joinedAtMs,
#       generation ("" = no check), count ("1"/"0"), limit, counterTtl, then the candidate stage ids
#       (in the order of their keys).
# Returns {status, rateCount, stageId, isNew(0/1), countAfter, previousStageId or "", joinedAtMs}:
#   status "limited": over the rate limit, nothing touched;
#   status "stale": the caller's stage list is older than the registry generation, nothing touched
#     (the rate count, when asked for, is made: the caller retries without one);
#   status "full": no candidate has room; "ok": the seat (a kept seat keeps its joinedAt).
ASSIGN = LuaScript(
    _SEAT_STAGE
    + """
local seats, gen, counter = KEYS[1], KEYS[2], KEYS[3]
local zprefix, now, cap, user, explicit = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], ARGV[5]
local pid, joined = ARGV[6], ARGV[7]
local count = 0
if ARGV[9] == '1' then
  count = redis.call('INCR', counter)
  if count == 1 then redis.call('EXPIRE', counter, tonumber(ARGV[11])) end
  if count > tonumber(ARGV[10]) then return {'limited', count, '', 0, 0, '', ''} end
end
if ARGV[8] ~= '' and redis.call('GET', gen) ~= ARGV[8] then return {'stale', count, '', 0, 0, '', ''} end
local value = redis.call('HGET', seats, user)
local current = seat_stage(value)
if current and not redis.call('ZSCORE', zprefix .. current, user) then
  redis.call('HDEL', seats, user)
  current = false
end
if current then
  local keep = (explicit == '0')
  if explicit == '1' and ARGV[12] == current then keep = true end
  if keep then
    local z = zprefix .. current
    redis.call('ZADD', z, 'XX', now, user)
    local kept = string.match(value, '^[^|]*|[^|]*|(%d+)$') or joined
    redis.call('HSET', seats, user, current .. '|' .. pid .. '|' .. kept)
    return {'ok', count, current, 0, redis.call('ZCARD', z), '', kept}
  end
end
local best, bestKey, bestCount = nil, nil, nil
for i = 4, #KEYS do
  local c = redis.call('ZCARD', KEYS[i])
  if c < cap and (bestCount == nil or c < bestCount) then
    best, bestKey, bestCount = ARGV[i + 8], KEYS[i], c
  end
end
if best == nil then return {'full', count, '', 0, 0, '', ''} end
local previous = ''
if current then
  redis.call('ZREM', zprefix .. current, user)
  previous = current
end
redis.call('ZADD', bestKey, now, user)
redis.call('HSET', seats, user, best .. '|' .. pid .. '|' .. joined)
return {'ok', count, best, 1, bestCount + 1, previous, joined}
"""
)

# KEYS: the stage's sorted set. ARGV: userId, now. Returns 1 when the viewer was tracked (and is
# refreshed).
HEARTBEAT = LuaScript(
    """
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  redis.call('ZADD', KEYS[1], 'XX', tonumber(ARGV[2]), ARGV[1])
  return 1
end
return 0
"""
)

# The heartbeat endpoint's single round trip: the caller's rate-limit count and the refresh together.
# KEYS: the stage's sorted set, rate counter. ARGV: userId, now, limit, counterTtl.
# Returns {count, tracked(0/1)}; over the limit it returns before touching presence.
HEARTBEAT_COUNTED = LuaScript(
    """
local count = redis.call('INCR', KEYS[2])
if count == 1 then redis.call('EXPIRE', KEYS[2], tonumber(ARGV[4])) end
if count > tonumber(ARGV[3]) then return {count, 0} end
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  redis.call('ZADD', KEYS[1], 'XX', tonumber(ARGV[2]), ARGV[1])
  return {count, 1}
end
return {count, 0}
"""
)

# KEYS: the stage's sorted set, seats hash. ARGV: stageId, userId. Frees the seat; returns its
# `seats` value when it was on this stage.
RELEASE = LuaScript(
    _SEAT_STAGE
    + """
local stage, user = ARGV[1], ARGV[2]
redis.call('ZREM', KEYS[1], user)
local value = redis.call('HGET', KEYS[2], user)
if seat_stage(value) == stage then
  redis.call('HDEL', KEYS[2], user)
  return value
end
return false
"""
)

# KEYS: seats hash. ARGV: stageId, userId, participantId, joinedAtMs. Rewrites the seat's metadata
# only while the seat is still on this stage (a concurrent move or release wins). Returns 1 when
# written.
SET_META = LuaScript(
    _SEAT_STAGE
    + """
if seat_stage(redis.call('HGET', KEYS[1], ARGV[2])) ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[1] .. '|' .. ARGV[3] .. '|' .. ARGV[4])
return 1
"""
)

# KEYS: the stage's sorted set, seats hash. ARGV: stageId, cutoff, then userIds. Removes each viewer
# only if still silent since before the cutoff (a heartbeat that raced the cleanup keeps the seat).
# Returns the removed userIds.
EXPIRE = LuaScript(
    _SEAT_STAGE
    + """
local z, seats, stage, cutoff = KEYS[1], KEYS[2], ARGV[1], tonumber(ARGV[2])
local removed = {}
for i = 3, #ARGV do
  local s = redis.call('ZSCORE', z, ARGV[i])
  if s and tonumber(s) < cutoff then
    redis.call('ZREM', z, ARGV[i])
    if seat_stage(redis.call('HGET', seats, ARGV[i])) == stage then redis.call('HDEL', seats, ARGV[i]) end
    removed[#removed + 1] = ARGV[i]
  end
end
return removed
"""
)

# KEYS: the stage's sorted set, seats hash. ARGV: stageId. Forgets a stage's presence: its sorted
# set and the seats pointing at it.
DROP = LuaScript(
    _SEAT_STAGE
    + """
local z, seats, stage = KEYS[1], KEYS[2], ARGV[1]
for _, user in ipairs(redis.call('ZRANGE', z, 0, -1)) do
  if seat_stage(redis.call('HGET', seats, user)) == stage then redis.call('HDEL', seats, user) end
end
redis.call('DEL', z)
return 1
"""
)
