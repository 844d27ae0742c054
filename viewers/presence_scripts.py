"""The Lua scripts of viewer presence (viewers.presence runs them). Each runs atomically in Redis;
keys are built inside from the prefix passed as ARGV[1], so one script serves every key prefix.
"""

# Lua helper shared by the scripts: the stage id of a `seats` value ("stageId|participantId|joinedAtMs";
# a bare "stageId" as written before this layout reads as a seat without metadata).
SEAT_STAGE = """
local function seat_stage(v)
  if not v then return false end
  local bar = string.find(v, '|', 1, true)
  if bar then return string.sub(v, 1, bar - 1) end
  return v
end
"""

# ARGV: prefix, now, capacity, userId, explicit ("1"/"0"), participantId, joinedAtMs,
#       generationKey, generation ("" = no check), counterKey ("" = no count), limit, counterTtl,
#       then the candidate stage ids in preference order.
# Returns {status, rateCount, stageId, isNew(0/1), countAfter, previousStageId or "", joinedAtMs}:
#   status "limited": over the rate limit, nothing touched;
#   status "stale": the caller's stage list is older than the registry generation, nothing touched
#     (the rate count, when asked for, is made: the caller retries without one);
#   status "full": no candidate has room; "ok": the seat (a kept seat keeps its joinedAt).
ASSIGN = (
    SEAT_STAGE
    + """
local prefix, now, cap, user, explicit = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], ARGV[5]
local pid, joined = ARGV[6], ARGV[7]
local count = 0
if ARGV[10] ~= '' then
  count = redis.call('INCR', ARGV[10])
  if count == 1 then redis.call('EXPIRE', ARGV[10], tonumber(ARGV[12])) end
  if count > tonumber(ARGV[11]) then return {'limited', count, '', 0, 0, '', ''} end
end
if ARGV[9] ~= '' and redis.call('GET', ARGV[8]) ~= ARGV[9] then return {'stale', count, '', 0, 0, '', ''} end
local seats = prefix .. ':seats'
local value = redis.call('HGET', seats, user)
local current = seat_stage(value)
if current and not redis.call('ZSCORE', prefix .. ':pres:' .. current, user) then
  redis.call('HDEL', seats, user)
  current = false
end
if current then
  local keep = (explicit == '0')
  if explicit == '1' and ARGV[13] == current then keep = true end
  if keep then
    local z = prefix .. ':pres:' .. current
    redis.call('ZADD', z, 'XX', now, user)
    local kept = string.match(value, '^[^|]*|[^|]*|(%d+)$') or joined
    redis.call('HSET', seats, user, current .. '|' .. pid .. '|' .. kept)
    return {'ok', count, current, 0, redis.call('ZCARD', z), '', kept}
  end
end
local best, bestCount = nil, nil
for i = 13, #ARGV do
  local c = redis.call('ZCARD', prefix .. ':pres:' .. ARGV[i])
  if c < cap and (bestCount == nil or c < bestCount) then
    best, bestCount = ARGV[i], c
  end
end
if best == nil then return {'full', count, '', 0, 0, '', ''} end
local previous = ''
if current then
  redis.call('ZREM', prefix .. ':pres:' .. current, user)
  previous = current
end
redis.call('ZADD', prefix .. ':pres:' .. best, now, user)
redis.call('HSET', seats, user, best .. '|' .. pid .. '|' .. joined)
return {'ok', count, best, 1, bestCount + 1, previous, joined}
"""
)

# ARGV: prefix, stageId, userId, now. Returns 1 when the viewer was tracked (and is refreshed).
HEARTBEAT = """
local z = ARGV[1] .. ':pres:' .. ARGV[2]
if redis.call('ZSCORE', z, ARGV[3]) then
  redis.call('ZADD', z, 'XX', tonumber(ARGV[4]), ARGV[3])
  return 1
end
return 0
"""

# The heartbeat endpoint's single round trip: the caller's rate-limit count and the refresh together.
# ARGV: prefix, stageId, userId, now, counterKey, limit, counterTtl.
# Returns {count, tracked(0/1)}; over the limit it returns before touching presence.
HEARTBEAT_COUNTED = """
local count = redis.call('INCR', ARGV[5])
if count == 1 then redis.call('EXPIRE', ARGV[5], tonumber(ARGV[7])) end
if count > tonumber(ARGV[6]) then return {count, 0} end
local z = ARGV[1] .. ':pres:' .. ARGV[2]
if redis.call('ZSCORE', z, ARGV[3]) then
  redis.call('ZADD', z, 'XX', tonumber(ARGV[4]), ARGV[3])
  return {count, 1}
end
return {count, 0}
"""

# ARGV: prefix, stageId, userId. Frees the seat; returns its `seats` value when it was on this stage.
RELEASE = (
    SEAT_STAGE
    + """
local prefix, stage, user = ARGV[1], ARGV[2], ARGV[3]
redis.call('ZREM', prefix .. ':pres:' .. stage, user)
local value = redis.call('HGET', prefix .. ':seats', user)
if seat_stage(value) == stage then
  redis.call('HDEL', prefix .. ':seats', user)
  return value
end
return false
"""
)

# ARGV: prefix, stageId, userId, participantId, joinedAtMs. Rewrites the seat's metadata only while
# the seat is still on this stage (a concurrent move or release wins). Returns 1 when written.
SET_META = (
    SEAT_STAGE
    + """
local seats = ARGV[1] .. ':seats'
if seat_stage(redis.call('HGET', seats, ARGV[3])) ~= ARGV[2] then return 0 end
redis.call('HSET', seats, ARGV[3], ARGV[2] .. '|' .. ARGV[4] .. '|' .. ARGV[5])
return 1
"""
)

# ARGV: prefix, stageId, cutoff, then userIds. Removes each viewer only if still silent since before
# the cutoff (a heartbeat that raced the cleanup keeps the seat). Returns the removed userIds.
EXPIRE = (
    SEAT_STAGE
    + """
local prefix, stage, cutoff = ARGV[1], ARGV[2], tonumber(ARGV[3])
local z, seats = prefix .. ':pres:' .. stage, prefix .. ':seats'
local removed = {}
for i = 4, #ARGV do
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

# ARGV: prefix, stageId. Forgets a stage's presence: its sorted set and the seats pointing at it
# (and the per-stage metadata hash of the layout before this one, should one be left).
DROP = (
    SEAT_STAGE
    + """
local prefix, stage = ARGV[1], ARGV[2]
local z, seats = prefix .. ':pres:' .. stage, prefix .. ':seats'
for _, user in ipairs(redis.call('ZRANGE', z, 0, -1)) do
  if seat_stage(redis.call('HGET', seats, user)) == stage then redis.call('HDEL', seats, user) end
end
redis.call('DEL', z, prefix .. ':meta:' .. stage)
return 1
"""
)
