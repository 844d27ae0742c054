import logging

from celery import shared_task

from ivsproject.api.exceptions import ApiError
from ivsproject.locks import single_run
from stats.services import publisher_live_refresh

logger = logging.getLogger(__name__)


@shared_task(name="stats.publisher_live_poll")
def poll_publisher_live() -> bool | None:
    with single_run("publisher-live-poll", ttl_seconds=30) as acquired:
        if not acquired:
            return None
        try:
            return publisher_live_refresh()
        except ApiError as exc:  # IVS unreachable or throttled: keep the last answer until its TTL
            logger.warning("publisher-live poll failed: %s %s", exc.code, exc.message)
            return None
