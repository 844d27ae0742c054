"""Live stats, per room. Cost is independent of the number of viewers and of rooms: counts come
from presence in one Redis round trip (ZCARD per stage of the room), stage metadata from the
registry (stages/registry.py: this process's copy, checked against the registry generation per
request)."""

from __future__ import annotations

from typing import Any

from stages import hostlive
from stages.models import Room
from stages.overview import rooms_all, stage_row
from stages.selectors import live_stages_counted


def is_publisher_live(room_id: str = Room.DEFAULT) -> bool:
    return hostlive.is_live(room_id=room_id)


def stats_overview(room_id: str = Room.DEFAULT) -> dict[str, Any]:
    stages, counts, (publisher_live,) = live_stages_counted(hostlive.live_key(room_id), room_id=room_id)
    rows = [stage_row(s, counts) for s in stages]
    return {
        # The same counts as the rows, so totalViewers always equals their sum.
        "totalViewers": sum(r["viewerCount"] for r in rows),
        "activeStages": len(rows),
        "isPublisherLive": hostlive.is_live(publisher_live),
        "stages": rows,
    }


def total_viewers(room_id: str = Room.DEFAULT) -> int:
    return sum(live_stages_counted(room_id=room_id)[1].values())


def rooms_stats() -> dict[str, Any]:
    """`GET /api/stats/rooms` and the `rooms` channel: every room's viewers, stages and host."""
    rooms = [
        {k: room[k] for k in ("roomId", "name", "totalViewers", "activeStages", "isPublisherLive")}
        for room in rooms_all()
    ]
    return {
        "totalViewers": sum(r["totalViewers"] for r in rooms),
        "liveRooms": sum(1 for r in rooms if r["isPublisherLive"]),
        "rooms": rooms,
    }
