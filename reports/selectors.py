"""Reading broadcasts: the summary object, a page of them, one with its series, and its sessions.

Watch time follows `/api/viewer/duration`'s rule (a closed session counts from join to leave, an
open one to now), cut to the broadcast's window, and is summed by the database: a show with a
hundred thousand sessions is one aggregate query, never a hundred thousand rows in Python.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core import signing
from django.db.models import Count, DateTimeField, DurationField, ExpressionWrapper, F, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce, Greatest, Least
from django.utils.translation import gettext as _

from ivsproject.api.envelope import iso
from ivsproject.api.exceptions import NotFound, ValidationFailed
from reports.broadcasts import is_known_room, now
from reports.models import BROADCAST_ID_PATTERN, Broadcast
from stages.selectors import validate_room_id
from viewers.models import ViewerSession

_PAGE_SALT = "reports.broadcasts.page"
_BROADCAST_ID = re.compile(BROADCAST_ID_PATTERN.strip("^$"), re.ASCII)


def broadcast_or_404(broadcast_id: object) -> Broadcast:
    broadcast = None
    # Anything but the id's own shape cannot name a broadcast (and a NUL byte would upset the database).
    if isinstance(broadcast_id, str) and _BROADCAST_ID.fullmatch(broadcast_id):
        broadcast = Broadcast.objects.filter(pk=broadcast_id).first()
    if broadcast is None:
        raise NotFound(_("直播場次不存在"), details={"broadcastId": str(broadcast_id)[:100]})
    return broadcast


def window(broadcast: Broadcast, at: datetime | None = None) -> tuple[datetime, datetime]:
    """The broadcast's [start, end): to now while it is live."""
    return broadcast.started_at, broadcast.ended_at or at or now()


def sessions_in(broadcast: Broadcast, at: datetime | None = None) -> QuerySet[ViewerSession]:
    """The viewer sessions on the room's stages (any it ever had) that overlap the broadcast, each
    annotated with `inside`: its watch time within the window."""
    at = at or now()
    start, end = window(broadcast, at)
    start_v = Value(start, output_field=DateTimeField())
    end_v = Value(end, output_field=DateTimeField())
    left = Coalesce(F("left_at"), Value(at, output_field=DateTimeField()))
    return (
        ViewerSession.objects.filter(stage__room_id=broadcast.room_id, joined_at__lt=end)
        .filter(Q(left_at__isnull=True) | Q(left_at__gt=start))
        .annotate(
            inside=ExpressionWrapper(
                Least(left, end_v, output_field=DateTimeField()) - Greatest(F("joined_at"), start_v),
                output_field=DurationField(),
            )
        )
    )


def _is_final(broadcast: Broadcast, at: datetime) -> bool:
    if broadcast.ended_at is None:
        return False
    merge_over = (at - broadcast.ended_at).total_seconds() > settings.BROADCAST_MERGE_SECONDS
    return merge_over and not sessions_in(broadcast, at).filter(left_at__isnull=True).exists()


def _audience(broadcast: Broadcast, at: datetime) -> tuple[int, float]:
    """(unique viewers, watch seconds inside the window); kept on the row once they can't change."""
    if broadcast.final_unique_viewers is not None and broadcast.final_watch_seconds is not None:
        return broadcast.final_unique_viewers, broadcast.final_watch_seconds
    # Whether the figures are final is read before they are summed: a session closed in between
    # (by the cleanup, dated at its last heartbeat) would otherwise be kept as if open to `at`.
    final = _is_final(broadcast, at)
    totals = sessions_in(broadcast, at).aggregate(unique=Count("user_id", distinct=True), watched=Sum("inside"))
    unique = int(totals["unique"] or 0)
    watched = max(totals["watched"].total_seconds(), 0.0) if totals["watched"] is not None else 0.0
    if final:
        Broadcast.objects.filter(pk=broadcast.pk).update(final_unique_viewers=unique, final_watch_seconds=watched)
        broadcast.final_unique_viewers, broadcast.final_watch_seconds = unique, watched
    return unique, watched


def summary(broadcast: Broadcast, at: datetime | None = None) -> dict[str, Any]:
    """The contract's summary object."""
    at = at or now()
    start, end = window(broadcast, at)
    unique, watched = _audience(broadcast, at)
    total = int(watched)
    return {
        "broadcastId": broadcast.broadcast_id,
        "roomId": broadcast.room_id,
        "startedAt": iso(broadcast.started_at),
        "endedAt": iso(broadcast.ended_at),
        "durationSeconds": max(int((end - start).total_seconds()), 0),
        "peakViewers": broadcast.peak_viewers,
        "peakAt": iso(broadcast.peak_at),
        "uniqueViewers": unique,
        "totalWatchSeconds": total,
        "averageWatchSeconds": total // unique if unique else 0,
    }


def series(broadcast: Broadcast) -> list[dict[str, Any]]:
    """One point per sample, oldest first."""
    return [{"t": iso(at), "viewers": viewers} for at, viewers in broadcast.samples.values_list("at", "viewers")]


def broadcast_detail(broadcast_id: object) -> dict[str, Any]:
    broadcast = broadcast_or_404(broadcast_id)
    return {"broadcast": summary(broadcast), "series": series(broadcast)}


def broadcast_page(*, room_id: str | None, limit: int, next_token: str | None) -> dict[str, Any]:
    """Newest first; `nextToken` is a signed keyset cursor (the last item's start and id), so pages
    stay stable while new broadcasts start."""
    broadcasts = Broadcast.objects.all()
    if room_id:
        valid = validate_room_id(room_id)
        if not is_known_room(valid):
            raise NotFound(_("直播間不存在"), details={"roomId": valid})
        broadcasts = broadcasts.filter(room_id=valid)
    if next_token:
        try:
            started, last_id = signing.loads(next_token, salt=_PAGE_SALT)
            after = datetime.fromisoformat(started)
        except (signing.BadSignature, ValueError, TypeError):
            raise ValidationFailed(_("nextToken 無效")) from None
        broadcasts = broadcasts.filter(Q(started_at__lt=after) | Q(started_at=after, broadcast_id__lt=last_id))
    page = list(broadcasts.order_by("-started_at", "-broadcast_id")[: limit + 1])
    more = len(page) > limit
    page = page[:limit]
    at = now()
    token = None
    if more and page:
        token = signing.dumps([page[-1].started_at.isoformat(), page[-1].broadcast_id], salt=_PAGE_SALT)
    return {"broadcasts": [summary(b, at) for b in page], "nextToken": token}


def latest_in_room(room_id: str) -> Broadcast | None:
    return Broadcast.objects.filter(room_id=room_id).order_by("-started_at", "-broadcast_id").first()


def session_rows(broadcast: Broadcast) -> Iterator[dict[str, Any]]:
    """The broadcast's viewer sessions for export, oldest first; `watchSeconds` is the time inside
    the broadcast, so the column adds up to the summary's `totalWatchSeconds`."""
    rows = (
        sessions_in(broadcast)
        .order_by("joined_at", "id")
        .values_list("user_id", "stage__arn", "joined_at", "left_at", "inside", "leave_reason")  # type: ignore[misc]
    )
    for user_id, stage_arn, joined_at, left_at, inside, reason in rows.iterator(chunk_size=2000):
        yield {
            "userId": user_id,
            "stageArn": stage_arn,
            "joinedAt": iso(joined_at),
            "leftAt": iso(left_at),
            "watchSeconds": round(max(inside.total_seconds(), 0.0), 3) if inside is not None else 0.0,
            "leaveReason": reason,
        }
