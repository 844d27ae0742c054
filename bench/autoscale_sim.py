"""Autoscaler simulation: a scripted audience against the real services, with a clock we control.

Ramp 0 → 300 viewers (+25 every 30 s), hold, ramp down to 0, then idle until everything has
scaled back to the master. Viewers join through the real token service (atomic seats), heartbeat,
and leave through the real leave service; the autoscaler ticks every 30 s (beat) and at once when
the token path asks for capacity (what a Celery worker does within a second in production).

`simulate()` is used by the acceptance test (tests/autoscaling/test_autoscale_simulation.py);
`python -m bench.autoscale_sim` runs it on a scratch database and embedded Redis and writes
`docs/autoscale_sim.png` plus `bench/results/autoscale_sim.json`.

`simulate_rooms()` does the same for several rooms whose crowds overlap under one account's stage
cap (ACCOUNT_MAX_STAGES), shorter than the rooms need together at the peak
(tests/autoscaling/test_rooms_autoscale_simulation.py); `python -m bench.autoscale_sim --rooms`
writes `docs/autoscale_rooms_sim.png` plus `bench/results/autoscale_rooms_sim.json`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STEP_SECONDS = 30


@dataclass
class Step:
    t: int
    viewers: int
    active_stages: int
    draining_stages: int
    fullest_stage: int
    decisions: list[str] = field(default_factory=list)


@dataclass
class SimResult:
    steps: list[Step]
    stage_full: int  # STAGE_FULL answers in total
    stage_full_with_room: int  # STAGE_FULL while fewer than MAX_STAGES stages existed (must be 0)
    over_capacity: int  # observations of a stage above STAGE_MAX_PARTICIPANTS (must be 0)


def audience_plan(peak: int = 300, step: int = 25, hold: int = 4, idle: int = 14) -> list[int]:
    up = list(range(step, peak + 1, step))
    down = list(range(peak - step, -1, -step))
    return [0, *up, *[peak] * hold, *down, *[0] * idle]


def simulate(plan: list[int] | None = None, seed: int = 7) -> SimResult:
    """Drive the services. Caller provides Django settings, a migrated DB and an empty Redis."""
    from django.conf import settings
    from django.utils import timezone

    import autoscaling.tasks
    from autoscaling.autoscaler import autoscale_tick
    from ivsproject.api.exceptions import StageFull
    from stages import presence
    from stages.models import Stage
    from stages.selectors import live_stages, viewer_counts
    from stages.services import stage_ensure_master
    from tokens.services import token_viewer_create
    from viewers.lifecycle import viewer_leave

    rng = random.Random(seed)
    plan = plan or audience_plan()
    base = timezone.now()
    clock = {"t": 0}
    real_now, real_request = presence.now, autoscaling.tasks.request_autoscale
    presence.now = lambda: base.timestamp() + clock["t"]  # type: ignore[assignment]
    pending: list[str] = []

    def tick_now() -> None:
        pending.extend(str(d) for d in autoscale_tick(now=base + timedelta(seconds=clock["t"])))

    autoscaling.tasks.request_autoscale = tick_now  # type: ignore[assignment]
    stage_ensure_master()
    watching: dict[str, str] = {}  # userId → stageArn
    serial = 0
    result = SimResult(steps=[], stage_full=0, stage_full_with_room=0, over_capacity=0)
    try:
        for target in plan:
            while len(watching) > target:
                user = rng.choice(sorted(watching))
                viewer_leave(user_id=user, stage_arn=watching.pop(user))
            while len(watching) < target:
                serial += 1
                user = f"viewer-{serial}"
                for _attempt in range(3):  # clients retry STAGE_FULL later (here: after the on-demand tick)
                    try:
                        token = token_viewer_create(user_id=user)
                    except StageFull:
                        result.stage_full += 1
                        if live_stages().count() < settings.MAX_STAGES:
                            result.stage_full_with_room += 1
                        continue
                    watching[user] = token.minted.stage.arn
                    break
                else:
                    break
                counts = viewer_counts(list(live_stages()))
                result.over_capacity += sum(1 for c in counts.values() if c > settings.STAGE_MAX_PARTICIPANTS)
            for user, arn in watching.items():
                presence.heartbeat(stage_id=arn.rsplit("/", 1)[1], user_id=user, at=presence.now())
            tick_now()  # the beat tick of this interval
            stages_now = list(live_stages())
            counts = viewer_counts(stages_now)
            result.steps.append(
                Step(
                    t=clock["t"],
                    viewers=len(watching),
                    active_stages=sum(1 for s in stages_now if s.status == Stage.Status.ACTIVE),
                    draining_stages=sum(1 for s in stages_now if s.status == Stage.Status.DRAINING),
                    fullest_stage=max(counts.values(), default=0),
                    decisions=list(pending),
                )
            )
            pending.clear()
            clock["t"] += STEP_SECONDS
    finally:
        presence.now = real_now  # type: ignore[assignment]
        autoscaling.tasks.request_autoscale = real_request  # type: ignore[assignment]
    return result


# --- several rooms under one account's stage cap -------------------------------------------------

SUBSTEPS = 6  # joins of a step arrive over six 5 s slices; an on-demand tick follows each slice
# The on-demand tick is debounced (autoscaling.tasks.request_autoscale: one per 2 s), so within a
# slice viewers keep arriving before it runs; at most one on-demand tick per slice models that.


@dataclass
class RoomState:
    viewers: int  # seated
    waiting: int  # want a seat, refused so far (they retry every slice)
    refused: int  # STAGE_FULL answers during the step
    active_stages: int
    draining_stages: int
    fullest_stage: int


@dataclass
class RoomsStep:
    t: int
    rooms: dict[str, RoomState]
    account_stages: int
    decisions: list[str] = field(default_factory=list)


@dataclass
class RoomsSimResult:
    steps: list[RoomsStep]
    account_max: int
    stage_full: int  # STAGE_FULL answers in total
    # After a tick: a room whose waiting viewers exceed its free seats although both its own cap and
    # the account's had room for another stage (must be 0).
    waiting_with_room: int
    over_capacity: int  # observations of a stage above STAGE_MAX_PARTICIPANTS (must be 0)
    over_account: int  # observations of more live stages than ACCOUNT_MAX_STAGES (must be 0)
    ticks: int


def _shape(start: int, peak: int, step: int, hold: int, total: int) -> list[int]:
    up = list(range(step, peak + 1, step))
    down = list(range(peak - step, -1, -step))
    body = [0] * start + up + [peak] * hold + down
    return body + [0] * (total - len(body))


def rooms_plan(scale: float = 1.0, idle: int = 14) -> dict[str, list[int]]:
    """Three crowds overlapping in time, beside an idle `default` room: r1 builds up steadily, r2
    starts while r1 is still growing, r3 is a flash crowd that lands while both are at their peak.
    `scale` shrinks the audience (the tests run smaller stages)."""

    def n(x: int) -> int:
        return max(1, round(x * scale))

    total = 22 + idle
    return {
        "default": [0] * total,
        "r1": _shape(0, n(400), n(50), 6, total),
        "r2": _shape(4, n(300), n(50), 6, total),
        "r3": _shape(9, n(250), n(125), 3, total),
    }


def simulate_rooms(plan: dict[str, list[int]] | None = None, seed: int = 7) -> RoomsSimResult:
    """Drive the services with several rooms. Caller provides Django settings (ACCOUNT_MAX_STAGES
    included), a migrated DB and an empty Redis."""
    from django.conf import settings
    from django.utils import timezone

    import autoscaling.tasks
    from autoscaling.autoscaler import autoscale_tick
    from ivsproject.api.exceptions import StageFull
    from stages import presence, rooms
    from stages.models import Room, Stage
    from stages.selectors import live_stages, viewer_counts
    from stages.services import stage_ensure_master
    from tokens.services import token_viewer_create
    from viewers.lifecycle import viewer_leave

    rng = random.Random(seed)
    plan = plan or rooms_plan()
    room_ids = list(plan)
    steps = len(next(iter(plan.values())))
    base = timezone.now()
    clock = {"t": 0}
    real_now, real_request = presence.now, autoscaling.tasks.request_autoscale
    presence.now = lambda: base.timestamp() + clock["t"]  # type: ignore[assignment]
    asked = {"tick": False}
    autoscaling.tasks.request_autoscale = lambda: asked.update(tick=True)  # type: ignore[assignment]
    stage_ensure_master()
    for room_id in room_ids:
        if room_id != Room.DEFAULT:
            rooms.room_create(room_id=room_id)
    watching: dict[str, dict[str, str]] = {r: {} for r in room_ids}  # room → userId → stageArn
    waiting: dict[str, list[str]] = {r: [] for r in room_ids}
    refused: dict[str, int] = dict.fromkeys(room_ids, 0)
    serial = 0
    result = RoomsSimResult(
        steps=[],
        account_max=settings.ACCOUNT_MAX_STAGES,
        stage_full=0,
        waiting_with_room=0,
        over_capacity=0,
        over_account=0,
        ticks=0,
    )
    pending: list[str] = []

    def tick(at: int) -> None:
        pending.extend(str(d) for d in autoscale_tick(now=base + timedelta(seconds=at)))
        result.ticks += 1
        stages = list(live_stages())
        counts = viewer_counts(stages)
        result.over_account += len(stages) > settings.ACCOUNT_MAX_STAGES
        for room_id in room_ids:
            own = [s for s in stages if s.room_id == room_id]
            free = sum(settings.STAGE_MAX_PARTICIPANTS - counts[s.arn] for s in own if s.status == Stage.Status.ACTIVE)
            capped = len(own) >= settings.MAX_STAGES or len(stages) >= settings.ACCOUNT_MAX_STAGES
            if len(waiting[room_id]) > free and not capped:
                result.waiting_with_room += 1

    def try_seat(room_id: str, user: str) -> bool:
        try:
            token = token_viewer_create(user_id=user, room_id=room_id)
        except StageFull:
            result.stage_full += 1
            refused[room_id] += 1
            return False
        watching[room_id][user] = token.minted.stage.arn
        return True

    try:
        for index in range(steps):
            refused.update(dict.fromkeys(room_ids, 0))
            arriving: dict[str, int] = {}
            for room_id in room_ids:
                target = plan[room_id][index]
                while len(watching[room_id]) + len(waiting[room_id]) > target:
                    if waiting[room_id]:  # those still waiting give up first
                        waiting[room_id].pop()
                        continue
                    user = rng.choice(sorted(watching[room_id]))
                    viewer_leave(user_id=user, stage_arn=watching[room_id].pop(user))
                arriving[room_id] = target - len(watching[room_id]) - len(waiting[room_id])
            for sub in range(SUBSTEPS):
                clock["t"] = index * STEP_SECONDS + sub * STEP_SECONDS // SUBSTEPS
                queues: dict[str, list[str]] = {}
                for room_id in room_ids:
                    share = math.ceil(arriving[room_id] / (SUBSTEPS - sub)) if arriving[room_id] > 0 else 0
                    arriving[room_id] -= share
                    new = []
                    for _ in range(share):
                        serial += 1
                        new.append(f"{room_id}-viewer-{serial}")
                    queues[room_id] = waiting[room_id] + new  # the refused retry first
                    waiting[room_id] = []
                # The rooms' viewers arrive interleaved: their crowds compete for the same stages.
                order = room_ids[sub % len(room_ids) :] + room_ids[: sub % len(room_ids)]
                while any(queues.values()):
                    for room_id in order:
                        if queues[room_id]:
                            user = queues[room_id].pop(0)
                            if not try_seat(room_id, user):
                                waiting[room_id].append(user)
                counts = viewer_counts(list(live_stages()))
                result.over_capacity += sum(1 for c in counts.values() if c > settings.STAGE_MAX_PARTICIPANTS)
                if asked["tick"]:
                    asked["tick"] = False
                    tick(clock["t"] + STEP_SECONDS // SUBSTEPS - 1)
            clock["t"] = index * STEP_SECONDS + STEP_SECONDS - 1
            for room_id in room_ids:
                for user, arn in watching[room_id].items():
                    presence.heartbeat(stage_id=arn.rsplit("/", 1)[1], user_id=user, at=presence.now())
            tick(clock["t"])  # the beat tick of this interval
            stages = list(live_stages())
            counts = viewer_counts(stages)
            states = {}
            for room_id in room_ids:
                own = [s for s in stages if s.room_id == room_id]
                states[room_id] = RoomState(
                    viewers=len(watching[room_id]),
                    waiting=len(waiting[room_id]),
                    refused=refused[room_id],
                    active_stages=sum(1 for s in own if s.status == Stage.Status.ACTIVE),
                    draining_stages=sum(1 for s in own if s.status == Stage.Status.DRAINING),
                    fullest_stage=max((counts[s.arn] for s in own), default=0),
                )
            result.steps.append(
                RoomsStep(t=index * STEP_SECONDS, rooms=states, account_stages=len(stages), decisions=list(pending))
            )
            pending.clear()
    finally:
        presence.now = real_now  # type: ignore[assignment]
        autoscaling.tasks.request_autoscale = real_request  # type: ignore[assignment]
    return result


def plot(result: SimResult, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    minutes = [s.t / 60 for s in result.steps]
    fig, left = plt.subplots(figsize=(9, 4.5), dpi=110)
    left.plot(minutes, [s.viewers for s in result.steps], color="#1f77b4", label="viewers")
    left.set_xlabel("minutes")
    left.set_ylabel("viewers", color="#1f77b4")
    right = left.twinx()
    right.step(minutes, [s.active_stages for s in result.steps], where="post", color="#d62728", label="active stages")
    right.step(
        minutes,
        [s.active_stages + s.draining_stages for s in result.steps],
        where="post",
        color="#ff9896",
        linestyle="--",
        label="active + draining",
    )
    right.set_ylabel("stages", color="#d62728")
    right.set_ylim(0, max(s.active_stages + s.draining_stages for s in result.steps) + 1)
    handles = left.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    left.legend(handles, [str(h.get_label()) for h in handles], loc="upper right")
    left.set_title("Autoscaler: 0 → 300 → 0 viewers, 50 seats per stage, scale up at 45, drain at ≤ 5")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)


ROOMS_ACCOUNT_MAX_STAGES = 16  # the rooms' peaks together want 23 stages


def plot_rooms(result: RoomsSimResult, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    minutes = [s.t / 60 for s in result.steps]
    room_ids = list(result.steps[0].rooms)
    colors = dict(zip(room_ids, ["#7f7f7f", "#1f77b4", "#2ca02c", "#d62728", "#9467bd", "#8c564b"], strict=False))
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 7), dpi=110, sharex=True)
    for room_id in room_ids:
        top.plot(minutes, [s.rooms[room_id].viewers for s in result.steps], color=colors[room_id], label=room_id)
        waiting = [s.rooms[room_id].waiting for s in result.steps]
        if any(waiting):
            top.plot(minutes, waiting, color=colors[room_id], linestyle=":", label=f"{room_id} waiting")
    top.set_ylabel("viewers seated (dotted: waiting)")
    top.legend(loc="upper right", fontsize=8, ncol=2)
    top.set_title(
        f"Autoscaler, {len(room_ids)} rooms sharing ACCOUNT_MAX_STAGES = {result.account_max}: "
        "overlapping crowds, the most waiting served first",
        fontsize=10,
    )
    stacks = [[s.rooms[r].active_stages + s.rooms[r].draining_stages for s in result.steps] for r in room_ids]
    bottom.stackplot(minutes, stacks, labels=room_ids, colors=[colors[r] for r in room_ids], alpha=0.75, step="post")
    bottom.axhline(result.account_max, color="black", linestyle="--", linewidth=1, label="ACCOUNT_MAX_STAGES")
    bottom.set_ylabel("live stages per room (stacked)")
    bottom.set_xlabel("minutes")
    bottom.set_ylim(0, result.account_max + 2)
    bottom.legend(loc="center right", fontsize=8, ncol=3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)


def _scratch_django(tmp: str, redis_url: str, **extra: str) -> None:
    os.environ.update(
        {
            "DATABASE_URL": f"sqlite:///{tmp}/sim.sqlite3",
            "REDIS_URL": redis_url,
            "IVS_BACKEND": "emulator",
            "STAGE_MAX_PARTICIPANTS": "50",
            "MAX_STAGES": "20",
            "SCALE_UP_THRESHOLD": "45",
            "SCALE_DOWN_THRESHOLD": "5",
            "STAGE_WARMUP_SECONDS": "300",
            "IVS_STAGE_CALLS_PER_SECOND": "1000",
            "LOG_LEVEL": "WARNING",
            **extra,
        }
    )
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.autoscale_sim", description=__doc__.splitlines()[0])
    parser.add_argument("--rooms", action="store_true", help="several rooms under a shared account stage cap")
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ivsproject.settings")
    from ivsproject.devtools.embedded_redis import embedded_redis

    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    if args.rooms:
        with tempfile.TemporaryDirectory() as tmp, embedded_redis() as redis_server:
            _scratch_django(tmp, redis_server.url, ACCOUNT_MAX_STAGES=str(ROOMS_ACCOUNT_MAX_STAGES))
            rooms_result = simulate_rooms()
        (out / "autoscale_rooms_sim.json").write_text(json.dumps(asdict(rooms_result), indent=1))
        plot_rooms(rooms_result, ROOT / "docs" / "autoscale_rooms_sim.png")
        last = rooms_result.steps[-1]
        print(
            f"steps={len(rooms_result.steps)} ticks={rooms_result.ticks} "
            f"peak_account_stages={max(s.account_stages for s in rooms_result.steps)}/{rooms_result.account_max} "
            f"stage_full={rooms_result.stage_full} waiting_with_room={rooms_result.waiting_with_room} "
            f"over_capacity={rooms_result.over_capacity} over_account={rooms_result.over_account} "
            f"final_stages={last.account_stages}"
        )
        print(f"wrote {out / 'autoscale_rooms_sim.json'} and docs/autoscale_rooms_sim.png")
        ok = not (rooms_result.waiting_with_room or rooms_result.over_capacity or rooms_result.over_account)
        return 0 if ok else 1
    with tempfile.TemporaryDirectory() as tmp, embedded_redis() as redis_server:
        _scratch_django(tmp, redis_server.url)
        result = simulate()
    (out / "autoscale_sim.json").write_text(json.dumps(asdict(result), indent=1))
    plot(result, ROOT / "docs" / "autoscale_sim.png")
    peak = max(s.active_stages for s in result.steps)
    final = result.steps[-1]
    print(
        f"steps={len(result.steps)} peak_active_stages={peak} final_active={final.active_stages} "
        f"final_draining={final.draining_stages} stage_full={result.stage_full} "
        f"stage_full_with_room={result.stage_full_with_room} over_capacity={result.over_capacity}"
    )
    print(f"wrote {out / 'autoscale_sim.json'} and docs/autoscale_sim.png")
    return 0 if result.stage_full_with_room == 0 and result.over_capacity == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
