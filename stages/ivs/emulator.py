"""Local Amazon IVS real-time emulator (IVS_BACKEND=emulator), plugged into boto3 like moto.

`handle_request` is registered on the client's `before-send.ivs-realtime` event, so boto3 still
serialises every request and parses every response with the real service model; only the HTTP
round trip is replaced. State lives in Redis (`emulator_state`), shared by all processes.

Besides the AWS API, developers and tests act as IVS *clients* would (a browser joining with a
token, OBS publishing) through the helpers below; `manage.py ivs_emulator` wraps them:

    participant_id = emulator.participant_join(stage_arn=arn, token=token)
    emulator.participant_publish(stage_arn=arn, participant_id=participant_id)
    emulator.participant_unpublish(stage_arn=arn, participant_id=participant_id)
    emulator.participant_leave(stage_arn=arn, participant_id=participant_id)
    emulator.inject_fault("CreateStage", "ThrottlingException", times=3)   # failure drills
    emulator.reset()
"""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from botocore import exceptions as boto_exc
from botocore import xform_name
from botocore.awsrequest import AWSResponse

from stages.ivs import emulator_keys as _keys  # noqa: F401  (registers the key operations)
from stages.ivs import emulator_model as model
from stages.ivs import emulator_ops as ops
from stages.ivs import emulator_state as state
from stages.ivs import emulator_tokens
from stages.ivs.emulator_state import EmulatorError

__all__ = [
    "EmulatorError",
    "describe_participants",
    "handle_request",
    "inject_fault",
    "participant_join",
    "participant_leave",
    "participant_publish",
    "participant_unpublish",
    "reset",
]

logger = logging.getLogger(__name__)

# Failures below HTTP: raised from the handler, they reach botocore's retry logic exactly like a
# dead endpoint or a stalled socket would.
_TRANSPORT_FAULTS = {
    "EndpointConnectionError": boto_exc.EndpointConnectionError,
    "ConnectTimeoutError": boto_exc.ConnectTimeoutError,
    "ReadTimeoutError": boto_exc.ReadTimeoutError,
}


class _Body(io.BytesIO):
    """The `raw` of an AWSResponse: botocore reads it through `stream()`."""

    def stream(self, **kwargs: Any) -> Iterator[bytes]:
        yield self.getvalue()


