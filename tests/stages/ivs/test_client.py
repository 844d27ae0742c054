"""The boto3 client factory and the call wrappers' own logic."""

from __future__ import annotations

import jwt
import pytest

from ivsproject.api.exceptions import ServiceUnavailable
from stages import ivs
from stages.ivs import client, emulator


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


def test_emulator_client_signs_with_static_credentials_without_a_lookup():
    signed = []
    ivs.get_client().meta.events.register(
        "before-send.ivs-realtime", lambda request, **kwargs: signed.append(str(request.headers["Authorization"]))
    )
    ivs.list_stages()
    assert signed and "Credential=EMULATORACCESSKEY/" in signed[0]


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


# --- CreateStage: sent once, resent only when IVS certainly did nothing ----------------------------
@pytest.fixture
def backoffs(monkeypatch):
    """The pauses a send-once call asks for, as (attempt, throttled); none is slept."""
    asked: list[tuple[int, bool]] = []

    def record(attempt, *, throttled):
        asked.append((attempt, throttled))
        return 0.0

    monkeypatch.setattr(client, "backoff_seconds", record)
    return asked


def test_a_throttled_create_stage_is_sent_again_after_a_backoff(backoffs):
    emulator.inject_fault("CreateStage", "ThrottlingException", times=1)
    ivs.create_stage(name="after-a-throttle", tags={})
    assert backoffs == [(1, True)]
    assert [s.name for s in ivs.list_stages()] == ["after-a-throttle"]


def test_a_create_stage_that_never_reached_ivs_is_sent_again(backoffs):
    emulator.inject_fault("CreateStage", "EndpointConnectionError", times=2)
    ivs.create_stage(name="after-two-refusals", tags={})
    assert backoffs == [(1, False), (2, False)]


def test_a_create_stage_throttled_throughout_gives_up_after_the_last_attempt(backoffs):
    emulator.inject_fault("CreateStage", "ThrottlingException", times=10)
    with pytest.raises(ServiceUnavailable):
        ivs.create_stage(name="never-made", tags={})
    assert backoffs == [(1, True), (2, True)]
    assert ivs.list_stages() == []


@pytest.mark.parametrize("fault", ["InternalServerException", "ReadTimeoutError"])
def test_a_create_stage_whose_answer_may_be_lost_is_not_sent_again(backoffs, fault):
    emulator.inject_fault("CreateStage", fault, times=1)
    with pytest.raises(ServiceUnavailable):
        ivs.create_stage(name="maybe-made", tags={})
    assert backoffs == []


# The policy itself, read before the root conftest zeroes it for every other test.
REAL_BACKOFF = client.backoff_seconds


def test_backoff_grows_exponentially_from_its_base_up_to_twenty_seconds(monkeypatch):
    monkeypatch.setattr(client.random, "random", lambda: 1.0)  # the top of the jitter range
    assert [REAL_BACKOFF(n, throttled=True) for n in range(1, 8)] == [1, 2, 4, 8, 16, 20, 20]
    assert [REAL_BACKOFF(n, throttled=False) for n in (1, 2, 3)] == [0.05, 0.1, 0.2]
    monkeypatch.setattr(client.random, "random", lambda: 0.0)
    assert REAL_BACKOFF(5, throttled=True) == 0
