"""The operators' dashboard page, fetched as staff (the live behaviour is in test_browser)."""

import json
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
    assert "cdn" not in html.lower()


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
