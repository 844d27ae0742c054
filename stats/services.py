"""Is the host live? From IVS (a published participant on the master stage), not guessed."""

from __future__ import annotations

import logging

from django.conf import settings
from django.utils import timezone

from ivsproject.redis import get_redis
from stages import ivs
from stages.models import Stage
from stages.selectors import master_stage
from stats.events import publisher_state_apply, publisher_state_key
from stats.selectors import publisher_live_key

logger = logging.getLogger(__name__)


def publisher_live_set(*, live: bool) -> None:
    # A TTL of a few poll intervals: if polling stops, the flag decays to "not live"
    # instead of claiming a live host forever.
    ttl = max(settings.STATS_PUSH_INTERVAL_SECONDS * 6, 60)
    get_redis().set(publisher_live_key(), "1" if live else "0", ex=ttl)


def publisher_live_refresh() -> bool:
    """Poll IVS within the call budget: GetStage for the active session, then
    ListParticipants(filterByPublished=true) on it."""
    stage = master_stage()
    if stage is None:
        publisher_live_set(live=False)
        return False
    remote = ivs.get_stage(arn=stage.arn)
    session_id = remote.active_session_id or ""
    if session_id != stage.active_session_id:
        Stage.objects.filter(pk=stage.pk).update(active_session_id=session_id)
    published: set[str] = set()
    if session_id:
        participants = ivs.list_participants(
            stage_arn=stage.arn, session_id=session_id, filter_by_published=True, filter_by_state="CONNECTED"
        )
        published = {p.participant_id for p in participants if p.published and p.state == "CONNECTED"}
    # Written through the same time-ordered state as EventBridge events, so a late event never
    # overrides a newer poll and the poll repairs any event that was lost.
    now = timezone.now()
    known = set(get_redis().hkeys(publisher_state_key()))
    updates = [(pid, now, True) for pid in published] + [(pid, now, False) for pid in known - published]
    if not updates:
        publisher_live_set(live=False)
        return False
    _, live, changed = publisher_state_apply(updates)
    if changed and live:
        from stages.tasks import request_autoscale

        request_autoscale()  # replicate the host into overflow stages now
    return live
