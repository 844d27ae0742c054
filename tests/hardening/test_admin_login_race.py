"""The admin login throttle under concurrency: a burst of wrong passwords from one address, sent
at once, gets at most ADMIN_LOGIN_MAX_FAILURES password checks, and a locked-out address is refused
even the right password. Password checks are observed through a counting password hasher."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from ivsproject.api import throttling
from tests.concurrency import at_once
from tests.hardening.hashers import HASHERS, CountingHasher

PASSWORD = "correct horse battery staple"
LOGIN = "/admin/login/"
NOW = 1_800_000_000.0
LIMIT = 5
BURST = 30


@pytest.fixture
def counting_superuser(settings, monkeypatch, transactional_db):
    """A superuser whose password goes through the counting hasher; the throttle's clock pinned so
    the burst never straddles two windows."""
    monkeypatch.setattr(throttling, "clock", lambda: NOW)
    settings.PASSWORD_HASHERS = HASHERS
    settings.ADMIN_LOGIN_MAX_FAILURES = LIMIT
    user = get_user_model().objects.create_superuser("root", "root@example.com", PASSWORD)
    CountingHasher.reset()
    yield user
    CountingHasher.reset()


def login(client: Client, password: str, ip: str = "203.0.113.9"):
    return client.post(LOGIN, {"username": "root", "password": password, "next": "/admin/"}, REMOTE_ADDR=ip)


def burst(password: str, count: int) -> list[int]:
    """`count` logins from one address, released together; their status codes."""
    outcomes = at_once(lambda: login(Client(), password).status_code, count)
    assert all(isinstance(o, int) for o in outcomes), outcomes
    return [o for o in outcomes if isinstance(o, int)]


def test_concurrent_wrong_passwords_get_at_most_the_limit_of_password_checks(counting_superuser):
    # Each check takes a while, as a real hash does: without an atomic count every attempt of the
    # burst would read "under the limit" before the first failures were counted.
    CountingHasher.reset(pause_seconds=0.05)

    statuses = burst("wrong", BURST)

    assert len(statuses) == BURST
    assert CountingHasher.verified == LIMIT
    assert sorted(statuses) == [200] * LIMIT + [429] * (BURST - LIMIT)


def test_the_right_password_is_refused_while_locked_and_never_checked(counting_superuser):
    burst("wrong", BURST)
    CountingHasher.reset()

    response = login(Client(), PASSWORD)

    assert response.status_code == 429
    assert CountingHasher.verified == 0
    assert "Retry-After" in response


def test_successful_logins_within_the_limit_leave_the_budget_untouched(counting_superuser):
    for _ in range(LIMIT + 2):
        client = Client()
        assert login(client, PASSWORD).status_code == 302
    CountingHasher.reset()

    statuses = [login(Client(), "wrong").status_code for _ in range(LIMIT + 1)]

    assert statuses == [200] * LIMIT + [429]
    assert CountingHasher.verified == LIMIT
