import types

import pytest
from django.utils import translation
from django_ratelimit import core as ratelimit_core


@pytest.fixture
def frozen_ratelimit_clock(monkeypatch):
    """Pin django-ratelimit's clock: its windows are fixed 60 s buckets, so a burst that happened to
    straddle a bucket edge would reset the count half-way and make limit tests flaky."""
    clock = types.SimpleNamespace(time=lambda: 1_800_000_000.0)
    monkeypatch.setattr(ratelimit_core, "time", clock)
    return clock


@pytest.fixture(autouse=True)
def _default_language():
    """Start every test in the default language: Django keeps the last activated language in the
    thread, so an English request would otherwise colour the next test's messages."""
    translation.deactivate()
    yield
    translation.deactivate()
