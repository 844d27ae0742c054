"""Is a room's host live? One place for the answer and for every change to it.

The truth is in IVS (a published participant on the room's master stage). Two sources report it:
EventBridge "IVS Stage Update" events (stages.events: fast, but best effort — duplicated, late,
out of order) and the ListParticipants poll (`refresh`, on the beat schedule: slow, but it repairs
whatever events lost). Both write through `apply`, a per-participant state ordered by each
update's own time, so a late event never overrides a newer poll. Whenever the derived flag changes,
`host_live_changed` is sent once: the layers above decide what a change means to them (a stats
push, a replication tick).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils import timezone

from ivsproject.redis import LuaScript, get_redis, key, slot_key
from stages import ivs
from stages.models import Room, Stage
from stages.selectors import master_stage
from stages.signals import host_live_changed

# KEYS: per-participant state hash, live flag. ARGV: ttl, then (participant, epoch_ms, 0/1)*.
# Applies each update only if newer than what is stored; recomputes the flag from all
# participants; returns {applied count, live (0/1), previous flag or ""}.
_APPLY = LuaScript(
    """
local state, flag, ttl = KEYS[1], KEYS[2], tonumber(ARGV[1])
local applied = 0
for i = 2, #ARGV, 3 do
  local current = redis.call('HGET', state, ARGV[i])
  local at = tonumber(ARGV[i + 1])
  if not current or tonumber(string.match(current, '^(%d+)')) <= at then
    redis.call('HSET', state, ARGV[i], ARGV[i + 1] .. '|' .. ARGV[i + 2])
    applied = applied + 1
  end
end
local live = 0
for _, v in ipairs(redis.call('HVALS', state)) do
  if string.sub(v, -1) == '1' then live = 1 end
end
redis.call('EXPIRE', state, ttl)
local previous = redis.call('GET', flag) or ''
redis.call('SET', flag, tostring(live), 'EX', ttl)
return {applied, live, previous}
"""
)


def live_key(room_id: str = Room.DEFAULT) -> str:
    """The room's derived flag ("1" live, "0" not); read with the stage counts by the stats."""
    return slot_key(f"host:{room_id}", "live")


def state_key(room_id: str = Room.DEFAULT) -> str:
    return slot_key(f"host:{room_id}", "participants")


def _ttl() -> int:
    """How long the state lasts unrefreshed: if both polls and events stop, "live" decays to "not
    live" instead of being claimed forever. Polls visit the rooms in rotation, so the state must
    outlive two whole rotations (at MAX_ROOMS), or a live host would read offline between polls."""
    interval = settings.STATS_PUSH_INTERVAL_SECONDS
    rotation = math.ceil(settings.MAX_ROOMS / max(settings.HOST_LIVE_POLL_ROOMS_PER_TICK, 1)) * interval
    return max(interval * 6, 60, rotation * 2)


class _NotRead:
    """`is_live`'s default: the flag was not read yet. Not None, which is what reading a room with
    no flag gives (never live, or decayed), and must not send the read to another room's flag."""


_NOT_READ = _NotRead()


def is_live(value: str | _NotRead | None = _NOT_READ, *, room_id: str = Room.DEFAULT) -> bool:
    """The room's flag; pass `value` when it was read already (in a pipeline with other keys),
    None included: a room without a flag is not live."""
    if isinstance(value, _NotRead):
        return bool(get_redis().get(live_key(room_id)) == "1")
    return value == "1"


def _announce(room_id: str, previous: str | None, live: bool) -> None:
    if (previous or "") != ("1" if live else "0"):
        host_live_changed.send(sender=Stage, room_id=room_id, live=live)


def apply(updates: list[tuple[str, datetime, bool]], *, room_id: str = Room.DEFAULT) -> tuple[int, bool]:
    """Apply (participantId, time, published) updates in order of their own times.
    Returns (applied, live now); sends `host_live_changed` when the room's flag changed."""
    args: list[Any] = [_ttl()]
    for participant_id, at, published in updates:
        args += [participant_id, int(at.timestamp() * 1000), "1" if published else "0"]
    applied, live, previous = _APPLY([state_key(room_id), live_key(room_id)], args)
    _announce(room_id, previous, bool(int(live)))
    return int(applied), bool(int(live))


def set_live(*, live: bool, room_id: str = Room.DEFAULT) -> None:
    """Write the flag without participant detail (no master stage, nobody ever published)."""
    previous = get_redis().set(live_key(room_id), "1" if live else "0", ex=_ttl(), get=True)
    _announce(room_id, str(previous) if previous is not None else None, live)


def forget(room_id: str) -> None:
    """A deleted room has no host: its state goes (and its flag with it, announced)."""
    get_redis().delete(state_key(room_id))
    set_live(live=False, room_id=room_id)


def _poll_cursor_key() -> str:
    return key("host", "poll-cursor")


def rooms_to_poll(room_ids: list[str], per_tick: int) -> list[str]:
    """The next `per_tick` rooms in a rotation over `room_ids` (sorted), so polls are spread over
    ticks and the stage-call budget is never exceeded, however many rooms there are; events stay
    the first source of news, the polls only repair what they lost."""
    if len(room_ids) <= per_tick:
        return list(room_ids)
    start = int(get_redis().incrby(_poll_cursor_key(), per_tick)) - per_tick
    return [room_ids[(start + n) % len(room_ids)] for n in range(per_tick)]


def refresh(room_id: str = Room.DEFAULT) -> bool:
    """Poll IVS within the call budget: GetStage for the active session of the room's master stage,
    then ListParticipants(filterByPublished=true) on it."""
    stage = master_stage(room_id)
    if stage is None:
        set_live(live=False, room_id=room_id)
        return False
    remote = ivs.get_stage(arn=stage.arn)
    session_id = remote.active_session_id or ""
    if session_id != stage.active_session_id:
        Stage.objects.filter(pk=stage.pk).update(active_session_id=session_id)
    published: set[str] = set()
    if session_id:
        participants = ivs.list_participants(
            stage_arn=stage.arn, session_id=session_id, filter_by_published=True, filter_by_state="CONNECTED"
        )
        published = {p.participant_id for p in participants if p.published and p.state == "CONNECTED"}
    # Written through the same time-ordered state as the events, so a late event never overrides a
    # newer poll and the poll repairs any event that was lost.
    now = timezone.now()
    known = {str(pid) for pid in get_redis().hkeys(state_key(room_id))}
    updates = [(pid, now, True) for pid in published] + [(pid, now, False) for pid in known - published]
    if not updates:
        set_live(live=False, room_id=room_id)
        return False
    return apply(updates, room_id=room_id)[1]
