"""The autoscaler: overflow stages on demand, drain and delete when quiet, the host relayed into
every stage. One tick = one pass of decisions; run by Celery beat (one at a time across the
deployment) and on demand when the token path runs out of seats.

Design notes (why):
- Every IVS call goes through `stages.ivs` and its call budget (5 TPS for stage operations).
- Scale-up creates as many stages as the *waiting demand* needs (STAGE_FULL rejections since the
  last tick, counted in Redis), not one per tick, so a flash crowd is absorbed in one pass.
- A stage is drained only when the remaining active stages can absorb its load below the
  scale-up threshold, and only after its warm-up: no flapping between "create" and "drain".
- Crash safety: CreateStage tags the stage with our markers before we record it; each tick starts
  with `stages_sync`, which adopts such orphans and forgets stages deleted behind our back. A
  failed delete leaves the stage draining, so the next tick retries it.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from autoscaling import metrics
from autoscaling.demand import take_demand
from ivsproject.api.exceptions import ApiError, StageLimitReached
from stages import hostlive, ivs
from stages.models import Room, Stage
from stages.selectors import live_rooms, live_stages, master_stage, viewer_counts
from stages.services import master_stage_name, stage_create, stage_delete, stage_ensure_master, stages_sync

logger = logging.getLogger(__name__)

MAX_REPLICAS_PER_PARTICIPANT = 5  # IVS: at most 5 concurrent replications per participant
_NAME_RE = re.compile(r"^autoscale-stage-(\d+)$")


@dataclass(frozen=True)
class Decision:
    # adopt | forget | recreate | create | reactivate | drain | delete | replicate | relay-needed | blocked | error
    action: str
    stage: str
    reason: str

    def __str__(self) -> str:
        return f"{self.action:<12} {self.stage}  — {self.reason}"


def _next_stage_numbers(count: int) -> list[int]:
    used = [int(m.group(1)) for name in Stage.objects.values_list("name", flat=True) if (m := _NAME_RE.match(name))]
    start = max(used, default=0) + 1
    return list(range(start, start + count))


@dataclass
class _RoomLoad:
    """One room's picture for this tick."""

    room_id: str
    stages: list[Stage]
    counts: dict[str, int]
    demand: int

    @property
    def active(self) -> list[Stage]:
        return [s for s in self.stages if s.status == Stage.Status.ACTIVE]

    @property
    def draining(self) -> list[Stage]:
        return [s for s in self.stages if s.status == Stage.Status.DRAINING]

    @property
    def hot(self) -> bool:
        active = self.active
        return bool(active) and all(self.counts[s.arn] >= settings.SCALE_UP_THRESHOLD for s in active)

    def reason(self) -> str:
        if self.demand:
            return f"{self.demand} viewer(s) found no seat"
        return f"all {len(self.active)} active stage(s) at ≥ {settings.SCALE_UP_THRESHOLD} viewers"


def autoscale_tick(*, dry_run: bool = False, now: datetime | None = None) -> list[Decision]:
    """One pass over every room: each scales by the same rules on its own (MAX_STAGES each), and
    the account's cap (ACCOUNT_MAX_STAGES) is shared out where viewers wait."""
    now = now or timezone.now()
    decisions: list[Decision] = []
    _reconcile(decisions, dry_run=dry_run)

    stages = list(live_stages())
    counts = viewer_counts(stages)
    room_ids = sorted({s.room_id for s in stages} | set(live_rooms().values_list("room_id", flat=True)))
    waiting = take_demand(room_ids, dry_run=dry_run)
    loads = [
        _RoomLoad(room_id, [s for s in stages if s.room_id == room_id], counts, waiting.get(room_id, 0))
        for room_id in room_ids
    ]
    wanted: dict[str, int] = {}
    for load in loads:
        if load.hot or load.demand:
            wanted[load.room_id] = _reactivate(load, decisions, dry_run=dry_run)
        else:
            _scale_down(load.active, counts, decisions, dry_run=dry_run, now=now)
    # Drained, empty stages go before any is created: under the account's cap the places they free
    # are the ones a refusing room is waiting for, in this tick rather than the next.
    for load in loads:
        for stage in load.draining:
            if counts[stage.arn] == 0 and _delete_drained(stage, decisions, dry_run=dry_run):
                load.stages.remove(stage)
    total = sum(len(load.stages) for load in loads)
    _create_where_wanted(loads, wanted, total=total, decisions=decisions, dry_run=dry_run)
    for room_id in room_ids:
        _replicate_host(room_id, decisions, dry_run=dry_run)
    return decisions


def _reactivate(load: _RoomLoad, decisions: list[Decision], *, dry_run: bool) -> int:
    """Bring draining stages of a busy room back first; returns how many stages it still needs."""
    per_stage = max(settings.SCALE_UP_THRESHOLD, 1)  # seats a new stage offers before it is hot
    needed = max(1, math.ceil(load.demand / per_stage)) if load.demand else 1
    for stage in sorted(load.draining, key=lambda s: -load.counts[s.arn]):
        if needed <= 0:
            break
        decisions.append(Decision("reactivate", stage.arn, "load returned: every active stage is hot"))
        if not dry_run:
            _set_status(stage, Stage.Status.ACTIVE)
        stage.status = Stage.Status.ACTIVE
        needed -= 1
    return needed


