import logging

from celery import shared_task
from django.conf import settings
from django.db import transaction

from stats.broadcast import stats_broadcast, stats_push_gate

logger = logging.getLogger(__name__)


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
    try:
        stats_broadcast(reason=reason)
    except Exception:  # the next tick will carry the news anyway
        logger.warning("stats push (%s) failed", reason, exc_info=True)
        return False
    return True


def stats_push_now(reason: str) -> None:
    """Ask for an immediate push (host live/offline, stage created/deleted). Best effort: it runs
    after the caller's transaction commits, through Celery, and never raises into the caller."""

    def enqueue() -> None:
        try:
            push_stats_now.apply_async(
                kwargs={"reason": reason}, expires=float(settings.STATS_PUSH_INTERVAL_SECONDS * 2)
            )
        except Exception:
            logger.warning("could not queue an immediate stats push (%s)", reason, exc_info=True)

    try:
        transaction.on_commit(enqueue)
    except Exception:  # no usable database connection: queue it now, the worker reads committed data anyway
        logger.warning("could not defer the stats push (%s) to commit", reason, exc_info=True)
        enqueue()
