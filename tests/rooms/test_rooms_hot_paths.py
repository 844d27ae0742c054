"""The hot paths with many rooms: a heartbeat's and a viewer token's cost must not grow with the
number of rooms (docs/performance.md, rows 8a-8c), and a viewer's seat in one room lives and times
out on its own."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from stages import rooms, selectors
from stages.selectors import master_stage as master_of

pytestmark = pytest.mark.django_db

ROOMS = 20


@pytest.fixture
def many_rooms(master_stage, settings):
    settings.MAX_ROOMS = ROOMS + 1
    room_ids = [f"room-{n:02d}" for n in range(ROOMS)]
    for room_id in room_ids:
        rooms.room_create(room_id=room_id)
    return room_ids


def test_heartbeats_in_many_rooms_read_the_live_stages_once(api, many_rooms, monkeypatch):
    """Each process confirms the stages a heartbeat names from the database every few seconds.
    One stage at a time, that was one heartbeat per stage per few seconds through the full path and
    one query each — with 100 rooms, 100 stages. One read now confirms every live stage."""
    seats = {}
    for room_id in many_rooms:
        seats[room_id] = api.post("/api/token/viewer", {"userId": "v", "roomId": room_id}).json()["data"]["stageArn"]
    monkeypatch.setattr(selectors, "_LIVE_STAGES", {})  # every confirmation has expired

    with CaptureQueriesContext(connection) as queries:
        for room_id, arn in seats.items():
            response = api.post("/api/viewer/heartbeat", {"userId": "v", "stageArn": arn})
            assert response.status_code == 200, (room_id, response.json())

    assert len(queries) <= 2, [q["sql"][:80] for q in queries]
    assert all(selectors.live_stage_id_cached(master_of(r).arn) for r in many_rooms)


def test_a_stage_missing_from_the_read_is_still_found_or_refused(api, many_rooms, monkeypatch):
    monkeypatch.setattr(selectors, "_LIVE_STAGES", {})
    unknown = "arn:aws:ivs:ap-northeast-1:123456789012:stage/zzzzzzzzzzzz"
    response = api.post("/api/viewer/heartbeat", {"userId": "v", "stageArn": unknown})
    assert (response.status_code, response.json()["error"]["code"]) == (404, "NOT_FOUND")
    malformed = api.post("/api/viewer/heartbeat", {"userId": "v", "stageArn": "not-an-arn"})
    assert malformed.status_code == 400
    deleted = master_of(many_rooms[0]).arn
    assert api.delete(f"/api/rooms/{many_rooms[0]}").status_code == 200
    response = api.post("/api/viewer/heartbeat", {"userId": "v", "stageArn": deleted})
    assert response.status_code == 404


def test_one_viewer_in_two_rooms_times_out_of_one_and_keeps_the_other(api, master_stage, settings, clock):
    from stages import presence
    from viewers.cleanup import viewers_cleanup
    from viewers.models import ViewerSession

    rooms.room_create(room_id="r1")
    in_default = api.post("/api/token/viewer", {"userId": "v"}).json()["data"]["stageArn"]
    in_r1 = api.post("/api/token/viewer", {"userId": "v", "roomId": "r1"}).json()["data"]["stageArn"]
    clock.advance(settings.HEARTBEAT_TIMEOUT_SECONDS + 5)
    assert api.post("/api/viewer/heartbeat", {"userId": "v", "stageArn": in_default}).status_code == 200

    viewers_cleanup()

    assert presence.seat_of("v", room_id="r1") is None
    assert presence.seat_of("v") == in_default.rsplit("/", 1)[1]
    sessions = {s.stage.arn: s for s in ViewerSession.objects.filter(user_id="v")}
    assert sessions[in_r1].leave_reason == ViewerSession.LeaveReason.TIMEOUT
    assert sessions[in_default].left_at is None
    # Back in r1, the viewer gets a seat again; the default room's seat is untouched.
    again = api.post("/api/token/viewer", {"userId": "v", "roomId": "r1"}).json()["data"]
    assert again["stageArn"] == in_r1 and presence.seat_of("v") == in_default.rsplit("/", 1)[1]