def _create_where_wanted(
    loads: list[_RoomLoad], wanted: dict[str, int], *, total: int, decisions: list[Decision], dry_run: bool
) -> None:
    """Create the stages the rooms want, within each room's cap and the account's.

    When the account's cap is short, stages go round by round: first to rooms that refuse viewers
    (most waiting first), one stage per room per round, then to rooms that are only hot — so one
    room's flash crowd never takes the last stage another room needs for viewers it already refuses.
    """
    by_room = {load.room_id: load for load in loads}
    room_left = {r: max(settings.MAX_STAGES - len(by_room[r].stages), 0) for r in wanted}
    account_left = max(settings.ACCOUNT_MAX_STAGES - total, 0)
    order = sorted(wanted, key=lambda r: (by_room[r].demand == 0, -by_room[r].demand, r))
    plan: list[str] = []
    remaining = {r: min(wanted[r], room_left[r]) for r in order}
    # Refusing rooms are served to the end before a merely hot room gets a stage: one shared round
    # would hand a hot room a stage a refusing room still needed.
    refusing = [r for r in order if by_room[r].demand]
    hot_only = [r for r in order if not by_room[r].demand]
    for tier in (refusing, hot_only):
        while account_left > 0 and any(remaining[r] for r in tier):
            for room_id in tier:
                if remaining[room_id] > 0 and account_left > 0:
                    plan.append(room_id)
                    remaining[room_id] -= 1
                    account_left -= 1
    blocked: list[Decision] = []
    for room_id in order:
        where = "" if room_id == Room.DEFAULT else f"room {room_id}: "
        if wanted[room_id] > room_left[room_id]:
            short = wanted[room_id] - room_left[room_id]
            why = f"{where}MAX_STAGES ({settings.MAX_STAGES}) reached; {short} stage(s) short"
            blocked.append(Decision("blocked", "-", why))
        elif remaining[room_id] > 0:
            cap = settings.ACCOUNT_MAX_STAGES
            why = f"{where}ACCOUNT_MAX_STAGES ({cap}) reached; {remaining[room_id]} stage(s) short"
            blocked.append(Decision("blocked", "-", why))
    failed: set[str] = set()
    for room_id, number in zip(plan, _next_stage_numbers(len(plan)), strict=True):
        name = f"autoscale-stage-{number}"
        if room_id in failed:
            continue
        reason = by_room[room_id].reason()
        if room_id != Room.DEFAULT:
            reason = f"room {room_id}: {reason}"
        if dry_run:
            decisions.append(Decision("create", name, reason))
            continue
        try:
            created = stage_create(
                name=name, role=Stage.Role.OVERFLOW, managed_by=Stage.ManagedBy.AUTO_SCALER, room_id=room_id
            )
        except StageLimitReached as exc:
            decisions.append(Decision("blocked", name, exc.message))
            failed.add(room_id)
            continue
        except ApiError as exc:  # IVS throttled or down: the next tick tries again
            decisions.append(Decision("error", name, f"create failed: {exc.code} {exc.message}"))
            failed.add(room_id)
            continue
        metrics.SCALE_EVENTS.labels("up").inc()
        decisions.append(Decision("create", created.arn, reason))
    decisions += blocked


def _reconcile(decisions: list[Decision], *, dry_run: bool) -> None:
    masters = {s.room_id: s for s in live_stages().filter(role=Stage.Role.MASTER)}
    try:
        report = stages_sync(dry_run=dry_run)
    except ApiError as exc:
        decisions.append(Decision("error", "-", f"reconcile failed: {exc.code} {exc.message}"))
        return
    decisions += [Decision("adopt", arn, "our tagged stage was missing from the registry") for arn in report.adopted]
    decisions += [Decision("forget", arn, "stage no longer exists in IVS") for arn in report.deleted]
    decisions += [Decision("delete", arn, "a stage of a deleted room") for arn in report.orphaned]
    for room_id in live_rooms().values_list("room_id", flat=True):
        master = masters.get(room_id)
        lost = master is not None and master.arn in report.deleted
        # Without a master every viewer-token request of the room is a 404 until someone runs
        # `ensure_master_stage`: replace one deleted behind our back, and give a room whose
        # creation was cut short (no master recorded or adopted) its master now.
        if not lost and (master is not None or master_stage(room_id) is not None):
            continue
        if room_id == Room.DEFAULT and master is None:
            continue  # the default room's master is the operator's (`ensure_master_stage`)
        if dry_run:
            decisions.append(Decision("recreate", master_stage_name(room_id), "the master stage is gone"))
            continue
        try:
            replacement, _how = stage_ensure_master(room_id)
        except ApiError as exc:
            decisions.append(Decision("error", "-", f"master replacement failed: {exc.code} {exc.message}"))
            continue
        gone = f"the master stage {master.arn} is gone from IVS" if master else f"room {room_id} had no master stage"
        decisions.append(Decision("recreate", replacement.arn, gone))


