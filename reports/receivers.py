"""Broadcasts follow the host: opened, continued or ended on `host_live_changed`, their peak raised
on `stats_pushed`. A receiver never raises into the sender (the host-live path, the stats push):
the sampling task repairs anything a failed receiver left undone."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from reports import broadcasts
from stages.signals import host_live_changed
from stats.signals import stats_pushed

logger = logging.getLogger(__name__)


def follow_host(sender: Any, *, room_id: str, live: bool, **kwargs: Any) -> None:
    try:
        if live:
            broadcasts.went_live(room_id)
        else:
            broadcasts.went_offline(room_id)
    except Exception:
        logger.warning("could not record the broadcast of room %s (live=%s)", room_id, live, exc_info=True)


def raise_peak(sender: Any, *, totals: dict[str, int], at: float, **kwargs: Any) -> None:
    try:
        broadcasts.raise_peaks(totals, at=datetime.fromtimestamp(at, tz=UTC))
    except Exception:
        logger.warning("could not raise the broadcasts' peaks", exc_info=True)


def connect() -> None:
    host_live_changed.connect(follow_host, dispatch_uid="reports.follow-host")
    stats_pushed.connect(raise_peak, dispatch_uid="reports.raise-peak")
