"""A viewer's durable sessions: opened on join, kept alive by heartbeats, closed on leave, by an
operator, or when the stage goes away.

Presence (Redis, `stages.presence`) is the hot path; `ViewerSession` rows are the durable record,
written on join, leave and timeout only. The order of writes is chosen so a crash at any point loses
no durable data: sessions are closed in the database *before* presence is removed, and closing is
idempotent (`left_at IS NULL` filters), so a re-run never counts watch time twice.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from ivsproject.api import throttling
from ivsproject.api.exceptions import NotFound
from stages import ivs, presence
from stages import selectors as stage_selectors
from stages.models import Stage
from viewers import sessions as session_store
from viewers.models import ViewerSession
from viewers.seating import SeatGrant

Reason = ViewerSession.LeaveReason


def dt(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


def viewer_session_open(*, grant: SeatGrant, user_id: str, participant_id: str) -> None:
    """Record the join (or a token refresh on the same seat) durably.

    The seat script already wrote the seat's metadata (participant id, join time); it is rewritten
    only when the durable record says otherwise (a session that was already open, or a participant
    id that IVS chose when it minted the token).
    """
    seat = grant.seat
    # A new seat's session starts when the seat was taken (the same instant presence shows).
    at = dt(seat.joined_at) if seat.is_new else dt(presence.now())
    session = None
    if seat.previous_stage_id:
        _close_open_sessions(user_id=user_id, stage_id=seat.previous_stage_id, reason=Reason.MOVED, at=at)
    if not seat.is_new or seat.previous_stage_id:
        session = ViewerSession.objects.filter(user_id=user_id, stage=grant.stage, left_at__isnull=True).first()
    # else a brand-new seat: almost never an open session. Why no SELECT first: it and a transaction
    # around the INSERT were a large share of a viewer token's CPU; the partial unique
    # constraint `viewers_one_open_session` turns the rare exception (a concurrent request for the
    # same viewer, a session Redis forgot) into an IntegrityError, handled below.
    if session is None:
        if session_store.insert_open(user_id=user_id, stage=grant.stage, participant_id=participant_id, at=at):
            if participant_id != seat.participant_id or not seat.is_new:
                presence.set_meta(
                    room_id=grant.stage.room_id,
                    stage_id=seat.stage_id,
                    user_id=user_id,
                    participant_id=participant_id,
                    joined_at=at.timestamp(),
                )
            return
        session = ViewerSession.objects.get(user_id=user_id, stage=grant.stage, left_at__isnull=True)
    if session.participant_id != participant_id:
        session.participant_id = participant_id
        session.save(update_fields=["participant_id"])
    joined = session.joined_at.timestamp()
    if participant_id != seat.participant_id or round(joined * 1000) != round(seat.joined_at * 1000):
        presence.set_meta(
            room_id=grant.stage.room_id,
            stage_id=seat.stage_id,
            user_id=user_id,
            participant_id=participant_id,
            joined_at=joined,
        )


def _close_open_sessions(*, user_id: str, stage_id: str, reason: str, at: datetime) -> int:
    closed = 0
    for session in ViewerSession.objects.filter(
        user_id=user_id, stage__arn__endswith=f"/{stage_id}", left_at__isnull=True
    ):
        closed += session_store.close(session, reason=reason, at=at)
    return closed


def viewer_heartbeat_refresh(
    *, stage_id: str, user_id: str, rate_ticket: throttling.RateTicket | None
) -> tuple[int | None, bool]:
    """The heartbeat's hot path, one Redis round trip: refresh a tracked viewer of a live stage and,
    when a rate-limit ticket is owed, count the request in the same script. Returns (the window's
    count or None, tracked); over the limit nothing is refreshed. Anything else (an untracked
    viewer, a moved seat) is `viewer_heartbeat`'s.

    Why: the rate-limit INCR and the refresh were two round trips per heartbeat.
    """
    at = presence.now()
    if rate_ticket is None:
        return None, presence.heartbeat(stage_id=stage_id, user_id=user_id, at=at)
    return presence.heartbeat_counted(
        stage_id=stage_id, user_id=user_id, at=at, counter_key=rate_ticket.key, limit=rate_ticket.limit,
        counter_ttl=rate_ticket.ttl,
    )  # fmt: skip


def viewer_heartbeat(*, user_id: str, stage_arn: str) -> None:
    stage = stage_selectors.stage_by_arn(stage_arn)
    at = presence.now()
    if presence.heartbeat(stage_id=stage.stage_id, user_id=user_id, at=at):
        return
    # Not tracked (timed out, or Redis lost its data) but still holding a valid token that IVS
    # serves: re-register. An open session is reused so watch time continues; else a new one.
    when = dt(at)
    session = ViewerSession.objects.filter(user_id=user_id, stage=stage, left_at__isnull=True).first()
    if session is None:
        last = ViewerSession.objects.filter(user_id=user_id, stage=stage).order_by("-joined_at").first()
        try:
            with transaction.atomic():
                session = ViewerSession.objects.create(
                    user_id=user_id,
                    stage=stage,
                    participant_id=last.participant_id if last else "",
                    joined_at=when,
                    last_heartbeat=when,
                )
        except IntegrityError:
            session = ViewerSession.objects.get(user_id=user_id, stage=stage, left_at__isnull=True)
    other = presence.seat_of(user_id, room_id=stage.room_id)
    if other and other != stage.stage_id:
        presence.release(room_id=stage.room_id, stage_id=other, user_id=user_id)
        _close_open_sessions(user_id=user_id, stage_id=other, reason=Reason.MOVED, at=when)
    presence.track(
        room_id=stage.room_id,
        stage_id=stage.stage_id,
        user_id=user_id,
        at=at,
        participant_id=session.participant_id,
        joined_at=session.joined_at.timestamp(),
    )


def viewer_leave(*, user_id: str, stage_arn: str) -> None:
    """Free the seat and close the session with its watch time. Idempotent."""
    stage_selectors.validate_stage_arn(stage_arn)
    stage = Stage.objects.filter(arn=stage_arn).first()
    if stage is None:
        raise NotFound(_("Stage 不存在"), details={"stageArn": stage_arn})
    at = dt(presence.now())
    for session in ViewerSession.objects.filter(user_id=user_id, stage=stage, left_at__isnull=True):
        session_store.close(session, reason=Reason.LEFT, at=at)
    presence.release(room_id=stage.room_id, stage_id=stage.stage_id, user_id=user_id)


def viewer_disconnect(*, session: ViewerSession) -> bool:
    """Operator action: drop the participant in IVS and close the session."""
    if session.participant_id and session.stage.status != Stage.Status.DELETED:
        # Already gone from IVS (NotFound): closing our record is all that is left.
        with contextlib.suppress(NotFound):
            ivs.disconnect_participant(
                stage_arn=session.stage.arn, participant_id=session.participant_id, reason="disconnected by operator"
            )
    closed = session_store.close(session, reason=Reason.DISCONNECTED, at=dt(presence.now()))
    presence.release(room_id=session.stage.room_id, stage_id=session.stage.stage_id, user_id=session.user_id)
    return closed


def viewer_sessions_close_for_stage(*, stage: Stage) -> int:
    """A stage was deleted: close every open session on it (the stage forgets its presence next)."""
    at = dt(presence.now())
    sessions = list(ViewerSession.objects.filter(stage=stage, left_at__isnull=True))
    return session_store.close_many(sessions, reason=Reason.STAGE_DELETED, end_of={s.pk: at for s in sessions})
