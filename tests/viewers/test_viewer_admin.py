import pytest
from django.core.management import call_command

from stages import presence
from stages.ivs import emulator
from viewers.models import ViewerSession

pytestmark = pytest.mark.django_db


def test_sessions_list_filters_and_search(staff_client, api, master_stage):
    for user in ("alice", "bob"):
        api.post("/api/token/viewer", {"userId": user})
    api.post("/api/viewer/leave", {"userId": "bob", "stageArn": master_stage.arn})

    # Which sessions each page lists (its CSRF tokens and ids are random text that may spell a name).
    def listed(query: str = "") -> set[str]:
        response = staff_client.get("/admin/viewers/viewersession/" + query)
        assert response.status_code == 200
        return {session.user_id for session in response.context["cl"].result_list}

    page = staff_client.get("/admin/viewers/viewersession/").content.decode()
    assert "alice" in page and "bob" in page and "（觀看中）" in page
    assert listed() == {"alice", "bob"}
    assert listed("?state=active") == {"alice"}
    assert listed("?state=ended") == {"bob"}
    assert listed("?q=ali") == {"alice"}


def test_disconnect_action_drops_the_participant_and_closes_the_session(staff_client, api, master_stage):
    token = api.post("/api/token/viewer", {"userId": "carol"}).json()["data"]["token"]
    participant = emulator.participant_join(stage_arn=master_stage.arn, token=token)
    session = ViewerSession.objects.get(user_id="carol")
    assert session.participant_id == participant
    response = staff_client.post(
        "/admin/viewers/viewersession/",
        {"action": "disconnect", "_selected_action": [session.pk]},
        follow=True,
    )
    assert "已中斷 1 位觀眾的連線。" in response.content.decode()
    session.refresh_from_db()
    assert session.leave_reason == "disconnected" and session.left_at is not None
    assert presence.get_entry(stage_id=master_stage.stage_id, user_id="carol") is None
    states = {p["participantId"]: p["state"] for p in emulator.describe_participants(master_stage.arn)}
    assert states[participant] == "DISCONNECTED"


def test_cleanup_viewers_command_reports_what_it_did(api, master_stage, settings, monkeypatch):
    from io import StringIO

    api.post("/api/token/viewer", {"userId": "dave"})
    later = presence.now() + settings.HEARTBEAT_TIMEOUT_SECONDS + 5
    monkeypatch.setattr(presence, "now", lambda: later)
    out = StringIO()
    call_command("cleanup_viewers", stdout=out)
    assert "expired: 1" in out.getvalue() and "sessions_closed: 1" in out.getvalue()
    assert ViewerSession.objects.get(user_id="dave").leave_reason == "timeout"


def test_sessions_show_their_room_and_filter_by_it(staff_client, api, master_stage):
    from stages.rooms import room_create

    room_create(room_id="seller-1")
    api.post("/api/token/viewer", {"userId": "in-default"})
    api.post("/api/token/viewer", {"userId": "in-seller", "roomId": "seller-1"})

    every = staff_client.get("/admin/viewers/viewersession/").content.decode()
    assert '<td class="field-room_display">seller-1</td>' in every
    assert '<td class="field-room_display">default</td>' in every

    seller = staff_client.get("/admin/viewers/viewersession/", {"room": "seller-1"}).content.decode()
    assert "in-seller" in seller and "in-default" not in seller
    default = staff_client.get("/admin/viewers/viewersession/", {"room": "default"}).content.decode()
    assert "in-default" in default and "in-seller" not in default
