"""The rooms extension (docs/api.md, "Live rooms"), row by row, through HTTP."""

from __future__ import annotations

import pytest

from stages import ivs
from stages.models import Room, Stage
from tests.api.helpers import TIMESTAMP_RE
from tests.factories import track_viewers

pytestmark = pytest.mark.django_db


@pytest.fixture
def production(settings):
    settings.IS_PRODUCTION = True
    settings.ENVIRONMENT = "production"
    return settings


def create(api, room_id="r1", **body):
    return api.post("/api/rooms", {"roomId": room_id, **body})


def error(response):
    return response.status_code, response.json()["error"]["code"], response.json()["error"]["message"]


def test_create_room_makes_its_master_stage_in_ivs_tagged_with_the_room(api, master_stage):
    response = create(api, "seller-42", name="Seller 42", tags={"Team": "live"})

    assert response.status_code == 201, response.json()
    room = response.json()["data"]["room"]
    assert room["roomId"] == "seller-42" and room["name"] == "Seller 42" and room["tags"] == {"Team": "live"}
    assert room["isPublisherLive"] is False and room["totalViewers"] == 0 and room["activeStages"] == 1
    [remote] = [s for s in ivs.list_stages() if s.arn == room["masterStageArn"]]
    assert remote.tags["Room"] == "seller-42"
    assert Stage.objects.get(arn=room["masterStageArn"]).room_id == "seller-42"


def test_name_defaults_to_the_room_id(api, master_stage):
    assert create(api, "r2").json()["data"]["room"]["name"] == "r2"


@pytest.mark.parametrize("bad", ["", "UPPER", "-lead", "a" * 64, "sp ace", "ü", "x_y", "r\u0661\u0662", "r\uff11"])
def test_a_malformed_room_id_is_400(api, master_stage, bad):
    status, code, _msg = error(create(api, bad))
    assert (status, code) == (400, "VALIDATION_ERROR")


def test_a_missing_room_id_names_the_field(api, master_stage):
    response = api.post("/api/rooms", {"name": "x"})
    assert error(response) == (400, "VALIDATION_ERROR", "缺少 roomId")
    assert response.json()["error"]["details"]["missingFields"] == ["roomId"]


def test_a_room_that_exists_is_409(api, master_stage):
    create(api, "r1")
    assert error(create(api, "r1")) == (409, "CONFLICT", "直播間已存在")
    assert error(create(api, "default")) == (409, "CONFLICT", "直播間已存在")


def test_max_rooms_counts_default(api, master_stage, settings):
    settings.MAX_ROOMS = 2
    assert create(api, "r1").status_code == 201
    assert error(create(api, "r2")) == (503, "ROOM_LIMIT_REACHED", "已達到直播間數量上限 (2)")


def test_the_account_cap_leaves_no_room_for_a_master(api, master_stage, settings):
    settings.ACCOUNT_MAX_STAGES = 1
    assert error(create(api, "r1")) == (503, "STAGE_LIMIT_REACHED", "已達到 Stage 數量上限 (1)")
    assert not Room.objects.filter(room_id="r1", deleted_at__isnull=True).exists()


def test_a_manual_stage_at_the_account_cap_names_that_cap(api, master_stage, settings):
    create(api, "r1")
    settings.ACCOUNT_MAX_STAGES = 2  # the two masters
    assert error(api.post("/api/stage", {"name": "extra", "roomId": "r1"})) == (
        503,
        "STAGE_LIMIT_REACHED",
        "已達到 Stage 數量上限 (2)",
    )
    settings.MAX_STAGES = 1  # now the room's own cap is the tighter one, and is named
    assert error(api.post("/api/stage", {"name": "extra", "roomId": "r1"})) == (
        503,
        "STAGE_LIMIT_REACHED",
        "已達到 Stage 數量上限 (1)",
    )


