"""Timeout cleanup (Celery beat): viewers silent for longer than the timeout lose their seat and
their session is closed at their last heartbeat.

Crash-safe order: close sessions in the database first, then remove presence only for viewers
still silent (a heartbeat that raced the cleanup keeps its seat). Re-running never double counts.
"""

from __future__ import annotations

import contextlib
import zlib
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction

from ivsproject.redis import get_redis, key
from stages import presence
from stages import selectors as stage_selectors
from stages.models import Stage
from viewers import sessions as session_store
from viewers.lifecycle import Reason, dt
from viewers.models import ViewerSession


@dataclass
class CleanupReport:
    expired: int = 0
    sessions_closed: int = 0
    sessions_reopened: int = 0
    orphans_closed: int = 0
    heartbeats_flushed: int = 0


def viewers_cleanup(*, now: float | None = None) -> CleanupReport:
    """Remove viewers silent for longer than the timeout; close their sessions at the last heartbeat.

    Crash-safe order: close sessions in the DB first, then remove presence only for viewers still
    silent. A heartbeat that raced us keeps its seat, and the session just closed for it opens again:
    later heartbeats find the seat and never reopen a session themselves. Re-running never double
    counts.
    """
    report = CleanupReport()
    at = presence.now() if now is None else now
    cutoff = at - settings.HEARTBEAT_TIMEOUT_SECONDS
    stages = list(stage_selectors.live_stages())
    for stage in stages:
        while True:
            entries = presence.expired(stage_id=stage.stage_id, cutoff=cutoff)
            if not entries:
                break
            report.sessions_closed += _close_timed_out(stage, entries)
            removed = presence.remove_expired(
                room_id=stage.room_id, stage_id=stage.stage_id, cutoff=cutoff, user_ids=[u for u, _ in entries]
            )
            report.expired += len(removed)
            kept = set(removed)
            report.sessions_reopened += _reopen_raced(stage, [u for u, _ in entries if u not in kept])
            if len(removed) < len(entries) and len(entries) < 5000:
                break
    report.heartbeats_flushed = _flush_heartbeats(stages)
    report.orphans_closed = _close_orphans(stages, cutoff=cutoff)
    return report


def _reopen_raced(stage: Stage, user_ids: list[str]) -> int:
    """Open again, as if never closed, the session this sweep closed for each viewer whose heartbeat
    arrived between the read and the removal (rare: one UPDATE each)."""
    reopened = 0
    for user_id in user_ids:
        latest = ViewerSession.objects.filter(stage=stage, user_id=user_id).order_by("-joined_at", "-pk").first()
        if latest is None or latest.left_at is None or latest.leave_reason != Reason.TIMEOUT:
            continue
        with contextlib.suppress(IntegrityError), transaction.atomic():  # another open one won
            reopened += ViewerSession.objects.filter(pk=latest.pk, left_at__isnull=False).update(
                left_at=None, leave_reason="", watched_seconds=0
            )
    return reopened


def _close_timed_out(stage: Stage, entries: list[tuple[str, float]]) -> int:
    ends = [(user, dt(last)) for user, last in entries]
    return session_store.close_open_on_stage(stage, ends, reason=Reason.TIMEOUT)


# Flushed last-heartbeat times are bucketed to this many seconds (the stored time is the bucket's
# start: a lower bound, at most this much behind the real heartbeat), so a flushed row changes at
# most once per bucket and the ORM path groups a page into a handful of UPDATEs.
_FLUSH_BUCKET_SECONDS = 10


# Each viewer's time is flushed on one cleanup tick in this many (by a hash of the user id), so a
# tick writes a tenth of the audience: ≤ 5 minutes of lag at the default 30 s interval. The
# flushed time is only read when Redis lost a viewer's presence (orphans).
_FLUSH_EVERY_TICKS = 10


def _flush_heartbeats(stages: list[Stage]) -> int:
    """Copy live viewers' last-heartbeat times into their open sessions, found by (stage, userId),
    in batches (never moving a stored time backwards). Used only if Redis loses its data (orphan
    cleanup)."""
    tick = int(get_redis().incr(key("cleanup", "flush-tick"))) % _FLUSH_EVERY_TICKS
    flushed = 0
    for stage in stages:
        offset = 0
        while True:
            rows = presence.scores(stage_id=stage.stage_id, offset=offset, limit=session_store.BATCH * 5)
            if not rows:
                break
            offset += len(rows)
            due = [
                (user, dt(int(at // _FLUSH_BUCKET_SECONDS) * _FLUSH_BUCKET_SECONDS))
                for user, at in rows
                if zlib.crc32(user.encode()) % _FLUSH_EVERY_TICKS == tick
            ]
            flushed += session_store.raise_last_heartbeats(stage, due)
    return flushed


def _close_orphans(stages: list[Stage], *, cutoff: float) -> int:
    """Open sessions with no presence at all (Redis lost its data and the viewer went away):
    close them at their last flushed heartbeat once that is older than the timeout. A live viewer
    is always in presence, so the flushed time's small lag never closes one."""
    closed = 0
    stale = (
        ViewerSession.objects.filter(left_at__isnull=True, last_heartbeat__lt=dt(cutoff))
        .select_related("stage")
        .only("pk", "user_id", "joined_at", "last_heartbeat", "stage__arn")
        .order_by("pk")
    )
    batch: list[ViewerSession] = []
    for session in stale.iterator(chunk_size=session_store.BATCH):
        batch.append(session)
        if len(batch) == session_store.BATCH:
            closed += _close_absent(batch)
            batch = []
    if batch:
        closed += _close_absent(batch)
    return closed


def _close_absent(sessions: list[ViewerSession]) -> int:
    tracked = presence.tracked([(s.stage.stage_id, s.user_id) for s in sessions])
    absent = [s for s, present in zip(sessions, tracked, strict=True) if not present]
    return session_store.close_many(absent, reason=Reason.TIMEOUT, end_of={s.pk: s.last_heartbeat for s in absent})
