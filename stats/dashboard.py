"""The operators' live dashboard: a staff-only admin page fed by `/ws` (no CDN, no build step)."""

from __future__ import annotations

import logging
from typing import Any

import redis
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from stats.broadcast import HISTORY_SAMPLE_SECONDS, HISTORY_SECONDS, stats_history, stats_payload

logger = logging.getLogger(__name__)


def dashboard_config(request: HttpRequest) -> dict[str, Any]:
    try:
        snapshot: dict[str, Any] | None = stats_payload()
        history = stats_history()
    except (redis.RedisError, DatabaseError):
        # The page still loads; the socket fills it in once the stores answer again.
        logger.warning("dashboard snapshot unavailable", exc_info=True)
        snapshot, history = None, []
    return {
        "wsPath": "/ws",
        # Where /ws lives when it is not on this page's host (e.g. daphne on its own port without a
        # load balancer in front); empty means same host, path /ws.
        "wsUrl": getattr(settings, "DASHBOARD_WS_URL", ""),
        "snapshot": snapshot,
        "history": history,
        "capacity": settings.STAGE_MAX_PARTICIPANTS,
        "scaleUpThreshold": settings.SCALE_UP_THRESHOLD,
        "pushIntervalSeconds": settings.STATS_PUSH_INTERVAL_SECONDS,
        "historySeconds": HISTORY_SECONDS,
        "sampleSeconds": HISTORY_SAMPLE_SECONDS,
    }


@staff_member_required
def stats_dashboard(request: HttpRequest) -> HttpResponse:
    context = {
        **admin.site.each_context(request),
        "dashboard_config": dashboard_config(request),
    }
    return render(request, "stats/dashboard.html", context)
