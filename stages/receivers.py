"""Stage or Room rows changed → the token path's cached registry (stages/registry.py) is stale.

Why a model signal (the house style keeps logic out of signals; this is only a cache
invalidation): a stage's assignability changes in many places — the services, the autoscaler's
drain/reactivate, the IVS reconcile, the admin, management commands, the shell — and a missed call
would leave every process seating viewers from an outdated list. post_save/post_delete catch all of
them (only `QuerySet.update()`, which no path uses on status or role, bypasses them).

Why on commit: another process that reloads before the change commits would read the old rows
under the new generation and keep them. Inside a transaction the generation is also bumped at
once, so this connection's own next token (and a test, whose transaction never commits) sees it.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.db import transaction
from django.db.models.signals import post_delete, post_migrate, post_save

from stages import registry
from stages.models import Room, Stage


def stage_row_changed(sender: type[Stage | Room], *, using: str, **kwargs: Any) -> None:
    if transaction.get_connection(using).in_atomic_block:
        registry.bump()
    transaction.on_commit(registry.bump, using=using)


def ensure_default_room(sender: object, *, using: str = "default", **kwargs: Any) -> None:
    """`default` always exists: the migration creates it, and this puts it back after a flush (which
    empties every table and then announces post_migrate), so a stage can always belong to it."""
    Room.objects.using(using).get_or_create(room_id=Room.DEFAULT, defaults={"name": Room.DEFAULT})


def connect() -> None:
    post_migrate.connect(ensure_default_room, sender=apps.get_app_config("stages"), dispatch_uid="stages.default-room")
    post_save.connect(stage_row_changed, sender=Stage, dispatch_uid="stages.registry.saved")
    post_delete.connect(stage_row_changed, sender=Stage, dispatch_uid="stages.registry.deleted")
    post_save.connect(stage_row_changed, sender=Room, dispatch_uid="stages.registry.room-saved")
    post_delete.connect(stage_row_changed, sender=Room, dispatch_uid="stages.registry.room-deleted")
