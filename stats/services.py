"""Is the host live? From IVS (a published participant on the master stage), not guessed."""

from __future__ import annotations

import logging

from django.conf import settings

from ivsproject.redis import get_redis
from stages import ivs
from stages.models import Stage
from stages.selectors import master_stage
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
    live = False
    if session_id:
        participants = ivs.list_participants(stage_arn=stage.arn, session_id=session_id, filter_by_published=True)
        live = any(p.published and p.state == "CONNECTED" for p in participants)
    publisher_live_set(live=live)
    return live