def test_null_for_an_optional_field_means_not_sent(api, master_stage):
    """JSON clients write null for "no value": the field's absence applies, not `缺少 …`."""
    room = create(api, "r1", name=None, tags=None)
    assert room.status_code == 201, room.json()
    assert (room.json()["data"]["room"]["name"], room.json()["data"]["room"]["tags"]) == ("r1", {})

    stage = api.post("/api/stage", {"name": "manual", "tags": None, "roomId": None})
    assert stage.status_code == 201, stage.json()
    assert stage.json()["data"]["stage"]["roomId"] == "default"

    publisher = api.post("/api/token/publisher", {"userId": "host", "roomId": None})
    viewer = api.post("/api/token/viewer", {"userId": "v", "roomId": None, "stageArn": None})
    assert publisher.json()["data"]["stageArn"] == viewer.json()["data"]["stageArn"] == master_stage.arn

    # Required fields stay required, null or not.
    assert error(api.post("/api/rooms", {"roomId": None})) == (400, "VALIDATION_ERROR", "缺少 roomId")
    assert error(api.post("/api/stage", {"name": None}))[:2] == (400, "VALIDATION_ERROR")


def test_list_rooms_oldest_first_with_default_and_pages(api, master_stage):
    for room_id in ("r1", "r2", "r3"):
        create(api, room_id)
    first = api.get("/api/rooms", {"limit": 2}).json()["data"]
    assert [r["roomId"] for r in first["rooms"]] == ["default", "r1"]
    assert first["totalRooms"] == 4 and first["nextToken"]
    second = api.get("/api/rooms", {"limit": 2, "nextToken": first["nextToken"]}).json()["data"]
    assert [r["roomId"] for r in second["rooms"]] == ["r2", "r3"] and second["nextToken"] is None
    assert error(api.get("/api/rooms", {"nextToken": "forged"}))[:2] == (400, "VALIDATION_ERROR")


def test_get_room_with_its_stages(api, master_stage):
    room = create(api, "r1").json()["data"]["room"]
    track_viewers(Stage.objects.get(arn=room["masterStageArn"]), 3)

    data = api.get("/api/rooms/r1").json()["data"]

    assert data["room"]["totalViewers"] == 3
    assert [(s["stageArn"], s["viewerCount"], s["roomId"]) for s in data["stages"]] == [
        (room["masterStageArn"], 3, "r1")
    ]
    # The contract's fields, each of its type; timestamps ISO with milliseconds and Z.
    room_fields = {
        "roomId",
        "name",
        "masterStageArn",
        "isPublisherLive",
        "totalViewers",
        "activeStages",
        "createdAt",
        "tags",
    }
    assert set(data["room"]) == room_fields
    assert TIMESTAMP_RE.match(data["room"]["createdAt"])
    [stage] = data["stages"]
    assert {"stageArn", "stageName", "viewerCount", "autoScaled", "createdAt"} <= set(stage)
    assert stage["autoScaled"] is False and stage["stageName"] == Stage.objects.get(arn=stage["stageArn"]).name
    assert TIMESTAMP_RE.match(stage["createdAt"])
    assert error(api.get("/api/rooms/nope")) == (404, "NOT_FOUND", "直播間不存在")
    assert error(api.get("/api/rooms/BAD"))[:2] == (400, "VALIDATION_ERROR")


@pytest.mark.parametrize(
    "request_",
    [
        ("delete", "/api/rooms/BAD", None),
        ("delete", "/api/rooms/-lead", None),
        ("post", "/api/rooms", {"roomId": "r9", "tags": "not-an-object"}),
        ("post", "/api/rooms", {"roomId": "r9", "tags": {"Team": 7}}),
        ("post", "/api/rooms", {"roomId": "r9", "tags": {"aws:reserved": "x"}}),
        ("post", "/api/rooms", {"roomId": "r9", "name": ["x"]}),
        ("get", "/api/rooms?limit=0", None),
        ("get", "/api/rooms?limit=abc", None),
        ("get", "/api/rooms?limit=", None),
    ],
)
def test_bad_room_requests_are_400_and_change_nothing(api, master_stage, request_):
    method, path, body = request_
    rooms_before = set(Room.objects.values_list("room_id", "deleted_at"))

    response = getattr(api, method)(path, body) if body is not None else getattr(api, method)(path)

    assert error(response)[:2] == (400, "VALIDATION_ERROR")
    assert set(Room.objects.values_list("room_id", "deleted_at")) == rooms_before


