"""The push payload, the chart's history, the ticker's gate and the immediate push."""

import json
import time

import pytest

from ivsproject.redis import get_redis, key
from stages import hostlive, presence
from stats import broadcast, tasks
from stats.broadcast import (
    HISTORY_MAX_SAMPLES,
    stats_broadcast,
    stats_history,
    stats_history_record,
    stats_push_gate,
)
from stats.tasks import stats_push_now


def track_viewer(stage, user_id):
    now = time.time()
    presence.track(stage_id=stage.stage_id, user_id=user_id, at=now, participant_id=f"p-{user_id}", joined_at=now)


@pytest.fixture
def sent(monkeypatch):
    """What would go to the channel layer (the real layer is covered in test_consumer)."""
    messages = []

    class FakeLayer:
        async def group_send(self, group, message):
            messages.append((group, message))

    monkeypatch.setattr(broadcast, "get_channel_layer", lambda: FakeLayer())
    return messages


def test_broadcast_sends_the_spec_payload_with_stage_rows_to_the_stats_group(master_stage, sent):
    track_viewer(master_stage, "u1")
    track_viewer(master_stage, "u2")
    hostlive.set_live(live=True)

    data = stats_broadcast(reason="tick")

    assert sent == [("stats", {"type": "stats.update", "data": data, "reason": "tick"})]
    assert data["totalViewers"] == 2
    assert data["activeStages"] == 1
    assert data["isPublisherLive"] is True
    assert data["timestamp"].endswith("Z")
    assert data["stages"] == [
        {
            "stageArn": master_stage.arn,
            "stageName": master_stage.name,
            "viewerCount": 2,
            "autoScaled": False,
            "roomId": "default",
        }
    ]
    assert data["totalViewers"] == sum(s["viewerCount"] for s in data["stages"])


def test_broadcast_records_a_sample_for_the_chart(master_stage, sent):
    track_viewer(master_stage, "u1")

    stats_broadcast()

    [sample] = stats_history()
    assert sample["totalViewers"] == 1
    assert sample["timestamp"].endswith("Z")


def test_history_keeps_one_sample_per_five_seconds_latest_wins():
    stats_history_record(total_viewers=3, at=1_000.0)
    stats_history_record(total_viewers=4, at=1_003.0)
    stats_history_record(total_viewers=5, at=1_005.0)

    assert [s["totalViewers"] for s in stats_history(now=1_010.0)] == [4, 5]


def test_history_forgets_samples_older_than_an_hour():
    stats_history_record(total_viewers=1, at=10_000.0)
    stats_history_record(total_viewers=2, at=10_000.0 + 3_000)
    stats_history_record(total_viewers=3, at=10_000.0 + 3_700)

    assert [s["totalViewers"] for s in stats_history(now=10_000.0 + 3_700)] == [2, 3]
    assert get_redis().zcard(key("stats", "history")) == 2


def test_history_is_bounded_whatever_the_push_rate():
    start = 50_000.0
    for i in range(HISTORY_MAX_SAMPLES + 50):
        stats_history_record(total_viewers=i, at=start + i * 5)

    assert get_redis().zcard(key("stats", "history")) <= HISTORY_MAX_SAMPLES
    assert len(stats_history(now=start + (HISTORY_MAX_SAMPLES + 50) * 5)) <= HISTORY_MAX_SAMPLES


def test_history_skips_corrupt_members():
    get_redis().zadd(key("stats", "history"), {"not json": time.time(), json.dumps({"x": 1}): time.time()})
    stats_history_record(total_viewers=7)

    assert [s["totalViewers"] for s in stats_history()] == [7]


def test_push_gate_lets_one_caller_through_per_interval():
    assert stats_push_gate(interval_seconds=5) is True
    assert stats_push_gate(interval_seconds=5) is False
    # The gate is a key's lifetime in Redis, whose clock cannot be pinned: its end is played by
    # removing the key, as Redis does when the lifetime runs out.
    get_redis().delete(key("stats", "push-gate"))
    assert stats_push_gate(interval_seconds=5) is True
    assert stats_push_gate(interval_seconds=5) is False


def test_push_gate_of_a_short_interval_stays_closed_half_of_it():
    assert stats_push_gate(interval_seconds=1) is True
    assert 250 < get_redis().pttl(key("stats", "push-gate")) <= 500


def test_push_gate_closes_a_little_before_the_next_tick():
    stats_push_gate(interval_seconds=5)
    ttl_ms = get_redis().pttl(key("stats", "push-gate"))
    assert 4_000 < ttl_ms <= 4_500


def test_push_task_pushes_once_however_many_workers_get_the_tick(master_stage, sent, settings):
    settings.STATS_PUSH_INTERVAL_SECONDS = 5

    results = [tasks.push_stats() for _ in range(4)]

    assert results == [True, False, False, False]
    assert len(sent) == 1


def test_push_now_queues_the_task_after_commit(db, monkeypatch, django_capture_on_commit_callbacks):
    queued = []
    monkeypatch.setattr(tasks.push_stats_now, "apply_async", lambda **kw: queued.append(kw))

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        stats_push_now("stage-created")
        assert queued == []

    assert len(callbacks) == 1
    assert queued[0]["kwargs"] == {"reason": "stage-created"}
    assert queued[0]["expires"] > 0


