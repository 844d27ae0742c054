"""What operators see changes at once, not at the next tick: a stats push for every change the
stages layer announces. A push carries every room (stats/broadcast.py), so the room of the change
(`room_id` of host_live_changed, the stage's room) needs no push of its own: one read of every room
is one Redis round trip like the read of one."""

from __future__ import annotations

from typing import Any

from stages.signals import host_live_changed, stage_created, stage_deleted
from stats import tasks


def push_on_stage_created(sender: Any, **kwargs: Any) -> None:
    tasks.stats_push_now("stage-created")


def push_on_stage_deleted(sender: Any, **kwargs: Any) -> None:
    tasks.stats_push_now("stage-deleted")


def push_on_host_live_changed(sender: Any, *, live: bool, **kwargs: Any) -> None:
    tasks.stats_push_now("publisher-live" if live else "publisher-offline")


def connect() -> None:
    stage_created.connect(push_on_stage_created, dispatch_uid="stats.push.stage-created")
    stage_deleted.connect(push_on_stage_deleted, dispatch_uid="stats.push.stage-deleted")
    host_live_changed.connect(push_on_host_live_changed, dispatch_uid="stats.push.host-live")
