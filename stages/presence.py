"""Seats on stages, in Redis — the hot path (heartbeats never touch the database).

Seats are the stages' resource: capacity, the least-loaded choice and the counts are stage facts,
read by the stage list, the stats and the autoscaler; `viewers` builds the viewer's lifecycle and
durable sessions on top of them.

Per stage: a sorted set (member userId, score = last heartbeat, epoch seconds). One hash `seats` per room:
userId → "stageId|participantId|joinedAtMs" — the viewer's current seat and what the viewer list
shows (joinedAt in integer epoch milliseconds, the precision the API prints). Why one hash: a
per-stage metadata hash beside `seats` stored every userId three times; one hash holding the seat
and its metadata stores it twice (the sorted set needs its own copy). No session id is kept:
sessions are found by (stage, userId), which the partial unique constraint
`viewers_one_open_session` makes exact. Every key carries the hash tag `{seats}` (one Cluster slot).

Seat assignment is one Lua script: it reads every candidate stage's count and takes the seat in the
same atomic step, so concurrent requests from any number of processes can never overfill a stage.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ivsproject.redis import get_redis, slot_key, text
from stages import presence_scripts as lua
from stages.models import Room

# Callers that know a stage pass its room; the default is the v1.1.0 room.
DEFAULT_ROOM = Room.DEFAULT


@dataclass(frozen=True)
class Seat:
    stage_id: str
    is_new: bool
    count: int
    previous_stage_id: str | None
    participant_id: str
    joined_at: float  # epoch seconds, millisecond precision; a kept seat keeps its first join


@dataclass(frozen=True)
class SeatAttempt:
    """One run of the seat script. `seat` is None when no candidate had room — or when `stale` (the
    caller's stage list is out of date) or `limited` (over the rate limit): then nothing was touched."""

    seat: Seat | None
    stale: bool = False
    limited: bool = False
    rate_count: int | None = None


@dataclass(frozen=True)
class RateCount:
    """A rate-limit count to make inside the seat script (INCR, EXPIRE on the window's first)."""

    key: str
    limit: int
    ttl: int


@dataclass(frozen=True)
class PresenceEntry:
    user_id: str
    last_heartbeat: float
    participant_id: str
    joined_at: float


def _zprefix() -> str:
    return slot_key("seats", "presence", "pres", "")


def stage_key(stage_id: str) -> str:
    """The stage's sorted set of viewers (member userId, score = last heartbeat)."""
    return _zprefix() + stage_id


def keys_pattern() -> str:
    """A SCAN pattern for every presence key (the hash tag's braces are not glob characters)."""
    return slot_key("seats", "presence", "*")


def seats_key(room_id: str) -> str:
    """The room's hash userId → "stageId|participantId|joinedAtMs": one seat per viewer per room."""
    return slot_key("seats", "presence", "seats", room_id)


def now() -> float:
    return time.time()


def _ms(epoch: float) -> int:
    return round(epoch * 1000)


def _seat_value(stage_id: str, participant_id: str, joined_at: float) -> str:
    return f"{stage_id}|{participant_id}|{_ms(joined_at)}"


def assign_seat(
    *,
    room_id: str = DEFAULT_ROOM,
    user_id: str,
    candidates: list[str],
    capacity: int,
    explicit: bool,
    at: float,
    participant_id: str,
    generation: tuple[str, str] | None = None,
    rate: RateCount | None = None,
) -> SeatAttempt:
    """Take (or keep) a seat among `candidates`, writing its metadata in the same step.

    `generation` = (key, value): the script refuses ("stale") when the key holds anything else, so
    a caller's cached stage list is checked in the same round trip that uses it. `rate`: the
    request's rate-limit count is made first (over the limit nothing else happens).
    Why: the seat, its metadata and the rate-limit count were four round trips per viewer token,
    each a measurable share of the token's CPU in redis-py and the kernel; now they are one.
    """
    seats = seats_key(room_id)
    gen_key, gen_value = generation or (seats, "")  # no check: any key of the slot
    result = lua.ASSIGN(
        [seats, gen_key, rate.key if rate else seats, *(stage_key(c) for c in candidates)],
        [
            _zprefix(),
            at,
            capacity,
            user_id,
            "1" if explicit else "0",
            participant_id,
            _ms(at),
            gen_value,
            "1" if rate else "0",
            rate.limit if rate else 0,
            rate.ttl if rate else 0,
            *candidates,
        ],
    )
    status, rate_count, stage_id, is_new, count, previous, joined = result
    counted = int(rate_count) if rate else None
    if status != "ok":
        return SeatAttempt(seat=None, stale=status == "stale", limited=status == "limited", rate_count=counted)
    seat = Seat(stage_id, bool(int(is_new)), int(count), previous or None, participant_id, int(joined) / 1000)
    return SeatAttempt(seat=seat, rate_count=counted)


def set_meta(
    *, room_id: str = DEFAULT_ROOM, stage_id: str, user_id: str, participant_id: str, joined_at: float
) -> bool:
    """Correct a seat's metadata (the participant id IVS issued, the session's join time) while the
    seat is still on `stage_id`. Returns whether it was written."""
    return bool(lua.SET_META([seats_key(room_id)], [stage_id, user_id, participant_id, _ms(joined_at)]))


def track(
    *, room_id: str = DEFAULT_ROOM, stage_id: str, user_id: str, at: float, participant_id: str, joined_at: float
) -> None:
    """Register a viewer without a capacity check (re-registration of a viewer IVS still serves)."""
    pipe = get_redis().pipeline(transaction=True)
    pipe.zadd(stage_key(stage_id), {user_id: at})
    pipe.hset(seats_key(room_id), user_id, _seat_value(stage_id, participant_id, joined_at))
    pipe.execute()


def seat_of(user_id: str, *, room_id: str = DEFAULT_ROOM) -> str | None:
    """The stage id of the viewer's current seat in the room (None when the viewer has none)."""
    value = text(get_redis().hget(seats_key(room_id), user_id))
    return value.split("|", 1)[0] if value else None


def heartbeat(*, stage_id: str, user_id: str, at: float) -> bool:
    return bool(lua.HEARTBEAT([stage_key(stage_id)], [user_id, at]))


def heartbeat_counted(
    *, stage_id: str, user_id: str, at: float, counter_key: str, limit: int, counter_ttl: int
) -> tuple[int, bool]:
    """`heartbeat` plus the request's rate-limit count in the same round trip: (count, tracked).
    Over `limit` nothing is refreshed (tracked is False) and the caller answers 429.

    Why: the rate-limit INCR and the presence refresh were two round trips per heartbeat, each a
    large share of the heartbeat's CPU in redis-py and the kernel (plus a wait on Redis).
    """
    count, tracked = lua.HEARTBEAT_COUNTED([stage_key(stage_id), counter_key], [user_id, at, limit, counter_ttl])
    return int(count), bool(int(tracked))


def release(*, room_id: str = DEFAULT_ROOM, stage_id: str, user_id: str) -> PresenceEntry | None:
    value = lua.RELEASE([stage_key(stage_id), seats_key(room_id)], [stage_id, user_id])
    return _entry(stage_id, user_id, 0.0, value) if value else None


def _entry(stage_id: str, user_id: str, score: float, value: str | None) -> PresenceEntry:
    """An entry from a `seats` value; metadata of a seat on another stage (or none) is unknown."""
    parts = value.split("|", 2) if value else []
    if len(parts) != 3 or parts[0] != stage_id:
        return PresenceEntry(user_id=user_id, last_heartbeat=score, participant_id="", joined_at=score)
    _stage, participant_id, joined = parts
    return PresenceEntry(
        user_id=user_id,
        last_heartbeat=score,
        participant_id=participant_id,
        joined_at=int(joined) / 1000 if joined.isdigit() else score,
    )


def counts(stage_ids: Iterable[str]) -> dict[str, int]:
    """Tracked viewers per stage in one round trip."""
    ids = list(stage_ids)
    return counts_and_values(ids, [])[0] if ids else {}


def counts_and_values(stage_ids: list[str], keys: list[str]) -> tuple[dict[str, int], list[str | None]]:
    """Tracked viewers per stage and the values of some plain keys (GET), in one round trip."""
    pipe = get_redis().pipeline(transaction=False)
    for name in keys:
        pipe.get(name)
    for stage_id in stage_ids:
        pipe.zcard(stage_key(stage_id))
    replies = pipe.execute()
    return dict(zip(stage_ids, (int(c) for c in replies[len(keys) :]), strict=True)), replies[: len(keys)]


def active_count(stage_id: str, *, since: float) -> int:
    return int(get_redis().zcount(stage_key(stage_id), since, "+inf"))


def get_entry(*, room_id: str = DEFAULT_ROOM, stage_id: str, user_id: str) -> PresenceEntry | None:
    pipe = get_redis().pipeline(transaction=False)
    pipe.zscore(stage_key(stage_id), user_id)
    pipe.hget(seats_key(room_id), user_id)
    score, value = pipe.execute()
    return None if score is None else _entry(stage_id, user_id, float(score), value)


def tracked(pairs: list[tuple[str, str]]) -> list[bool]:
    """For (stageId, userId) pairs: is the viewer tracked? One pipelined round trip."""
    if not pairs:
        return []
    pipe = get_redis().pipeline(transaction=False)
    for stage_id, user_id in pairs:
        pipe.zscore(stage_key(stage_id), user_id)
    return [score is not None for score in pipe.execute()]


def scores(*, stage_id: str, offset: int, limit: int) -> list[tuple[str, float]]:
    """(userId, last heartbeat) oldest first, without metadata: one cheap round trip."""
    return _scored(get_redis(), "ZRANGE", stage_key(stage_id), offset, offset + limit - 1, "WITHSCORES")


def page(*, room_id: str = DEFAULT_ROOM, stage_id: str, offset: int, limit: int) -> list[PresenceEntry]:
    """Viewers oldest heartbeat first, with their metadata, in two round trips."""
    client = get_redis()
    rows = _scored(client, "ZRANGE", stage_key(stage_id), offset, offset + limit - 1, "WITHSCORES")
    if not rows:
        return []
    values = client.hmget(seats_key(room_id), [user for user, _ in rows])
    return [
        _entry(stage_id, user, float(score), text(value)) for (user, score), value in zip(rows, values, strict=True)
    ]


def expired(*, stage_id: str, cutoff: float, limit: int = 5000) -> list[tuple[str, float]]:
    """(userId, last heartbeat) of viewers silent since before `cutoff`, oldest first. No metadata:
    closing their sessions needs none (one round trip less per page of the cleanup)."""
    z = stage_key(stage_id)
    return _scored(get_redis(), "ZRANGEBYSCORE", z, "-inf", f"({cutoff}", "WITHSCORES", "LIMIT", 0, limit)


def _scored(client: Any, *command: object) -> list[tuple[str, float]]:
    """(member, score) pairs of a WITHSCORES read, parsed here instead of by redis-py.

    Why: redis-py 8's legacy-shape callback re-encodes every RESP3 score to
    bytes and parses it back — ~40% of the cleanup tick's client time at 100,000 viewers. Called
    without the `withscores` option, the callback leaves the reply as it came: pairs (RESP3) or a
    flat member, score, ... list (RESP2).
    """
    raw = client.execute_command(*command)
    if raw and isinstance(raw[0], list | tuple):
        return [(member, float(score)) for member, score in raw]
    flat = iter(raw or ())
    return [(member, float(score)) for member, score in zip(flat, flat, strict=True)]


def remove_expired(*, room_id: str = DEFAULT_ROOM, stage_id: str, cutoff: float, user_ids: list[str]) -> list[str]:
    if not user_ids:
        return []
    return list(lua.EXPIRE([stage_key(stage_id), seats_key(room_id)], [stage_id, cutoff, *user_ids]))


def drop_stage(stage_id: str, *, room_id: str = DEFAULT_ROOM) -> list[PresenceEntry]:
    """Forget a deleted stage's presence; returns who was there (to close their sessions)."""
    entries = page(room_id=room_id, stage_id=stage_id, offset=0, limit=1_000_000)
    lua.DROP([stage_key(stage_id), seats_key(room_id)], [stage_id])
    return entries
