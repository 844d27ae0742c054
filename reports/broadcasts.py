"""A broadcast's life: opened when a room's host goes live, continued across short blips, ended
when the host goes off, sampled while live, and its peak raised by every stats push.

Two sources drive it, like the host-live state itself: `host_live_changed` (at once, in the process
that saw the change) and the sampling task (on the beat schedule), which reads every room's flag and
repairs whatever a lost or failed signal left behind — a broadcast never opened, or never ended.
Every write is idempotent and guarded by the database (one live broadcast per room; a sample is
written under a lock on its broadcast's row, and not within half an interval of another), so any
number of processes may see the same change or take the same sample.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q

from reports.models import Broadcast, BroadcastSample
from stages import presence
from stages.models import Room
from stats.selectors import rooms_stats

logger = logging.getLogger(__name__)


def now() -> datetime:
    """The reports' clock is presence's: watch time and broadcast windows are measured alike."""
    return datetime.fromtimestamp(presence.now(), tz=UTC)


def _merge_window() -> timedelta:
    return timedelta(seconds=settings.BROADCAST_MERGE_SECONDS)


def went_live(room_id: str, *, at: datetime | None = None) -> Broadcast:
    """The room's host is live at `at`: its live broadcast, the one it left less than
    BROADCAST_MERGE_SECONDS ago (the same show continues), or a new one."""
    at = at or now()
    for _attempt in range(5):
        live = Broadcast.objects.filter(room_id=room_id, ended_at__isnull=True).first()
        if live is not None:
            if at > live.last_live_at:
                Broadcast.objects.filter(pk=live.pk, last_live_at__lt=at).update(last_live_at=at)
                live.last_live_at = at
            return live
        recent = (
            Broadcast.objects.filter(room_id=room_id, ended_at__isnull=False, ended_at__gt=at - _merge_window())
            .order_by("-ended_at")
            .first()
        )
        if recent is not None and recent.ended_at is not None and recent.ended_at >= at:
            # It ended after `at`: whoever saw the host live at `at` (a sampling pass that read the
            # flags a moment before the host went off) saw this show before its end, not a return.
            return recent
        try:
            with transaction.atomic():
                if recent is not None:
                    # Conditional on the end we read: of two processes reopening it, one does. The
                    # figures kept when it looked finished may change again.
                    reopened = Broadcast.objects.filter(pk=recent.pk, ended_at=recent.ended_at).update(
                        ended_at=None,
                        last_live_at=max(at, recent.last_live_at),
                        final_unique_viewers=None,
                        final_watch_seconds=None,
                    )
                    if reopened:
                        logger.info("broadcast %s continues in room %s (host back in time)", recent.pk, room_id)
                        recent.refresh_from_db()
                        return recent
                    continue
                broadcast = Broadcast.objects.create(room_id=room_id, started_at=at, last_live_at=at)
        except IntegrityError:  # another process opened (or reopened) the room's broadcast first
            continue
        logger.info("broadcast %s started in room %s", broadcast.pk, room_id)
        return broadcast
    raise RuntimeError(f"could not open a broadcast for room {room_id}")  # pragma: no cover - 5 lost races


def went_offline(room_id: str, *, at: datetime | None = None) -> Broadcast | None:
    """The room's host is off at `at`: its live broadcast ends there (and may still continue if the
    host is back within the merge window)."""
    at = at or now()
    live = Broadcast.objects.filter(room_id=room_id, ended_at__isnull=True).first()
    return None if live is None else _end(live, at=at)


def _end(broadcast: Broadcast, *, at: datetime, **unless_changed: Any) -> Broadcast | None:
    """End this broadcast at `at` (never before its start) if it is still live and still matches
    `unless_changed`; None when another process ended, or changed, it first."""
    end = max(at, broadcast.started_at)
    if not Broadcast.objects.filter(pk=broadcast.pk, ended_at__isnull=True, **unless_changed).update(ended_at=end):
        return None
    logger.info("broadcast %s ended in room %s", broadcast.pk, broadcast.room_id)
    broadcast.ended_at = end
    return broadcast


def raise_peaks(totals: dict[str, int], *, at: datetime) -> int:
    """Raise each live broadcast's peak to its room's count when higher (the first count seen sets
    it). One read for every live broadcast, a write only where the peak moves. Returns the writes."""
    raised = 0
    for broadcast_id, room_id, started_at, peak, peak_at in Broadcast.objects.filter(
        ended_at__isnull=True, room_id__in=list(totals)
    ).values_list("pk", "room_id", "started_at", "peak_viewers", "peak_at"):
        viewers = int(totals[room_id])
        if peak_at is not None and viewers <= peak:
            continue
        # A push that read the counts just before the host's broadcast was opened (the flag is
        # written first, the broadcast opened by its signal) is a count of this show's first moment.
        raised += Broadcast.objects.filter(
            Q(peak_at__isnull=True) | Q(peak_viewers__lt=viewers), pk=broadcast_id
        ).update(peak_viewers=viewers, peak_at=max(at, started_at))
    return raised


def _take_sample(broadcast: Broadcast, *, at: datetime, viewers: int) -> bool:
    """Record the room's count at `at` (never before the show's start) unless another pass did
    within half an interval: two beats, a retried task, or a late run near the previous one. The
    broadcast's row is locked meanwhile, so of passes running at once exactly one writes."""
    at = max(at, broadcast.started_at)
    half = timedelta(seconds=settings.REPORT_SAMPLE_SECONDS / 2)
    try:
        with transaction.atomic():
            list(Broadcast.objects.select_for_update().filter(pk=broadcast.pk).values_list("pk"))
            if BroadcastSample.objects.filter(broadcast=broadcast, at__gt=at - half, at__lt=at + half).exists():
                return False
            BroadcastSample.objects.create(broadcast=broadcast, at=at, viewers=viewers)
    except IntegrityError:  # the same instant, written by another pass (a database without row locks)
        return False
    return True


