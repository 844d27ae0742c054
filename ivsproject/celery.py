"""The Celery app, its logging, and the worker's and beat's heartbeats for `manage.py probe`.

This module is imported by `ivsproject/__init__.py`, so by every process before Django is set up:
what needs Django is imported where it runs, once the worker or beat has set Django up.
"""

import logging
import os
import threading
import time
from typing import Any

from celery import Celery, bootsteps
from celery.beat import PersistentScheduler
from celery.signals import beat_init, celeryd_init, setup_logging

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ivsproject.settings")

logger = logging.getLogger(__name__)

app = Celery("ivsproject")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@setup_logging.connect
def use_django_logging(**kwargs: Any) -> None:
    """Celery sets its logging up only when nothing receives this signal; here it is Django's
    LOGGING for the worker and beat too: JSON lines in production, the same redaction of keys,
    secrets and tokens. Celery still sends stray prints to the log (worker_redirect_stdouts)."""
    from django.conf import settings
    from django.utils.log import configure_logging

    configure_logging(settings.LOGGING_CONFIG, settings.LOGGING)
    logging.captureWarnings(True)  # Python warnings (Celery's privilege warning) as log records


@celeryd_init.connect
def worker_output_as_log_lines(**kwargs: Any) -> None:
    """The worker's logging from its very start (Celery sets it up only later, after a privilege
    warning has been written as plain text), and its standard output as log lines.

    Celery writes a few human lines straight to the file descriptor (`worker: Warm shutdown`, with
    blank lines around), past any logging; in production they become log records too, so that every
    line the process writes is one JSON object (blank ones are dropped)."""
    from django.conf import settings

    use_django_logging()
    if settings.LOG_FORMAT == "json":
        _stdout_to_log()


@beat_init.connect
def beat_output_as_log_lines(**kwargs: Any) -> None:
    from django.conf import settings

    if settings.LOG_FORMAT == "json":
        _stdout_to_log()


def _stdout_to_log() -> None:
    """File descriptor 1 becomes a pipe whose lines a thread logs (logger `celery.stdout`); pool
    processes forked later inherit it."""
    read_fd, write_fd = os.pipe()
    os.dup2(write_fd, 1)
    os.close(write_fd)
    stdout_logger = logging.getLogger("celery.stdout")

    def relay() -> None:
        with os.fdopen(read_fd, "r", encoding="utf-8", errors="replace") as lines:
            for line in lines:
                if line.strip():
                    stdout_logger.warning("%s", line.rstrip("\n"))

    threading.Thread(target=relay, name="stdout-to-log", daemon=True).start()


def _write(kind: str, node: str) -> None:
    from ivsproject.api.probes import write_heartbeat

    try:
        write_heartbeat(kind, node)
    except Exception as exc:  # Redis away: the heartbeat goes stale and the probe says so
        logger.warning("%s heartbeat not written: %s", kind, exc)


class WorkerHeartbeat(bootsteps.StartStopStep):
    """The worker's heartbeat: written at start, then four times per PROBE_MAX_AGE_SECONDS from the
    timer of the worker's main process (the one that consumes from the broker)."""

    requires = {"celery.worker.components:Timer"}

    def __init__(self, worker: Any, **kwargs: Any) -> None:
        super().__init__(worker, **kwargs)
        self.timer_entry: Any = None

    def start(self, worker: Any) -> None:
        from django.conf import settings

        interval = max(int(settings.PROBE_MAX_AGE_SECONDS) / 4, 1.0)
        _write("worker", worker.hostname)
        self.timer_entry = worker.timer.call_repeatedly(interval, _write, ("worker", worker.hostname))

    def stop(self, worker: Any) -> None:
        if self.timer_entry is not None:
            self.timer_entry.cancel()


app.steps["worker"].add(WorkerHeartbeat)


class HeartbeatScheduler(PersistentScheduler):
    """Celery beat's scheduler (CELERY_BEAT_SCHEDULER) with a heartbeat on each tick, at most once a
    second; CELERY_BEAT_MAX_LOOP_INTERVAL keeps the ticks frequent enough."""

    last_heartbeat = float("-inf")

    def tick(self, *args: Any, **kwargs: Any) -> float:
        now = time.monotonic()
        if now - self.last_heartbeat >= 1.0:
            self.last_heartbeat = now
            _write("beat", "beat")
        return float(super().tick(*args, **kwargs))
