"""Live stats push: build the payloads once, fan them out through the channel layer to every daphne
process, and keep a bounded history of samples for the operators' dashboard chart.

Real-time path (Baserow `ws/tasks.py` → `ws/consumers.py`): a Celery task or a service calls
`stats_broadcast`, which `group_send`s one event of type `stats.update` to the group "stats", whose
members are one relay per daphne process (stats/relay.py); each relay writes to its own subscribers
the frames of the rooms they follow.

One event carries every room (`push_data`): a push stays one channel-layer message per process
however many rooms there are, and every room's numbers in it come from the same Redis read. Its
`data` is the room `default`'s `stats_update.data` exactly as v1.1.0 sends it, with the other rooms
and the rooms overview under two more keys (`PUSH_EXTRAS`), which relays leave out of the default
room's frame. Why that shape: during a rolling deploy a relay of the release before rooms still
reads `data` as its subscribers' frame, and so keeps sending them the room default (with two extra
fields, which the contract allows) until its process is replaced.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings

from ivsproject.api.envelope import iso_from_epoch, now_iso
from ivsproject.redis import get_redis, key
from stages import hostlive, presence
from stages.models import Room
from stages.overview import stage_row
from stages.selectors import current_registry, live_stages_counted
from stats.selectors import stats_overview
from stats.signals import stats_pushed

logger = logging.getLogger(__name__)

GROUP = "stats"
EVENT_TYPE = "stats.update"  # handled by stats.relay.Relay

# The push's own keys in `data` besides the default room's fields (see the module docstring).
ROOM_STATS = "roomStats"  # {roomId: that room's stats_update.data, roomId included}, rooms other than default
ROOMS_OVERVIEW = "roomsOverview"  # the rooms_update.data
PUSH_EXTRAS = (ROOM_STATS, ROOMS_OVERVIEW)

# The chart keeps the last hour at one sample per 5 s: at most 720 entries, whatever the push rate.
HISTORY_SECONDS = 3600
HISTORY_SAMPLE_SECONDS = 5
HISTORY_MAX_SAMPLES = HISTORY_SECONDS // HISTORY_SAMPLE_SECONDS


def _history_key(room_id: str = Room.DEFAULT) -> str:
    # The room default keeps the key it had before rooms existed, so its chart survives the upgrade.
    return key("stats", "history") if room_id == Room.DEFAULT else key("stats", "history", room_id)


def _push_gate_key() -> str:
    return key("stats", "push-gate")


def _stats_data(overview: dict[str, Any], timestamp: str) -> dict[str, Any]:
    return {
        "totalViewers": overview["totalViewers"],
        "activeStages": overview["activeStages"],
        "isPublisherLive": overview["isPublisherLive"],
        "timestamp": timestamp,
        "stages": [
            {
                "stageArn": row["stageArn"],
                "stageName": row["stageName"],
                "viewerCount": row["viewerCount"],
                "autoScaled": row["autoScaled"],
                "roomId": row["roomId"],
            }
            for row in overview["stages"]
        ],
    }


def stats_payload() -> dict[str, Any]:
    """The spec's `stats_update.data` plus per-stage rows (extra fields are allowed) for dashboards:
    the room `default` as v1.1.0 sends it (no `roomId`)."""
    return _stats_data(stats_overview(), now_iso())


def room_stats_payload(room_id: str) -> dict[str, Any]:
    """A room's `stats_update.data` for a subscriber that named the room: with `roomId`."""
    return {**_stats_data(stats_overview(room_id), now_iso()), "roomId": room_id}


