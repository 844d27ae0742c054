"""How viewers follow the stages below them."""

from __future__ import annotations

from typing import Any

from stages.models import Stage
from stages.signals import stage_deleted
from viewers.lifecycle import viewer_sessions_close_for_stage


def close_sessions_of_deleted_stage(sender: Any, *, stage: Stage, **kwargs: Any) -> None:
    viewer_sessions_close_for_stage(stage=stage)


def connect() -> None:
    stage_deleted.connect(close_sessions_of_deleted_stage, dispatch_uid="viewers.close-on-stage-deleted")
