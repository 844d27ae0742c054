"""The viewer-token hot path: one seat script (seat, metadata, rate-limit count), one INSERT."""

import pytest

from ivsproject.api import throttling
from ivsproject.redis import get_redis
from stages import presence, registry
from stages.ivs import emulator
from stages.services import stage_create
from viewers.models import ViewerSession

pytestmark = pytest.mark.django_db


@pytest.fixture
def limited(api, settings, monkeypatch):
    """A rate limit of 3 per minute on a pinned clock (no window edge mid-test)."""
    settings.RATE_LIMIT_PER_MINUTE = 3
    monkeypatch.setattr(throttling, "clock", lambda: 1_800_000_000.0)
    return api


def _counted():
    """The rate-limit counts made so far, over every window key."""
    client = get_redis()
    return sum(int(client.get(name)) for name in client.scan_iter(match="*ratelimit*"))


def _listed(api, stage_arn):
    return {v["userId"]: v for v in api.get(f"/api/viewer/list/{stage_arn}").json()["data"]["viewers"]}


def test_a_new_viewer_gets_exactly_one_open_session(api, master_stage, clock):
    data = api.post("/api/token/viewer", {"userId": "v1"}).json()["data"]
    (session,) = ViewerSession.objects.filter(user_id="v1")
    assert session.left_at is None and session.stage == master_stage
    assert session.participant_id == data["participantId"]
    assert session.joined_at.timestamp() == clock.t


def test_viewer_list_shows_the_tokens_participant_id_and_join_time(api, master_stage, clock):
    data = api.post("/api/token/viewer", {"userId": "v1"}).json()["data"]
    clock.advance(12.5)
    api.post("/api/viewer/heartbeat", {"userId": "v1", "stageArn": master_stage.arn})
    viewer = _listed(api, master_stage.arn)["v1"]
    assert viewer == {
        "userId": "v1",
        "participantId": data["participantId"],
        "joinedAt": "2027-01-15T08:00:00.000Z",
        "lastHeartbeat": "2027-01-15T08:00:12.500Z",
    }


def test_a_token_refresh_keeps_the_seat_and_its_join_time(api, master_stage, clock):
    first = api.post("/api/token/viewer", {"userId": "v1"}).json()["data"]
    clock.advance(600)
    again = api.post("/api/token/viewer", {"userId": "v1"}).json()["data"]
    assert again["stageArn"] == first["stageArn"] and again["participantId"] != first["participantId"]
    viewer = _listed(api, master_stage.arn)["v1"]
    assert viewer["joinedAt"] == "2027-01-15T08:00:00.000Z"
    assert viewer["participantId"] == again["participantId"]
    (session,) = ViewerSession.objects.filter(user_id="v1")
    assert session.left_at is None and session.participant_id == again["participantId"]
    assert session.joined_at.timestamp() == clock.t - 600


def test_a_new_seat_reuses_a_session_redis_forgot(api, master_stage, clock):
    first = api.post("/api/token/viewer", {"userId": "v1"}).json()["data"]
    presence.release(stage_id=master_stage.stage_id, user_id="v1")  # Redis lost the seat
    clock.advance(30)
    again = api.post("/api/token/viewer", {"userId": "v1"}).json()["data"]
    assert again["participantId"] != first["participantId"]
    (session,) = ViewerSession.objects.filter(user_id="v1")  # the open session, not a second one
    assert session.participant_id == again["participantId"]
    # presence shows the durable join time, as the session counts watch time from it
    assert _listed(api, master_stage.arn)["v1"]["joinedAt"] == "2027-01-15T08:00:00.000Z"


def test_moving_to_another_stage_closes_the_old_session(api, master_stage, clock):
    other = stage_create(name="chosen")
    api.post("/api/token/viewer", {"userId": "v1"})
    clock.advance(100)
    moved = api.post("/api/token/viewer", {"userId": "v1", "stageArn": other.arn}).json()["data"]
    assert moved["stageArn"] == other.arn
    old = ViewerSession.objects.get(user_id="v1", stage=master_stage)
    assert old.leave_reason == "moved" and old.watched_seconds == pytest.approx(100, abs=0.01)
    new = ViewerSession.objects.get(user_id="v1", stage=other)
    assert new.left_at is None and new.joined_at.timestamp() == clock.t
    assert "v1" not in _listed(api, master_stage.arn)
    assert _listed(api, other.arn)["v1"]["participantId"] == moved["participantId"]


