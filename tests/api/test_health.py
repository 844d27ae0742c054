"""GET /health: the spec's fields, real dependency checks, and a quick 503 when Redis is gone."""

import socket
import time

import pytest
from django.db import OperationalError

from ivsproject.redis import reset_redis
from tests.api.helpers import assert_error, assert_success

pytestmark = pytest.mark.django_db


@pytest.fixture
def redis_elsewhere(settings):
    """Point the process's Redis client at `url`; the real one is restored afterwards."""

    def point_at(url):
        settings.REDIS_URL = url
        reset_redis()

    yield point_at
    reset_redis()


@pytest.fixture
def unused_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def silent_port():
    """A port that accepts connections (kernel backlog) but never answers: a hung Redis."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock.getsockname()[1]


def test_health_reports_every_field_of_the_spec(client, settings):
    response = client.get("/health")

    data = assert_success(response)
    assert data["status"] == "healthy"
    assert isinstance(data["uptime"], int | float) and data["uptime"] >= 0
    assert data["environment"] == "development"
    assert data["version"] == "1.2.0"
    assert data["services"]["redis"] == "connected"
    assert data["services"]["aws"]["region"] == settings.AWS_REGION
    assert isinstance(data["services"]["aws"]["stageConfigured"], bool)
    memory = data["memory"]
    assert memory["unit"] == "MB"
    assert isinstance(memory["used"], int | float) and isinstance(memory["total"], int | float)
    assert 0 < memory["used"] < memory["total"]


def test_health_reports_the_configured_region_and_master_stage(client, settings):
    settings.AWS_REGION = "us-east-1"
    settings.IVS_MASTER_STAGE_ARN = "arn:aws:ivs:us-east-1:123456789012:stage/abcdEFGHijkl"

    aws = assert_success(client.get("/health"))["services"]["aws"]

    assert aws == {"region": "us-east-1", "stageConfigured": True}


def test_health_reports_production(client, settings):
    settings.ENVIRONMENT = "production"
    settings.IS_PRODUCTION = True

    assert assert_success(client.get("/health"))["environment"] == "production"


def test_health_with_redis_down_is_503_quickly(client, redis_elsewhere, unused_port):
    redis_elsewhere(f"redis://127.0.0.1:{unused_port}/0")

    started = time.monotonic()
    response = client.get("/health")
    elapsed = time.monotonic() - started

    error = assert_error(response, 503, "SERVICE_UNAVAILABLE")
    assert error["message"] == "服務不可用"
    assert error["details"]["services"]["redis"] == "disconnected"
    assert error["details"]["failed"] == ["redis"]
    assert elapsed < 1.5


def test_health_with_a_hung_redis_is_503_within_the_timeout(client, redis_elsewhere, silent_port):
    redis_elsewhere(f"redis://127.0.0.1:{silent_port}/0")

    started = time.monotonic()
    response = client.get("/health")
    elapsed = time.monotonic() - started

    assert_error(response, 503, "SERVICE_UNAVAILABLE")
    assert elapsed < 1.5


def test_health_with_redis_down_in_production_shows_no_details(client, settings, redis_elsewhere, unused_port):
    settings.IS_PRODUCTION = True
    redis_elsewhere(f"redis://127.0.0.1:{unused_port}/0")

    error = assert_error(client.get("/health"), 503, "SERVICE_UNAVAILABLE")

    assert "details" not in error


def test_health_recovers_when_redis_is_back(client, redis_elsewhere, unused_port, settings):
    real = settings.REDIS_URL
    redis_elsewhere(f"redis://127.0.0.1:{unused_port}/0")
    assert client.get("/health").status_code == 503

    redis_elsewhere(real)

    assert client.get("/health").status_code == 200


class DownDatabase:
    def cursor(self):
        raise OperationalError("connection refused")

    def close_if_unusable_or_obsolete(self):
        pass


def test_health_with_database_down_is_503(client, monkeypatch):
    monkeypatch.setattr("ivsproject.api.health.connection", DownDatabase())

    error = assert_error(client.get("/health"), 503, "SERVICE_UNAVAILABLE")

    assert error["details"]["services"]["database"] == "disconnected"
