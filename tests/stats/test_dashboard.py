"""The operators' dashboard page, fetched as staff (the live behaviour is in test_browser)."""

import json
import re
import time

import pytest
from django.contrib.auth.models import User

from stages import presence
from stats.broadcast import stats_history_record

DASHBOARD = "/admin/dashboard/"


@pytest.fixture
def staff(db):
    return User.objects.create_user("operator", password="pw-operator-1", is_staff=True)


def config_of(response) -> dict:
    html = response.content.decode()
    start = html.index('<script id="dashboard-config" type="application/json">') + len(
        '<script id="dashboard-config" type="application/json">'
    )
    return json.loads(html[start : html.index("</script>", start)])


def test_dashboard_is_for_staff_only(client, db):
    assert client.get(DASHBOARD).status_code == 302
    User.objects.create_user("viewer", password="pw-viewer-1", is_staff=False)
    client.login(username="viewer", password="pw-viewer-1")
    response = client.get(DASHBOARD)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_dashboard_embeds_the_snapshot_history_and_capacity(client, staff, master_stage, settings):
    settings.STAGE_MAX_PARTICIPANTS = 40
    now = time.time()
    presence.track(stage_id=master_stage.stage_id, user_id="u1", at=now, participant_id="p1", joined_at=now)
    stats_history_record(total_viewers=3, at=now - 60)
    client.force_login(staff)

    response = client.get(DASHBOARD)

    assert response.status_code == 200
    config = config_of(response)
    assert config["capacity"] == 40
    assert config["wsPath"] == "/ws"
    assert config["wsUrl"] == ""
    assert config["snapshot"]["totalViewers"] == 1
    assert config["snapshot"]["stages"][0]["stageArn"] == master_stage.arn
    assert [s["totalViewers"] for s in config["history"]] == [3]
    html = response.content.decode()
    assert "stats/dashboard.js" in html and "stats/dashboard.css" in html
    # Nothing loaded from another host (a CDN): no src or href to an absolute or protocol-relative URL.
    assert not re.search(r'(?:src|href)="(?:https?:)?//', html)


def test_dashboard_static_files_are_served(client, staff):
    client.force_login(staff)
    for name in ("stats/dashboard.js", "stats/dashboard.css"):
        response = client.get(f"/static/{name}")
        assert response.status_code == 200, name


def test_dashboard_still_loads_when_redis_is_down(client, staff, monkeypatch):
    import redis

    from stats import dashboard

    def down():
        raise redis.ConnectionError("down")

    monkeypatch.setattr(dashboard, "stats_payload", down)
    client.force_login(staff)

    response = client.get(DASHBOARD)

    assert response.status_code == 200
    assert config_of(response)["snapshot"] is None


def test_admin_index_links_the_dashboard(client, staff):
    client.force_login(staff)
    response = client.get("/admin/")
    assert response.status_code == 200
    assert f'href="{DASHBOARD}"' in response.content.decode()


def test_dashboard_query_count_does_not_grow_with_stages(client, staff, master_stage):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from stages.models import Stage

    client.force_login(staff)

    def queries() -> list[str]:
        with CaptureQueriesContext(connection) as context:
            assert client.get(DASHBOARD).status_code == 200
        return [q["sql"] for q in context.captured_queries]

    with_one_stage = queries()
    for i in range(5):
        Stage.objects.create(
            arn=f"arn:aws:ivs:ap-northeast-1:123456789012:stage/extra{i}", name=f"extra-{i}", room_id="default"
        )
    with_six_stages = queries()

    assert len(with_six_stages) == len(with_one_stage), with_six_stages
    # session, user, the registry (rooms, stages), the admin's own lookups
    assert len(with_one_stage) <= 6, with_one_stage


def test_dashboard_socket_url_can_point_at_a_separate_daphne(client, staff, settings):
    settings.DASHBOARD_WS_URL = "wss://ws.example.com/ws"
    client.force_login(staff)

    assert config_of(client.get(DASHBOARD))["wsUrl"] == "wss://ws.example.com/ws"


@pytest.fixture
def two_rooms(master_stage):
    """r1 (2 viewers, its host live) and r2 (empty) beside default (1 viewer)."""
    from stages import hostlive, rooms
    from stages.selectors import master_stage as master_of

    for room_id in ("r1", "r2"):
        rooms.room_create(room_id=room_id, name=f"直播間 {room_id}")
    now = time.time()
    for stage, user_id in ((master_stage, "d1"), (master_of("r1"), "a"), (master_of("r1"), "b")):
        presence.track(stage_id=stage.stage_id, user_id=user_id, at=now, participant_id=user_id, joined_at=now)
    hostlive.set_live(live=True, room_id="r1")


def test_dashboard_shows_the_room_asked_for_with_its_history(client, staff, two_rooms):
    now = time.time()
    stats_history_record(total_viewers=7, at=now - 60, room_id="r1")
    stats_history_record(total_viewers=3, at=now - 60)
    client.force_login(staff)

    response = client.get(DASHBOARD, {"room": "r1"})

    config = config_of(response)
    assert config["room"] == "r1"
    assert config["snapshot"]["roomId"] == "r1"
    assert (config["snapshot"]["totalViewers"], config["snapshot"]["isPublisherLive"]) == (2, True)
    assert [s["totalViewers"] for s in config["history"]] == [7]  # r1's chart, not default's
    html = response.content.decode()
    assert '<option value="r1" selected>直播間 r1 (r1)</option>' in html
    assert '<option value="default">default</option>' in html


def test_dashboard_without_a_room_shows_the_default_room_and_every_rooms_overview(client, staff, two_rooms):
    client.force_login(staff)

    config = config_of(client.get(DASHBOARD))

    assert config["room"] == "default"
    assert "roomId" not in config["snapshot"] and config["snapshot"]["totalViewers"] == 1
    overview = config["rooms"]
    assert (overview["totalViewers"], overview["liveRooms"]) == (3, 1)
    assert [(r["roomId"], r["totalViewers"], r["activeStages"], r["isPublisherLive"]) for r in overview["rooms"]] == [
        ("default", 1, 1, False),
        ("r1", 2, 1, True),
        ("r2", 0, 1, False),
    ]


@pytest.mark.parametrize(("room", "message"), [("nowhere", "直播間不存在"), ("Not-A-Room", "roomId 格式無效")])
def test_dashboard_for_an_unknown_or_malformed_room_shows_the_default_room_and_says_why(
    client, staff, two_rooms, room, message
):
    client.force_login(staff)

    response = client.get(DASHBOARD, {"room": room})

    assert response.status_code == 200
    assert config_of(response)["room"] == "default"
    assert [str(m) for m in response.context["messages"]] == [message]
    assert '<option value="default" selected>default</option>' in response.content.decode()


def test_dashboard_query_count_does_not_grow_with_rooms(client, staff, master_stage):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from stages import rooms

    client.force_login(staff)

    def queries(room: str) -> int:
        client.get(DASHBOARD, {"room": room})  # the registry copy is current from here on
        with CaptureQueriesContext(connection) as context:
            assert client.get(DASHBOARD, {"room": room}).status_code == 200
        return len(context.captured_queries)

    rooms.room_create(room_id="r1")
    with_two_rooms = queries("r1")
    for i in range(2, 6):
        rooms.room_create(room_id=f"r{i}")
    with_six_rooms = queries("r1")

    assert with_six_rooms == with_two_rooms <= 4  # session, user, the admin's own lookups
