"""Rooms in the Django admin: list, create (its master stage in IVS), guarded delete, permissions."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from ivsproject.redis import get_redis
from stages import hostlive, ivs
from stages.ivs import emulator
from stages.models import Room, Stage
from stages.rooms import room_create, room_delete
from stages.selectors import master_stage as master_of
from stages.services import stage_create
from tests.factories import track_viewers

pytestmark = pytest.mark.django_db

ROOMS = "/admin/stages/room/"


def page(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def delete_action(client, *room_ids, confirm=True):
    body = {"action": "delete_rooms", "_selected_action": list(room_ids)}
    if confirm:
        body["confirm"] = "yes"
    return client.post(ROOMS, body, follow=True)


@pytest.fixture
def viewer_staff(client, db):
    """A staff member who may only look: the view permissions of rooms, stages and sessions."""
    user = get_user_model().objects.create_user("watcher", "w@example.com", "pw-for-tests-only", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=["view_room", "view_stage", "view_viewersession"]))
    client.force_login(user)
    return client


def test_the_list_shows_each_room_with_host_flag_viewers_and_stages(staff_client, master_stage):
    room_create(room_id="seller-42", name="賣家四十二")
    r1_master = master_of("seller-42")
    stage_create(name="extra", room_id="seller-42")
    track_viewers(r1_master, 3)
    get_redis().set(hostlive.live_key("seller-42"), "1")

    html = page(staff_client.get(ROOMS))

    assert "seller-42" in html and "賣家四十二" in html and "default" in html
    assert '<td class="field-viewers">3</td>' in html
    assert "?room=seller-42" in html  # the stage count links to that room's stages
    assert '<td class="field-publisher_live"><img src="/static/admin/img/icon-yes.svg" alt="True"></td>' in html
    assert '<td class="field-publisher_live"><img src="/static/admin/img/icon-no.svg" alt="False"></td>' in html


def test_the_list_costs_the_same_queries_for_many_rooms(staff_client, master_stage, django_assert_max_num_queries):
    room_create(room_id="r1")
    with django_assert_max_num_queries(10) as few:
        staff_client.get(ROOMS)
    two_room_queries = len(few.captured_queries)  # read now: the next request clears the query log
    for n in range(2, 8):
        room_create(room_id=f"r{n}")
    staff_client.get(ROOMS)  # the process's registry copy is reloaded once after the changes
    with django_assert_max_num_queries(two_room_queries):
        html = page(staff_client.get(ROOMS))
    assert "r7" in html


def test_deleted_rooms_are_hidden_unless_asked_and_then_marked(staff_client, master_stage):
    room_create(room_id="gone")
    room_create(room_id="here")
    room_delete(room_id="gone")

    live = page(staff_client.get(ROOMS))
    deleted = page(staff_client.get(ROOMS, {"state": "deleted"}))
    every = page(staff_client.get(ROOMS, {"state": "all"}))

    assert "here" in live and ">gone<" not in live
    assert ">gone<" in deleted and ">here<" not in deleted and "已刪除（" in deleted
    assert ">gone<" in every and ">here<" in every


def test_a_room_page_shows_its_live_counts(staff_client, master_stage):
    room_create(room_id="r1")
    track_viewers(master_of("r1"), 2)
    html = page(staff_client.get(f"{ROOMS}r1/change/"))
    assert "r1" in html and '<div class="readonly">2</div>' in html


def test_create_a_room_with_its_master_stage_in_ivs(staff_client, master_stage):
    response = staff_client.post(
        f"{ROOMS}add/", {"room_id": "seller-7", "name": "Seller 7", "tags": "Team=live\n"}, follow=True
    )

    html = page(response)
    room = Room.objects.get(room_id="seller-7", deleted_at__isnull=True)
    assert room.name == "Seller 7" and room.tags == {"Team": "live"}
    master = master_of("seller-7")
    assert master is not None and f"已建立直播間 seller-7，主 Stage：{master.arn}" in html
    [remote] = [s for s in ivs.list_stages() if s.arn == master.arn]
    assert remote.tags["Room"] == "seller-7"


def test_the_name_defaults_to_the_room_id(staff_client, master_stage):
    staff_client.post(f"{ROOMS}add/", {"room_id": "r2"})
    assert Room.objects.get(room_id="r2").name == "r2"


def test_create_refusals_are_messages_not_errors(staff_client, master_stage, settings):
    room_create(room_id="taken")

    exists = page(staff_client.post(f"{ROOMS}add/", {"room_id": "taken"}))
    assert "無法建立直播間：直播間已存在（CONFLICT）" in exists

    settings.MAX_ROOMS = 2
    full = page(staff_client.post(f"{ROOMS}add/", {"room_id": "one-more"}))
    assert "ROOM_LIMIT_REACHED" in full and not Room.objects.filter(room_id="one-more").exists()


@pytest.mark.parametrize(
    ("body", "field_error"),
    [
        ({"room_id": "Not-Valid"}, "room_id"),
        ({"room_id": "-lead"}, "room_id"),
        ({"room_id": "ok", "tags": "novalue"}, "格式應為 KEY=VALUE"),
        ({"room_id": "ok", "tags": "aws:x=1"}, "aws:x"),
    ],
)
def test_a_bad_form_is_shown_again_with_its_errors(staff_client, master_stage, body, field_error):
    html = page(staff_client.post(f"{ROOMS}add/", body))
    assert "errorlist" in html and field_error in html
    assert Room.objects.count() == 1  # default only


def test_an_ivs_failure_on_create_is_a_message_and_leaves_no_room(staff_client, master_stage):
    emulator.inject_fault("CreateStage", "AccessDeniedException")

    html = page(staff_client.post(f"{ROOMS}add/", {"room_id": "r1"}))

    assert "無法建立直播間" in html and "INTERNAL_ERROR" in html
    assert not Room.objects.filter(room_id="r1", deleted_at__isnull=True).exists()


def test_delete_asks_first_then_deletes_the_room_and_its_stages_in_ivs(staff_client, master_stage):
    room_create(room_id="r1")
    arns = [master_of("r1").arn, stage_create(name="extra", room_id="r1").arn]

    confirm = page(delete_action(staff_client, "r1", confirm=False))
    assert "確定刪除" in confirm and "將刪除" in confirm
    assert Room.objects.get(room_id="r1").deleted_at is None  # nothing happened yet

    done = page(delete_action(staff_client, "r1"))

    assert "直播間 r1：已刪除" in done
    assert Room.objects.get(room_id="r1").deleted_at is not None
    assert set(Stage.objects.filter(arn__in=arns).values_list("status", flat=True)) == {"deleted"}
    assert not {s.arn for s in ivs.list_stages()} & set(arns)


def test_delete_refuses_default_and_a_room_with_viewers_with_its_count(staff_client, master_stage):
    room_create(room_id="busy")
    room_create(room_id="idle")
    track_viewers(master_of("busy"), 3)

    confirm = page(delete_action(staff_client, "default", "busy", "idle", confirm=False))
    assert "預設直播間不會刪除" in confirm and "仍有 3 位觀眾，不會刪除" in confirm

    html = page(delete_action(staff_client, "default", "busy", "idle"))

    assert "直播間 default：無法刪除預設直播間（FORBIDDEN）" in html
    assert "直播間 busy：直播間中仍有觀眾，無法刪除（3 位觀眾）" in html
    assert "直播間 idle：已刪除" in html
    live = set(Room.objects.filter(deleted_at__isnull=True).values_list("room_id", flat=True))
    assert live == {"default", "busy"}
    assert master_of("default") is not None and master_of("busy") is not None


def test_an_ivs_failure_on_delete_is_a_message_and_the_room_stays(staff_client, master_stage):
    room_create(room_id="r1")
    emulator.inject_fault("DeleteStage", "AccessDeniedException")

    html = page(delete_action(staff_client, "r1"))

    assert "直播間 r1：" in html and "INTERNAL_ERROR" in html
    assert Room.objects.get(room_id="r1").deleted_at is None and master_of("r1") is not None


def test_view_only_staff_can_look_but_not_create_or_delete(viewer_staff, master_stage):
    room_create(room_id="r1")

    html = page(viewer_staff.get(ROOMS))
    assert "r1" in html and "delete_rooms" not in html and f"{ROOMS}add/" not in html

    response = viewer_staff.post(f"{ROOMS}add/", {"room_id": "sneaky"})
    assert response.status_code == 302 and not Room.objects.filter(room_id="sneaky").exists()

    delete_action(viewer_staff, "r1")
    assert Room.objects.get(room_id="r1").deleted_at is None
    assert master_of("r1") is not None


def test_nobody_deletes_a_room_through_django_s_own_delete(staff_client, master_stage):
    room_create(room_id="r1")
    response = staff_client.post(f"{ROOMS}r1/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert Room.objects.get(room_id="r1").deleted_at is None


def test_the_room_admin_requires_staff(client, master_stage):
    response = client.get(ROOMS)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
