"""Stage endpoints (spec §3) through HTTP, the real boto3 client and the IVS emulator."""

from urllib.parse import quote

import pytest

from stages import ivs
from stages.models import Stage
from tests.factories import track_viewers

pytestmark = pytest.mark.django_db


def test_create_list_master_info_delete_round_trip(api, master_stage):
    created = api.post("/api/stage", {"name": "extra-1", "tags": {"Team": "live"}})
    assert created.status_code == 201, created.json()
    stage = created.json()["data"]["stage"]
    assert stage["name"] == "extra-1"
    assert stage["tags"] == {"Environment": "development", "ManagedBy": "api-server", "Team": "live"}
    assert ivs.get_stage(arn=stage["arn"]).tags == stage["tags"]

    listing = api.get("/api/stage/list").json()["data"]
    assert listing["totalStages"] == 2
    assert listing["nextToken"] is None
    arns = [s["stageArn"] for s in listing["stages"]]
    assert arns == [master_stage.arn, stage["arn"]]
    row = listing["stages"][1]
    assert row == {
        "stageArn": stage["arn"],
        "name": "extra-1",
        "viewerCount": 0,
        "autoScaled": False,
        "createdAt": row["createdAt"],
        "tags": stage["tags"],
        "roomId": "default",  # v1.2.0: every stage object names its room
    }
    assert row["createdAt"].endswith("Z")

    info = api.get("/api/stage/master/info").json()["data"]
    assert info["isMasterStage"] is True
    assert info["stage"]["arn"] == master_stage.arn
    assert info["stage"]["name"] == "master-stage"
    assert info["viewerCount"] == 0
    assert set(info["stage"]) == {"arn", "name", "activeSessionId", "tags", "roomId"}

    deleted = api.delete(f"/api/stage/{stage['arn']}")
    assert deleted.status_code == 200, deleted.json()
    body = deleted.json()
    assert body["data"] == {"stageArn": stage["arn"], "deleted": True}
    assert body["message"] == "Stage 已刪除"
    assert Stage.objects.get(arn=stage["arn"]).status == Stage.Status.DELETED
    with pytest.raises(Exception):
        ivs.get_stage(arn=stage["arn"])
    assert api.get("/api/stage/list").json()["data"]["totalStages"] == 1


def test_delete_accepts_url_encoded_arn(api, master_stage):
    arn = api.post("/api/stage", {"name": "encoded"}).json()["data"]["stage"]["arn"]
    response = api.delete("/api/stage/" + quote(arn, safe=""))
    assert response.status_code == 200, response.json()


def test_deleting_the_master_stage_is_forbidden(api, master_stage):
    response = api.delete(f"/api/stage/{master_stage.arn}")
    assert response.status_code == 403
    assert response.json()["error"] == {"code": "FORBIDDEN", "message": "無法刪除主 Stage"}


def test_deleting_a_stage_with_viewers_is_refused_with_the_count(api, master_stage, settings):
    settings.IS_PRODUCTION = True  # viewerCount is part of the contract, shown even in production
    arn = api.post("/api/stage", {"name": "busy"}).json()["data"]["stage"]["arn"]
    track_viewers(Stage.objects.get(arn=arn), 3)
    response = api.delete(f"/api/stage/{arn}")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert error["message"] == "Stage 中仍有觀眾，無法刪除"
    assert error["details"] == {"viewerCount": 3}


def test_delete_unknown_stage_is_404_and_malformed_arn_is_400(api, master_stage):
    unknown = "arn:aws:ivs:ap-northeast-1:123456789012:stage/abcdefABCDEF"
    assert api.delete(f"/api/stage/{unknown}").json()["error"]["code"] == "NOT_FOUND"
    for bad in ["not-an-arn", "arn:aws:ivs:ap-northeast-1:123456789012:stage/../../etc", "a/b/c"]:
        response = api.delete(f"/api/stage/{bad}")
        assert response.status_code == 400, (bad, response.content)
        assert response.json()["error"]["code"] == "VALIDATION_ERROR"


def test_stage_deleted_behind_our_back_still_deletes_cleanly(api, master_stage):
    arn = api.post("/api/stage", {"name": "gone"}).json()["data"]["stage"]["arn"]
    ivs.delete_stage(arn=arn)
    assert api.delete(f"/api/stage/{arn}").status_code == 200


def test_stage_cap_returns_stage_limit_reached_with_configured_number(api, master_stage, settings):
    settings.MAX_STAGES = 3
    assert api.post("/api/stage", {"name": "a"}).status_code == 201
    assert api.post("/api/stage", {"name": "b"}).status_code == 201
    response = api.post("/api/stage", {"name": "c"})
    assert response.status_code == 503
    assert response.json()["error"] == {"code": "STAGE_LIMIT_REACHED", "message": "已達到 Stage 數量上限 (3)"}


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "name"),
        ({"name": "bad name!"}, None),
        ({"name": "x" * 129}, None),
        ({"name": 42}, None),
        ({"name": "ok", "tags": {"k": 1}}, None),
        ({"name": "ok", "tags": ["a"]}, None),
        ({"name": "ok", "tags": {f"k{i}": "v" for i in range(51)}}, None),
    ],
)
def test_create_stage_validates_name_and_tags(api, master_stage, body, field):
    response = api.post("/api/stage", body)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    if field:
        assert error["details"]["missingFields"] == [field]


def test_stage_list_paginates_with_next_token(api, master_stage):
    for n in range(4):
        api.post("/api/stage", {"name": f"s{n}"})
    first = api.get("/api/stage/list", {"limit": 2}).json()["data"]
    assert len(first["stages"]) == 2 and first["totalStages"] == 5 and first["nextToken"]
    second = api.get("/api/stage/list", {"limit": 2, "nextToken": first["nextToken"]}).json()["data"]
    third = api.get("/api/stage/list", {"limit": 2, "nextToken": second["nextToken"]}).json()["data"]
    assert third["nextToken"] is None
    seen = [s["stageArn"] for page in (first, second, third) for s in page["stages"]]
    assert len(seen) == len(set(seen)) == 5
    bad = api.get("/api/stage/list", {"nextToken": "forged"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "VALIDATION_ERROR"


def test_master_info_without_master_is_404(api, db):
    response = api.get("/api/stage/master/info")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"


def test_stage_list_counts_viewers_from_presence(api, master_stage):
    track_viewers(master_stage, 5, prefix="v")
    stages = api.get("/api/stage/list").json()["data"]["stages"]
    assert stages[0]["viewerCount"] == 5
    assert api.get("/api/stage/master/info").json()["data"]["viewerCount"] == 5
