import pytest
from django.utils import translation
from moto import mock_aws

from ivsproject.redis import get_redis


@pytest.fixture(autouse=True)
def _no_aws():
    """Every test runs under moto: nothing can ever reach real AWS."""
    with mock_aws():
        yield


@pytest.fixture(autouse=True)
def _fast_ivs(settings, monkeypatch):
    """IVS call budgets raised and botocore's retry backoff zeroed, so no test waits on limits it
    is not about (the budget tests lower them again)."""
    from botocore.retries import standard

    from stages.ivs import client, reset_client

    settings.IVS_STAGE_CALLS_PER_SECOND = 10_000
    settings.IVS_TOKEN_CALLS_PER_SECOND = 10_000
    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", lambda self, context: 0.0)
    monkeypatch.setattr(client, "backoff_seconds", lambda attempt, *, throttled: 0.0)
    reset_client()
    yield
    reset_client()


@pytest.fixture(autouse=True)
def _default_language():
    """Start every test in the default language: Django keeps the last activated language in the
    thread, so an English request would otherwise colour the next test's messages."""
    translation.deactivate()
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _clean_redis():
    """Each test starts with an empty Redis database (embedded server, or db 15 in CI)."""
    client = get_redis()
    client.flushdb()
    yield
    client.flushdb()


class ApiClient:
    """Django test client that speaks the API: JSON bodies and the x-api-key header."""

    def __init__(self, client, key: str = "dev-api-key"):
        self.client = client
        self.headers = {"HTTP_X_API_KEY": key}

    def get(self, path, data=None, **extra):
        return self.client.get(path, data, **{**self.headers, **extra})

    def post(self, path, body=None, **extra):
        import json

        payload = json.dumps(body if body is not None else {})
        return self.client.post(path, payload, content_type="application/json", **{**self.headers, **extra})

    def delete(self, path, **extra):
        return self.client.delete(path, **{**self.headers, **extra})


@pytest.fixture
def api(client, settings):
    settings.API_SECRET_KEYS = ["test-key"]
    settings.RATE_LIMIT_PER_MINUTE = 0
    return ApiClient(client, "test-key")


@pytest.fixture
def master_stage(db):
    from stages.services import stage_ensure_master

    stage, _ = stage_ensure_master()
    return stage


@pytest.fixture
def staff_client(client, db):
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_superuser("ops", "ops@example.com", "pw-for-tests-only")
    client.force_login(user)
    return client


class PinnedClock:
    """A clock seam's time, pinned and advanced by hand."""

    def __init__(self, t: float):
        self.t = t

    def advance(self, seconds: float) -> None:
        self.t += seconds

    def pin(self, monkeypatch, module, name: str) -> "PinnedClock":
        monkeypatch.setattr(module, name, lambda: self.t)
        return self


@pytest.fixture
def clock(monkeypatch):
    """Presence's clock, pinned and advanced by hand (heartbeats, timeouts, watch time)."""
    from stages import presence

    return PinnedClock(1_800_000_000.0).pin(monkeypatch, presence, "now")


@pytest.fixture
def ivs_events(client, settings, monkeypatch):
    """POST /api/events/ivs with the configured secret (`secret=None`: no secret header; a str body
    is sent as it is). `.pushes` records the stats pushes and autoscale requests it triggered."""
    import json

    from tests.factories import IVS_EVENTS_SECRET

    settings.IVS_EVENTS_SECRET = IVS_EVENTS_SECRET
    pushes = []
    monkeypatch.setattr("stats.tasks.stats_push_now", lambda reason: pushes.append(reason))
    monkeypatch.setattr("autoscaling.tasks.request_autoscale", lambda: pushes.append("autoscale"))

    def send(body, secret=IVS_EVENTS_SECRET, **headers):
        payload = body if isinstance(body, str) else json.dumps(body)
        if secret is not None:
            headers["HTTP_X_IVS_EVENTS_SECRET"] = secret
        return client.post("/api/events/ivs", payload, content_type="application/json", **headers)

    send.pushes = pushes
    return send


@pytest.fixture
def wsgi_app_called_directly():
    """For tests that call a WSGI app themselves, as Django's test client does: Django's request
    signals must not close the test's connection (it is inside the test's transaction)."""
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)
