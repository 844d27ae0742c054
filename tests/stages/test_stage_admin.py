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


def test_admin_sync_action(staff_client, master_stage):
    from stages import ivs

    orphan = ivs.create_stage(name="orphan", tags={"Environment": "development", "ManagedBy": "api-server"})
    response = staff_client.post(
        "/admin/stages/stage/", {"action": "sync_with_ivs", "_selected_action": [master_stage.pk]}, follow=True
    )
    assert "adopted 1" in response.content.decode()
    assert Stage.objects.filter(arn=orphan.arn).exists()


def test_admin_requires_staff(client, master_stage):
    response = client.get("/admin/stages/stage/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
