"""Viewer presence and sessions: join (seat), heartbeat, leave, timeout cleanup.

Presence (Redis, `stages.presence`) is the hot path; `ViewerSession` rows are the durable record,
written on join, leave and timeout only. Order of writes is chosen so a crash at any point loses
no durable data: sessions are closed in the database *before* presence is removed, and closing is
idempotent (`left_at IS NULL` filters), so a re-run never counts watch time twice.
"""

from __future__ import annotations

import contextlib
import logging
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.db import (
    IntegrityError,
    transaction,
)
from django.utils.translation import gettext as _

from ivsproject.api import throttling
from ivsproject.api.exceptions import NotFound, StageFull
from ivsproject.redis import get_redis, key
from stages import presence
from stages import registry as stage_registry
from stages import selectors as stage_selectors
from stages.models import Stage
from viewers import sessions as session_store
from viewers.models import ViewerSession

logger = logging.getLogger(__name__)
Reason = ViewerSession.LeaveReason


def _dt(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


@dataclass(frozen=True)
class SeatGrant:
    stage: Stage
    seat: presence.Seat


def viewer_seat_take(
    *, user_id: str, stage_arn: str | None, participant_id: str, rate_ticket: throttling.RateTicket | None = None
) -> SeatGrant:
    """Take (or keep) a viewer seat atomically; STAGE_FULL asks the autoscaler for capacity now.

    `participant_id` is recorded with the seat (the token about to be minted carries it).
    `rate_ticket`: the request's rate-limit count, still owed — made inside the seat script (or
    here, before any other answer), exactly once: a limited client gets 429 before anything else.
    """
    at = presence.now()
    rate = _rate_count(rate_ticket)
    try:
        if stage_arn:
            stage = stage_selectors.stage_by_arn(stage_arn)
            by_id, candidates, registry = {stage.stage_id: stage}, [stage.stage_id], None
            # A draining stage keeps its seated viewers (a refresh) but takes no new ones.
            capacity = settings.STAGE_MAX_PARTICIPANTS if stage.status == Stage.Status.ACTIVE else 0
        else:
            registry = stage_selectors.assignable_registry_or_404()
            by_id, candidates, capacity = registry.by_id, registry.assignable, settings.STAGE_MAX_PARTICIPANTS
    except Exception:
        if rate is not None:
            throttling.settle(rate_ticket)  # counted before the error answer, as everywhere
        raise
    attempt = presence.assign_seat(
        user_id=user_id,
        candidates=candidates,
        capacity=capacity,
        explicit=bool(stage_arn),
        at=at,
        participant_id=participant_id,
        generation=(stage_registry.generation_key(), registry.generation) if registry else None,
        rate=rate,
    )
    if rate_ticket is not None and attempt.rate_count is not None:
        throttling.enforce(rate_ticket, attempt.rate_count)
    if attempt.stale:
        # A stage changed since this process read the list: read it again (the generation first)
        # and take the seat from that; the request was counted already, so no count this time.
        registry = stage_selectors.assignable_registry_or_404(reload=True)
        by_id = registry.by_id
        attempt = presence.assign_seat(
            user_id=user_id,
            candidates=registry.assignable,
            capacity=settings.STAGE_MAX_PARTICIPANTS,
            explicit=False,
            at=at,
            participant_id=participant_id,
        )
    seat = attempt.seat
    if seat is None:
        if not stage_arn:
            _ask_for_capacity(waiting=user_id)
        raise StageFull(_("Stage 已滿，請稍後再試"))
    if seat.is_new and seat.count >= settings.SCALE_UP_THRESHOLD:
        _ask_for_capacity(waiting=None)
    stage_for_seat = by_id.get(seat.stage_id) or Stage.objects.get(arn__endswith=f"/{seat.stage_id}")
    return SeatGrant(stage=stage_for_seat, seat=seat)


def _rate_count(ticket: throttling.RateTicket | None) -> presence.RateCount | None:
    """The count to make in the seat script; None when nothing is owed (then the ticket is settled
    here: limiting is off, or the request was already counted — `counted` — and is only enforced)."""
    if ticket is None or ticket.counted is not None:
        throttling.settle(ticket)
        return None
    return presence.RateCount(key=ticket.key, limit=ticket.limit, ttl=ticket.ttl)


def _ask_for_capacity(*, waiting: str | None) -> None:
    """No seat (or a stage crossed the scale-up threshold): the autoscaler acts now, not in 30 s."""
    from stages.autoscaler import demand_record
    from stages.tasks import request_autoscale

    if waiting:
        demand_record(waiting)
    request_autoscale()


def viewer_seat_release(*, grant: SeatGrant, user_id: str) -> None:
    """Undo the seat when minting its token failed: a fresh seat goes back; a kept seat shows the
    participant id of its open session again (the seat script wrote the unminted one)."""
    if grant.seat.is_new:
        presence.release(stage_id=grant.seat.stage_id, user_id=user_id)
        return
    session = ViewerSession.objects.filter(user_id=user_id, stage=grant.stage, left_at__isnull=True).first()
    if session is not None:
        presence.set_meta(
            stage_id=grant.seat.stage_id,
            user_id=user_id,
            participant_id=session.participant_id,
            joined_at=session.joined_at.timestamp(),
        )


def viewer_session_open(*, grant: SeatGrant, user_id: str, participant_id: str) -> None:
    """Record the join (or a token refresh on the same seat) durably.

    The seat script already wrote the seat's metadata (participant id, join time); it is rewritten
    only when the durable record says otherwise (a session that was already open, or a participant
    id that IVS chose when it minted the token).
    """
    seat = grant.seat
    # A new seat's session starts when the seat was taken (the same instant presence shows).
    at = _dt(seat.joined_at) if seat.is_new else _dt(presence.now())
    session = None
    if seat.previous_stage_id:
        _close_open_sessions(user_id=user_id, stage_id=seat.previous_stage_id, reason=Reason.MOVED, at=at)
    if not seat.is_new or seat.previous_stage_id:
        session = ViewerSession.objects.filter(user_id=user_id, stage=grant.stage, left_at__isnull=True).first()
    # else a brand-new seat: almost never an open session. Why (bench/, issue 7): the SELECT first
    # and the transaction around the INSERT were ~600 µs of CPU per viewer token; the partial unique
    # constraint `viewers_one_open_session` turns the rare exception (a concurrent request for the
    # same viewer, a session Redis forgot) into an IntegrityError, handled below.
    if session is None:
        if session_store.insert_open(user_id=user_id, stage=grant.stage, participant_id=participant_id, at=at):
            if participant_id != seat.participant_id or not seat.is_new:
                presence.set_meta(
                    stage_id=seat.stage_id, user_id=user_id, participant_id=participant_id, joined_at=at.timestamp()
                )
            return
        session = ViewerSession.objects.get(user_id=user_id, stage=grant.stage, left_at__isnull=True)
    if session.participant_id != participant_id:
        session.participant_id = participant_id
        session.save(update_fields=["participant_id"])
    joined = session.joined_at.timestamp()
    if participant_id != seat.participant_id or round(joined * 1000) != round(seat.joined_at * 1000):
        presence.set_meta(stage_id=seat.stage_id, user_id=user_id, participant_id=participant_id, joined_at=joined)


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

    Why (bench/, issue 7): the rate-limit INCR and the refresh were two round trips per heartbeat.
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
    when = _dt(at)
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
    other = presence.seat_of(user_id)
    if other and other != stage.stage_id:
        presence.release(stage_id=other, user_id=user_id)
        _close_open_sessions(user_id=user_id, stage_id=other, reason=Reason.MOVED, at=when)
    presence.track(
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
    at = _dt(presence.now())
    for session in ViewerSession.objects.filter(user_id=user_id, stage=stage, left_at__isnull=True):
        session_store.close(session, reason=Reason.LEFT, at=at)
    presence.release(stage_id=stage.stage_id, user_id=user_id)


def viewer_disconnect(*, session: ViewerSession) -> bool:
    """Operator action: drop the participant in IVS and close the session."""
    from stages import ivs

    if session.participant_id and session.stage.status != Stage.Status.DELETED:
        # Already gone from IVS (NotFound): closing our record is all that is left.
        with contextlib.suppress(NotFound):
            ivs.disconnect_participant(
                stage_arn=session.stage.arn, participant_id=session.participant_id, reason="disconnected by operator"
            )
    closed = session_store.close(session, reason=Reason.DISCONNECTED, at=_dt(presence.now()))
    presence.release(stage_id=session.stage.stage_id, user_id=session.user_id)
    return closed


def viewer_sessions_close_for_stage(*, stage: Stage) -> int:
    """A stage was deleted: close every open session on it and forget its presence."""
    at = _dt(presence.now())
    sessions = list(ViewerSession.objects.filter(stage=stage, left_at__isnull=True))
    closed = session_store.close_many(sessions, reason=Reason.STAGE_DELETED, end_of={s.pk: at for s in sessions})
    presence.drop_stage(stage.stage_id)
    return closed


@dataclass
class CleanupReport:
    expired: int = 0
    sessions_closed: int = 0
    orphans_closed: int = 0
    heartbeats_flushed: int = 0


def viewers_cleanup(*, now: float | None = None) -> CleanupReport:
    """Remove viewers silent for longer than the timeout; close their sessions at the last heartbeat.

    Crash-safe order: close sessions in the DB first, then remove presence only for viewers still
    silent (a heartbeat that raced us keeps its seat). Re-running never double counts.
    """
    report = CleanupReport()
    at = presence.now() if now is None else now
    cutoff = at - settings.HEARTBEAT_TIMEOUT_SECONDS
    stages = list(stage_selectors.live_stages())
    for stage in stages:
        while True:
            entries = presence.expired(stage_id=stage.stage_id, cutoff=cutoff)
            if not entries:
                break
            report.sessions_closed += _close_timed_out(stage, entries)
            removed = presence.remove_expired(stage_id=stage.stage_id, cutoff=cutoff, user_ids=[u for u, _ in entries])
            report.expired += len(removed)
            if len(removed) < len(entries) and len(entries) < 5000:
                break
    report.heartbeats_flushed = _flush_heartbeats(stages)
    report.orphans_closed = _close_orphans(stages, cutoff=cutoff)
    return report


def _close_timed_out(stage: Stage, entries: list[tuple[str, float]]) -> int:
    ends = [(user, _dt(last)) for user, last in entries]
    return session_store.close_open_on_stage(stage, ends, reason=Reason.TIMEOUT)


# Flushed last-heartbeat times are bucketed to this many seconds (the stored time is the bucket's
# start: a lower bound, at most this much behind the real heartbeat), so a flushed row changes at
# most once per bucket and the ORM path groups a page into a handful of UPDATEs.
_FLUSH_BUCKET_SECONDS = 10


# Each viewer's time is flushed on one cleanup tick in this many (by a hash of the user id), so a
# tick writes a tenth of the audience: ≤ 5 minutes of lag at the default 30 s interval. The
# flushed time is only read when Redis lost a viewer's presence (orphans).
_FLUSH_EVERY_TICKS = 10


def _flush_heartbeats(stages: list[Stage]) -> int:
    """Copy live viewers' last-heartbeat times into their open sessions, found by (stage, userId),
    in batches (never moving a stored time backwards). Used only if Redis loses its data (orphan
    cleanup)."""
    tick = int(get_redis().incr(key("cleanup", "flush-tick"))) % _FLUSH_EVERY_TICKS
    flushed = 0
    for stage in stages:
        offset = 0
        while True:
            rows = presence.scores(stage_id=stage.stage_id, offset=offset, limit=session_store.BATCH * 5)
            if not rows:
                break
            offset += len(rows)
            due = [
                (user, _dt(int(at // _FLUSH_BUCKET_SECONDS) * _FLUSH_BUCKET_SECONDS))
                for user, at in rows
                if zlib.crc32(user.encode()) % _FLUSH_EVERY_TICKS == tick
            ]
            flushed += session_store.raise_last_heartbeats(stage, due)
    return flushed


def _close_orphans(stages: list[Stage], *, cutoff: float) -> int:
    """Open sessions with no presence at all (Redis lost its data and the viewer went away):
    close them at their last flushed heartbeat once that is older than the timeout. A live viewer
    is always in presence, so the flushed time's small lag never closes one."""
    closed = 0
    stale = (
        ViewerSession.objects.filter(left_at__isnull=True, last_heartbeat__lt=_dt(cutoff))
        .select_related("stage")
        .only("pk", "user_id", "joined_at", "last_heartbeat", "stage__arn")
        .order_by("pk")
    )
    batch: list[ViewerSession] = []
    for session in stale.iterator(chunk_size=session_store.BATCH):
        batch.append(session)
        if len(batch) == session_store.BATCH:
            closed += _close_absent(batch)
            batch = []
    if batch:
        closed += _close_absent(batch)
    return closed


def _close_absent(sessions: list[ViewerSession]) -> int:
    tracked = presence.tracked([(s.stage.stage_id, s.user_id) for s in sessions])
    absent = [s for s, present in zip(sessions, tracked, strict=True) if not present]
    return session_store.close_many(absent, reason=Reason.TIMEOUT, end_of={s.pk: s.last_heartbeat for s in absent})
