"""Autoscaler simulation: a scripted audience against the real services, with a clock we control.

Ramp 0 → 300 viewers (+25 every 30 s), hold, ramp down to 0, then idle until everything has
scaled back to the master. Viewers join through the real token service (atomic seats), heartbeat,
and leave through the real leave service; the autoscaler ticks every 30 s (beat) and at once when
the token path asks for capacity (what a Celery worker does within a second in production).

`simulate()` is used by the acceptance test (tests/stages/test_autoscale_simulation.py);
`python -m bench.autoscale_sim` runs it on a scratch database and embedded Redis and writes
`docs/autoscale_sim.png` plus `bench/results/autoscale_sim.json`.
"""

from __future__ import annotations

import json
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


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ivsproject.settings")
    from ivsproject.devtools.embedded_redis import embedded_redis

    with tempfile.TemporaryDirectory() as tmp, embedded_redis() as redis_server:
        os.environ.update(
            {
                "DATABASE_URL": f"sqlite:///{tmp}/sim.sqlite3",
                "REDIS_URL": redis_server.url,
                "IVS_BACKEND": "emulator",
                "STAGE_MAX_PARTICIPANTS": "50",
                "MAX_STAGES": "20",
                "SCALE_UP_THRESHOLD": "45",
                "SCALE_DOWN_THRESHOLD": "5",
                "STAGE_WARMUP_SECONDS": "300",
                "IVS_STAGE_CALLS_PER_SECOND": "1000",
                "LOG_LEVEL": "WARNING",
            }
        )
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", verbosity=0)
        result = simulate()
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
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
