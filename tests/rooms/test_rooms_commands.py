"""Rooms on an operator's shell: create_room, list_rooms, delete_room, through call_command."""

from __future__ import annotations

import json
import unicodedata
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from ivsproject.redis import get_redis
from stages import hostlive, ivs
from stages.ivs import emulator
from stages.models import Room, Stage
from stages.rooms import room_create
from stages.selectors import master_stage as master_of
from stages.services import stage_create
from tests.factories import track_viewers

pytestmark = pytest.mark.django_db


def run(*args):
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def columns(text):
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def test_create_room_makes_its_master_stage_in_ivs(master_stage):
    out = run("create_room", "seller-42", "--name", "賣家 42", "--tag", "Team=live", "--tag", "Tier=gold")

    room = Room.objects.get(room_id="seller-42", deleted_at__isnull=True)
    assert room.name == "賣家 42" and room.tags == {"Team": "live", "Tier": "gold"}
    master = master_of("seller-42")
    assert master is not None and out.strip() == f"created room seller-42 (賣家 42), master stage {master.arn}"
    [remote] = [s for s in ivs.list_stages() if s.arn == master.arn]
    assert remote.tags["Room"] == "seller-42" and remote.tags["ManagedBy"] == "api-server"


def test_create_room_names_it_after_its_id_by_default(master_stage):
    run("create_room", "r1")
    assert Room.objects.get(room_id="r1").name == "r1"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("create_room", "Bad_Id"), "VALIDATION_ERROR"),
        (("create_room", "default"), "CONFLICT"),
        (("create_room", "r1", "--tag", "novalue"), "KEY=VALUE"),
        (("create_room", "r1", "--tag", "aws:x=1"), "invalid input"),
        (("create_room", "r1", "--name", ""), "invalid input"),
    ],
)
def test_create_room_refusals_are_clear_and_exit_1(master_stage, args, message):
    with pytest.raises(CommandError, match=message) as refused:
        run(*args)
    assert refused.value.returncode == 1
    assert list(Room.objects.values_list("room_id", flat=True)) == ["default"]


def test_create_room_over_the_caps(master_stage, settings):
    settings.MAX_ROOMS = 1
    with pytest.raises(CommandError, match=r"ROOM_LIMIT_REACHED"):
        run("create_room", "r1")
    settings.MAX_ROOMS = 50
    settings.ACCOUNT_MAX_STAGES = 1
    with pytest.raises(CommandError, match=r"STAGE_LIMIT_REACHED"):
        run("create_room", "r1")
    emulator.inject_fault("CreateStage", "AccessDeniedException")
    settings.ACCOUNT_MAX_STAGES = 100
    with pytest.raises(CommandError, match="INTERNAL_ERROR"):
        run("create_room", "r1")
    assert not Room.objects.filter(room_id="r1", deleted_at__isnull=True).exists()


def test_list_rooms_is_a_table_oldest_first(master_stage):
    room_create(room_id="seller-1", name="賣家一")
    room_create(room_id="seller-2")
    stage_create(name="extra", room_id="seller-1")
    track_viewers(master_of("seller-1"), 4)
    get_redis().set(hostlive.live_key("seller-1"), "1")

    lines = run("list_rooms").splitlines()

    assert lines[0].split() == ["ROOM_ID", "NAME", "LIVE", "VIEWERS", "STAGES", "CREATED"]
    rows = [line.split() for line in lines[1:-1]]
    assert [row[:5] for row in rows] == [
        ["default", "default", "no", "0", "1"],
        ["seller-1", "賣家一", "yes", "4", "2"],
        ["seller-2", "seller-2", "no", "0", "1"],
    ]
    assert lines[-1] == "3 room(s)"
    # A wide (Chinese) character takes two terminal columns: the next column still lines up.
    seller = lines[2]
    assert columns(seller[: seller.index("yes")]) == lines[0].index("LIVE")


def test_list_rooms_json_is_one_document_as_the_api_shows_rooms(master_stage, api):
    room_create(room_id="seller-1", name="賣家一", tags={"Team": "live"})
    track_viewers(master_of("seller-1"), 2)

    document = json.loads(run("list_rooms", "--json"))

    assert document["totalRooms"] == 2
    assert [r["roomId"] for r in document["rooms"]] == ["default", "seller-1"]
    seller = document["rooms"][1]
    assert seller["name"] == "賣家一" and seller["totalViewers"] == 2 and seller["tags"] == {"Team": "live"}
    assert seller == api.get("/api/rooms/seller-1").json()["data"]["room"]


def test_list_rooms_leaves_deleted_rooms_out(master_stage):
    room_create(room_id="gone")
    run("delete_room", "gone")
    assert [r["roomId"] for r in json.loads(run("list_rooms", "--json"))["rooms"]] == ["default"]


def test_delete_room_deletes_its_stages_in_ivs(master_stage):
    room_create(room_id="r1")
    arns = {master_of("r1").arn, stage_create(name="extra", room_id="r1").arn}

    assert run("delete_room", "r1").strip() == "deleted room r1"

    assert Room.objects.get(room_id="r1").deleted_at is not None
    assert set(Stage.objects.filter(arn__in=arns).values_list("status", flat=True)) == {"deleted"}
    assert not arns & {s.arn for s in ivs.list_stages()}


def test_delete_room_is_guarded(master_stage):
    room_create(room_id="busy")
    track_viewers(master_of("busy"), 2)

    with pytest.raises(CommandError, match="FORBIDDEN: 無法刪除預設直播間") as default:
        run("delete_room", "default")
    with pytest.raises(CommandError, match=r"VALIDATION_ERROR: 直播間中仍有觀眾，無法刪除 \{'viewerCount': 2\}"):
        run("delete_room", "busy")
    with pytest.raises(CommandError, match="NOT_FOUND"):
        run("delete_room", "nope")
    with pytest.raises(CommandError, match="VALIDATION_ERROR"):
        run("delete_room", "NOPE")

    assert default.value.returncode == 1
    assert master_of("default") is not None and master_of("busy") is not None


def test_delete_room_reports_an_ivs_failure_and_can_be_run_again(master_stage):
    room_create(room_id="r1")
    emulator.inject_fault("DeleteStage", "AccessDeniedException")

    with pytest.raises(CommandError, match="INTERNAL_ERROR"):
        run("delete_room", "r1")
    assert Room.objects.get(room_id="r1").deleted_at is None

    assert run("delete_room", "r1").strip() == "deleted room r1"
