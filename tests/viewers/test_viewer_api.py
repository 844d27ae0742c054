"""Viewer presence and sessions (spec §4) with a controlled clock."""

import pytest

from stages import presence
from viewers.models import ViewerSession
from viewers.tasks import cleanup_viewers

pytestmark = pytest.mark.django_db


def _join(api, user, **body):
    response = api.post("/api/token/viewer", {"userId": user, **body})
    assert response.status_code == 200, response.json()
    return response.json()["data"]


def test_heartbeat_refreshes_seat(api, master_stage, clock):
    _join(api, "v1")
    clock.advance(25)
    response = api.post("/api/viewer/heartbeat", {"userId": "v1", "stageArn": master_stage.arn})
    assert response.status_code == 200
    body = response.json()
    assert body["data"] == {"userId": "v1", "stageArn": master_stage.arn, "heartbeatUpdated": True}
    assert body["message"] == "心跳更新成功"
    entry = presence.get_entry(stage_id=master_stage.stage_id, user_id="v1")
    assert entry.last_heartbeat == clock.t


def test_heartbeat_validation_and_unknown_stage(api, master_stage):
    missing = api.post("/api/viewer/heartbeat", {})
    assert missing.status_code == 400
    assert missing.json()["error"]["details"]["missingFields"] == ["userId", "stageArn"]
    unknown = api.post(
        "/api/viewer/heartbeat",
        {"userId": "v", "stageArn": "arn:aws:ivs:ap-northeast-1:123456789012:stage/aaaaaaaaaaaa"},
    )
    assert unknown.status_code == 404


def test_silent_viewer_is_removed_after_timeout_with_right_watch_time(api, master_stage, clock, settings):
    settings.HEARTBEAT_TIMEOUT_SECONDS = 60
    _join(api, "v1")
    _join(api, "v2")
    hb = {"stageArn": master_stage.arn}
    clock.advance(30)  # +30 s: both heartbeat; then v1 goes silent
    api.post("/api/viewer/heartbeat", {"userId": "v1", **hb})
    api.post("/api/viewer/heartbeat", {"userId": "v2", **hb})
    for _ in range(2):  # +60 s, +90 s: only v2
        clock.advance(30)
        api.post("/api/viewer/heartbeat", {"userId": "v2", **hb})
    # v1's last heartbeat was at +30 s; now is +90 s: silent for 60 s → not yet over the timeout
    cleanup_viewers()
    assert {v["userId"] for v in api.get(f"/api/viewer/list/{master_stage.arn}").json()["data"]["viewers"]} == {
        "v1",
        "v2",
    }
    clock.advance(30)  # +120 s: silent for 90 s
    api.post("/api/viewer/heartbeat", {"userId": "v2", "stageArn": master_stage.arn})
    report = cleanup_viewers()
    assert report["expired"] == 1 and report["sessions_closed"] == 1
    listed = api.get(f"/api/viewer/list/{master_stage.arn}").json()["data"]
    assert [v["userId"] for v in listed["viewers"]] == ["v2"]
    session = ViewerSession.objects.get(user_id="v1")
    assert session.leave_reason == "timeout"
    assert session.watched_seconds == pytest.approx(30, abs=0.01)
    duration = api.get("/api/viewer/duration", {"userId": "v1", "stageArn": master_stage.arn}).json()["data"]
    assert duration == {
        "userId": "v1",
        "stageArn": master_stage.arn,
        "watchDurationSeconds": 30,
        "watchDurationFormatted": "0分 30秒",
    }
    # running the cleanup again changes nothing (no double counting)
    assert cleanup_viewers()["sessions_closed"] == 0
    session.refresh_from_db()
    assert session.watched_seconds == pytest.approx(30, abs=0.01)


def test_leave_closes_session_and_rejoin_accumulates(api, master_stage, clock):
    _join(api, "v1")
    clock.advance(1845)
    response = api.post("/api/viewer/leave", {"userId": "v1", "stageArn": master_stage.arn})
    assert response.status_code == 200
    assert response.json()["data"] == {"userId": "v1", "stageArn": master_stage.arn, "viewerLeft": True}
    assert response.json()["message"] == "觀眾離開記錄成功"
    assert api.post("/api/viewer/leave", {"userId": "v1", "stageArn": master_stage.arn}).status_code == 200
    assert api.get("/api/stage/list").json()["data"]["stages"][0]["viewerCount"] == 0
    duration = api.get("/api/viewer/duration", {"userId": "v1", "stageArn": master_stage.arn}).json()["data"]
    assert duration["watchDurationSeconds"] == 1845
    assert duration["watchDurationFormatted"] == "30分 45秒"

    clock.advance(100)
    _join(api, "v1")
    clock.advance(1878)  # open session counts up to now
    duration = api.get("/api/viewer/duration", {"userId": "v1", "stageArn": master_stage.arn}).json()["data"]
    assert duration["watchDurationSeconds"] == 1845 + 1878
    assert duration["watchDurationFormatted"] == "1小時 2分 3秒"
    assert ViewerSession.objects.filter(user_id="v1").count() == 2