def test_delete_room_deletes_its_stages_in_ivs_and_closes_sessions(api, master_stage):
    room = create(api, "r1").json()["data"]["room"]
    token = api.post("/api/token/viewer", {"userId": "v1", "roomId": "r1"}).json()["data"]
    api.post("/api/viewer/leave", {"userId": "v1", "stageArn": token["stageArn"]})

    response = api.delete("/api/rooms/r1")

    assert response.status_code == 200, response.json()
    assert response.json()["data"] == {"roomId": "r1", "deleted": True}
    assert response.json()["message"] == "直播間已刪除"
    assert room["masterStageArn"] not in {s.arn for s in ivs.list_stages()}
    assert error(api.get("/api/rooms/r1")) == (404, "NOT_FOUND", "直播間不存在")
    assert create(api, "r1").status_code == 201  # the roomId can be used again


def test_delete_room_with_viewers_is_400_with_the_count(api, master_stage, production):
    create(api, "r1")
    api.post("/api/token/viewer", {"userId": "v1", "roomId": "r1"})
    response = api.delete("/api/rooms/r1")
    assert error(response) == (400, "VALIDATION_ERROR", "直播間中仍有觀眾，無法刪除")
    assert response.json()["error"]["details"] == {"viewerCount": 1}


def test_default_cannot_be_deleted_nor_any_master_stage(api, master_stage):
    room = create(api, "r1").json()["data"]["room"]
    assert error(api.delete("/api/rooms/default")) == (403, "FORBIDDEN", "無法刪除預設直播間")
    assert error(api.delete(f"/api/stage/{room['masterStageArn']}")) == (403, "FORBIDDEN", "無法刪除主 Stage")
    assert error(api.delete("/api/rooms/nope")) == (404, "NOT_FOUND", "直播間不存在")


def test_tokens_with_a_room(api, master_stage):
    room = create(api, "r1").json()["data"]["room"]

    publisher = api.post("/api/token/publisher", {"userId": "host", "roomId": "r1"}).json()["data"]
    viewer = api.post("/api/token/viewer", {"userId": "v", "roomId": "r1"}).json()["data"]
    default = api.post("/api/token/viewer", {"userId": "v"}).json()["data"]

    assert publisher["stageArn"] == viewer["stageArn"] == room["masterStageArn"]
    assert default["stageArn"] == master_stage.arn  # the same viewer, a seat in each room
    again = api.post("/api/token/viewer", {"userId": "v", "roomId": "r1"}).json()["data"]
    assert again["stageArn"] == viewer["stageArn"] and again["currentViewers"] == 1  # a refresh keeps it


def test_a_stage_of_another_room_is_400(api, master_stage):
    create(api, "r1")
    response = api.post("/api/token/viewer", {"userId": "v", "roomId": "r1", "stageArn": master_stage.arn})
    assert error(response)[:2] == (400, "VALIDATION_ERROR")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/api/token/publisher", {"userId": "h", "roomId": "nope"}),
        ("post", "/api/token/viewer", {"userId": "v", "roomId": "nope"}),
        ("get", "/api/stage/list", {"roomId": "nope"}),
        ("get", "/api/stage/master/info", {"roomId": "nope"}),
        ("post", "/api/stage", {"name": "s", "roomId": "nope"}),
        ("get", "/api/stats", {"roomId": "nope"}),
        ("get", "/api/stats/viewers", {"roomId": "nope"}),
        ("get", "/api/stats/publisher", {"roomId": "nope"}),
        ("get", "/api/viewer/duration", {"userId": "v", "roomId": "nope"}),
    ],
)
def test_unknown_and_malformed_rooms_everywhere(api, master_stage, method, path, body):
    assert error(getattr(api, method)(path, body)) == (404, "NOT_FOUND", "直播間不存在")
    bad = {**body, "roomId": "NOT VALID"}
    assert error(getattr(api, method)(path, bad))[:2] == (400, "VALIDATION_ERROR")


