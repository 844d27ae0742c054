"""GET /health: real dependency checks with short timeouts, process memory, uptime."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
from django.conf import settings
from django.db import connection
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ivsproject.api.envelope import ok
from ivsproject.api.exceptions import ServiceUnavailable, error_response
from ivsproject.api.schema import envelope_responses
from ivsproject.redis import get_redis

STARTED_AT = time.monotonic()
_MB = 1024 * 1024


def _memory_total_bytes() -> int:
    """The cgroup limit when the process runs under one (containers), else the machine's RAM."""
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            raw = Path(path).read_text().strip()
        except OSError:
            continue
        if raw.isdigit() and int(raw) < psutil.virtual_memory().total:
            return int(raw)
    return psutil.virtual_memory().total


def redis_ok() -> bool:
    try:
        return bool(get_redis().ping())
    except Exception:
        return False


def database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return True
    except Exception:
        connection.close_if_unusable_or_obsolete()
        return False


# Whether a master stage is configured is the stages app's to say; it registers the check when it
# loads (plumbing never imports an app above it).
_stage_configured_checks: list[Callable[[], bool]] = []


def register_stage_configured_check(check: Callable[[], bool]) -> None:
    if check not in _stage_configured_checks:
        _stage_configured_checks.append(check)


def master_stage_configured() -> bool:
    try:
        return any(check() for check in _stage_configured_checks)
    except Exception:
        return False


def health_snapshot() -> dict[str, Any]:
    redis_up = redis_ok()
    db_up = database_ok()
    rss = psutil.Process(os.getpid()).memory_info().rss
    return {
        "status": "healthy" if redis_up and db_up else "unhealthy",
        "uptime": round(time.monotonic() - STARTED_AT, 3),
        "environment": settings.ENVIRONMENT,
        "version": settings.VERSION,
        "services": {
            "redis": "connected" if redis_up else "disconnected",
            "database": "connected" if db_up else "disconnected",
            "aws": {"region": settings.AWS_REGION, "stageConfigured": db_up and master_stage_configured()},
        },
        "memory": {
            "used": round(rss / _MB, 1),
            "total": round(_memory_total_bytes() / _MB, 1),
            "unit": "MB",
        },
    }


class AwsHealthSerializer(serializers.Serializer):
    region = serializers.CharField()
    stageConfigured = serializers.BooleanField()


class ServicesSerializer(serializers.Serializer):
    redis = serializers.ChoiceField(choices=["connected", "disconnected"])
    database = serializers.ChoiceField(choices=["connected", "disconnected"])
    aws = AwsHealthSerializer()


class MemorySerializer(serializers.Serializer):
    used = serializers.FloatField()
    total = serializers.FloatField()
    unit = serializers.CharField()


class HealthSerializer(serializers.Serializer):
    status = serializers.CharField()
    uptime = serializers.FloatField()
    environment = serializers.CharField()
    version = serializers.CharField()
    services = ServicesSerializer()
    memory = MemorySerializer()


class HealthApi(APIView):
    authentication_classes: list = []
    permission_classes: list = []
    throttle_classes: list = []

    @extend_schema(
        operation_id="health",
        summary="Service health (no auth)",
        auth=[],
        responses=envelope_responses(HealthSerializer, errors=(503,), auth=False),
    )
    def get(self, request: Request) -> Response:
        snapshot = health_snapshot()
        if snapshot["status"] != "healthy":
            failed = [name for name in ("redis", "database") if snapshot["services"][name] != "connected"]
            return error_response(ServiceUnavailable(details={"failed": failed, **snapshot}))
        return ok(snapshot)
