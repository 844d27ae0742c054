"""Reads of the stage registry. Request paths read our database (never IVS ListStages/GetStage,
capped at 5 TPS per account) and viewer counts from Redis presence in one round trip."""

from __future__ import annotations

import re
import time

from django.conf import settings
from django.core import signing
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from ivsproject.api.exceptions import NotFound, ValidationFailed
from stages import presence, registry
from stages.ivs import is_valid_stage_arn, stage_id_from_arn
from stages.models import ROOM_ID_PATTERN, Room, Stage

_PAGE_SALT = "stages.list"


_ROOM_ID = re.compile(ROOM_ID_PATTERN)


def live_stages(room_id: str | None = None) -> QuerySet[Stage]:
    """Live (not deleted) stages: of one room, or of every room when `room_id` is None."""
    stages = Stage.objects.exclude(status=Stage.Status.DELETED)
    return stages if room_id is None else stages.filter(room_id=room_id)


def master_stage(room_id: str = Room.DEFAULT) -> Stage | None:
    return live_stages(room_id).filter(role=Stage.Role.MASTER).first()


def master_stage_configured() -> bool:
    return bool(settings.IVS_MASTER_STAGE_ARN) or master_stage() is not None


def _no_live_stream() -> NotFound:
    return NotFound(_("主播直播不存在"))


def _no_such_room(room_id: str) -> NotFound:
    return NotFound(_("直播間不存在"), details={"roomId": room_id})


def validate_room_id(room_id: object) -> str:
    """A well-formed roomId (400 otherwise); whether the room exists is another question (404)."""
    if not isinstance(room_id, str) or not _ROOM_ID.fullmatch(room_id) or not room_id.isascii():
        raise ValidationFailed(_("roomId 格式無效"), details={"roomId": str(room_id)[:100]})
    return room_id


def room_param(value: object) -> str:
    """The roomId a request names ("" or absent = the room `default`), checked to exist (404)."""
    return room_id_or_404(value) if value else Room.DEFAULT


def live_rooms() -> QuerySet[Room]:
    return Room.objects.filter(deleted_at__isnull=True)


def room_or_404(room_id: object) -> Room:
    """A live room by roomId: malformed → 400, unknown or deleted → 404 `直播間不存在`."""
    valid = validate_room_id(room_id)
    room = live_rooms().filter(room_id=valid).first()
    if room is None:
        raise _no_such_room(valid)
    return room


def room_id_or_404(room_id: object) -> str:
    """`room_or_404` from this process's registry copy (no query while the copy is current)."""
    valid = validate_room_id(room_id)
    current = registry.cached()
    if current is None or current.room(valid) is None:
        current = registry.load()
    if current.room(valid) is None:
        raise _no_such_room(valid)
    return valid


def master_stage_or_404(room_id: str = Room.DEFAULT) -> Stage:
    stage = master_stage(room_id)
    if stage is None:
        raise _no_live_stream()
    return stage


def validate_stage_arn(arn: str) -> str:
    if not isinstance(arn, str) or not is_valid_stage_arn(arn):
        raise ValidationFailed(_("stageArn 格式無效"), details={"stageArn": str(arn)[:200]})
    return arn


def stage_by_arn(arn: str) -> Stage:
    """A live (not deleted) stage by ARN; a malformed ARN is a 400, an unknown one a 404."""
    validate_stage_arn(arn)
    stage = live_stages().filter(arn=arn).first()
    if stage is None:
        raise NotFound(_("Stage 不存在"), details={"stageArn": arn})
    return stage


# Stage ARNs the database confirmed live in the last few seconds: ARN -> (stage id, valid until).
_LIVE_STAGES: dict[str, tuple[str, float]] = {}
_LIVE_STAGE_TTL_SECONDS = 5.0
_LIVE_STAGES_MAX = 1024


def live_stage_id_cached(stage_arn: str) -> str | None:
    """The stage id when the database confirmed the stage live in the last few seconds, else None."""
    hit = _LIVE_STAGES.get(stage_arn)
    return hit[0] if hit is not None and hit[1] > time.monotonic() else None


