import logging

from celery import shared_task

from ivsproject.api.exceptions import ApiError
from ivsproject.locks import single_run
from stages import hostlive

logger = logging.getLogger(__name__)


@shared_task(name="stages.host_live_poll")
def poll_host_live() -> bool | None:
    """Beat task: repair the host-live state from IVS (events are best effort). A change is
    announced by `stages.hostlive` itself, whichever source found it."""
    with single_run("publisher-live-poll", ttl_seconds=30) as acquired:
        if not acquired:
            return None
        try:
            return hostlive.refresh()
        except ApiError as exc:  # IVS unreachable or throttled: keep the last answer until its TTL
            logger.warning("host-live poll failed: %s %s", exc.code, exc.message)
            return None
