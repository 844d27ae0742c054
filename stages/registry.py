"""The token path's process-local copy of the live rooms and stages, checked against a Redis generation.

Why: reading the assignable stages was one ORM query per viewer token — a large share of the
token's CPU, mostly Django building the query and the model instances, for a list that changes a
few times an hour. Each process keeps the list; the seat script (stages.presence) compares the
generation the list was loaded under with the generation key in the same round trip that takes
the seat, and refuses ("stale") on any difference, so no request seats a viewer from an outdated
list. Every change to a Stage row writes a new generation (stages/receivers.py).

The generation is a random token, not a counter: after Redis lost its data a counter would start
again at 1 and could equal a generation some process cached before, hiding a change; a random
token never repeats (in practice).
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass

import redis

from ivsproject.redis import get_redis, slot_key
from stages.models import Room, Stage

logger = logging.getLogger(__name__)

# A safety net, not the mechanism: a process reloads at least this often even when the generation
# says nothing changed (a bump lost while Redis was unreachable cannot leave a list stale for long).
_MAX_AGE_SECONDS = 60.0


@dataclass(frozen=True)
class RoomStages:
    """One live room's part of the registry."""

    room: Room
    live: list[Stage]  # the room's live stages in the model's order (created_at, id)
    assignable: list[str]  # ids taking new viewers in tie-break order: master first, then oldest
    has_master: bool  # an active master stage: without one the room has no live stream (404)


@dataclass(frozen=True)
class StageRegistry:
    """Every live room and stage. Its size is bounded by the account's stage quota
    (ACCOUNT_MAX_STAGES), not by the audience, so one copy serves any number of rooms."""

    generation: str
    by_id: dict[str, Stage]  # live (not deleted) stages by stage id
    live: list[Stage]  # the same stages in the model's order (created_at, id)
    rooms: dict[str, RoomStages]  # live (not deleted) rooms by roomId
    loaded_at: float  # time.monotonic()

    def fresh(self) -> bool:
        return time.monotonic() - self.loaded_at < _MAX_AGE_SECONDS

    def room(self, room_id: str) -> RoomStages | None:
        return self.rooms.get(room_id)


_cached: StageRegistry | None = None


def generation_key() -> str:
    # Checked inside the seat script: it shares the presence keys' slot.
    return slot_key("seats", "stages", "registry-gen")


def _new_generation() -> str:
    return secrets.token_hex(8)


def cached() -> StageRegistry | None:
    """This process's list when it has one young enough to use (the seat script still checks it)."""
    registry = _cached
    return registry if registry is not None and registry.fresh() else None


def load() -> StageRegistry:
    """Read the live stages from the database and keep them for this process.

    The generation is read *before* the rows: a change committed after the read bumps it again, so
    the list is refused next time; the reverse order could tag already-outdated rows as current.
    """
    global _cached
    client = get_redis()
    gen_key = generation_key()
    generation = client.get(gen_key)
    if generation is None:  # first use, or Redis lost its data
        client.set(gen_key, _new_generation(), nx=True)
        generation = client.get(gen_key)
    rooms = {r.room_id: r for r in Room.objects.filter(deleted_at__isnull=True)}
    live = list(Stage.objects.exclude(status=Stage.Status.DELETED).order_by("created_at", "id"))
    by_room: dict[str, list[Stage]] = {room_id: [] for room_id in rooms}
    for stage in live:
        by_room.setdefault(stage.room_id, []).append(stage)
    registry = StageRegistry(
        generation=str(generation),
        by_id={s.stage_id: s for s in live},
        live=live,
        rooms={room_id: _room_stages(room, by_room[room_id]) for room_id, room in rooms.items()},
        loaded_at=time.monotonic(),
    )
    _cached = registry
    return registry


def _room_stages(room: Room, live: list[Stage]) -> RoomStages:
    stages = sorted(live, key=lambda s: (not s.is_master, s.created_at, s.id))
    active = [s.stage_id for s in stages if s.status == Stage.Status.ACTIVE]
    # The master sorts first; without an active master there is no live stream (404).
    has_master = bool(active) and stages[0].is_master and stages[0].stage_id == active[0]
    return RoomStages(room=room, live=live, assignable=active if has_master else [], has_master=has_master)


def bump() -> None:
    """A Stage or Room row changed: every process's copy is now stale."""
    try:
        get_redis().set(generation_key(), _new_generation())
    except redis.RedisError:
        # The change itself stands (it is in the database); lists reload within _MAX_AGE_SECONDS.
        logger.warning("could not bump the stage registry generation", exc_info=True)
