"""Token endpoints (spec §2) and the claims of the tokens they mint."""

from datetime import UTC, datetime

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from stages.ivs import participant_token
from stages.models import Stage
from stages.services import stage_create

pytestmark = pytest.mark.django_db

CLAIMS = {
    "jti", "resource", "topic", "whip_url", "events_url", "user_id", "attributes",
    "capabilities", "version", "iat", "exp",
}  # fmt: skip


def _decode(token: str) -> tuple[dict, dict]:
    private_pem, _key_arn = participant_token.signing_key()
    private = serialization.load_pem_private_key(private_pem.encode(), password=None)
    public = private.public_key()
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, public, algorithms=["ES384"], options={"verify_aud": False})
    return header, claims


def test_publisher_token_for_master_stage_with_obs_instructions(api, master_stage, settings):
    response = api.post("/api/token/publisher", {"userId": "host-1"})
    assert response.status_code == 200, response.json()
    data = response.json()["data"]
    assert data["stageArn"] == master_stage.arn
    assert data["userId"] == "host-1"
    assert data["capabilities"] == ["PUBLISH"]
    assert data["expiresIn"] == 14400
    assert data["whipEndpoint"] == "https://global.whip.live-video.net"
    assert data["instructions"] == {
        "obs": {
            "service": "WHIP",
            "server": "https://global.whip.live-video.net",
            "bearerToken": "<使用上方的 token>",
            "settings": {
                "resolution": "1280x720",
                "bitrate": "2500 kbps",
                "keyframeInterval": "1s",
                "cpuPreset": "ultrafast",
                "tune": "zerolatency",
            },
        },
        "web": {"sdk": "amazon-ivs-web-broadcast", "method": "Stage.join(token)"},
    }
    header, claims = _decode(data["token"])
    assert header == {"alg": "ES384", "typ": "JWT", "kid": participant_token.signing_key()[1]}
    assert set(claims) == CLAIMS
    assert claims["jti"] == data["participantId"]
    assert claims["resource"] == master_stage.arn
    assert claims["topic"] == master_stage.stage_id
    assert claims["user_id"] == "host-1"
    assert claims["capabilities"] == {"allow_publish": True, "allow_subscribe": False}
    assert claims["attributes"] == {"role": "publisher"}
    assert claims["version"] == "1.0"
    expires = datetime.fromisoformat(data["expiresAt"].replace("Z", "+00:00"))
    assert abs(expires.timestamp() - claims["exp"]) < 1
    assert claims["exp"] - claims["iat"] == 14400


def test_publisher_token_missing_user_id(api, master_stage, settings):
    response = api.post("/api/token/publisher", {})
    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "VALIDATION_ERROR",
        "message": "缺少 userId",
        # Development adds the serializer's own words for each field.
        "details": {"missingFields": ["userId"], "fields": {"userId": ["此為必需欄位。"]}},
    }
    # Production shows only what the contract shows.
    settings.IS_PRODUCTION = True
    response = api.post("/api/token/publisher", {})
    assert response.json()["error"]["details"] == {"missingFields": ["userId"]}


def test_publisher_token_without_master_stage_is_404(api, db):
    response = api.post("/api/token/publisher", {"userId": "host"})
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "主播直播不存在"


def test_viewer_token_subscribes_with_current_viewers(api, master_stage):
    first = api.post("/api/token/viewer", {"userId": "v1"}).json()["data"]
    assert first["capabilities"] == ["SUBSCRIBE"]
    assert first["expiresIn"] == 3600
    assert first["stageArn"] == master_stage.arn
    assert first["currentViewers"] == 1
    _, claims = _decode(first["token"])
    assert claims["capabilities"] == {"allow_publish": False, "allow_subscribe": True}
    assert claims["attributes"] == {"role": "viewer"}
    second = api.post("/api/token/viewer", {"userId": "v2"}).json()["data"]
    assert second["currentViewers"] == 2


def test_viewer_token_refresh_keeps_the_same_seat(api, master_stage):
    first = api.post("/api/token/viewer", {"userId": "v1"}).json()["data"]
    again = api.post("/api/token/viewer", {"userId": "v1"}).json()["data"]
    assert again["stageArn"] == first["stageArn"]
    assert again["currentViewers"] == 1


def test_viewer_token_assigns_least_loaded_stage_master_first(api, master_stage, settings):
    other = stage_create(name="overflow-a")
    data = [api.post("/api/token/viewer", {"userId": f"v{n}"}).json()["data"] for n in range(4)]
    assert [d["stageArn"] for d in data] == [master_stage.arn, other.arn, master_stage.arn, other.arn]


def test_viewer_token_skips_draining_stages(api, master_stage):
    other = stage_create(name="draining")
    other.status = Stage.Status.DRAINING
    other.save(update_fields=["status"])
    arns = {api.post("/api/token/viewer", {"userId": f"v{n}"}).json()["data"]["stageArn"] for n in range(3)}
    assert arns == {master_stage.arn}


