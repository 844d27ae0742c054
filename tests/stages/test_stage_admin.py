import pytest

from stages.models import Stage
from stages.services import stage_create
from tests.factories import track_viewers

pytestmark = pytest.mark.django_db


def test_changelist_shows_live_viewers_without_n_plus_one(staff_client, master_stage, django_assert_max_num_queries):
    for n in range(5):
        stage_create(name=f"s{n}")
    track_viewers(master_stage, 7, prefix="v")
    with django_assert_max_num_queries(8) as few:
        response = staff_client.get("/admin/stages/stage/")
    six_stage_queries = len(few.captured_queries)
    assert response.status_code == 200
    html = response.content.decode()
    assert "master-stage" in html and "s4" in html
    assert '<td class="field-live_viewers_display">7</td>' in html
    for n in range(5, 15):
        stage_create(name=f"s{n}")
    with django_assert_max_num_queries(six_stage_queries):
        staff_client.get("/admin/stages/stage/")


def test_admin_create_stage_creates_it_in_ivs(staff_client, master_stage):
    response = staff_client.post("/admin/stages/stage/add/", {"name": "from-admin", "tags": "Team=ops"})
    assert response.status_code == 302
    stage = Stage.objects.get(name="from-admin")
    assert stage.tags == {"Environment": "development", "ManagedBy": "api-server", "Team": "ops"}


def test_admin_create_stage_shows_cap_error(staff_client, master_stage, settings):
    settings.MAX_STAGES = 1
    response = staff_client.post("/admin/stages/stage/add/", {"name": "too-many"})
    assert response.status_code == 200
    assert "STAGE_LIMIT_REACHED" in response.content.decode()


def test_admin_delete_action_is_guarded_like_the_api(staff_client, master_stage):
    busy = stage_create(name="busy")
    idle = stage_create(name="idle")
    track_viewers(busy, 1)
    staff_client.post(
        "/admin/stages/stage/",
        {"action": "delete_stages", "_selected_action": [master_stage.pk, busy.pk, idle.pk]},
        follow=True,
    )
    statuses = dict(Stage.objects.values_list("name", "status"))
    assert statuses == {"master-stage": "active", "busy": "active", "idle": "deleted"}


def test_admin_requires_staff(client, master_stage):
    response = client.get("/admin/stages/stage/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_stages_show_their_room_and_filter_by_it(staff_client, master_stage):
    from stages.rooms import room_create, room_delete

    room_create(room_id="seller-1")
    room_create(room_id="gone")
    stage_create(name="seller-extra", room_id="seller-1")
    room_delete(room_id="gone")

    every = staff_client.get("/admin/stages/stage/").content.decode()
    assert '<td class="field-room_display">seller-1</td>' in every
    assert '<td class="field-room_display">default</td>' in every
    assert "gone（已刪除）" in every  # a deleted room is still offered, marked

    one = staff_client.get("/admin/stages/stage/", {"room": "seller-1"}).content.decode()
    assert "seller-extra" in one and "seller-1-master" in one and "master-stage" not in one
    history = staff_client.get("/admin/stages/stage/", {"room": "gone"}).content.decode()
    assert "gone-master" in history and "seller-extra" not in history


def test_admin_create_stage_in_a_room(staff_client, master_stage):
    from stages.rooms import room_create

    room_create(room_id="seller-1")
    response = staff_client.post("/admin/stages/stage/add/", {"name": "in-room", "room": "seller-1"})
    assert response.status_code == 302
    stage = Stage.objects.get(name="in-room")
    assert stage.room_id == "seller-1" and stage.tags["Room"] == "seller-1"


def test_admin_create_stage_offers_only_live_rooms(staff_client, master_stage):
    from stages.rooms import room_create, room_delete

    room_create(room_id="gone")
    room_delete(room_id="gone")
    response = staff_client.post("/admin/stages/stage/add/", {"name": "late", "room": "gone"})
    assert response.status_code == 200 and "errorlist" in response.content.decode()
    assert not Stage.objects.filter(name="late").exists()
