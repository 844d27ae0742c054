"""Retention: what is older than REPORT_RETENTION_DAYS goes, in small batches.

Each batch is one short DELETE by primary key, in its own transaction, so the purge never holds
locks on the sessions table for long while viewers keep joining and leaving. Only closed sessions
are purged; a broadcast goes with its samples once it ended before the cut-off, and samples older
than the cut-off go whatever their broadcast (a 24/7 room's series would otherwise grow by a
point a minute for ever; its peak is kept on the broadcast's row, so the summary is unchanged and
the series starts at the cut-off).

A broadcast that stays may have sessions older than the cut-off (a show across it, a 24/7 room).
Its figures are kept on its row first where they can no longer change; where they still can (live,
or ended within the merge window), the sessions it overlaps stay until it is final, so a summary
never shrinks while the show it describes is kept (its series does lose the points before the
cut-off).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db.models import Exists, Model, OuterRef, Q, QuerySet

from reports import selectors
from reports.broadcasts import now
from reports.models import Broadcast, BroadcastSample
from viewers.models import ViewerSession

logger = logging.getLogger(__name__)

BATCH = 1000

Progress = Callable[[str, int], None]


def cutoff(*, days: int | None = None, at: datetime | None = None) -> datetime:
    try:
        return (at or now()) - timedelta(days=settings.REPORT_RETENTION_DAYS if days is None else days)
    except OverflowError:  # a retention longer than the calendar: nothing is old enough
        return datetime.min.replace(tzinfo=UTC)


def _delete_in_batches(
    queryset: QuerySet[Model], *, what: str, batch: int, progress: Progress | None, so_far: int = 0
) -> int:
    """Delete what `queryset` matches, `batch` rows a time; returns `so_far` plus the rows deleted
    (progress counts on from `so_far`, for a kind of row purged in several passes)."""
    model = queryset.model
    deleted = so_far
    queryset = queryset.order_by()  # any rows will do: no sort of everything that matches per batch
    while True:
        ids = list(queryset.values_list("pk", flat=True)[:batch])
        if not ids:
            return deleted
        _total, per_model = model._default_manager.filter(pk__in=ids).delete()
        deleted += per_model.get(model._meta.label, 0)
        if progress is not None:
            progress(what, deleted)


def purge(*, days: int | None = None, batch: int = BATCH, progress: Progress | None = None) -> dict[str, object]:
    """Delete closed sessions, samples and broadcasts older than the retention; returns the counts."""
    at = now()
    before = cutoff(days=days, at=at)
    kept = Broadcast.objects.filter(Q(ended_at__isnull=True) | Q(ended_at__gte=before), started_at__lt=before)
    for broadcast in kept.filter(final_unique_viewers__isnull=True):
        selectors.summary(broadcast, at)  # keeps the figures on the row once they are final
    still_counting = kept.filter(
        final_unique_viewers__isnull=True, room_id=OuterRef("stage__room_id"), started_at__lt=OuterRef("left_at")
    )
    sessions = _delete_in_batches(
        ViewerSession.objects.filter(left_at__isnull=False, left_at__lt=before).exclude(Exists(still_counting)),
        what="sessions",
        batch=batch,
        progress=progress,
    )
    old = Broadcast.objects.filter(ended_at__isnull=False, ended_at__lt=before)
    # Two passes, each on its own index: the samples of the broadcasts that go, then the old
    # samples of those that stay (a 24/7 room's).
    samples = _delete_in_batches(
        BroadcastSample.objects.filter(broadcast__in=old), what="samples", batch=batch, progress=progress
    )
    samples = _delete_in_batches(
        BroadcastSample.objects.filter(at__lt=before), what="samples", batch=batch, progress=progress, so_far=samples
    )
    broadcasts = _delete_in_batches(old, what="broadcasts", batch=batch, progress=progress)
    result: dict[str, object] = {
        "before": before.isoformat(),
        "sessions": sessions,
        "samples": samples,
        "broadcasts": broadcasts,
    }
    logger.info("reports retention purge: %s", result)
    return result
