"""Every AWS failure surfaces as one of our ApiErrors; nothing botocore-shaped escapes."""

from __future__ import annotations

import pytest
import redis
from botocore import exceptions as boto_exc

from ivsproject.api.exceptions import (
    ApiError,
    InternalError,
    NotFound,
    ServiceUnavailable,
    StageLimitReached,
    TokenGenerationFailed,
    ValidationFailed,
)
from stages import ivs
from stages.ivs import emulator, emulator_state
from stages.ivs.errors import IvsQuotaExceeded, to_api_error


@pytest.fixture
def stage():
    return ivs.create_stage(name="errors", tags={})


def _token(stage_arn):
    return ivs.create_participant_token(
        stage_arn=stage_arn, user_id="u", capabilities=["SUBSCRIBE"], duration_seconds=60, attributes={}
    )


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("ResourceNotFoundException", NotFound),
        ("ValidationException", ValidationFailed),
        ("ConflictException", ValidationFailed),
        ("AccessDeniedException", InternalError),
        ("PendingVerification", InternalError),
        ("ServiceQuotaExceededException", IvsQuotaExceeded),
    ],
)
def test_stage_call_errors_map_to_api_errors(stage, code, expected):
    emulator.inject_fault("GetStage", code)
    with pytest.raises(expected) as caught:
        ivs.get_stage(arn=stage.arn)
    assert caught.value.details["awsCode"] == code
    assert caught.value.details["operation"] == "GetStage"


def test_stage_quota_on_create_stage_is_stage_limit_reached(settings):
    settings.MAX_STAGES = 20
    emulator.inject_fault("CreateStage", "ServiceQuotaExceededException")
    with pytest.raises(StageLimitReached) as caught:
        ivs.create_stage(name="one-too-many", tags={})
    assert caught.value.code == "STAGE_LIMIT_REACHED"
    assert "20" in str(caught.value.message)


def test_emulator_stage_quota_is_stage_limit_reached(settings):
    settings.IVS_EMULATOR_MAX_STAGES = 1
    ivs.create_stage(name="only", tags={})
    with pytest.raises(StageLimitReached):
        ivs.create_stage(name="second", tags={})


def test_validation_error_carries_the_aws_message(stage):
    with pytest.raises(ValidationFailed) as caught:
        ivs.create_stage(name="no spaces", tags={})
    assert "regular expression" in caught.value.details["awsMessage"]


@pytest.mark.parametrize("code", ["ThrottlingException", "InternalServerException", "EndpointConnectionError"])
def test_transient_failures_that_outlast_retries_are_service_unavailable(stage, code):
    emulator.inject_fault("GetStage", code, times=3)  # botocore makes 3 attempts
    with pytest.raises(ServiceUnavailable) as caught:
        ivs.get_stage(arn=stage.arn)
    assert type(caught.value) is ServiceUnavailable


@pytest.mark.parametrize("code", ["ThrottlingException", "InternalServerException", "ReadTimeoutError"])
def test_a_transient_failure_is_retried_by_botocore(stage, code):
    emulator.inject_fault("GetStage", code, times=2)
    assert ivs.get_stage(arn=stage.arn).arn == stage.arn


@pytest.mark.parametrize(
    "code",
    [
        "ValidationException",
        "AccessDeniedException",
        "PendingVerification",
        "ServiceQuotaExceededException",
        "ConflictException",
    ],
)
def test_token_errors_are_token_generation_failed(stage, code):
    emulator.inject_fault("CreateParticipantToken", code)
    with pytest.raises(TokenGenerationFailed):
        _token(stage.arn)


def test_token_for_an_unknown_stage_is_not_found(stage):
    with pytest.raises(NotFound):
        _token(stage.arn[:-12] + "ZZZZZZZZZZZZ")


def test_throttled_tokens_are_service_unavailable_not_token_failures(stage):
    emulator.inject_fault("CreateParticipantToken", "ThrottlingException", times=3)
    with pytest.raises(ServiceUnavailable):
        _token(stage.arn)


def test_client_side_parameter_errors_are_validation_failed():
    with pytest.raises(ValidationFailed) as caught:
        ivs.get_stage(arn="")  # botocore refuses it before sending (min length 1)
    assert "ParamValidationError" in caught.value.details["error"]


def test_redis_failure_inside_the_emulator_is_service_unavailable(stage, monkeypatch):
    def broken(operation):
        raise redis.ConnectionError("redis is down")

    monkeypatch.setattr(emulator_state, "take_fault", broken)
    with pytest.raises(ServiceUnavailable) as caught:
        ivs.get_stage(arn=stage.arn)
    assert caught.value.details["reason"] == "redis"


TOKEN_CALL = "CreateParticipantToken"


@pytest.mark.parametrize(
    ("exc", "operation", "expected"),
    [
        (boto_exc.NoCredentialsError(), "CreateStage", InternalError),
        (boto_exc.NoCredentialsError(), "CreateParticipantToken", TokenGenerationFailed),
        (boto_exc.PartialCredentialsError(provider="env", cred_var="AWS_SECRET_ACCESS_KEY"), "GetStage", InternalError),
        (boto_exc.CredentialRetrievalError(provider="sso", error_msg="x"), TOKEN_CALL, TokenGenerationFailed),
        (boto_exc.ConnectTimeoutError(endpoint_url="https://x"), "CreateParticipantToken", ServiceUnavailable),
        (boto_exc.ReadTimeoutError(endpoint_url="https://x"), "ListStages", ServiceUnavailable),
        (boto_exc.NoRegionError(), "ListStages", InternalError),
    ],
)  # fmt: skip
def test_botocore_exceptions_map_by_call_path(exc, operation, expected):
    mapped = to_api_error(exc, operation=operation)
    assert type(mapped) is expected
    assert isinstance(mapped, ApiError)


def test_unrecognised_credentials_from_aws_are_internal_errors_outside_the_token_path():
    error = boto_exc.ClientError(
        {"Error": {"Code": "UnrecognizedClientException", "Message": "bad key"}, "ResponseMetadata": {}}, "GetStage"
    )
    assert type(to_api_error(error, operation="GetStage")) is InternalError
    assert type(to_api_error(error, operation="CreateParticipantToken")) is TokenGenerationFailed


def test_the_aws_backend_under_moto_never_reaches_the_network(settings, monkeypatch):
    """Tests run under mock_aws; moto has no ivs-realtime and answers 404 instead of AWS."""
    sent = []
    monkeypatch.setattr("botocore.httpsession.URLLib3Session.send", lambda self, request: sent.append(request) or 1 / 0)
    settings.IVS_BACKEND = "aws"
    with pytest.raises(InternalError):
        ivs.get_stage(arn="arn:aws:ivs:ap-northeast-1:123456789012:stage/AAAAAAAAAAAA")
    assert sent == []
