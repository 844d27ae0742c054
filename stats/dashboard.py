"""The operators' live dashboard: a staff-only admin page fed by `/ws` (no CDN, no build step).

One room at a time (`?room=<roomId>`, the room `default` without it): its tiles, stages and chart,
followed over `/ws` with that roomId. Beside it, every room's viewers, stages and host flag from the
`rooms` channel; choosing another room loads the page for it, so its chart starts from its own
history rather than from the moment it was chosen.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.views.decorators import staff_member_required
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from ivsproject.api.exceptions import ApiError
from stages.models import Room
from stages.selectors import room_id_or_404
from stats.broadcast import (
    HISTORY_SAMPLE_SECONDS,
    HISTORY_SECONDS,
    room_stats_payload,
    rooms_payload,
    stats_history,
    stats_payload,
)

logger = logging.getLogger(__name__)


def dashboard_room(request: HttpRequest) -> str:
    """The room the page shows: `?room=` when it names a live room, else `default` (with a
    message saying why, so a stale bookmark does not silently show another room's numbers)."""
    given = request.GET.get("room", "")
    if not given or given == Room.DEFAULT:
        return Room.DEFAULT
    try:
        return room_id_or_404(given)
    except ApiError as error:
        messages.warning(request, str(error.message))
    except (redis.RedisError, DatabaseError):
        logger.warning("dashboard room lookup unavailable", exc_info=True)
    return Room.DEFAULT


def dashboard_config(request: HttpRequest, room_id: str = Room.DEFAULT) -> dict[str, Any]:
    try:
        snapshot: dict[str, Any] | None = stats_payload() if room_id == Room.DEFAULT else room_stats_payload(room_id)
        rooms: dict[str, Any] | None = rooms_payload()
        history = stats_history(room_id=room_id)
    except (redis.RedisError, DatabaseError):
        # The page still loads; the socket fills it in once the stores answer again.
        logger.warning("dashboard snapshot unavailable", exc_info=True)
        snapshot, rooms, history = None, None, []
    return {
        "wsPath": "/ws",
        # Where /ws lives when it is not on this page's host (e.g. daphne on its own port without a
        # load balancer in front); empty means same host, path /ws.
        "wsUrl": getattr(settings, "DASHBOARD_WS_URL", ""),
        "room": room_id,
        "snapshot": snapshot,
        "rooms": rooms,
        "history": history,
        "capacity": settings.STAGE_MAX_PARTICIPANTS,
        "scaleUpThreshold": settings.SCALE_UP_THRESHOLD,
        "pushIntervalSeconds": settings.STATS_PUSH_INTERVAL_SECONDS,
        "historySeconds": HISTORY_SECONDS,
        "sampleSeconds": HISTORY_SAMPLE_SECONDS,
    }


@staff_member_required
def stats_dashboard(request: HttpRequest) -> HttpResponse:
    room_id = dashboard_room(request)
    config = dashboard_config(request, room_id)
    rooms = (config["rooms"] or {}).get("rooms") or []
    # The selector lists every room, and the shown one even when the overview could not be read.
    choices = [(r["roomId"], r["name"]) for r in rooms]
    if room_id not in {choice for choice, _name in choices}:
        choices.insert(0, (room_id, room_id))
    context = {
        **admin.site.each_context(request),
        "dashboard_config": config,
        "room_id": room_id,
        "room_choices": choices,
    }
    return render(request, "stats/dashboard.html", context)
