"""Viewer presence in Redis — the hot path (heartbeats never touch the database).

Per stage: a sorted set `pres:<stageId>` (member userId, score = last heartbeat, epoch seconds) and
a hash `meta:<stageId>` (userId → "participantId|joinedAt|sessionId"). One global hash `seats`
(userId → stageId) finds a viewer's current seat. Hashes instead of a key per viewer keep memory
near ~150 bytes per tracked viewer.

Seat assignment is one Lua script: it reads every candidate stage's count and takes the seat in the
same atomic step, so concurrent requests from any number of processes can never overfill a stage.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from ivsproject.redis import get_redis, key

# KEYS: none (keys derive from ARGV[1] = prefix; a single Redis node holds all presence).
# ARGV: prefix, now, capacity, userId, explicit ("1"/"0"), candidate stage ids in preference order.
# Returns {stageId, isNew(0/1), countAfter, previousStageId or ""} or {"", 0, 0, ""} when all are full.
_ASSIGN = """
local prefix, now, cap, user, explicit = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], ARGV[5]
local seats = prefix .. ':seats'
local current = redis.call('HGET', seats, user)
if current and not redis.call('ZSCORE', prefix .. ':pres:' .. current, user) then
  redis.call('HDEL', seats, user)
  current = false
end
if current then
  local keep = (explicit == '0')
  if explicit == '1' and ARGV[6] == current then keep = true end
  if keep then
    redis.call('ZADD', prefix .. ':pres:' .. current, 'XX', now, user)
    return {current, 0, redis.call('ZCARD', prefix .. ':pres:' .. current), ''}
  end
end
local best, bestCount = nil, nil
for i = 6, #ARGV do
  local c = redis.call('ZCARD', prefix .. ':pres:' .. ARGV[i])
  if c < cap and (bestCount == nil or c < bestCount) then
    best, bestCount = ARGV[i], c
  end
end
if best == nil then return {'', 0, 0, ''} end
local previous = ''
if current then
  redis.call('ZREM', prefix .. ':pres:' .. current, user)
  redis.call('HDEL', prefix .. ':meta:' .. current, user)
  previous = current