def test_tokens_from_create_participant_token_show_ivs_participant_id(api, master_stage, settings):
    settings.IVS_TOKEN_SIGNING = "api"
    data = api.post("/api/token/viewer", {"userId": "v1"}).json()["data"]
    assert _listed(api, master_stage.arn)["v1"]["participantId"] == data["participantId"]
    assert ViewerSession.objects.get(user_id="v1").participant_id == data["participantId"]
    participant = emulator.participant_join(stage_arn=master_stage.arn, token=data["token"])
    assert participant == data["participantId"]


def test_each_viewer_token_is_counted_once_then_429(limited, master_stage):
    statuses = [limited.post("/api/token/viewer", {"userId": f"v{n}"}).status_code for n in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert _counted() == 4
    assert ViewerSession.objects.count() == 3  # the limited request took no seat
    assert presence.counts([master_stage.stage_id]) == {master_stage.stage_id: 3}


def test_a_stale_stage_list_does_not_count_the_request_twice(limited, master_stage):
    assert limited.post("/api/token/viewer", {"userId": "v0"}).status_code == 200
    registry.bump()  # the next request's cached list is refused and reloaded
    assert limited.post("/api/token/viewer", {"userId": "v1"}).status_code == 200
    assert _counted() == 2


def test_a_limited_client_gets_429_before_any_other_answer(limited, db):
    for _ in range(3):
        assert limited.post("/api/token/viewer", {"userId": "v"}).status_code == 404  # no master: counted
    assert limited.post("/api/token/viewer", {"userId": "v"}).status_code == 429
    assert limited.post("/api/token/viewer", {}).status_code == 429  # not 400
    unknown = {"userId": "v", "stageArn": "arn:aws:ivs:ap-northeast-1:123456789012:stage/zzzzzzzzzzzz"}
    assert limited.post("/api/token/viewer", unknown).status_code == 429  # not 404
    assert _counted() == 6


def test_bad_requests_are_counted_once(limited, master_stage):
    assert limited.post("/api/token/viewer", {}).status_code == 400
    assert limited.post("/api/token/viewer", {"userId": "v", "stageArn": "nope"}).status_code == 400
    assert limited.post("/api/token/viewer", {"userId": "v", "stageArn": master_stage.arn}).status_code == 200
    assert _counted() == 3
    assert limited.post("/api/token/viewer", {"userId": "w"}).status_code == 429


def test_a_seated_viewer_keeps_a_draining_stage_but_no_one_new_joins_it(api, master_stage):
    other = stage_create(name="overflow-a")
    api.post("/api/token/viewer", {"userId": "m"})
    assert api.post("/api/token/viewer", {"userId": "v1"}).json()["data"]["stageArn"] == other.arn
    other.status = other.Status.DRAINING
    other.save(update_fields=["status"])
    # a refresh keeps the seat, with or without naming the stage
    assert api.post("/api/token/viewer", {"userId": "v1"}).json()["data"]["stageArn"] == other.arn
    explicit = api.post("/api/token/viewer", {"userId": "v1", "stageArn": other.arn})
    assert explicit.status_code == 200 and explicit.json()["data"]["currentViewers"] == 1
    # a new viewer is not seated there, even when asking for it
    refused = api.post("/api/token/viewer", {"userId": "v2", "stageArn": other.arn})
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "STAGE_FULL"
    assert api.post("/api/token/viewer", {"userId": "v3"}).json()["data"]["stageArn"] == master_stage.arn


def test_a_refresh_that_fails_to_mint_leaves_the_seat_as_it_was(api, master_stage, clock, monkeypatch):
    from stages.ivs import participant_token

    first = api.post("/api/token/viewer", {"userId": "v1"}).json()["data"]

    def boom(**kwargs):
        raise RuntimeError("kms down")

    monkeypatch.setattr(participant_token, "mint_token", boom)
    clock.advance(60)
    assert api.post("/api/token/viewer", {"userId": "v1"}).status_code == 500
    viewer = _listed(api, master_stage.arn)["v1"]
    assert viewer["participantId"] == first["participantId"]
    assert viewer["joinedAt"] == "2027-01-15T08:00:00.000Z"