def test_push_now_never_raises_into_the_caller(db, monkeypatch, django_capture_on_commit_callbacks):
    def broken(**kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(tasks.push_stats_now, "apply_async", broken)

    with django_capture_on_commit_callbacks(execute=True):
        stats_push_now("stage-deleted")  # no exception


def test_push_now_task_broadcasts(master_stage, sent):
    assert tasks.push_stats_now(reason="stage-created") is True
    assert sent[0][1]["reason"] == "stage-created"


def test_push_now_task_swallows_failures(monkeypatch):
    def broken(**kwargs):
        raise ConnectionError("redis down")

    monkeypatch.setattr(tasks, "stats_broadcast", broken)

    assert tasks.push_stats_now(reason="x") is False


@pytest.mark.parametrize(("before", "after", "pushes"), [(False, True, 1), (True, False, 1), (True, True, 0)])
def test_a_host_live_change_pushes_at_once_and_only_a_change(monkeypatch, before, after, pushes):
    hostlive.set_live(live=before)
    pushed = []
    monkeypatch.setattr(tasks, "stats_push_now", pushed.append)

    hostlive.set_live(live=after)

    assert pushed == ([("publisher-live" if after else "publisher-offline")] if pushes else [])


def test_the_host_live_poll_returns_what_ivs_says_and_survives_an_ivs_error(master_stage, monkeypatch):
    from ivsproject.api.exceptions import ServiceUnavailable
    from stages import tasks as stage_tasks

    assert stage_tasks.poll_host_live() is False  # nobody publishes on the master stage

    def down(room_id):
        raise ServiceUnavailable()

    monkeypatch.setattr(hostlive, "refresh", down)
    hostlive.set_live(live=True)
    assert stage_tasks.poll_host_live() is None  # the last answer stands until its TTL
    assert hostlive.is_live()


def test_beat_runs_the_ticker_every_push_interval(settings):
    from ivsproject.celery import app

    [entry] = [e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == "stats.push"]
    assert entry["schedule"] == float(settings.STATS_PUSH_INTERVAL_SECONDS)
    assert entry["options"]["expires"] <= float(settings.STATS_PUSH_INTERVAL_SECONDS)  # no backlog of stale ticks
    app.loader.import_default_modules()
    assert "stats.push" in app.tasks and "stats.push_now" in app.tasks


@pytest.fixture
def rooms_with_viewers(master_stage):
    """default (1 viewer), r1 (2) and r2 (none, its host live)."""
    from stages import rooms
    from stages.selectors import master_stage as master_of

    for room_id in ("r1", "r2"):
        rooms.room_create(room_id=room_id)
    track_viewer(master_stage, "d1")
    track_viewer(master_of("r1"), "a")
    track_viewer(master_of("r1"), "b")
    hostlive.set_live(live=True, room_id="r2")


def test_one_push_carries_every_room_and_the_rooms_overview(rooms_with_viewers, sent):
    from stats.selectors import rooms_stats, stats_overview

    data = stats_broadcast(reason="tick")

    assert len(sent) == 1
    default, rooms, overview = broadcast.push_parts(sent[0][1]["data"])
    assert set(default) == {"totalViewers", "activeStages", "isPublisherLive", "timestamp", "stages"}
    assert default["totalViewers"] == data["totalViewers"] == 1
    assert sorted(rooms) == ["default", "r1", "r2"]
    for room_id, room in rooms.items():
        expected = stats_overview(room_id)
        assert room["roomId"] == room_id
        assert room["timestamp"] == default["timestamp"]  # one read, one time for every room
        assert (room["totalViewers"], room["activeStages"], room["isPublisherLive"]) == (
            expected["totalViewers"],
            expected["activeStages"],
            expected["isPublisherLive"],
        )
        assert [s["stageArn"] for s in room["stages"]] == [s["stageArn"] for s in expected["stages"]]
    assert (rooms["r1"]["totalViewers"], rooms["r2"]["isPublisherLive"]) == (2, True)
    assert {k: v for k, v in overview.items() if k != "timestamp"} == rooms_stats()
    assert overview["timestamp"] == default["timestamp"]


def test_a_push_reads_every_room_in_one_redis_round_trip(rooms_with_viewers, sent, monkeypatch):
    """The push's cost does not grow with the rooms: their stage counts and host flags are read
    together (a round trip per room would be 50 at the room limit)."""
    reads = []
    real = presence.counts_and_values

    def counting(stage_ids, keys):
        reads.append((len(stage_ids), len(keys)))
        return real(stage_ids, keys)

    broadcast.push_data()  # the registry copy is current from here on
    monkeypatch.setattr(presence, "counts_and_values", counting)

    stats_broadcast()

    assert len(reads) == 1
    stage_count, key_count = reads[0]
    assert stage_count == 3 and key_count == 1 + 3  # the registry generation and three host flags


def test_a_push_records_a_chart_sample_for_every_room(rooms_with_viewers, sent):
    stats_broadcast()

    assert [s["totalViewers"] for s in stats_history()] == [1]  # the default room, as before rooms
    assert [s["totalViewers"] for s in stats_history(room_id="r1")] == [2]
    assert [s["totalViewers"] for s in stats_history(room_id="r2")] == [0]
    assert stats_history(room_id="nowhere") == []


def test_a_room_created_since_the_registry_copy_was_read_is_in_the_next_push(rooms_with_viewers, sent):
    from stages import rooms

    broadcast.push_data()  # this process's copy is current
    rooms.room_create(room_id="r3")  # the copy is stale now (another process's creation alike)

    stats_broadcast()

    _default, by_room, overview = broadcast.push_parts(sent[0][1]["data"])
    assert "r3" in by_room
    assert [r["roomId"] for r in overview["rooms"]] == ["default", "r1", "r2", "r3"]
