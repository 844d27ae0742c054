"""Live stats push: build the payload once, fan it out through the channel layer to every daphne
process, and keep a bounded history of samples for the operators' dashboard chart.

Real-time path (Baserow `ws/tasks.py` → `ws/consumers.py`): a Celery task or a service calls
`stats_broadcast`, which `group_send`s an event of type `stats.update` to the group "stats", whose
members are one relay per daphne process (stats/relay.py); each relay writes it to its own
subscribers.
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
from stats.selectors import stats_overview

logger = logging.getLogger(__name__)

GROUP = "stats"
EVENT_TYPE = "stats.update"  # handled by stats.relay.Relay

# The chart keeps the last hour at one sample per 5 s: at most 720 entries, whatever the push rate.
HISTORY_SECONDS = 3600
HISTORY_SAMPLE_SECONDS = 5
HISTORY_MAX_SAMPLES = HISTORY_SECONDS // HISTORY_SAMPLE_SECONDS


def _history_key() -> str:
    return key("stats", "history")


def _push_gate_key() -> str:
    return key("stats", "push-gate")


def stats_payload() -> dict[str, Any]:
    """The spec's `stats_update.data` plus per-stage rows (extra fields are allowed) for dashboards."""
    overview = stats_overview()
    return {
        "totalViewers": overview["totalViewers"],
        "activeStages": overview["activeStages"],
        "isPublisherLive": overview["isPublisherLive"],
        "timestamp": now_iso(),
        "stages": [
            {
                "stageArn": row["stageArn"],
                "stageName": row["stageName"],
                "viewerCount": row["viewerCount"],
                "autoScaled": row["autoScaled"],
            }
            for row in overview["stages"]
        ],
    }


def stats_history_record(*, total_viewers: int, at: float | None = None) -> None:
    """Keep one sample per 5-second slot (the latest wins), drop what is older than an hour."""
    at = time.time() if at is None else at
    slot_start = at - (at % HISTORY_SAMPLE_SECONDS)
    member = json.dumps({"t": round(at * 1000), "v": int(total_viewers)}, separators=(",", ":"))
    history = _history_key()
    pipe = get_redis().pipeline(transaction=True)
    pipe.zremrangebyscore(history, slot_start, f"({slot_start + HISTORY_SAMPLE_SECONDS}")
    pipe.zadd(history, {member: at})
    pipe.zremrangebyscore(history, "-inf", f"({at - HISTORY_SECONDS}")
    pipe.zremrangebyrank(history, 0, -(HISTORY_MAX_SAMPLES + 1))
    # Nobody pushing for an hour: the whole history is stale anyway.
    pipe.expire(history, HISTORY_SECONDS)
    pipe.execute()


def stats_history(*, now: float | None = None) -> list[dict[str, Any]]:
    """Samples of the last hour, oldest first: `[{"timestamp": ISO, "totalViewers": n}]`."""
    now = time.time() if now is None else now
    rows = get_redis().zrangebyscore(_history_key(), now - HISTORY_SECONDS, "+inf")
    samples = []
    for raw in rows:
        try:
            sample = json.loads(str(raw))
            samples.append({"timestamp": iso_from_epoch(sample["t"] / 1000), "totalViewers": int(sample["v"])})
        except (ValueError, KeyError, TypeError):
            continue  # a foreign or corrupt member must not break the dashboard
    return samples


def stats_broadcast(*, reason: str = "tick") -> dict[str, Any]:
    """Compute the stats once and send them to every subscriber of every process. Sync code only
    (Celery, services); from async code wrap it in `database_sync_to_async`."""
    data = stats_payload()
    try:
        stats_history_record(total_viewers=data["totalViewers"])
    except Exception:  # the chart is a nicety; never let it stop the push itself
        logger.warning("could not record a stats sample", exc_info=True)
    layer = get_channel_layer()
    if layer is None:  # pragma: no cover - CHANNEL_LAYERS is always configured
        return data
    async_to_sync(layer.group_send)(GROUP, {"type": EVENT_TYPE, "data": data, "reason": reason})
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
