"""Seating: a viewer token takes (or keeps) a seat on one of the stages, atomically, before its
token is minted; a token that could not be minted gives the seat back.

The seat itself is the stages' (stages.presence); here is what a viewer's seat means to the viewer:
the request's rate-limit count made in the same Redis round trip, a second try when this process's
stage list was stale, and the news that capacity is short (`capacity_needed`) when no seat is left.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.utils.translation import gettext as _

from ivsproject.api import throttling
from ivsproject.api.exceptions import StageFull, ValidationFailed
from stages import presence
from stages import registry as stage_registry
from stages import selectors as stage_selectors
from stages.models import Room, Stage
from viewers.models import ViewerSession
from viewers.signals import capacity_needed


@dataclass(frozen=True)
class SeatGrant:
    stage: Stage
    seat: presence.Seat


def viewer_seat_take(
    *,
    user_id: str,
    stage_arn: str | None,
    participant_id: str,
    room_id: str = Room.DEFAULT,
    rate_bill: throttling.RateBill | None = None,
) -> SeatGrant:
    """Take (or keep) the viewer's seat in the room atomically; STAGE_FULL asks for capacity now.
    One seat per viewer per room: a refresh keeps it, and the same viewer may sit in two rooms.

    `participant_id` is recorded with the seat (the token about to be minted carries it).
    `rate_bill`: the request's rate-limit count, paid inside the seat script (or before any other
    answer), exactly once: a limited client gets 429 before anything else.
    """
    at = presence.now()
    bill = rate_bill or throttling.RateBill(None)
    with bill:
        if room_id != Room.DEFAULT:
            stage_selectors.validate_room_id(room_id)  # malformed: 400 (unknown: 404 below)
        if stage_arn:
            stage_selectors.room_id_or_404(room_id)
            stage = stage_selectors.stage_by_arn(stage_arn)
            if stage.room_id != room_id:
                raise ValidationFailed(_("stageArn 不屬於此直播間"), details={"stageArn": stage_arn, "roomId": room_id})
            by_id, candidates, registry = {stage.stage_id: stage}, [stage.stage_id], None
            # A draining stage keeps its seated viewers (a refresh) but takes no new ones.
            capacity = settings.STAGE_MAX_PARTICIPANTS if stage.status == Stage.Status.ACTIVE else 0
        else:
            registry, room = stage_selectors.assignable_or_404(room_id)
            by_id, candidates, capacity = registry.by_id, room.assignable, settings.STAGE_MAX_PARTICIPANTS
    owed = bill.owed()
    rate = presence.RateCount(key=owed.key, limit=owed.limit, ttl=owed.ttl) if owed is not None else None
    attempt = presence.assign_seat(
        room_id=room_id,
        user_id=user_id,
        candidates=candidates,
        capacity=capacity,
        explicit=bool(stage_arn),
        at=at,
        participant_id=participant_id,
        generation=(stage_registry.generation_key(), registry.generation) if registry else None,
        rate=rate,
    )
    bill.counted(attempt.rate_count)
    if attempt.stale:
        # A stage changed since this process read the list: read it again (the generation first)
        # and take the seat from that; the request was counted already, so no count this time.
        registry, room = stage_selectors.assignable_or_404(room_id, reload=True)
        by_id = registry.by_id
        attempt = presence.assign_seat(
            room_id=room_id,
            user_id=user_id,
            candidates=room.assignable,
            capacity=settings.STAGE_MAX_PARTICIPANTS,
            explicit=False,
            at=at,
            participant_id=participant_id,
        )
    seat = attempt.seat
    if seat is None:
        if not stage_arn:
            _ask_for_capacity(room_id=room_id, waiting=user_id)
        raise StageFull(_("Stage 已滿，請稍後再試"))
    if seat.is_new and seat.count >= settings.SCALE_UP_THRESHOLD:
        _ask_for_capacity(room_id=room_id, waiting=None)
    stage_for_seat = by_id.get(seat.stage_id) or Stage.objects.get(arn__endswith=f"/{seat.stage_id}")
    return SeatGrant(stage=stage_for_seat, seat=seat)


def _ask_for_capacity(*, room_id: str, waiting: str | None) -> None:
    """No seat (or a stage crossed the scale-up threshold): whoever scales acts now, not at its next
    tick. `waiting`: the viewer who found no seat (None: a stage is filling up)."""
    capacity_needed.send(sender=ViewerSession, room_id=room_id, waiting=waiting)


def viewer_seat_release(*, grant: SeatGrant, user_id: str) -> None:
    """Undo the seat when minting its token failed: a fresh seat goes back; a kept seat shows the
    participant id of its open session again (the seat script wrote the unminted one)."""
    if grant.seat.is_new:
        presence.release(room_id=grant.stage.room_id, stage_id=grant.seat.stage_id, user_id=user_id)
        return
    session = ViewerSession.objects.filter(user_id=user_id, stage=grant.stage, left_at__isnull=True).first()
    if session is not None:
        presence.set_meta(
            room_id=grant.stage.room_id,
            stage_id=grant.seat.stage_id,
            user_id=user_id,
            participant_id=session.participant_id,
            joined_at=session.joined_at.timestamp(),
        )