def live_stage_id(stage_arn: str) -> str:
    """The stage id of a live stage (400/404 exactly as `stage_by_arn`), from the database at most
    once per ARN per few seconds per process.

    Why: the stage lookup was one database query plus a connection health check
    per heartbeat — ~45% of the endpoint's server time, and heartbeats are 100,000 viewers / 30 s.
    Staleness cannot change an answer: a deleted stage's presence is dropped with it, so a
    heartbeat for it misses presence and takes the full path, which looks the stage up again (404).
    """
    cached = live_stage_id_cached(stage_arn)
    if cached is not None:
        return cached
    validate_stage_arn(stage_arn)
    # One read confirms every live stage, not this one alone: with many rooms the account holds up
    # to ACCOUNT_MAX_STAGES stages, and confirming them one at a time sent a heartbeat per stage
    # per few seconds through the full path — a heartbeat cost that grew with the rooms.
    # One query and no Redis call: with Redis away, the heartbeat's own script is the one wait.
    live = list(live_stages().values_list("arn", flat=True))
    until = time.monotonic() + _LIVE_STAGE_TTL_SECONDS
    if len(_LIVE_STAGES) + len(live) >= _LIVE_STAGES_MAX:  # stages come and go; keep the map bounded
        _LIVE_STAGES.clear()
    _LIVE_STAGES.update({arn: (stage_id_from_arn(arn), until) for arn in live})
    if stage_arn not in _LIVE_STAGES:  # unknown (404), or recorded after the read
        _LIVE_STAGES[stage_arn] = (stage_by_arn(stage_arn).stage_id, until)
    return _LIVE_STAGES[stage_arn][0]


def live_stages_counted(*keys: str, room_id: str | None = None) -> tuple[list[Stage], dict[str, int], list[str | None]]:
    """The live stages of one room (every room when `room_id` is None), oldest first, their viewer
    counts by ARN, and the values of `keys` — one Redis round trip while this process's registry
    copy is current (the generation is read in the same pipeline as the counts), two after a change.

    Why: the stats and stage-list reads were a query, then a GET of the generation, the counts and
    the host flag — four round trips where one does (docs/performance.md, the stats rows).
    """

    def chosen(current: registry.StageRegistry) -> list[Stage]:
        if room_id is None:
            return current.live
        room = current.room(room_id)
        return room.live if room is not None else []

    current = registry.cached()
    if current is not None:
        stages = chosen(current)
        by_id, values = presence.counts_and_values([s.stage_id for s in stages], [registry.generation_key(), *keys])
        generation, values = values[0], values[1:]
        if generation != current.generation:
            current = None
    if current is None:
        current = registry.load()
        stages = chosen(current)
        by_id, values = presence.counts_and_values([s.stage_id for s in stages], list(keys))
    # Read-only instances, shared by the process: the registry's own lists.
    return stages, {s.arn: by_id[s.stage_id] for s in stages}, values


def current_registry() -> registry.StageRegistry:
    """This process's registry copy (loaded when it has none young enough)."""
    return registry.cached() or registry.load()


def viewer_counts(stages: list[Stage]) -> dict[str, int]:
    """Viewer count per stage ARN from presence, one Redis round trip for any number of stages."""
    by_id = presence.counts(s.stage_id for s in stages)
    return {s.arn: by_id.get(s.stage_id, 0) for s in stages}


def viewer_count(stage: Stage) -> int:
    return viewer_counts([stage])[stage.arn]


def assignable_or_404(room_id: str, *, reload: bool = False) -> tuple[registry.StageRegistry, registry.RoomStages]:
    """The room's live stages the token path seats viewers on: 404 `直播間不存在` for a room that
    does not exist, 404 `主播直播不存在` when the room has no master stage.

    Why: no query per token — this process's copy (stages/registry.py), which the seat script checks
    against the registry generation in the same round trip that uses it. A copy without the room or
    its master is never trusted for a 404: it is reloaded first.
    """
    current = None if reload else registry.cached()
    room = current.room(room_id) if current is not None else None
    if current is None or room is None or not room.has_master:
        current = registry.load()
        room = current.room(room_id)
    if room is None:
        raise _no_such_room(room_id)
    if not room.has_master:
        raise _no_live_stream()
    return current, room


def stage_page(
    *, next_token: str | None, limit: int, room_id: str | None = None
) -> tuple[list[Stage], str | None, dict[str, int], int]:
    """Cursor pagination over live stages by id (the token is signed so it cannot be forged): the
    page, the next token, viewer counts by ARN and the number of live stages — of one room, or of
    every room when `room_id` is None."""
    after = 0
    if next_token:
        try:
            after = int(signing.loads(next_token, salt=_PAGE_SALT))
        except (signing.BadSignature, ValueError, TypeError):
            raise ValidationFailed(_("nextToken 無效")) from None
    live, counts, _values = live_stages_counted(room_id=room_id)
    rows = sorted((s for s in live if s.id > after), key=lambda s: s.id)[: limit + 1]
    if len(rows) > limit:
        rows = rows[:limit]
        return rows, signing.dumps(rows[-1].id, salt=_PAGE_SALT), counts, len(live)
    return rows, None, counts, len(live)
