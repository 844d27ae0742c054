import logging

from celery import shared_task
from django.conf import settings

from autoscaling.autoscaler import autoscale_tick
from ivsproject.locks import single_run
from ivsproject.redis import get_redis, key

logger = logging.getLogger(__name__)


@shared_task(name="autoscaling.tick")
def autoscale() -> list[str] | None:
    """Beat task (and on demand): one tick at a time across the whole deployment."""
    with single_run("autoscale", ttl_seconds=max(settings.AUTOSCALE_INTERVAL_SECONDS * 4, 120)) as acquired:
        if not acquired:
            logger.info("autoscale tick already running elsewhere; skipping")
            return None
        decisions = autoscale_tick()
        for decision in decisions:
            logger.info("autoscale: %s", decision)
        return [str(d) for d in decisions]


def request_autoscale() -> None:
    """Ask for a tick now instead of at the next beat. Debounced: a flash crowd hitting STAGE_FULL
    thousands of times a second enqueues one tick every 2 s, not thousands. Best effort."""
    try:
        if get_redis().set(key("autoscale", "requested"), "1", nx=True, ex=2):
            autoscale.delay()
    except Exception:  # the beat tick still comes; a broker hiccup must not fail a token request
        logger.warning("could not request an autoscale tick", exc_info=True)