end
redis.call('ZADD', prefix .. ':pres:' .. best, now, user)
redis.call('HSET', seats, user, best)
return {best, 1, bestCount + 1, previous}
"""

# ARGV: prefix, stageId, userId, now. Returns 1 when the viewer was tracked (and is refreshed).
_HEARTBEAT = """
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
_HEARTBEAT_COUNTED = """
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

# ARGV: prefix, stageId, userId. Frees the seat; returns the meta string (or false).
_RELEASE = """
local prefix, stage, user = ARGV[1], ARGV[2], ARGV[3]
local meta = redis.call('HGET', prefix .. ':meta:' .. stage, user)
redis.call('ZREM', prefix .. ':pres:' .. stage, user)
redis.call('HDEL', prefix .. ':meta:' .. stage, user)
if redis.call('HGET', prefix .. ':seats', user) == stage then redis.call('HDEL', prefix .. ':seats', user) end
return meta
"""

# ARGV: prefix, stageId, cutoff, then userIds. Removes each viewer only if still silent since before
# the cutoff (a heartbeat that raced the cleanup keeps the seat). Returns the removed userIds.
_EXPIRE = """
local prefix, stage, cutoff = ARGV[1], ARGV[2], tonumber(ARGV[3])
local z = prefix .. ':pres:' .. stage
local removed = {}
for i = 4, #ARGV do
  local s = redis.call('ZSCORE', z, ARGV[i])
  if s and tonumber(s) < cutoff then
    redis.call('ZREM', z, ARGV[i])
    redis.call('HDEL', prefix .. ':meta:' .. stage, ARGV[i])
    if redis.call('HGET', prefix .. ':seats', ARGV[i]) == stage then redis.call('HDEL', prefix .. ':seats', ARGV[i]) end
    removed[#removed + 1] = ARGV[i]
  end
end
return removed
"""


@dataclass(frozen=True)
class Seat:
    stage_id: str
    is_new: bool
    count: int
    previous_stage_id: str | None


@dataclass(frozen=True)
class PresenceEntry:
    user_id: str
    last_heartbeat: float
    participant_id: str
    joined_at: float
    session_id: int | None


def _prefix() -> str:
    return key("presence")


def _script(source: str):  # type: ignore[no-untyped-def]
    # register_script caches the SHA and uses EVALSHA, falling back to EVAL after a Redis restart.
    client = get_redis()
    cache = _SCRIPTS.setdefault(id(client), {})
    if source not in cache:
        cache[source] = client.register_script(source)
    return cache[source]


_SCRIPTS: dict[int, dict[str, object]] = {}


def now() -> float:
    return time.time()


def assign_seat(*, user_id: str, candidates: list[str], capacity: int, explicit: bool, at: float) -> Seat | None:
    result = _script(_ASSIGN)(args=[_prefix(), at, capacity, user_id, "1" if explicit else "0", *candidates])
    stage_id, is_new, count, previous = result
    if not stage_id:
        return None
    return Seat(stage_id, bool(int(is_new)), int(count), previous or None)


def set_meta(*, stage_id: str, user_id: str, participant_id: str, joined_at: float, session_id: int | None) -> None:
    get_redis().hset(f"{_prefix()}:meta:{stage_id}", user_id, f"{participant_id}|{joined_at:.3f}|{session_id or ''}")


def track(
    *, stage_id: str, user_id: str, at: float, participant_id: str, joined_at: float, session_id: int | None
) -> None:
    """Register a viewer without a capacity check (re-registration of a viewer IVS still serves)."""
    prefix = _prefix()
    pipe = get_redis().pipeline(transaction=True)
    pipe.zadd(f"{prefix}:pres:{stage_id}", {user_id: at})
    pipe.hset(f"{prefix}:seats", user_id, stage_id)
    pipe.hset(f"{prefix}:meta:{stage_id}", user_id, f"{participant_id}|{joined_at:.3f}|{session_id or ''}")
    pipe.execute()


def heartbeat(*, stage_id: str, user_id: str, at: float) -> bool:
    return bool(_script(_HEARTBEAT)(args=[_prefix(), stage_id, user_id, at]))


def heartbeat_counted(
    *, stage_id: str, user_id: str, at: float, counter_key: str, limit: int, counter_ttl: int
) -> tuple[int, bool]:
    """`heartbeat` plus the request's rate-limit count in the same round trip: (count, tracked).
    Over `limit` nothing is refreshed (tracked is False) and the caller answers 429.

    Why (bench/, issue 7): the rate-limit INCR and the presence refresh were two round trips per
    heartbeat, each ~60–100 µs of CPU in redis-py and the kernel (plus a wait on Redis).
    """
    count, tracked = _script(_HEARTBEAT_COUNTED)(
        args=[_prefix(), stage_id, user_id, at, counter_key, limit, counter_ttl]
    )
    return int(count), bool(int(tracked))


def release(*, stage_id: str, user_id: str) -> PresenceEntry | None:
    meta = _script(_RELEASE)(args=[_prefix(), stage_id, user_id])
    return _entry(user_id, 0.0, meta) if meta else None


def _entry(user_id: str, score: float, meta: str | None) -> PresenceEntry:
    participant_id, joined, session = (meta or "||").split("|", 2)
    return PresenceEntry(
        user_id=user_id,
        last_heartbeat=score,
        participant_id=participant_id,
        joined_at=float(joined) if joined else score,
        session_id=int(session) if session else None,
    )


def counts(stage_ids: Iterable[str]) -> dict[str, int]:
    """Tracked viewers per stage in one round trip."""
    ids = list(stage_ids)
    if not ids:
        return {}
    pipe = get_redis().pipeline(transaction=False)
    for stage_id in ids:
        pipe.zcard(f"{_prefix()}:pres:{stage_id}")
    return dict(zip(ids, (int(c) for c in pipe.execute()), strict=True))


def active_count(stage_id: str, *, since: float) -> int:
    return int(get_redis().zcount(f"{_prefix()}:pres:{stage_id}", since, "+inf"))


def get_entry(*, stage_id: str, user_id: str) -> PresenceEntry | None:
    pipe = get_redis().pipeline(transaction=False)
    pipe.zscore(f"{_prefix()}:pres:{stage_id}", user_id)
    pipe.hget(f"{_prefix()}:meta:{stage_id}", user_id)
    score, meta = pipe.execute()
    return None if score is None else _entry(user_id, float(score), meta)


def tracked(pairs: list[tuple[str, str]]) -> list[bool]:
    """For (stageId, userId) pairs: is the viewer tracked? One pipelined round trip."""
    if not pairs:
        return []
    pipe = get_redis().pipeline(transaction=False)
    for stage_id, user_id in pairs:
        pipe.zscore(f"{_prefix()}:pres:{stage_id}", user_id)
    return [score is not None for score in pipe.execute()]


def scores(*, stage_id: str, offset: int, limit: int) -> list[tuple[str, float]]:
    """(userId, last heartbeat) oldest first, without metadata: one cheap round trip."""
    rows = get_redis().zrange(f"{_prefix()}:pres:{stage_id}", offset, offset + limit - 1, withscores=True)
    return [(user, float(score)) for user, score in rows]


def session_ids(*, stage_id: str, user_ids: list[str]) -> list[int | None]:
    """The ViewerSession id recorded for each viewer (None when unknown), one round trip."""
    if not user_ids:
        return []
    metas = get_redis().hmget(f"{_prefix()}:meta:{stage_id}", user_ids)
    return [_entry(user, 0.0, meta).session_id for user, meta in zip(user_ids, metas, strict=True)]


def page(*, stage_id: str, offset: int, limit: int) -> list[PresenceEntry]:
    """Viewers oldest heartbeat first, with their metadata, in two round trips."""
    client = get_redis()
    rows = client.zrange(f"{_prefix()}:pres:{stage_id}", offset, offset + limit - 1, withscores=True)
    if not rows:
        return []
    metas = client.hmget(f"{_prefix()}:meta:{stage_id}", [user for user, _ in rows])
    return [_entry(user, float(score), meta) for (user, score), meta in zip(rows, metas, strict=True)]


def expired(*, stage_id: str, cutoff: float, limit: int = 5000) -> list[PresenceEntry]:
    client = get_redis()
    rows = client.zrangebyscore(
        f"{_prefix()}:pres:{stage_id}", "-inf", f"({cutoff}", start=0, num=limit, withscores=True
    )
    if not rows:
        return []
    metas = client.hmget(f"{_prefix()}:meta:{stage_id}", [user for user, _ in rows])
    return [_entry(user, float(score), meta) for (user, score), meta in zip(rows, metas, strict=True)]


def remove_expired(*, stage_id: str, cutoff: float, user_ids: list[str]) -> list[str]:
    if not user_ids:
        return []
    return list(_script(_EXPIRE)(args=[_prefix(), stage_id, cutoff, *user_ids]))


def drop_stage(stage_id: str) -> list[PresenceEntry]:
    """Forget a deleted stage's presence; returns who was there (to close their sessions)."""
    entries = page(stage_id=stage_id, offset=0, limit=1_000_000)
    prefix = _prefix()
    pipe = get_redis().pipeline(transaction=True)
    for entry in entries:
        pipe.eval(
            "if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then redis.call('HDEL', KEYS[1], ARGV[1]) end",
            1,
            f"{prefix}:seats",
            entry.user_id,
            stage_id,
        )
    pipe.delete(f"{prefix}:pres:{stage_id}", f"{prefix}:meta:{stage_id}")
    pipe.execute()
    return entries
