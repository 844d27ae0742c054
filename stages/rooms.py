"""Rooms (直播間): create with its master stage in IVS, delete with its stages and sessions.

A room's stages are created and deleted through the stage services, so every rule of a stage
(caps, tags, the crash-safe order of a deletion) holds for a room's too.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from ivsproject.api.exceptions import (
    ApiError,
    Conflict,
    Forbidden,
    NotFound,
    RoomLimitReached,
    ValidationFailed,
)
from stages import hostlive, ivs, services
from stages.models import Room
from stages.selectors import live_rooms, live_stages, room_or_404, validate_room_id, viewer_counts

logger = logging.getLogger(__name__)


def room_create(*, room_id: object, name: str | None = None, tags: dict[str, str] | None = None) -> Room:
    """Create a room and its master stage in IVS (201), or say why not: 400 malformed, 409 exists,
    503 ROOM_LIMIT_REACHED / STAGE_LIMIT_REACHED (the account's cap leaves no room for a master).

    The row is written first and the master stage second: if CreateStage fails the row goes again;
    if the process dies in between, the autoscaler's reconcile gives the room its master (it adopts
    the stage if IVS created it, or creates one).
    """
    valid = validate_room_id(room_id)
    tags = dict(tags or {})
    if len(tags) > 47:  # IVS allows 50 tags a stage; three are ours
        raise ValidationFailed(_("tags 最多 50 組"))
    lock = services.create_lock()
    try:
        if live_rooms().filter(room_id=valid).exists():
            raise Conflict(_("直播間已存在"), details={"roomId": valid})
        if live_rooms().count() >= settings.MAX_ROOMS:
            raise RoomLimitReached(settings.MAX_ROOMS)
        services.check_account_stage_cap()  # no room for the new room's master
        room, _created = Room.objects.update_or_create(
            room_id=valid,
            defaults={"name": name or valid, "tags": tags, "created_at": timezone.now(), "deleted_at": None},
        )
        try:
            services.stage_ensure_master(valid)
        except ApiError:
            room.deleted_at = timezone.now()
            room.save(update_fields=["deleted_at"])
            raise
    finally:
        services.release_lock(lock)
    return room


def room_delete(*, room_id: object) -> None:
    """Delete a room: every stage of it in IVS (overflow first, the master last), its open sessions
    closed with their watch time, then the room. `default` never (403); never with viewers (400).

    Safe to retry after a partial failure (IVS throttled or down half way): each stage is recorded
    deleted once and its sessions closed once, and the next try carries on with what is left.
    """
    room = room_or_404(room_id)
    if room.is_default:
        raise Forbidden(_("無法刪除預設直播間"))
    stages = list(live_stages(room.room_id))
    viewers = sum(viewer_counts(stages).values())
    if viewers > 0:
        raise ValidationFailed(_("直播間中仍有觀眾，無法刪除"), details={"viewerCount": viewers})
    for stage in sorted(stages, key=lambda s: s.is_master):
        try:
            ivs.delete_stage(arn=stage.arn)
        except NotFound:
            logger.info("stage %s of room %s was already gone in IVS", stage.arn, room.room_id)
        with transaction.atomic():
            services.stage_mark_deleted(stage=stage)
    room.deleted_at = timezone.now()
    room.save(update_fields=["deleted_at"])
    hostlive.forget(room.room_id)