def sample(*, at: datetime | None = None) -> dict[str, Any]:
    """One sampling pass over every room (the beat task): a live room's broadcast gets its count for
    this moment (and is opened if the signal that should have opened it was lost); a broadcast whose
    host is no longer live is ended at the last moment it was seen live (a lost "offline")."""
    at = at or now()
    rooms = rooms_stats()["rooms"]
    live_rooms = {r["roomId"]: int(r["totalViewers"]) for r in rooms if r["isPublisherLive"]}
    sampled = opened = ended = 0
    # One read for every room's live broadcast, rather than one per room.
    had_live = set(Broadcast.objects.filter(ended_at__isnull=True).values_list("room_id", flat=True))
    for room_id, viewers in live_rooms.items():
        broadcast = went_live(room_id, at=at)
        opened += room_id not in had_live
        sampled += _take_sample(broadcast, at=at, viewers=viewers)
    raise_peaks(live_rooms, at=at)
    # Only broadcasts seen live before this pass read the flags: one opened by a signal meanwhile
    # belongs to a host who went live after the read.
    stale_broadcasts = Broadcast.objects.filter(ended_at__isnull=True, last_live_at__lt=at)
    for stale in stale_broadcasts.exclude(room_id__in=list(live_rooms)):
        # This very show, and only if it was not seen live since: a host back meanwhile keeps it.
        if _end(stale, at=min(stale.last_live_at, at), last_live_at=stale.last_live_at) is not None:
            ended += 1
    return {"rooms": len(rooms), "liveRooms": len(live_rooms), "sampled": sampled, "opened": opened, "ended": ended}


def is_known_room(room_id: str) -> bool:
    """Reports answer for any room that ever existed (a deleted room keeps its shows)."""
    return Room.objects.filter(room_id=room_id).exists()
