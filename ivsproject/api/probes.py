"""Probes for an orchestrator: `/livez`, `/readyz`, and the Celery worker's and beat's heartbeats.

- `/livez`: the process answers HTTP. Nothing else is checked, so a Redis or database outage never
  gets a healthy web process restarted (it could do nothing about it).
- `/readyz`: send traffic here? 200 when Redis and the database answer; 503 in the envelope when
  either does not, and from the moment the process is told to stop (SIGTERM) until it exits, so the
  load balancer takes it out while its in-flight requests finish.
- `/health` stays the contract's (docs/api.md): dependencies, memory, uptime.

How the web process learns of SIGTERM. granian's main process, on SIGTERM, stops listening and
sends SIGTERM to each worker process (`multiprocessing.Process.terminate`); each worker then lets
its in-flight requests finish and exits. The worker installs its own Python handler for SIGTERM,
after it has imported this app, so a handler installed here would simply be replaced. A signal
wake-up fd is not: `drain_on_termination_signals` (called by the WSGI entry point in granian's
worker processes) gives Python a pipe into which the interpreter writes the number of every signal
that has a Python handler, whatever that handler is; a thread reads it and marks the process as
draining. daphne serves `/ws` only (HTTP there is a 404), so it answers no probe; its own drain on
SIGTERM is `GracefulShutdown` in ivsproject/asgi.py.

Worker and beat liveness: neither serves HTTP, so each writes a heartbeat key with a TTL in Redis
(the worker from a timer in its main process, beat on each scheduler tick; ivsproject/celery.py),
and `manage.py probe worker|beat` exits 0 while it is fresh, 1 when it is stale or missing.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ivsproject.api.envelope import ok
from ivsproject.api.exceptions import ServiceUnavailable, error_response
from ivsproject.api.health import database_ok, redis_ok
from ivsproject.api.schema import envelope_responses
from ivsproject.redis import get_redis, key

logger = logging.getLogger(__name__)

_draining = threading.Event()
TERMINATION_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def draining() -> bool:
    return _draining.is_set()


def start_draining() -> None:
    if not _draining.is_set():
        _draining.set()
        logger.info("shutting down: /readyz answers 503 while in-flight requests finish")


def drain_on_termination_signals() -> bool:
    """Mark the process draining when SIGTERM or SIGINT arrives, whoever handles it (see the module
    docstring). Only from the main thread, and only if no one else uses the wake-up fd (asyncio's
    signal handling and gunicorn's workers do): then it does nothing and says so."""
    if threading.current_thread() is not threading.main_thread():
        return False
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    previous = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    if previous != -1:
        signal.set_wakeup_fd(previous)
        os.close(read_fd)
        os.close(write_fd)
        logger.warning("readiness will not see SIGTERM: the signal wake-up fd is already in use")
        return False
    threading.Thread(target=_watch_signals, args=(read_fd,), name="drain-on-sigterm", daemon=True).start()
    return True


def _watch_signals(read_fd: int) -> None:
    while True:
        try:
            numbers = os.read(read_fd, 64)
        except InterruptedError:
            continue
        if not numbers:
            return
        if any(number in TERMINATION_SIGNALS for number in numbers):
            start_draining()


# --- HTTP probes --------------------------------------------------------------------------------


class LiveSerializer(serializers.Serializer):
    status = serializers.CharField()


class ReadySerializer(serializers.Serializer):
    status = serializers.CharField()
    services = serializers.DictField(child=serializers.CharField())


class _ProbeApi(APIView):
    # A probe needs no key and is never rate limited: it must answer whoever asks, however often.
    authentication_classes: list = []
    permission_classes: list = []
    throttle_classes: list = []


class LivezApi(_ProbeApi):
    @extend_schema(
        operation_id="livez",
        summary="Liveness: the process answers (no auth, no dependency checked)",
        auth=[],
        responses=envelope_responses(LiveSerializer, auth=False),
    )
    def get(self, request: Request) -> Response:
        return ok({"status": "alive"})


class ReadyzApi(_ProbeApi):
    @extend_schema(
        operation_id="readyz",
        summary="Readiness: Redis and the database answer and the process is not shutting down (no auth)",
        auth=[],
        responses=envelope_responses(ReadySerializer, errors=(503,), auth=False),
    )
    def get(self, request: Request) -> Response:
        if draining():
            return error_response(ServiceUnavailable(details={"draining": True}))
        services = {
            "redis": "connected" if redis_ok() else "disconnected",
            "database": "connected" if database_ok() else "disconnected",
        }
        failed = [name for name, state in services.items() if state != "connected"]
        if failed:
            return error_response(ServiceUnavailable(details={"failed": failed, "services": services}))
        return ok({"status": "ready", "services": services})


# --- Celery heartbeats ---------------------------------------------------------------------------

KINDS = ("worker", "beat")


def default_node(kind: str) -> str:
    """The name a process of `kind` on this host writes its heartbeat under: Celery's default worker
    node name, and one name for beat (exactly one runs in the deployment)."""
    return f"celery@{socket.gethostname()}" if kind == "worker" else "beat"


def heartbeat_key(kind: str, node: str) -> str:
    return key("probe", kind, node)


def write_heartbeat(kind: str, node: str) -> None:
    """Record that `node` is alive now; the key expires after PROBE_MAX_AGE_SECONDS."""
    ttl = max(int(settings.PROBE_MAX_AGE_SECONDS), 1)
    get_redis().set(heartbeat_key(kind, node), f"{time.time():.3f}", ex=ttl)


def heartbeat_age(kind: str, node: str) -> float | None:
    """Seconds since `node`'s last heartbeat, or None when there is none (never written, expired)."""
    raw = get_redis().get(heartbeat_key(kind, node))
    if raw is None:
        return None
    return max(time.time() - float(raw), 0.0)