def _set_status(stage: Stage, status: str) -> None:
    stage.status = status
    stage.status_changed_at = timezone.now()
    stage.save(update_fields=["status", "status_changed_at", "updated_at"])


def _scale_down(
    active: list[Stage], counts: dict[str, int], decisions: list[Decision], *, dry_run: bool, now: datetime
) -> None:
    up = settings.SCALE_UP_THRESHOLD
    warm = now - timedelta(seconds=settings.STAGE_WARMUP_SECONDS)
    remaining = list(active)
    candidates = [
        s
        for s in active
        if s.auto_scaled
        and s.managed_by == Stage.ManagedBy.AUTO_SCALER
        and not s.is_master
        and s.created_at <= warm
        and counts[s.arn] <= settings.SCALE_DOWN_THRESHOLD
    ]
    for stage in sorted(candidates, key=lambda s: (counts[s.arn], -s.created_at.timestamp())):
        others = [s for s in remaining if s.pk != stage.pk]
        load = sum(counts[s.arn] for s in remaining)
        # The others must hold everyone, each below the scale-up threshold, or we would flap.
        if not others or load >= len(others) * up:
            continue
        why = f"{counts[stage.arn]} viewer(s) ≤ {settings.SCALE_DOWN_THRESHOLD}; the others absorb all {load}"
        decisions.append(Decision("drain", stage.arn, why))
        remaining = others
        if not dry_run:
            _set_status(stage, Stage.Status.DRAINING)
            metrics.SCALE_EVENTS.labels("drain").inc()


def _delete_drained(stage: Stage, decisions: list[Decision], *, dry_run: bool) -> bool:
    """Delete a drained, empty stage; whether it is gone (or would be, in a dry run)."""
    decisions.append(Decision("delete", stage.arn, "drained: no viewers left"))
    if dry_run:
        return True
    try:
        if stage.replicated_participant_id:
            _stop_replication(stage)
        stage_delete(arn=stage.arn, force_viewers=True)
        metrics.SCALE_EVENTS.labels("down").inc()
    except ApiError as exc:  # stays draining; retried next tick
        decisions.append(Decision("error", stage.arn, f"delete failed, retried next tick: {exc.code} {exc.message}"))
        return False
    return True


def _stop_replication(stage: Stage) -> None:
    master = master_stage(stage.room_id)
    if master is not None:
        try:
            ivs.stop_participant_replication(
                source_stage_arn=master.arn,
                destination_stage_arn=stage.arn,
                participant_id=stage.replicated_participant_id,
            )
        except ApiError as exc:  # the host already left: nothing to stop
            logger.info("stop replication into %s: %s", stage.arn, exc.code)
    Stage.objects.filter(pk=stage.pk).update(replicated_participant_id="")


def _live_host(master: Stage) -> ivs.IvsParticipant | None:
    remote = ivs.get_stage(arn=master.arn)
    if not remote.active_session_id:
        return None
    hosts = ivs.list_participants(
        stage_arn=master.arn, session_id=remote.active_session_id, filter_by_published=True, filter_by_state="CONNECTED"
    )
    return hosts[0] if hosts else None


def _replicate_host(room_id: str, decisions: list[Decision], *, dry_run: bool) -> None:
    """Replicate the room's live host into each of its overflow stages (max 5), else flag a relay."""
    master = master_stage(room_id)
    overflow = [s for s in live_stages(room_id).order_by("created_at", "id") if not s.is_master]
    if master is None or not overflow or not hostlive.is_live(room_id=room_id):
        return
    try:
        host = _live_host(master)
        if host is None:
            return
        replicas = set(ivs.list_participant_replicas(source_stage_arn=master.arn, participant_id=host.participant_id))
    except ApiError as exc:
        decisions.append(Decision("error", master.arn, f"replication check failed: {exc.code} {exc.message}"))
        return
    for stage in overflow:
        if stage.arn in replicas:
            if not dry_run and (stage.relay_needed or stage.replicated_participant_id != host.participant_id):
                _mark_replicated(stage, host.participant_id)
            continue
        if len(replicas) >= MAX_REPLICAS_PER_PARTICIPANT:
            if not stage.relay_needed:
                why = f"host already replicated into {MAX_REPLICAS_PER_PARTICIPANT} stages"
                decisions.append(Decision("relay-needed", stage.arn, why))
                if not dry_run:
                    Stage.objects.filter(pk=stage.pk).update(relay_needed=True)
            continue
        decisions.append(Decision("replicate", stage.arn, f"host {host.participant_id} is live on the master"))
        if dry_run:
            replicas.add(stage.arn)
            continue
        try:
            ivs.start_participant_replication(
                source_stage_arn=master.arn, destination_stage_arn=stage.arn, participant_id=host.participant_id
            )
        except ApiError as exc:
            decisions.append(Decision("error", stage.arn, f"replication failed: {exc.code} {exc.message}"))
            continue
        replicas.add(stage.arn)
        _mark_replicated(stage, host.participant_id)


def _mark_replicated(stage: Stage, participant_id: str) -> None:
    Stage.objects.filter(pk=stage.pk).update(relay_needed=False, replicated_participant_id=participant_id)
