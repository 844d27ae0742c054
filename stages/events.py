"""EventBridge "IVS Stage Update" events: the fast path for "is the host live".

EventBridge delivery is best effort: events can be duplicated, late by hours, and out of order
(an Unpublished may arrive before its Published). So each event is de-duplicated by id, and
applied through `stages.hostlive.apply`, which keeps only what is newer than the state it would
overwrite — per participant, ordered by the event's own `time`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from ivsproject.api.exceptions import ValidationFailed
from ivsproject.redis import get_redis, key
from stages import hostlive
from stages.ivs import is_valid_stage_arn
from stages.models import Stage
from stages.selectors import live_stages

logger = logging.getLogger(__name__)

PUBLISHED = "Participant Published"
UNPUBLISHED = "Participant Unpublished"
HANDLED = {PUBLISHED: True, UNPUBLISHED: False}
_SEEN_TTL = 48 * 3600  # IVS retries delivery for a few hours; remember ids for longer
# Events are ordered by their own time and the newest wins, so an event dated in the future would
# outrank every poll until that date: one "Published" from 9999 would keep the host live for good.
# AWS stamps events when they happen; allow only the clock skew between its clocks and ours.
MAX_FUTURE_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class StageEvent:
    id: str
    source: str
    detail_type: str
    stage_arn: str
    name: str
    participant_id: str
    time: datetime


def parse_event(event: Any) -> StageEvent:
    """Validate an EventBridge event's shape; VALIDATION_ERROR (no side effects) when malformed."""
    if not isinstance(event, dict):
        raise ValidationFailed(_("事件格式無效"))
    detail = event.get("detail")
    resources = event.get("resources")
    missing = [
        name for name, value in (("id", event.get("id")), ("time", event.get("time")), ("detail", detail)) if not value
    ]
    if missing:
        raise ValidationFailed(_("事件格式無效"), details={"missingFields": missing})
    if (
        not isinstance(detail, dict)
        or not isinstance(resources, list)
        or not resources
        or not all(isinstance(r, str) for r in resources)
        or not isinstance(event["id"], str)
        or len(event["id"]) > 128
        or not isinstance(event["time"], str)
    ):
        raise ValidationFailed(_("事件格式無效"))
    try:
        at = datetime.fromisoformat(event["time"].replace("Z", "+00:00"))
    except ValueError:
        raise ValidationFailed(_("事件格式無效"), details={"time": event["time"][:40]}) from None
    if at.tzinfo is None:
        raise ValidationFailed(_("事件格式無效"), details={"time": event["time"][:40]})
    if at > timezone.now() + MAX_FUTURE_SKEW:
        raise ValidationFailed(
            _("事件格式無效"),
            details={"time": event["time"][:40], "maxFutureSeconds": int(MAX_FUTURE_SKEW.total_seconds())},
        )
    stage_arn = resources[0]
    participant = detail.get("participant_id")
    name = detail.get("event_name")
    if not is_valid_stage_arn(stage_arn) or not isinstance(name, str):
        raise ValidationFailed(_("事件格式無效"))
    return StageEvent(
        id=event["id"],
        source=str(event.get("source")),
        detail_type=str(event.get("detail-type")),
        stage_arn=stage_arn,
        name=name,
        participant_id=participant if isinstance(participant, str) else "",
        time=at,
    )


def ivs_event_handle(*, event: StageEvent) -> str:
    """One EventBridge event → "applied" | "stale" | "duplicate" | "ignored"."""
    if event.source != "aws.ivs" or event.detail_type != "IVS Stage Update" or event.name not in HANDLED:
        return "ignored"
    # The event's stage names its room: only a room's master stage carries its host.
    master = live_stages().filter(arn=event.stage_arn, role=Stage.Role.MASTER).first()
    if master is None or not event.participant_id:
        return "ignored"
    if not get_redis().set(key("ivs-events", "seen", event.id), "1", nx=True, ex=_SEEN_TTL):
        return "duplicate"
    applied, _live = hostlive.apply([(event.participant_id, event.time, HANDLED[event.name])], room_id=master.room_id)
    if not applied:
        logger.info("ignored stale IVS event %s (%s at %s)", event.id, event.name, event.time.isoformat())
        return "stale"
    return "applied"
