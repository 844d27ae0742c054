"""When the autoscaler acts between its beat ticks: viewers waiting for a seat, a stage filling
up, or the host going live (to replicate the host into the overflow stages now)."""

from __future__ import annotations

import logging
from typing import Any

from autoscaling import demand, tasks
from stages.signals import host_live_changed
from viewers.signals import capacity_needed

logger = logging.getLogger(__name__)


def scale_for_waiting_viewers(sender: Any, *, room_id: str, waiting: str | None, **kwargs: Any) -> None:
    try:
        if waiting:
            demand.demand_record(waiting, room_id=room_id)
    except Exception:  # the token path answers STAGE_FULL regardless; the next tick sees the load
        logger.warning("could not record waiting demand", exc_info=True)
    tasks.request_autoscale()


def replicate_when_host_goes_live(sender: Any, *, live: bool, **kwargs: Any) -> None:
    if live:
        tasks.request_autoscale()


def connect() -> None:
    capacity_needed.connect(scale_for_waiting_viewers, dispatch_uid="autoscaling.capacity-needed")
    host_live_changed.connect(replicate_when_host_goes_live, dispatch_uid="autoscaling.host-live")