def _rooms_read() -> list[tuple[Room, dict[str, Any]]]:
    """Every live room, oldest first, with its numbers as `stats_overview` gives them — one Redis
    round trip for any number of rooms (their stages' counts and every host-live flag together),
    where a read per room would make a push's cost grow with the rooms."""
    for _attempt in range(2):
        listed = current_registry()
        asked = sorted(listed.rooms.values(), key=lambda r: (r.room.created_at, r.room.room_id))
        stages, counts, flags = live_stages_counted(*(hostlive.live_key(r.room.room_id) for r in asked))
        current = current_registry()  # the copy the counts were read under (reloaded if it was stale)
        if current is listed:
            break
        # The copy was reloaded by the read: a room created since the list was taken would be
        # missing from this push. Once more under the new copy (one round trip while it is current).
    rows: dict[str, list[dict[str, Any]]] = {}
    for stage in stages:
        rows.setdefault(stage.room_id, []).append(stage_row(stage, counts))
    rooms = []
    for entry, flag in zip(asked, flags, strict=True):
        now = current.room(entry.room.room_id)
        if now is None:  # deleted since the list was read: it has no stages left to show
            continue
        room_rows = rows.get(now.room.room_id, [])
        overview = {
            "totalViewers": sum(r["viewerCount"] for r in room_rows),
            "activeStages": len(room_rows),
            "isPublisherLive": hostlive.is_live(flag),
            "stages": room_rows,
        }
        rooms.append((now.room, overview))
    return rooms


def _rooms_overview(rooms: list[tuple[Room, dict[str, Any]]], timestamp: str) -> dict[str, Any]:
    """`rooms_update.data`: the items and totals of `GET /api/stats/rooms`, and the time."""
    items = [
        {
            "roomId": room.room_id,
            "name": room.name,
            "totalViewers": overview["totalViewers"],
            "activeStages": overview["activeStages"],
            "isPublisherLive": overview["isPublisherLive"],
        }
        for room, overview in rooms
    ]
    return {
        "totalViewers": sum(r["totalViewers"] for r in items),
        "liveRooms": sum(1 for r in items if r["isPublisherLive"]),
        "rooms": items,
        "timestamp": timestamp,
    }


def rooms_payload() -> dict[str, Any]:
    """`rooms_update.data` now: a subscriber's snapshot of the `rooms` channel."""
    return _rooms_overview(_rooms_read(), now_iso())


_EMPTY_ROOM: dict[str, Any] = {"totalViewers": 0, "activeStages": 0, "isPublisherLive": False, "stages": []}


def push_data() -> dict[str, Any]:
    """The data of one push: the default room's `stats_update.data` (v1.1.0, no `roomId`), every
    other room's under `roomStats`, and the rooms overview under `roomsOverview` — one read, one
    timestamp."""
    timestamp = now_iso()
    rooms = _rooms_read()
    by_room = {room.room_id: overview for room, overview in rooms}
    default = _stats_data(by_room.get(Room.DEFAULT, _EMPTY_ROOM), timestamp)
    return {
        **default,
        ROOM_STATS: {
            room_id: {**_stats_data(overview, timestamp), "roomId": room_id}
            for room_id, overview in by_room.items()
            if room_id != Room.DEFAULT
        },
        ROOMS_OVERVIEW: _rooms_overview(rooms, timestamp),
    }


def push_parts(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, dict[str, Any]], dict[str, Any] | None]:
    """A push's data taken apart: the default room's v1.1.0 data, every room's data with `roomId`
    (default included) and the rooms overview (None from a sender that predates rooms)."""
    default = {k: v for k, v in data.items() if k not in PUSH_EXTRAS}
    rooms = {Room.DEFAULT: {**default, "roomId": Room.DEFAULT}, **(data.get(ROOM_STATS) or {})}
    return default, rooms, data.get(ROOMS_OVERVIEW)


def stats_history_record(*, total_viewers: int, at: float | None = None, room_id: str = Room.DEFAULT) -> None:
    """Keep one sample per 5-second slot (the latest wins), drop what is older than an hour."""
    stats_history_record_rooms({room_id: total_viewers}, at=at)


