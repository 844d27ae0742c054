"""The boto3 client factory and the call wrappers' own logic."""

from __future__ import annotations

import jwt
import pytest

from stages import ivs


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("arn:aws:ivs:ap-northeast-1:123456789012:stage/AbCdEfGh1234", True),
        ("arn:aws:ivs:us-east-1:000000000000:stage/000000000000", True),
        ("arn:aws:ivs:ap-northeast-1:123456789012:stage/AbCdEfGh123", False),  # 11 characters
        ("arn:aws:ivs:ap-northeast-1:123456789012:stage/AbCdEfGh1234/x", False),
        ("arn:aws:ivs:ap-northeast-1:12345678901:stage/AbCdEfGh1234", False),
        ("arn:aws:ivs:ap-northeast-1:123456789012:channel/AbCdEfGh1234", False),
        ("arn:aws:s3:ap-northeast-1:123456789012:stage/AbCdEfGh1234", False),
        (" arn:aws:ivs:ap-northeast-1:123456789012:stage/AbCdEfGh1234", False),
        ("", False),
    ],
)
def test_is_valid_stage_arn(value, valid):
    assert ivs.is_valid_stage_arn(value) is valid


def test_stage_id_is_the_last_arn_segment():
    assert ivs.stage_id_from_arn("arn:aws:ivs:ap-northeast-1:123456789012:stage/AbCdEfGh1234") == "AbCdEfGh1234"


def test_client_has_explicit_timeouts_and_standard_retries(settings):
    config = ivs.get_client().meta.config
    assert (config.connect_timeout, config.read_timeout) == (3, 10)
    assert config.retries == {"mode": "standard", "total_max_attempts": 3}
    assert ivs.get_client().meta.region_name == settings.AWS_REGION


def test_client_is_cached_and_rebuilt_when_the_backend_changes(settings):
    first = ivs.get_client()
    assert ivs.get_client() is first
    settings.IVS_BACKEND = "aws"
    assert ivs.get_client() is not first
    ivs.reset_client()


def test_emulator_client_uses_static_credentials_without_a_lookup():
    credentials = ivs.get_client()._request_signer._credentials
    assert credentials.access_key == "EMULATORACCESSKEY"


@pytest.mark.parametrize(("seconds", "minutes"), [(1, 1), (60, 1), (61, 2), (3600, 60), (10**8, 20160)])
def test_token_duration_is_rounded_up_to_whole_minutes_within_ivs_bounds(seconds, minutes):
    stage = ivs.create_stage(name="d", tags={})
    token = ivs.create_participant_token(
        stage_arn=stage.arn, user_id="u", capabilities=["SUBSCRIBE"], duration_seconds=seconds, attributes={}
    )
    claims = jwt.decode(token.token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == minutes * 60


def test_stage_endpoints_come_from_get_stage_but_not_from_list_stages():
    created = ivs.create_stage(name="e", tags={"k": "v"})
    assert created.whip_endpoint.startswith("https://") and created.events_endpoint.startswith("wss://")
    [listed] = ivs.list_stages()
    assert (listed.arn, listed.name, listed.tags) == (created.arn, "e", {"k": "v"})
    assert listed.whip_endpoint is None
