import logging

from celery import shared_task

from ivsproject.api.exceptions import ApiError
from ivsproject.locks import single_run
from stats.broadcast import stats_broadcast, stats_push_gate
from stats.selectors import is_publisher_live
from stats.services import publisher_live_refresh

logger = logging.getLogger(__name__)


@shared_task(name="stats.publisher_live_poll")
def poll_publisher_live() -> bool | None:
    with single_run("publisher-live-poll", ttl_seconds=30) as acquired:
        if not acquired:
            return None
        was_live = is_publisher_live()
        try:
            live = publisher_live_refresh()
        except ApiError as exc:  # IVS unreachable or throttled: keep the last answer until its TTL
            logger.warning("publisher-live poll failed: %s %s", exc.code, exc.message)
            return None
    if live != was_live:
        # Operators see the host go live/offline at once, not at the next tick.
        _broadcast_quietly("publisher-live" if live else "publisher-offline")
    return live


@shared_task(name="stats.push")
def push_stats() -> bool:
    """The ticker (beat, every STATS_PUSH_INTERVAL_SECONDS). Returns whether this call pushed:
    however many workers or beats deliver the tick, one push per interval passes the gate."""
    if not stats_push_gate():
        return False
    stats_broadcast(reason="tick")
    return True


@shared_task(name="stats.push_now")
def push_stats_now(reason: str = "change") -> bool:
    """An immediate push queued by `stats_push_now` when something operators care about changed."""
    return _broadcast_quietly(reason)


def _broadcast_quietly(reason: str) -> bool:
    try:
        stats_broadcast(reason=reason)
    except Exception:  # the next tick will carry the news anyway
        logger.warning("stats push (%s) failed", reason, exc_info=True)
        return False
    return True
