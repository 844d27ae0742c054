import pytest

from ivsproject.api import throttling

PINNED_NOW = 1_800_000_000.0


@pytest.fixture
def frozen_ratelimit_clock(monkeypatch):
    """Pin the rate limits' clock: their windows are fixed 60 s slices, so a burst that happened to
    straddle a window's end would see its count start again half-way and make limit tests flaky."""
    monkeypatch.setattr(throttling, "clock", lambda: PINNED_NOW)
    return PINNED_NOW
