import pytest
from django.utils import translation

from ivsproject.api import throttling

PINNED_NOW = 1_800_000_000.0


@pytest.fixture
def frozen_ratelimit_clock(monkeypatch):
    """Pin the rate limits' clock: their windows are fixed 60 s slices, so a burst that happened to
    straddle a window's end would see its count start again half-way and make limit tests flaky."""
    monkeypatch.setattr(throttling, "clock", lambda: PINNED_NOW)
    return PINNED_NOW


@pytest.fixture(autouse=True)
def _default_language():
    """Start every test in the default language: Django keeps the last activated language in the
    thread, so an English request would otherwise colour the next test's messages."""
    translation.deactivate()
    yield
    translation.deactivate()
