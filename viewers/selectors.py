"""Reads of viewer presence and watch time."""

from __future__ import annotations

from datetime import UTC, datetime

from django.conf import settings
from django.core import signing
from django.db.models import QuerySet, Sum
from django.utils.translation import gettext as _

from ivsproject.api.envelope import iso_from_epoch
from ivsproject.api.exceptions import NotFound, ValidationFailed
from stages import presence
from stages.models import Stage
from stages.selectors import stage_by_arn, validate_stage_arn
from viewers.models import ViewerSession

_PAGE_SALT = "viewers.list"


def viewer_list(*, stage_arn: str, limit: int, next_token: str | None) -> dict:
    stage = stage_by_arn(stage_arn)
    offset = 0
    if next_token:
        try:
            offset = int(signing.loads(next_token, salt=_PAGE_SALT))
        except (signing.BadSignature, ValueError, TypeError):
            raise ValidationFailed(_("nextToken 無效")) from None
    now = presence.now()
    total = presence.counts([stage.stage_id])[stage.stage_id]
    entries = presence.page(room_id=stage.room_id, stage_id=stage.stage_id, offset=offset, limit=limit)
    following = offset + len(entries)
    return {
        "stageArn": stage.arn,
        "totalViewers": total,
        "activeViewers": presence.active_count(stage.stage_id, since=now - settings.HEARTBEAT_TIMEOUT_SECONDS),
        "viewers": [
            {
                "userId": e.user_id,
                "participantId": e.participant_id,
                "joinedAt": iso_from_epoch(e.joined_at),
                "lastHeartbeat": iso_from_epoch(e.last_heartbeat),
            }
            for e in entries
        ],
        "nextToken": signing.dumps(following, salt=_PAGE_SALT) if following < total and entries else None,
    }


def format_duration(seconds: int) -> str:
    """`30分 45秒`; from one hour on `1小時 2分 3秒` (the spec's zh-Hant format).

    Not translated: `watchDurationFormatted` is a data field clients may show or parse as the
    contract writes it, so it is the same whatever `Accept-Language` says; only messages follow it.
    """
    hours, rest = divmod(max(int(seconds), 0), 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}小時 {minutes}分 {secs}秒"
    return f"{minutes}分 {secs}秒"


def localized_duration(seconds: int) -> str:
    """Watch time in the reader's language, for operators' pages (the admin, reports): `30分 45秒`
    in zh-Hant, `30m 45s` in English. Never for an API data field (`format_duration`)."""
    total = max(int(seconds), 0)
    parts = {"h": total // 3600, "m": total % 3600 // 60, "s": total % 60}
    if parts["h"]:
        return _("%(h)d小時 %(m)d分 %(s)d秒") % parts
    return _("%(m)d分 %(s)d秒") % parts


def _duration(sessions: QuerySet[ViewerSession], where: dict[str, str], *, user_id: str) -> dict:
    """Seconds over the sessions, the open ones included (to now); 404 when there are none.
    `where` names what was asked about (stageArn or roomId), in the answer and in the 404."""
    if not sessions.exists():
        raise NotFound(_("找不到此觀眾的觀看紀錄"), details={"userId": user_id, **where})
    closed = sessions.filter(left_at__isnull=False).aggregate(total=Sum("watched_seconds"))["total"] or 0.0
    now = datetime.fromtimestamp(presence.now(), tz=UTC)
    open_seconds = sum(max((now - s.joined_at).total_seconds(), 0.0) for s in sessions.filter(left_at__isnull=True))
    seconds = int(closed + open_seconds)
    return {
        "userId": user_id,
        **where,
        "watchDurationSeconds": seconds,
        "watchDurationFormatted": format_duration(seconds),
    }


def watch_duration(*, user_id: str, stage_arn: str) -> dict:
    """Seconds over all of this user's sessions on the stage, the open one included (to now)."""
    validate_stage_arn(stage_arn)
    stage = Stage.objects.filter(arn=stage_arn).first()
    sessions = ViewerSession.objects.filter(user_id=user_id, stage=stage) if stage else ViewerSession.objects.none()
    return _duration(sessions, {"stageArn": stage_arn}, user_id=user_id)


def room_watch_duration(*, user_id: str, room_id: str) -> dict:
    """Seconds over all of this user's sessions on every stage the room ever had."""
    sessions = ViewerSession.objects.filter(user_id=user_id, stage__room_id=room_id)
    return _duration(sessions, {"roomId": room_id}, user_id=user_id)
