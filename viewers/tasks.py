import logging
from dataclasses import asdict

from celery import shared_task
from django.conf import settings

from ivsproject.locks import single_run
from viewers.cleanup import viewers_cleanup

logger = logging.getLogger(__name__)


@shared_task(name="viewers.cleanup")
def cleanup_viewers() -> dict | None:
    """Beat task: one run at a time across all workers."""
    with single_run("viewers-cleanup", ttl_seconds=max(settings.CLEANUP_INTERVAL_SECONDS * 4, 60)) as acquired:
        if not acquired:
            logger.info("viewer cleanup already running elsewhere; skipping this tick")
            return None
        report = asdict(viewers_cleanup())
        logger.info("viewer cleanup: %s", report)
        return report
