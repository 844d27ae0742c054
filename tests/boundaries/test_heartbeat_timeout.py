"""The heartbeat timeout, exactly at its edge, and a heartbeat that races the cleanup sweep.

The cleanup's cutoff is `now - HEARTBEAT_TIMEOUT_SECONDS`, and a viewer is expired only when its
last heartbeat is strictly before the cutoff: silent for exactly the timeout keeps the seat, one
second more loses it (and the session is closed at the last heartbeat, not at the sweep).
"""

import pytest

from stages import presence
from viewers.cleanup import viewers_cleanup
from viewers.models import ViewerSession

pytestmark = pytest.mark.django_db

TIMEOUT = 60


@pytest.fixture(autouse=True)
def timeout(settings):
    settings.HEARTBEAT_TIMEOUT_SECONDS = TIMEOUT


def join(api, user):
    return api.post("/api/token/viewer", {"userId": user}).json()["data"]["stageArn"]


def heartbeat(api, user, arn):
    response = api.post("/api/viewer/heartbeat", {"userId": user, "stageArn": arn})
    assert response.status_code == 200, response.json()
    return response


def seated(master_stage, user):
    return presence.tracked([(master_stage.stage_id, user)]) == [True]


def session(user):
    return ViewerSession.objects.get(user_id=user)


def test_silent_for_exactly_the_timeout_keeps_the_seat(api, master_stage, clock):
    join(api, "quiet")
    clock.advance(TIMEOUT)
    report = viewers_cleanup()
    assert report.expired == 0 and report.sessions_closed == 0
    assert seated(master_stage, "quiet")
    assert session("quiet").left_at is None


def test_silent_one_second_longer_loses_the_seat_at_the_last_heartbeat(api, master_stage, clock):
    arn = join(api, "quiet")
    clock.advance(10)
    heartbeat(api, "quiet", arn)
    clock.advance(TIMEOUT + 1)
    report = viewers_cleanup()
    assert report.expired == 1 and report.sessions_closed == 1
    assert not seated(master_stage, "quiet")
    closed = session("quiet")
    assert closed.left_at is not None and closed.leave_reason == "timeout"
    assert closed.watched_seconds == pytest.approx(10)  # up to the last heartbeat, not the sweep
    duration = api.get("/api/viewer/duration", {"userId": "quiet", "stageArn": arn}).json()["data"]
    assert duration["watchDurationSeconds"] == 10


def test_explicit_now_follows_the_same_edge(api, master_stage, clock):
    join(api, "quiet")
    joined = clock.t
    assert viewers_cleanup(now=joined + TIMEOUT).expired == 0
    assert seated(master_stage, "quiet")
    assert viewers_cleanup(now=joined + TIMEOUT + 1).expired == 1
    assert not seated(master_stage, "quiet")


def test_viewer_list_drops_the_viewer_only_after_the_timeout(api, master_stage, clock):
    from urllib.parse import quote

    arn = join(api, "quiet")
    path = f"/api/viewer/list/{quote(arn, safe='')}"
    clock.advance(TIMEOUT)
    viewers_cleanup()
    assert [v["userId"] for v in api.get(path).json()["data"]["viewers"]] == ["quiet"]
    clock.advance(1)
    viewers_cleanup()
    assert api.get(path).json()["data"]["viewers"] == []


def test_remove_expired_keeps_a_viewer_whose_heartbeat_came_after_the_read(api, master_stage, clock):
    arn = join(api, "racer")
    clock.advance(TIMEOUT + 1)
    cutoff = clock.t - TIMEOUT
    assert [u for u, _ in presence.expired(stage_id=master_stage.stage_id, cutoff=cutoff)] == ["racer"]
    heartbeat(api, "racer", arn)  # lands between the read and the removal
    removed = presence.remove_expired(stage_id=master_stage.stage_id, cutoff=cutoff, user_ids=["racer"])
    assert removed == []
    assert seated(master_stage, "racer")
    assert presence.seat_of("racer") == master_stage.stage_id


def test_remove_expired_removes_only_the_still_silent(api, master_stage, clock):
    join(api, "silent")
    arn = join(api, "racer")
    clock.advance(TIMEOUT + 1)
    cutoff = clock.t - TIMEOUT
    heartbeat(api, "racer", arn)
    removed = presence.remove_expired(stage_id=master_stage.stage_id, cutoff=cutoff, user_ids=["silent", "racer"])
    assert removed == ["silent"]
    assert presence.seat_of("silent") is None
    assert seated(master_stage, "racer")


def race_a_heartbeat_into_the_sweep(monkeypatch, api, arn: str) -> list[list[str]]:
    """The viewer "racer" heartbeats after the next sweep read its list of expired viewers and
    before it removes them; returns [the users that read found] once the sweep ran."""
    real_expired = presence.expired
    raced: list[list[str]] = []

    def expired_then_heartbeat(**kwargs):
        entries = real_expired(**kwargs)
        if not raced:
            raced.append([u for u, _ in entries])
            heartbeat(api, "racer", arn)
        return entries

    monkeypatch.setattr(presence, "expired", expired_then_heartbeat)
    return raced


def test_cleanup_racing_a_heartbeat_keeps_the_racer_seated(api, master_stage, clock, monkeypatch):
    join(api, "silent")
    arn = join(api, "racer")
    clock.advance(TIMEOUT + 5)
    raced = race_a_heartbeat_into_the_sweep(monkeypatch, api, arn)
    report = viewers_cleanup()
    assert sorted(raced[0]) == ["racer", "silent"]
    assert report.expired == 1
    assert seated(master_stage, "racer")
    assert not seated(master_stage, "silent")
    assert session("silent").left_at is not None


def test_cleanup_racing_a_heartbeat_keeps_the_racers_watch_time_running(api, master_stage, clock, monkeypatch):
    arn = join(api, "racer")
    clock.advance(TIMEOUT + 5)
    race_a_heartbeat_into_the_sweep(monkeypatch, api, arn)
    viewers_cleanup()
    clock.advance(30)
    heartbeat(api, "racer", arn)
    duration = api.get("/api/viewer/duration", {"userId": "racer", "stageArn": arn}).json()["data"]
    # joined, raced at +65 s, still watching at +95 s: the whole time counts
    assert duration["watchDurationSeconds"] == TIMEOUT + 5 + 30