def test_viewer_token_stage_full(api, master_stage, settings):
    settings.STAGE_MAX_PARTICIPANTS = 2
    settings.SCALE_UP_THRESHOLD = 1
    settings.SCALE_DOWN_THRESHOLD = 0
    assert api.post("/api/token/viewer", {"userId": "a"}).status_code == 200
    assert api.post("/api/token/viewer", {"userId": "b"}).status_code == 200
    response = api.post("/api/token/viewer", {"userId": "c"})
    assert response.status_code == 503
    assert response.json()["error"] == {"code": "STAGE_FULL", "message": "Stage 已滿，請稍後再試"}
    # a refresh by a seated viewer still works when the stage is full
    assert api.post("/api/token/viewer", {"userId": "a"}).status_code == 200


def test_viewer_token_explicit_stage(api, master_stage):
    other = stage_create(name="chosen")
    data = api.post("/api/token/viewer", {"userId": "v", "stageArn": other.arn}).json()["data"]
    assert data["stageArn"] == other.arn
    unknown = api.post(
        "/api/token/viewer", {"userId": "v", "stageArn": "arn:aws:ivs:ap-northeast-1:123456789012:stage/zzzzzzzzzzzz"}
    )
    assert unknown.status_code == 404
    malformed = api.post("/api/token/viewer", {"userId": "v", "stageArn": "nope"})
    assert malformed.status_code == 400


def test_viewer_token_without_master_is_404_with_spec_message(api, db):
    response = api.post("/api/token/viewer", {"userId": "v"})
    assert response.status_code == 404
    assert response.json()["error"] == {"code": "NOT_FOUND", "message": "主播直播不存在"}


def test_failed_minting_releases_the_seat(api, master_stage, monkeypatch):
    def boom(**kwargs):
        raise RuntimeError("kms down")

    monkeypatch.setattr(participant_token, "mint_token", boom)
    response = api.post("/api/token/viewer", {"userId": "v"})
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "TOKEN_GENERATION_FAILED"
    assert api.get("/api/stage/list").json()["data"]["stages"][0]["viewerCount"] == 0


def test_api_mode_tokens_carry_the_same_claims(api, master_stage, settings):
    settings.IVS_TOKEN_SIGNING = "api"
    data = api.post("/api/token/viewer", {"userId": "v-api"}).json()["data"]
    claims = jwt.decode(data["token"], options={"verify_signature": False})
    assert set(claims) == CLAIMS
    assert claims["jti"] == data["participantId"]
    assert claims["resource"] == master_stage.arn
    assert claims["capabilities"] == {"allow_publish": False, "allow_subscribe": True}
    assert data["expiresIn"] == 3600
    expires = datetime.fromisoformat(data["expiresAt"].replace("Z", "+00:00"))
    assert abs(expires.timestamp() - claims["exp"]) < 1
    assert expires > datetime.now(UTC)


def test_mediaserver_token_needs_internal_secret(api, master_stage, settings):
    body = {"serverId": "relay-1", "stageArn": master_stage.arn}
    settings.INTERNAL_SECRET = ""
    assert api.post("/api/token/mediaserver", body, HTTP_X_INTERNAL_SECRET="x").status_code == 403
    settings.INTERNAL_SECRET = "s3cret"
    assert api.post("/api/token/mediaserver", body).status_code == 403
    wrong = api.post("/api/token/mediaserver", body, HTTP_X_INTERNAL_SECRET="nope")
    assert wrong.status_code == 403 and wrong.json()["error"]["code"] == "FORBIDDEN"
    ok = api.post("/api/token/mediaserver", body, HTTP_X_INTERNAL_SECRET="s3cret")
    assert ok.status_code == 200, ok.json()
    data = ok.json()["data"]
    assert data["capabilities"] == ["PUBLISH", "SUBSCRIBE"]
    assert data["stageArn"] == master_stage.arn
    _, claims = _decode(data["token"])
    assert claims["capabilities"] == {"allow_publish": True, "allow_subscribe": True}
    assert claims["exp"] - claims["iat"] == 14400
    missing = api.post("/api/token/mediaserver", {}, HTTP_X_INTERNAL_SECRET="s3cret")
    assert missing.status_code == 400
    assert missing.json()["error"]["details"]["missingFields"] == ["serverId", "stageArn"]
    assert missing.json()["error"]["message"] == "缺少必要參數"


@pytest.mark.parametrize("user_id", [123, None, "", "x" * 129, "bad\x00id", ["a"]])
def test_viewer_token_rejects_bad_user_ids(api, master_stage, user_id):
    response = api.post("/api/token/viewer", {"userId": user_id})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
