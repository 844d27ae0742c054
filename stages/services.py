"""Writes to the stage registry, always together with IVS (through `stages.ivs` only)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from ivsproject.api.exceptions import (
    ApiError,
    Forbidden,
    NotFound,
    ServiceUnavailable,
    StageLimitReached,
    ValidationFailed,
)
from ivsproject.redis import get_redis, key
from stages import ivs, presence
from stages.models import Room, Stage
from stages.selectors import live_rooms, live_stages, master_stage, room_or_404, stage_by_arn, viewer_count
from stages.signals import stage_created, stage_deleted

logger = logging.getLogger(__name__)

# Serialises "count, CreateStage, record" across every process so concurrent creates can never
# pass MAX_STAGES. The timeout outlives a slow CreateStage (budget wait + AWS retries).
_CREATE_LOCK_TIMEOUT = 60
_CREATE_LOCK_WAIT = 20


def default_tags(managed_by: str, room_id: str = Room.DEFAULT) -> dict[str, str]:
    """Our markers on every stage we create in IVS: a registry rebuilt from IVS (`stages_sync`)
    adopts exactly ours, each into its room. The default room's stages carry no Room tag, exactly
    as before rooms existed (a stage without one is the default room's)."""
    tags = {"Environment": settings.ENVIRONMENT, "ManagedBy": managed_by}
    if room_id != Room.DEFAULT:
        tags["Room"] = room_id
    return tags


def _room_of(ivs_stage: ivs.IvsStage) -> str:
    # A stage created before rooms carries no Room tag: it is the default room's.
    return ivs_stage.tags.get("Room") or Room.DEFAULT


def _record(ivs_stage: ivs.IvsStage, *, role: str, managed_by: str, room_id: str | None = None) -> Stage:
    stage, _created = Stage.objects.update_or_create(
        arn=ivs_stage.arn,
        defaults={
            "room_id": room_id or _room_of(ivs_stage),
            "name": ivs_stage.name,
            "role": role,
            "status": Stage.Status.ACTIVE,
            "auto_scaled": role == Stage.Role.OVERFLOW,
            "managed_by": managed_by,
            "tags": ivs_stage.tags,
            "active_session_id": ivs_stage.active_session_id or "",
            "whip_endpoint": ivs_stage.whip_endpoint or "",
            "events_endpoint": ivs_stage.events_endpoint or "",
            "deleted_at": None,
            "status_changed_at": timezone.now(),
        },
    )
    return stage


def create_lock() -> Any:
    # Serialises "count, CreateStage, record" (and room creation) across every process so
    # concurrent creates can never pass MAX_STAGES, ACCOUNT_MAX_STAGES or MAX_ROOMS.
    lock = get_redis().lock(
        key("lock", "stage-create"), timeout=_CREATE_LOCK_TIMEOUT, blocking_timeout=_CREATE_LOCK_WAIT
    )
    if not lock.acquire():
        raise ServiceUnavailable(details={"reason": "stage creation is busy"})
    return lock


def release_lock(lock: Any) -> None:
    try:
        lock.release()
    except Exception:  # lock expired under a very slow AWS call: nothing left to release
        logger.warning("stage-create lock expired before release")


def _check_stage_caps(room_id: str) -> None:
    """STAGE_LIMIT_REACHED naming the cap that was hit: the room's, then the account's."""
    if live_stages(room_id).count() >= settings.MAX_STAGES:
        raise StageLimitReached(settings.MAX_STAGES)
    check_account_stage_cap()


def check_account_stage_cap() -> None:
    """STAGE_LIMIT_REACHED when every stage the account may have (all rooms together) is live."""
    if live_stages().count() >= settings.ACCOUNT_MAX_STAGES:
        raise StageLimitReached(settings.ACCOUNT_MAX_STAGES)


def stage_create(
    *,
    name: str,
    tags: dict[str, str] | None = None,
    role: str = Stage.Role.MANUAL,
    managed_by: str = Stage.ManagedBy.API_SERVER,
    room_id: str = Room.DEFAULT,
) -> Stage:
    merged = {**default_tags(managed_by, room_id), **(tags or {})}
    # A caller's tags may say more but never move the stage to another room on a reconcile.
    merged.pop("Room", None)
    merged.update({k: v for k, v in default_tags(managed_by, room_id).items() if k == "Room"})
    if len(merged) > 50:
        raise ValidationFailed(_("tags 最多 50 組"))
    room_or_404(room_id)
    lock = create_lock()
    try:
        _check_stage_caps(room_id)
        created = ivs.create_stage(name=name, tags=merged)
        after_ivs_create(created)
        stage = _record(created, role=role, managed_by=managed_by, room_id=room_id)
    finally:
        release_lock(lock)
    _announce_created(stage)
    return stage


def _announce_created(stage: Stage) -> None:
    def send() -> None:
        stage_created.send(sender=Stage, stage=stage)

    transaction.on_commit(send)


def after_ivs_create(created: ivs.IvsStage) -> None:
    """Test hook: the moment between CreateStage and our database write, where a crash leaves an
    orphan in IVS. Our tags make the reconcile step (`stages_sync`) adopt it on the next run."""


def stage_mark_deleted(*, stage: Stage) -> Stage:
    stage.status = Stage.Status.DELETED
    stage.deleted_at = stage.status_changed_at = timezone.now()
    stage.save(update_fields=["status", "deleted_at", "status_changed_at", "updated_at"])
    # Synchronous: the receivers close the stage's durable sessions before its presence goes, so a
    # crash in between leaves presence to a re-run, never a session without its watch time.
    stage_deleted.send(sender=Stage, stage=stage)
    presence.drop_stage(stage.stage_id, room_id=stage.room_id)
    return stage


def stage_delete(*, arn: str, force_viewers: bool = False) -> Stage:
    """Delete a stage: never the master, never with viewers (unless the autoscaler drained it)."""
    stage = stage_by_arn(arn)
    if stage.is_master:
        raise Forbidden(_("無法刪除主 Stage"))
    count = viewer_count(stage)
    if count > 0 and not force_viewers:
        raise ValidationFailed(_("Stage 中仍有觀眾，無法刪除"), details={"viewerCount": count})
    try:
        ivs.delete_stage(arn=stage.arn)
    except NotFound:
        logger.info("stage %s was already gone in IVS; recording it as deleted", stage.arn)
    return stage_mark_deleted(stage=stage)


def master_stage_name(room_id: str) -> str:
    return settings.IVS_MASTER_STAGE_NAME if room_id == Room.DEFAULT else f"{room_id}-master"


def stage_ensure_master(room_id: str = Room.DEFAULT) -> tuple[Stage, str]:
    """Idempotently make sure the room has a master stage. Returns (stage, what happened)."""
    if settings.IVS_MASTER_STAGE_ARN and room_id == Room.DEFAULT:
        found = ivs.get_stage(arn=settings.IVS_MASTER_STAGE_ARN)
        current = master_stage(room_id)
        if current is not None and current.arn != found.arn:
            current.role = Stage.Role.MANUAL
            current.save(update_fields=["role", "updated_at"])
        return _record(found, role=Stage.Role.MASTER, managed_by=Stage.ManagedBy.API_SERVER, room_id=room_id), "adopted"
    current = master_stage(room_id)
    if current is not None:
        try:
            refreshed = ivs.get_stage(arn=current.arn)
        except NotFound:
            logger.warning("master stage %s vanished from IVS; creating a new one", current.arn)
            stage_mark_deleted(stage=current)
        else:
            return _record(refreshed, role=Stage.Role.MASTER, managed_by=current.managed_by, room_id=room_id), "exists"
    name = master_stage_name(room_id)
    wanted = default_tags(Stage.ManagedBy.API_SERVER, room_id)
    taken = set(live_stages().values_list("arn", flat=True))
    for candidate in ivs.list_stages():
        if (
            candidate.name == name
            and candidate.arn not in taken
            and _room_of(candidate) == room_id
            and all(candidate.tags.get(k) == v for k, v in wanted.items() if k != "Room")
        ):
            return _record(candidate, role=Stage.Role.MASTER, managed_by=Stage.ManagedBy.API_SERVER), "re-found"
    created = ivs.create_stage(name=name, tags=wanted)
    after_ivs_create(created)
    try:
        with transaction.atomic():
            return _record(created, role=Stage.Role.MASTER, managed_by=Stage.ManagedBy.API_SERVER), "created"
    except IntegrityError:
        # Another process recorded a master at the same moment: keep theirs, drop ours.
        ivs.delete_stage(arn=created.arn)
        stage = master_stage(room_id)
        assert stage is not None
        return stage, "exists"


def _is_ours(ivs_stage: ivs.IvsStage) -> bool:
    return ivs_stage.tags.get("Environment") == settings.ENVIRONMENT and ivs_stage.tags.get("ManagedBy") in (
        Stage.ManagedBy.API_SERVER,
        Stage.ManagedBy.AUTO_SCALER,
    )


@dataclass
class SyncReport:
    adopted: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    orphaned: list[str] = field(default_factory=list)  # of a deleted room: deleted in IVS
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0
    errors: list[str] = field(default_factory=list)


def _delete_orphan(arn: str, report: SyncReport) -> bool:
    """Delete in IVS a stage of no live room; whether it is gone (an error is reported)."""
    try:
        ivs.delete_stage(arn=arn)
    except NotFound:
        pass
    except ApiError as exc:
        report.errors.append(f"{arn}: {exc.message}")
        return False
    return True


def stages_sync(*, dry_run: bool = False) -> SyncReport:
    """Reconcile the registry with IVS: adopt our tagged stages we lack, mark vanished ones deleted."""
    report = SyncReport()
    started = timezone.now()
    in_ivs = {s.arn: s for s in ivs.list_stages()}
    registry = {s.arn: s for s in live_stages()}
    rooms = set(live_rooms().values_list("room_id", flat=True))
    for arn, remote in in_ivs.items():
        if arn in registry:
            local = registry[arn]
            if local.room_id not in rooms:
                # Recorded for a room deleted while the stage was being created: no viewer is ever
                # seated on it and nothing else would delete it.
                report.orphaned.append(arn)
                if not dry_run and _delete_orphan(arn, report):
                    stage_mark_deleted(stage=local)
                continue
            if local.tags != remote.tags or local.name != remote.name:
                report.updated.append(arn)
                if not dry_run:
                    _record(remote, role=local.role, managed_by=local.managed_by, room_id=local.room_id)
            else:
                report.unchanged += 1
        elif _is_ours(remote):
            room_id = _room_of(remote)
            if room_id not in rooms:
                # A stage of a room that was deleted (or never recorded): finish the deletion in
                # IVS rather than adopt it into nowhere.
                report.orphaned.append(arn)
                if not dry_run:
                    _delete_orphan(arn, report)
                continue
            report.adopted.append(arn)
            if not dry_run:
                managed_by = remote.tags["ManagedBy"]
                role = Stage.Role.OVERFLOW if managed_by == Stage.ManagedBy.AUTO_SCALER else Stage.Role.MANUAL
                if remote.name == master_stage_name(room_id) and master_stage(room_id) is None:
                    role = Stage.Role.MASTER
                _record(remote, role=role, managed_by=managed_by, room_id=room_id)
    for arn, local in registry.items():
        # Only stages recorded before the listing began: one created meanwhile is not "vanished".
        if arn not in in_ivs and local.created_at < started:
            report.deleted.append(arn)
            if not dry_run:
                try:
                    stage_mark_deleted(stage=local)
                except ApiError as exc:
                    report.errors.append(f"{arn}: {exc.message}")
    return report
