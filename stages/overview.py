"""Rooms as operators and clients see them: viewers, stages and the host-live flag, read in one
Redis round trip for any number of rooms (the registry copy holds the rooms and their stages)."""

from __future__ import annotations

from typing import Any

from django.core import signing
from django.utils.translation import gettext as _

from ivsproject.api.envelope import iso
from ivsproject.api.exceptions import NotFound, ValidationFailed
from stages import hostlive
from stages.models import Stage
from stages.registry import RoomStages
from stages.selectors import current_registry, live_stages_counted, room_id_or_404

_PAGE_SALT = "rooms.list"


def _room(room: RoomStages, counts: dict[str, int], live_flag: str | None) -> dict[str, Any]:
    master = next((s for s in room.live if s.is_master), None)
    return {
        "roomId": room.room.room_id,
        "name": room.room.name,
        "masterStageArn": master.arn if master is not None else None,
        "isPublisherLive": hostlive.is_live(live_flag),
        "totalViewers": sum(counts.get(s.arn, 0) for s in room.live),
        "activeStages": len(room.live),
        "createdAt": iso(room.room.created_at),
        "tags": room.room.tags,
    }


def stage_row(stage: Stage, counts: dict[str, int]) -> dict[str, Any]:
    return {
        "stageArn": stage.arn,
        "stageName": stage.name,
        "viewerCount": counts[stage.arn],
        "autoScaled": stage.auto_scaled,
        "createdAt": iso(stage.created_at),
        "roomId": stage.room_id,
    }


def rooms_all() -> list[dict[str, Any]]:
    """Every live room, oldest first (`default` included). The rooms are those of the registry copy
    the counts were read under: a copy found stale in that read is reloaded, and read again."""
    for _attempt in range(2):
        current = current_registry()
        rooms = sorted(current.rooms.values(), key=lambda r: (r.room.created_at, r.room.room_id))
        _stages, counts, flags = live_stages_counted(*(hostlive.live_key(r.room.room_id) for r in rooms))
        if current_registry() is current:
            break
    return [_room(r, counts, flag) for r, flag in zip(rooms, flags, strict=True)]


def room_page(*, limit: int, next_token: str | None) -> tuple[list[dict[str, Any]], int, str | None]:
    """`GET /api/rooms`: a page of rooms (oldest first), the number of rooms, the next token."""
    after = -1
    if next_token:
        try:
            after = int(signing.loads(next_token, salt=_PAGE_SALT))
        except (signing.BadSignature, ValueError, TypeError):
            raise ValidationFailed(_("nextToken 無效")) from None
    rooms = rooms_all()
    page = rooms[after + 1 : after + 1 + limit]
    last = after + len(page)
    token = signing.dumps(last, salt=_PAGE_SALT) if last + 1 < len(rooms) else None
    return page, len(rooms), token


def room_detail(room_id: object) -> dict[str, Any]:
    """`GET /api/rooms/<roomId>`: the room and its stages (404 for an unknown room)."""
    valid = room_id_or_404(room_id)
    stages, counts, (flag,) = live_stages_counted(hostlive.live_key(valid), room_id=valid)
    room = current_registry().room(valid)  # the copy the counts were read under
    if room is None:  # deleted since this process's copy was read
        raise NotFound(_("直播間不存在"), details={"roomId": valid})
    return {"room": _room(room, counts, flag), "stages": [stage_row(s, counts) for s in stages]}