def _response(url: str, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> AWSResponse:
    all_headers = {"Content-Type": "application/json", "x-amzn-RequestId": str(uuid.uuid4()), **(headers or {})}
    return AWSResponse(url, status, all_headers, _Body(json.dumps(body).encode()))  # type: ignore[arg-type]


def _error(url: str, error: state.AwsError) -> AWSResponse:
    # IVS puts the text in `exceptionMessage` (the modelled member); botocore reads `message`.
    body = {"exceptionMessage": error.message, "message": error.message}
    return _response(url, error.status, body, {"x-amzn-ErrorType": error.code})


def _body(request: Any) -> Any:
    raw = request.body
    if hasattr(raw, "read"):
        raw = raw.read()
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise state.AwsError("ValidationException", "The request body is not valid JSON") from exc


def handle_request(request: Any, **kwargs: Any) -> AWSResponse | None:
    """botocore `before-send` handler: answer an ivs-realtime request, or None for anything else."""
    url = urlsplit(request.url)
    host = url.hostname or ""
    if not host.startswith("ivsrealtime."):
        return None
    region = host.split(".")[1]
    operation = model.route(request.method, url.path)
    if operation is None:
        return _error(request.url, state.AwsError("UnknownOperationException", f"No route for {url.path}", 404))
    fault = state.take_fault(operation)
    if fault is not None:
        code, status = fault
        logger.info("IVS emulator: injected %s on %s", code, operation)
        if code in _TRANSPORT_FAULTS:
            raise _TRANSPORT_FAULTS[code](endpoint_url=request.url, error=f"injected {code}")
        return _error(request.url, state.AwsError(code, f"Injected fault for {operation}", status))
    try:
        params = _body(request)
        model.validate_input(operation, params)
        handler = ops.OPERATIONS.get(xform_name(operation))
        if handler is None:
            raise state.AwsError("ValidationException", f"The IVS emulator does not implement {operation}")
        result = handler(region, params)
    except state.AwsError as error:
        logger.debug("IVS emulator: %s -> %s", operation, error)
        return _error(request.url, error)
    problem = model.output_problem(operation, result)
    if problem:
        logger.error("IVS emulator answered %s with a body the service model refuses: %s", operation, problem)
    logger.debug("IVS emulator: %s ok", operation)
    return _response(request.url, 200, result)


def inject_fault(operation: str, error_code: str, *, times: int = 1, http_status: int | None = None) -> None:
    """Make the next `times` calls of `operation` fail with `error_code` (shared by all processes).

    `error_code` is an AWS error code (HTTP status from IVS's table unless given) or one of
    EndpointConnectionError / ConnectTimeoutError / ReadTimeoutError for transport failures.
    botocore retries throttles, 5xx and transport failures (3 attempts): inject `times=3` to
    make a call fail for good, `times=1` to watch a retry succeed. CreateStage is sent again only
    after a throttle or a connection never made (`client.SEND_ONCE_OPERATIONS`).
    """
    if not model.is_operation(operation):
        raise ValueError(f"{operation!r} is not an ivs-realtime operation")
    status = http_status or state.ERROR_STATUS.get(error_code, 400)
    state.add_fault(operation, error_code, times=times, status=status)


def reset() -> None:
    """Forget every stage, participant, key and pending fault."""
    state.reset()


# --- acting as IVS clients ------------------------------------------------------------------
def _stage(stage_arn: str) -> tuple[str, dict[str, str]]:
    try:
        return state.get_stage(stage_arn)
    except state.AwsError as exc:
        raise EmulatorError(f"stage {stage_arn} does not exist") from exc


def _connected(stage_arn: str, participant_id: str) -> tuple[str, dict[str, str], dict[str, str]]:
    region, record = _stage(stage_arn)
    participant = state.connected_participant(region, record, participant_id)
    if participant is None:
        raise EmulatorError(f"participant {participant_id} is not connected to {stage_arn}")
    return region, record, participant


def participant_join(*, stage_arn: str, token: str) -> str:
    """Join with a participant token as the IVS SDK would; returns the participant id (the `jti`)."""
    claims = emulator_tokens.verify(stage_arn, token)
    region, record = _stage(stage_arn)
    capabilities = claims.get("capabilities") or {}
    fields = {
        "userId": str(claims.get("user_id") or ""),
        "attributes": json.dumps(claims.get("attributes") or {}),
        "allowPublish": "1" if capabilities.get("allow_publish") else "0",
        "allowSubscribe": "1" if capabilities.get("allow_subscribe") else "0",
        "publishing": "0",
        "replicationType": "NONE",
    }
    state.join(region, record["id"], claims["jti"], fields)
    return str(claims["jti"])


def participant_publish(*, stage_arn: str, participant_id: str) -> None:
    region, record, participant = _connected(stage_arn, participant_id)
    if participant.get("allowPublish") != "1":
        raise EmulatorError(f"participant {participant_id} has no PUBLISH capability")
    state.update_participant(region, record["activeSessionId"], participant_id, publishing="1", published="1")


def participant_unpublish(*, stage_arn: str, participant_id: str) -> None:
    # `published` stays true: in IVS it means "ever published in this session".
    region, record, _participant = _connected(stage_arn, participant_id)
    state.update_participant(region, record["activeSessionId"], participant_id, publishing="0")


def participant_leave(*, stage_arn: str, participant_id: str) -> None:
    region, record, _participant = _connected(stage_arn, participant_id)
    ops.remove_participant(region, record, participant_id)


def describe_participants(stage_arn: str) -> list[dict[str, Any]]:
    """Participants of the active (else the latest) session, with the live `publishing` flag
    that the AWS API does not expose."""
    region, record = _stage(stage_arn)
    sessions = state.stage_sessions(region, record["id"])
    session_id = record.get("activeSessionId") or (sessions[0]["sessionId"] if sessions else None)
    if session_id is None:
        return []
    return [
        {
            "participantId": p["participantId"],
            "userId": p.get("userId", ""),
            "state": p["state"],
            "publishing": p.get("publishing") == "1",
            "published": p.get("published") == "1",
            "replicationType": p.get("replicationType", "NONE"),
            "firstJoinTime": p["firstJoinTime"],
            "sessionId": session_id,
        }
        for p in state.session_participants(region, session_id)
    ]