def test_stage_endpoints_with_a_room(api, master_stage):
    room = create(api, "r1").json()["data"]["room"]
    created = api.post("/api/stage", {"name": "extra", "roomId": "r1"})
    assert created.status_code == 201 and created.json()["data"]["stage"]["roomId"] == "r1"

    only_r1 = api.get("/api/stage/list", {"roomId": "r1"}).json()["data"]
    everything = api.get("/api/stage/list").json()["data"]
    info = api.get("/api/stage/master/info", {"roomId": "r1"}).json()["data"]

    assert {s["roomId"] for s in only_r1["stages"]} == {"r1"} and only_r1["totalStages"] == 2
    assert everything["totalStages"] == 3
    assert {s["roomId"] for s in everything["stages"]} == {"default", "r1"}
    assert info["stage"]["arn"] == room["masterStageArn"] and info["stage"]["roomId"] == "r1"


def test_max_stages_is_per_room(api, master_stage, settings):
    settings.MAX_STAGES = 2
    create(api, "r1")
    assert api.post("/api/stage", {"name": "a", "roomId": "r1"}).status_code == 201
    assert error(api.post("/api/stage", {"name": "b", "roomId": "r1"})) == (
        503,
        "STAGE_LIMIT_REACHED",
        "已達到 Stage 數量上限 (2)",
    )
    assert api.post("/api/stage", {"name": "c"}).status_code == 201  # the default room has its own cap


def test_stats_of_a_room_and_of_all_rooms(api, master_stage):
    room = create(api, "r1").json()["data"]["room"]
    track_viewers(Stage.objects.get(arn=room["masterStageArn"]), 4)
    track_viewers(master_stage, 2, prefix="d")

    r1 = api.get("/api/stats", {"roomId": "r1"}).json()["data"]
    plain = api.get("/api/stats").json()["data"]
    viewers = api.get("/api/stats/viewers", {"roomId": "r1"}).json()["data"]
    publisher = api.get("/api/stats/publisher", {"roomId": "r1"}).json()["data"]
    overview = api.get("/api/stats/rooms").json()["data"]

    assert (r1["totalViewers"], r1["activeStages"], r1["roomId"]) == (4, 1, "r1")
    assert plain["totalViewers"] == 2 and "roomId" not in plain  # v1.1.0: the room default
    # Every stage object carries its room, the default room's too.
    assert [(s["stageArn"], s["viewerCount"], s["roomId"]) for s in r1["stages"]] == [(room["masterStageArn"], 4, "r1")]
    assert [(s["stageArn"], s["viewerCount"], s["roomId"]) for s in plain["stages"]] == [
        (master_stage.arn, 2, "default")
    ]
    assert viewers == {"totalViewers": 4, "calculatedFrom": "real-time sum", "roomId": "r1"}
    assert publisher == {"isPublisherLive": False, "roomId": "r1"}
    assert overview["totalViewers"] == 6 and overview["liveRooms"] == 0
    assert [(r["roomId"], r["totalViewers"], r["activeStages"]) for r in overview["rooms"]] == [
        ("default", 2, 1),
        ("r1", 4, 1),
    ]


def test_duration_over_a_room(api, master_stage, clock):
    create(api, "r1")
    token = api.post("/api/token/viewer", {"userId": "v", "roomId": "r1"}).json()["data"]
    clock.advance(90)
    api.post("/api/viewer/leave", {"userId": "v", "stageArn": token["stageArn"]})

    data = api.get("/api/viewer/duration", {"userId": "v", "roomId": "r1"}).json()["data"]

    assert data == {"userId": "v", "roomId": "r1", "watchDurationSeconds": 90, "watchDurationFormatted": "1分 30秒"}
    assert error(api.get("/api/viewer/duration", {"userId": "w", "roomId": "r1"}))[:2] == (404, "NOT_FOUND")