def test_duration_for_unknown_viewer_is_404(api, master_stage):
    response = api.get("/api/viewer/duration", {"userId": "nobody", "stageArn": master_stage.arn})
    assert response.status_code == 404
    missing = api.get("/api/viewer/duration", {"userId": "nobody"})
    assert missing.status_code == 400
    assert missing.json()["error"]["details"]["missingFields"] == ["stageArn"]


def test_heartbeat_reregisters_a_viewer_the_server_forgot(api, master_stage, clock):
    first = _join(api, "v1")
    presence.release(stage_id=master_stage.stage_id, user_id="v1")  # e.g. Redis lost its data
    clock.advance(10)
    assert api.post("/api/viewer/heartbeat", {"userId": "v1", "stageArn": master_stage.arn}).status_code == 200
    viewers = api.get(f"/api/viewer/list/{master_stage.arn}").json()["data"]["viewers"]
    assert [v["userId"] for v in viewers] == ["v1"]
    assert viewers[0]["participantId"] == first["participantId"]
    assert ViewerSession.objects.filter(user_id="v1").count() == 1  # the open session is reused


def test_viewer_list_shape_and_pagination(api, master_stage, clock):
    for n in range(5):
        _join(api, f"v{n}")
        clock.advance(1)
    data = api.get(f"/api/viewer/list/{master_stage.arn}", {"limit": 2}).json()["data"]
    assert data["stageArn"] == master_stage.arn
    assert data["totalViewers"] == 5 and data["activeViewers"] == 5
    assert [v["userId"] for v in data["viewers"]] == ["v0", "v1"]
    viewer = data["viewers"][0]
    assert set(viewer) == {"userId", "participantId", "joinedAt", "lastHeartbeat"}
    assert viewer["joinedAt"].endswith("Z") and viewer["lastHeartbeat"].endswith("Z")
    rest = api.get(f"/api/viewer/list/{master_stage.arn}", {"limit": 10, "nextToken": data["nextToken"]}).json()["data"]
    assert [v["userId"] for v in rest["viewers"]] == ["v2", "v3", "v4"]
    assert rest["nextToken"] is None


def test_active_viewers_excludes_silent_ones(api, master_stage, clock, settings):
    _join(api, "quiet")
    clock.advance(61)
    _join(api, "loud")
    data = api.get(f"/api/viewer/list/{master_stage.arn}").json()["data"]
    assert data["totalViewers"] == 2 and data["activeViewers"] == 1


def test_deleting_a_stage_closes_its_sessions(api, master_stage, clock):
    from stages.services import stage_create, stage_delete

    other = stage_create(name="short-lived")
    _join(api, "v1", stageArn=other.arn)
    clock.advance(40)
    stage_delete(arn=other.arn, force_viewers=True)
    session = ViewerSession.objects.get(user_id="v1")
    assert session.leave_reason == "stage_deleted" and session.watched_seconds == pytest.approx(40, abs=0.01)
    assert presence.counts([other.stage_id]) == {other.stage_id: 0}


def test_orphan_sessions_without_presence_are_closed(api, master_stage, clock, settings):
    _join(api, "v1")
    presence.release(stage_id=master_stage.stage_id, user_id="v1")  # Redis lost, viewer gone too
    clock.advance(settings.HEARTBEAT_TIMEOUT_SECONDS + 1)
    report = cleanup_viewers()
    assert report["orphans_closed"] == 1
    assert ViewerSession.objects.get(user_id="v1").left_at is not None


def test_cleanup_flushes_live_heartbeats_to_sessions_within_ten_ticks(api, master_stage, clock):
    _join(api, "v1")
    joined = ViewerSession.objects.get(user_id="v1").last_heartbeat
    clock.advance(45)
    api.post("/api/viewer/heartbeat", {"userId": "v1", "stageArn": master_stage.arn})
    flushed = sum(cleanup_viewers()["heartbeats_flushed"] for _ in range(10))
    assert flushed == 1  # once in ten ticks, not every tick
    session = ViewerSession.objects.get(user_id="v1")
    assert session.left_at is None
    # stored in 10 s buckets: a lower bound of the real heartbeat, never more than 10 s behind
    assert 35 <= (session.last_heartbeat - joined).total_seconds() <= 45
