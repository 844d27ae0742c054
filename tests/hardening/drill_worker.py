"""A stand-in Celery worker for the worker-kill drills: `python -m tests.hardening.drill_worker CMD`.

It runs the real task functions (`viewers.tasks.cleanup_viewers`, `autoscaling.tasks.autoscale`, what a
worker executes) against the scratch database and Redis of the environment. The `*-then-hang`
commands stop at a hook point — printing `HOOK` — and wait there to be SIGKILLed by the test.
The run-lock TTLs are shortened to LOCK_TTL seconds so the drill can watch them expire; the
lock mechanism itself is untouched (production TTL: max(4 × interval, 60 s)).
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import UTC, datetime

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ivsproject.settings")
django.setup()

from autoscaling import tasks as autoscaling_tasks  # noqa: E402
from ivsproject import locks  # noqa: E402
from ivsproject.redis import get_redis, key  # noqa: E402
from stages import ivs, presence  # noqa: E402
from stages import services as stage_services  # noqa: E402
from stages.models import Stage  # noqa: E402
from stages.selectors import master_stage  # noqa: E402
from viewers import sessions as viewer_sessions  # noqa: E402
from viewers import tasks as viewer_tasks  # noqa: E402
from viewers.models import ViewerSession  # noqa: E402

# Long enough for the test to look (two subprocesses of ~2 s each, more on a loaded machine),
# short enough to wait out.
LOCK_TTL = 20
SILENT_FOR = 600.0  # seeded viewers last heartbeated this long ago
WATCHED = 60.0  # …after watching this long


def _short_locks() -> None:
    real = locks.single_run

    def short(name: str, *, ttl_seconds: int):  # type: ignore[no-untyped-def]
        return real(name, ttl_seconds=LOCK_TTL)

    viewer_tasks.single_run = short  # type: ignore[assignment]
    autoscaling_tasks.single_run = short  # type: ignore[assignment]


def _hang() -> None:
    print("HOOK", flush=True)
    time.sleep(3600)


def seed_expired(count: int) -> None:
    stage = master_stage()
    assert stage is not None
    last = presence.now() - SILENT_FOR
    for n in range(count):
        user = f"silent-{n}"
        session = ViewerSession.objects.create(
            user_id=user,
            stage=stage,
            participant_id=f"p{n}",
            joined_at=datetime.fromtimestamp(last - WATCHED, tz=UTC),
            last_heartbeat=datetime.fromtimestamp(last - WATCHED, tz=UTC),
        )
        presence.track(
            stage_id=stage.stage_id,
            user_id=user,
            at=last,
            participant_id=session.participant_id,
            joined_at=last - WATCHED,
        )


def seed_hot_master(count: int) -> None:
    stage = master_stage()
    assert stage is not None
    at = presence.now()
    for n in range(count):
        presence.track(stage_id=stage.stage_id, user_id=f"hot-{n}", at=at, participant_id="p", joined_at=at)


def cleanup_then_hang(after: int) -> None:
    """Die part-way through closing a batch: the first `after` sessions are closed, then hang."""
    real_close = viewer_sessions.close_open_on_stage

    def close_some_then_die(stage, ends, *, reason):  # type: ignore[no-untyped-def]
        real_close(stage, ends[:after], reason=reason)
        _hang()

    viewer_sessions.close_open_on_stage = close_some_then_die  # type: ignore[assignment]
    viewer_tasks.cleanup_viewers()


def autoscale_then_hang() -> None:
    stage_services.after_ivs_create = lambda created: _hang()  # type: ignore[assignment]
    autoscaling_tasks.autoscale()


def state() -> dict:
    stage = master_stage()
    redis = get_redis()
    sessions = ViewerSession.objects.order_by("id")
    return {
        "sessions_closed": sessions.filter(left_at__isnull=False).count(),
        "sessions_open": sessions.filter(left_at__isnull=True).count(),
        "watched_total": sum(s.watched_seconds for s in sessions),
        "left_at": {s.user_id: s.left_at.timestamp() if s.left_at else None for s in sessions},
        "master_presence": presence.counts([stage.stage_id])[stage.stage_id] if stage else None,
        "cleanup_lock_ttl_ms": redis.pttl(key("lock", "viewers-cleanup")),
        "autoscale_lock_ttl_ms": redis.pttl(key("lock", "autoscale")),
        "overflow_in_db": sorted(Stage.objects.filter(role=Stage.Role.OVERFLOW).values_list("name", flat=True)),
        "autoscaled_in_ivs": sorted(s.name for s in ivs.list_stages() if s.tags.get("ManagedBy") == "auto-scaler"),
    }


def main(argv: list[str]) -> None:
    _short_locks()
    command, *args = argv
    if command == "seed-expired":
        seed_expired(int(args[0]))
    elif command == "seed-hot-master":
        seed_hot_master(int(args[0]))
    elif command == "cleanup-then-hang":
        cleanup_then_hang(int(args[0]))
    elif command == "autoscale-then-hang":
        autoscale_then_hang()
    elif command == "cleanup":
        print(json.dumps(viewer_tasks.cleanup_viewers()))
    elif command == "autoscale":
        print(json.dumps(autoscaling_tasks.autoscale()))
    elif command == "state":
        print(json.dumps(state()))
    else:
        raise SystemExit(f"unknown command {command}")


if __name__ == "__main__":
    main(sys.argv[1:])