def stats_history_record_rooms(totals: dict[str, int], *, at: float | None = None) -> None:
    """One sample per room (roomId → viewers), every room in one round trip.

    Not a MULTI: each room's commands touch its own key only, so the pipeline stays valid where keys
    live in different slots. Two pushes in the same slot may interleave and leave two samples in
    it for a moment; the next sample of the slot drops both, and the chart draws either.
    """
    at = time.time() if at is None else at
    slot_start = at - (at % HISTORY_SAMPLE_SECONDS)
    pipe = get_redis().pipeline(transaction=False)
    for room_id, total in totals.items():
        member = json.dumps({"t": round(at * 1000), "v": int(total)}, separators=(",", ":"))
        history = _history_key(room_id)
        pipe.zremrangebyscore(history, slot_start, f"({slot_start + HISTORY_SAMPLE_SECONDS}")
        pipe.zadd(history, {member: at})
        pipe.zremrangebyscore(history, "-inf", f"({at - HISTORY_SECONDS}")
        pipe.zremrangebyrank(history, 0, -(HISTORY_MAX_SAMPLES + 1))
        # Nobody pushing for an hour (or a deleted room): the whole history is stale anyway.
        pipe.expire(history, HISTORY_SECONDS)
    pipe.execute()


def stats_history(*, now: float | None = None, room_id: str = Room.DEFAULT) -> list[dict[str, Any]]:
    """A room's samples of the last hour, oldest first: `[{"timestamp": ISO, "totalViewers": n}]`."""
    now = time.time() if now is None else now
    rows = get_redis().zrangebyscore(_history_key(room_id), now - HISTORY_SECONDS, "+inf")
    samples = []
    for raw in rows:
        try:
            sample = json.loads(str(raw))
            samples.append({"timestamp": iso_from_epoch(sample["t"] / 1000), "totalViewers": int(sample["v"])})
        except (ValueError, KeyError, TypeError):
            continue  # a foreign or corrupt member must not break the dashboard
    return samples


def stats_broadcast(*, reason: str = "tick") -> dict[str, Any]:
    """Compute the stats of every room once and send them to every subscriber of every process, as
    one channel-layer message per process (`push_data`). Sync code only (Celery, services); from
    async code wrap it in `database_sync_to_async`."""
    at = presence.now()  # the project's clock (tests pin it), time.time() in production
    data = push_data()
    _default, rooms, _overview = push_parts(data)
    totals = {room_id: room["totalViewers"] for room_id, room in rooms.items()}
    try:
        stats_history_record_rooms(totals, at=at)
    except Exception:  # the chart is a nicety; never let it stop the push itself
        logger.warning("could not record a stats sample", exc_info=True)
    layer = get_channel_layer()
    if layer is not None:  # pragma: no branch - CHANNEL_LAYERS is always configured
        async_to_sync(layer.group_send)(GROUP, {"type": EVENT_TYPE, "data": data, "reason": reason})
    # After the push: what listens (a report's peak) never delays or stops the subscribers' frame.
    for receiver, error in stats_pushed.send_robust(sender=stats_broadcast, totals=totals, at=at):
        if error is not None:
            logger.warning("a receiver of stats_pushed failed (%s)", receiver, exc_info=error)
    return data


def stats_push_gate(*, interval_seconds: int | None = None) -> bool:
    """True for exactly one caller per push interval across the whole deployment.

    A rolling gate (SET NX PX) rather than a wall-clock slot: beat's ticks jitter, and a tick that
    lands just past a slot boundary would otherwise skip a whole interval. The gate closes a little
    before the next tick is due so a slightly early tick still pushes, while N workers (or N beats,
    e.g. `celery worker -B` on every node) receiving the same tick push only once.
    """
    interval = interval_seconds or settings.STATS_PUSH_INTERVAL_SECONDS
    ttl_ms = max(interval * 1000 - 500, interval * 500)
    return bool(get_redis().set(_push_gate_key(), "1", nx=True, px=ttl_ms))
