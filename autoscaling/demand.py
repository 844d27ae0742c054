"""Waiting demand: viewers the token path could not seat since the last tick, per room, counted
once each.

Scale-up creates as many stages as this demand needs, not one per tick, so a flash crowd is
absorbed in one pass; and when stages are short, they go to the rooms that refuse viewers.
"""

from __future__ import annotations

from django.conf import settings

from ivsproject.redis import get_redis, key
from stages.models import Room


def _demand_key(room_id: str) -> str:
    return key("autoscale", "demand", room_id)


def demand_record(*user_ids: str, room_id: str = Room.DEFAULT) -> None:
    """The token path found no seat for these viewers: remember them for the next tick.
    A set, so a viewer retrying every second counts once."""
    if not user_ids:
        return
    pipe = get_redis().pipeline(transaction=False)
    pipe.sadd(_demand_key(room_id), *user_ids)
    pipe.expire(_demand_key(room_id), max(settings.AUTOSCALE_INTERVAL_SECONDS * 4, 60))
    pipe.execute()


def take_demand(room_ids: list[str], *, dry_run: bool) -> dict[str, int]:
    """Each room's waiting viewers since the last tick (and forget them, unless `dry_run`)."""
    if not room_ids:
        return {}
    pipe = get_redis().pipeline(transaction=True)
    for room_id in room_ids:
        pipe.scard(_demand_key(room_id))
    if not dry_run:
        pipe.delete(*(_demand_key(r) for r in room_ids))
    replies = pipe.execute()
    return {room_id: int(n) for room_id, n in zip(room_ids, replies, strict=False)}
