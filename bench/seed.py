"""Simulated viewers written straight into Redis presence (and, where a row needs them, the
matching ViewerSession rows), in pipelines — the same shapes `stages.presence` writes."""

from __future__ import annotations

from datetime import UTC, datetime

from ivsproject.redis import get_redis
from stages import presence
from stages.models import Stage
from viewers.models import ViewerSession

BATCH = 5000


def stages_ensure(count: int) -> list[Stage]:
    """The master stage plus manual stages up to `count` live stages (through the real service)."""
    from stages.selectors import live_stages
    from stages.services import stage_create, stage_ensure_master

    stage_ensure_master()
    existing = list(live_stages())
    for n in range(len(existing), count):
        stage_create(name=f"bench-stage-{n}")
    return sorted(live_stages(), key=lambda s: (not s.is_master, s.created_at, s.id))


def rooms_ensure(count: int) -> list[Stage]:
    """The room `default` and rooms `bench-room-NN` up to `count` live rooms (through the real
    service: a master stage each, created in the emulator); their master stages, default first.

    The caps are raised for this process only: the rooms need MAX_ROOMS, and the default room may
    hold the other rows' stages beside the masters (ACCOUNT_MAX_STAGES, the emulator's quota)."""
    from django.test import override_settings

    from stages import rooms
    from stages.selectors import live_rooms, master_stage
    from stages.services import stage_ensure_master

    stage_ensure_master()
    have = set(live_rooms().values_list("room_id", flat=True))
    wanted = [f"bench-room-{n:02d}" for n in range(1, count)]
    caps = {"MAX_ROOMS": count + 10, "ACCOUNT_MAX_STAGES": 10_000, "IVS_EMULATOR_MAX_STAGES": 10_000}
    with override_settings(**caps, IVS_STAGE_CALLS_PER_SECOND=10_000):
        for room_id in wanted:
            if room_id not in have:
                rooms.room_create(room_id=room_id)
    masters = [master_stage(room_id) for room_id in ["default", *wanted]]
    return [m for m in masters if m is not None]


def presence_clear() -> None:
    client = get_redis()
    keys = list(client.scan_iter(match=presence.keys_pattern(), count=5000))
    for start in range(0, len(keys), 1000):
        client.delete(*keys[start : start + 1000])
    ViewerSession.objects.all().delete()


def viewers_write(
    stage: Stage, user_ids: list[str], *, at: float, with_sessions: bool, flushed_lag: float = 0.0
) -> None:
    """Track `user_ids` on `stage` with last heartbeat `at`; optionally with open sessions whose
    stored last heartbeat is `flushed_lag` seconds older (what the previous cleanup tick wrote)."""
    when = datetime.fromtimestamp(at - flushed_lag, tz=UTC)
    if with_sessions:
        for start in range(0, len(user_ids), BATCH):
            ViewerSession.objects.bulk_create(
                [
                    ViewerSession(
                        user_id=u, stage=stage, participant_id=f"p{u[-11:]}", joined_at=when, last_heartbeat=when
                    )
                    for u in user_ids[start : start + BATCH]
                ]
            )
    client = get_redis()
    joined_ms = round(at * 1000)
    for start in range(0, len(user_ids), BATCH):
        chunk = user_ids[start : start + BATCH]
        pipe = client.pipeline(transaction=False)
        pipe.zadd(presence.stage_key(stage.stage_id), dict.fromkeys(chunk, at))
        # One `seats` value per viewer: "stageId|participantId|joinedAtMs" (stages.presence).
        pipe.hset(
            presence.seats_key(stage.room_id), mapping={u: f"{stage.stage_id}|p{u[-11:]}|{joined_ms}" for u in chunk}
        )
        pipe.execute()


def presence_memory() -> dict[str, int]:
    """Bytes held by presence keys (MEMORY USAGE, every element sampled)."""
    client = get_redis()
    total = 0
    keys = 0
    for name in client.scan_iter(match=presence.keys_pattern(), count=5000):
        total += int(client.memory_usage(name, samples=0) or 0)
        keys += 1
    return {"bytes": total, "keys": keys}
