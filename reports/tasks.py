import logging
from typing import Any

from celery import shared_task

from reports import broadcasts, retention

logger = logging.getLogger(__name__)


@shared_task(name="reports.sample")
def sample_broadcasts() -> dict[str, Any]:
    """Every REPORT_SAMPLE_SECONDS (beat): each live room's count into its broadcast."""
    return broadcasts.sample()


@shared_task(name="reports.purge")
def purge_reports() -> dict[str, object]:
    """Daily (beat): what is older than REPORT_RETENTION_DAYS, in batches, with progress logged."""

    def progress(what: str, done: int) -> None:
        logger.info("reports retention: %s %s deleted so far", done, what)

    return retention.purge(progress=progress)
