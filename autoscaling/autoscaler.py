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
from stages.models import Stage
from stages.selectors import live_stages, master_stage, viewer_counts
from stages.services import stage_create, stage_delete, stage_ensure_master, stages_sync

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


def autoscale_tick(*, dry_run: bool = False, now: datetime | None = None) -> list[Decision]:
    now = now or timezone.now()
    decisions: list[Decision] = []
    _reconcile(decisions, dry_run=dry_run)

    stages = list(live_stages())
    counts = viewer_counts(stages)
    active = [s for s in stages if s.status == Stage.Status.ACTIVE]
    draining = [s for s in stages if s.status == Stage.Status.DRAINING]
    up = settings.SCALE_UP_THRESHOLD
    demand = take_demand(dry_run=dry_run)
    hot = bool(active) and all(counts[s.arn] >= up for s in active)

    if hot or demand:
        # Seats a new stage offers before it is itself hot; waiting viewers fill them.
        per_stage = max(up, 1)
        needed = max(1, math.ceil(demand / per_stage)) if demand else 1
        for stage in sorted(draining, key=lambda s: -counts[s.arn]):
            if needed <= 0:
                break
            decisions.append(Decision("reactivate", stage.arn, "load returned: every active stage is hot"))
            if not dry_run:
                _set_status(stage, Stage.Status.ACTIVE)
            draining.remove(stage)
            needed -= 1
        room = settings.MAX_STAGES - len(stages)
        reason = f"all {len(active)} active stage(s) at ≥ {up} viewers" if hot else f"{demand} viewer(s) found no seat"
        for number in _next_stage_numbers(min(needed, max(room, 0))):
            name = f"autoscale-stage-{number}"
            if dry_run:
                decisions.append(Decision("create", name, reason))
                continue
            try:
                created = stage_create(name=name, role=Stage.Role.OVERFLOW, managed_by=Stage.ManagedBy.AUTO_SCALER)
            except StageLimitReached:
                decisions.append(Decision("blocked", name, f"MAX_STAGES ({settings.MAX_STAGES}) reached"))
                break
            except ApiError as exc:  # IVS throttled or down: the next tick tries again
                decisions.append(Decision("error", name, f"create failed: {exc.code} {exc.message}"))
                break
            metrics.SCALE_EVENTS.labels("up").inc()
            decisions.append(Decision("create", created.arn, reason))
        if needed > room:
            short = f"MAX_STAGES ({settings.MAX_STAGES}) reached; {needed - room} stage(s) short"
            decisions.append(Decision("blocked", "-", short))
    else:
        _scale_down(active, counts, decisions, dry_run=dry_run, now=now)

    for stage in draining:
        if counts[stage.arn] == 0:
            _delete_drained(stage, decisions, dry_run=dry_run)

    _replicate_host(decisions, dry_run=dry_run)
    return decisions


def _reconcile(decisions: list[Decision], *, dry_run: bool) -> None:
    master = master_stage()
    try:
        report = stages_sync(dry_run=dry_run)
    except ApiError as exc:
        decisions.append(Decision("error", "-", f"reconcile failed: {exc.code} {exc.message}"))
        return
    decisions += [Decision("adopt", arn, "our tagged stage was missing from the registry") for arn in report.adopted]
    decisions += [Decision("forget", arn, "stage no longer exists in IVS") for arn in report.deleted]
    if master is not None and master.arn in report.deleted:
        # The master was deleted behind our back: without one every viewer-token request is a 404
        # until someone runs `ensure_master_stage`, so replace it now.
        if dry_run:
            decisions.append(Decision("recreate", settings.IVS_MASTER_STAGE_NAME, "the master stage is gone"))
            return
        try:
            replacement, _how = stage_ensure_master()
        except ApiError as exc:
            decisions.append(Decision("error", "-", f"master replacement failed: {exc.code} {exc.message}"))
            return
        decisions.append(Decision("recreate", replacement.arn, f"the master stage {master.arn} is gone from IVS"))


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


def _delete_drained(stage: Stage, decisions: list[Decision], *, dry_run: bool) -> None:
    decisions.append(Decision("delete", stage.arn, "drained: no viewers left"))
    if dry_run:
        return
    try:
        if stage.replicated_participant_id:
            _stop_replication(stage)
        stage_delete(arn=stage.arn, force_viewers=True)
        metrics.SCALE_EVENTS.labels("down").inc()
    except ApiError as exc:  # stays draining; retried next tick
        decisions.append(Decision("error", stage.arn, f"delete failed, retried next tick: {exc.code} {exc.message}"))


def _stop_replication(stage: Stage) -> None:
    master = master_stage()
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


def _replicate_host(decisions: list[Decision], *, dry_run: bool) -> None:
    """Replicate the master's live publisher into each overflow stage (max 5), else flag a relay."""
    master = master_stage()
    overflow = [s for s in live_stages().order_by("created_at", "id") if not s.is_master]
    if master is None or not overflow or not hostlive.is_live():
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
