"""The emulated IVS real-time operations: JSON params in, JSON response body out (wire format).

Input constraints from the service model were already checked (`emulator_model`); what remains
here is the behaviour IVS documents: quotas, not-found, conflicts, sessions, replication.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any

from django.conf import settings

from stages.ivs import emulator_state as state
from stages.ivs import emulator_tokens

Params = dict[str, Any]
EVENTS_ENDPOINT = "wss://global.events.live-video.net"
DEFAULT_TOKEN_MINUTES = 720  # IVS default: 12 hours
ATTRIBUTES_MAX_BYTES = 1024  # "The maximum length of this field is 1 KB total"
MAX_REPLICAS_PER_PARTICIPANT = 5
# Keyed by the client method's name, which botocore.xform_name derives from the operation's name:
# `create_stage` answers CreateStage.
OPERATIONS: dict[str, Callable[[str, Params], Params]] = {}


def operation(func: Callable[[str, Params], Params]) -> Callable[[str, Params], Params]:
    OPERATIONS[func.__name__] = func
    return func


# --- wire shapes ----------------------------------------------------------------------------
def _endpoints(record: dict[str, str]) -> dict[str, str]:
    host = record["endpointHost"]
    return {
        "events": EVENTS_ENDPOINT,
        "whip": f"https://{host}.global-bm.whip.live-video.net",
        "rtmp": f"rtmp://{host}.global-contribute.live-video.net/app/",
        "rtmps": f"rtmps://{host}.global-contribute.live-video.net:443/app/",
    }


def _stage_summary(record: dict[str, str]) -> Params:
    out: Params = {"arn": record["arn"], "name": record["name"], "tags": json.loads(record.get("tags") or "{}")}
    if record.get("activeSessionId"):
        out["activeSessionId"] = record["activeSessionId"]
    return out


def _stage(record: dict[str, str]) -> Params:
    return {
        **_stage_summary(record),
        "endpoints": _endpoints(record),
        # IVS always reports the (disabled) auto-recording configuration.
        "autoParticipantRecordingConfiguration": {"storageConfigurationArn": "", "mediaTypes": ["AUDIO_VIDEO"]},
    }


def _participant_summary(record: dict[str, str]) -> Params:
    out: Params = {
        "participantId": record["participantId"],
        "userId": record.get("userId", ""),
        "state": record["state"],
        "firstJoinTime": record["firstJoinTime"],
        # IVS semantics: whether the participant *ever* published in this session.
        "published": record.get("published") == "1",
        "recordingState": "DISABLED",
        "replicationType": record.get("replicationType", "NONE"),
    }
    if out["replicationType"] == "REPLICA":
        out["replicationState"] = record.get("replicationState", "ACTIVE")
        out["sourceStageArn"] = record["sourceStageArn"]
        out["sourceSessionId"] = record["sourceSessionId"]
    return out


def _participant(record: dict[str, str]) -> Params:
    return {**_participant_summary(record), "attributes": json.loads(record.get("attributes") or "{}")}


def paginate(items: list[Params], params: Params, *, default_size: int = 50) -> tuple[list[Params], str | None]:
    """Offset pagination with an opaque token (for lists that only ever grow at the end)."""
    start = _decode_token(params.get("nextToken"))
    size = params.get("maxResults") or default_size
    more = start + size < len(items)
    return items[start : start + size], (_encode_token(start + size) if more else None)


def _encode_token(position: int) -> str:
    return base64.urlsafe_b64encode(f"emu:{position}".encode()).decode()


def _decode_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        prefix, position = base64.urlsafe_b64decode(token.encode()).decode().split(":")
        if prefix == "emu" and int(position) >= 0:
            return int(position)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        pass
    raise state.AwsError("ValidationException", "The nextToken is invalid")


def with_next_token(body: Params, token: str | None) -> Params:
    if token:
        body["nextToken"] = token
    return body


# --- stages ---------------------------------------------------------------------------------
def _participant_token(region: str, record: dict[str, str], config: Params) -> Params:
    attributes = config.get("attributes") or {}
    if sum(len(k.encode()) + len(v.encode()) for k, v in attributes.items()) > ATTRIBUTES_MAX_BYTES:
        raise state.AwsError("ValidationException", "Participant token attributes exceed 1 KB")
    capabilities = config.get("capabilities", ["PUBLISH", "SUBSCRIBE"])
    if len(set(capabilities)) != len(capabilities):
        raise state.AwsError("ValidationException", "Capabilities must not repeat")
    minutes = config.get("duration", DEFAULT_TOKEN_MINUTES)
    endpoints = _endpoints(record)
    token = emulator_tokens.sign(
        region,
        stage_arn=record["arn"],
        participant_id=state.random_id(),
        user_id=config.get("userId", ""),
        capabilities=capabilities,
        ttl_seconds=minutes * 60,
        attributes=attributes,
        whip_url=endpoints["whip"],
        events_url=endpoints["events"],
    )
    out: Params = {
        "participantId": token.participant_id,
        "token": token.token,
        "attributes": attributes,
        "duration": minutes,
        "capabilities": capabilities,
        "expirationTime": token.expires_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }
    if "userId" in config:
        out["userId"] = config["userId"]
    return out


@operation
def create_stage(region: str, params: Params) -> Params:
    record = state.create_stage(
        region,
        name=params.get("name", ""),
        tags=params.get("tags") or {},
        max_stages=int(settings.IVS_EMULATOR_MAX_STAGES),
    )
    tokens = [_participant_token(region, record, config) for config in params.get("participantTokenConfigurations", [])]
    return {"stage": _stage(record), "participantTokens": tokens}


@operation
def get_stage(region: str, params: Params) -> Params:
    return {"stage": _stage(state.get_stage(params["arn"])[1])}


@operation
def list_stages(region: str, params: Params) -> Params:
    start = _decode_token(params.get("nextToken"))
    records, continue_at = state.list_stages(region, start=start, limit=params.get("maxResults") or 50)
    token = _encode_token(continue_at) if continue_at is not None else None
    return with_next_token({"stages": [_stage_summary(r) for r in records]}, token)


@operation
def update_stage(region: str, params: Params) -> Params:
    stage_region, record = state.get_stage(params["arn"])
    if "name" in params:
        state.update_stage(stage_region, record["id"], name=params["name"])
    return {"stage": _stage(state.get_stage(params["arn"])[1])}


@operation
def delete_stage(region: str, params: Params) -> Params:
    stage_region, record = state.get_stage(params["arn"])
    state.delete_stage(stage_region, record)
    return {}


@operation
def create_participant_token(region: str, params: Params) -> Params:
    stage_region, record = state.get_stage(params["stageArn"])
    return {"participantToken": _participant_token(stage_region, record, params)}


# --- participants and sessions --------------------------------------------------------------
_FILTERS = ("filterByUserId", "filterByPublished", "filterByState", "filterByRecordingState")


@operation
def list_participants(region: str, params: Params) -> Params:
    if sum(params.get(name) is not None for name in _FILTERS) > 1:
        raise state.AwsError(
            "ValidationException",
            "Only one of filterByUserId, filterByPublished, filterByState, or filterByRecordingState can be provided",
        )
    # ListParticipants has no ResourceNotFoundException in the model: an unknown stage or
    # session simply has no participants.
    try:
        stage_region, record = state.get_stage(params["stageArn"])
    except state.AwsError:
        return {"participants": []}
    session_id = params["sessionId"]
    found = []
    if state.get_session(stage_region, record["id"], session_id):
        found = [_participant_summary(p) for p in state.session_participants(stage_region, session_id)]
    if params.get("filterByUserId") is not None:
        found = [p for p in found if p["userId"] == params["filterByUserId"]]
    if params.get("filterByPublished") is not None:
        found = [p for p in found if p["published"] == params["filterByPublished"]]
    if params.get("filterByState") is not None:
        found = [p for p in found if p["state"] == params["filterByState"]]
    if params.get("filterByRecordingState") is not None:
        found = [p for p in found if p["recordingState"] == params["filterByRecordingState"]]
    page, token = paginate(found, params)
    return with_next_token({"participants": page}, token)


@operation
def get_participant(region: str, params: Params) -> Params:
    stage_region, record = state.get_stage(params["stageArn"])
    found = None
    if state.get_session(stage_region, record["id"], params["sessionId"]):
        found = state.get_participant(stage_region, params["sessionId"], params["participantId"])
    if not found:
        raise state.AwsError("ResourceNotFoundException", f"Participant {params['participantId']} not found")
    return {"participant": _participant(found)}


@operation
def disconnect_participant(region: str, params: Params) -> Params:
    stage_region, record = state.get_stage(params["stageArn"])
    participant_id = params["participantId"]
    # IVS revokes the participant permanently: its token can never rejoin this stage.
    state.revoke(stage_region, record["id"], participant_id)
    remove_participant(stage_region, record, participant_id)
    return {}


def remove_participant(region: str, record: dict[str, str], participant_id: str) -> str | None:
    """Leave the stage, first stopping the replications this participant is the source of."""
    for dest_id in state.replications(region, record["id"], participant_id):
        _stop_replication(region, record["id"], participant_id, dest_id)
    return state.leave(region, record["id"], participant_id)


@operation
def list_stage_sessions(region: str, params: Params) -> Params:
    try:
        stage_region, record = state.get_stage(params["stageArn"])
    except state.AwsError:
        return {"stageSessions": []}
    sessions = [_session(s) for s in state.stage_sessions(stage_region, record["id"])]
    page, token = paginate(sessions, params)
    return with_next_token({"stageSessions": page}, token)


@operation
def get_stage_session(region: str, params: Params) -> Params:
    stage_region, record = state.get_stage(params["stageArn"])
    found = state.get_session(stage_region, record["id"], params["sessionId"])
    if not found:
        raise state.AwsError("ResourceNotFoundException", f"Session {params['sessionId']} not found")
    return {"stageSession": _session(found)}


def _session(record: dict[str, str]) -> Params:
    out = {"sessionId": record["sessionId"], "startTime": record["startTime"]}
    if record.get("endTime"):
        out["endTime"] = record["endTime"]
    return out


# --- participant replication ----------------------------------------------------------------
@operation
def start_participant_replication(region: str, params: Params) -> Params:
    source_region, source = state.get_stage(params["sourceStageArn"])
    dest_region, dest = state.get_stage(params["destinationStageArn"])
    participant_id = params["participantId"]
    if source["id"] == dest["id"] or source_region != dest_region:
        raise state.AwsError("ValidationException", "Source and destination must be different stages of one region")
    publisher = state.connected_participant(source_region, source, participant_id)
    if publisher is None:
        raise state.AwsError("ResourceNotFoundException", f"Participant {participant_id} is not in the source stage")
    if publisher.get("publishing") != "1" or publisher.get("replicationType") == "REPLICA":
        raise state.AwsError("ValidationException", "Only a publishing, non-replica participant can be replicated")
    active = state.replications(source_region, source["id"], participant_id)
    if dest["id"] in active:
        raise state.AwsError("ConflictException", "The participant is already replicated to that stage")
    if len(active) >= MAX_REPLICAS_PER_PARTICIPANT:
        raise state.AwsError("ServiceQuotaExceededException", "At most 5 replications per participant")
    attributes = params.get("attributes") or json.loads(publisher.get("attributes") or "{}")
    replica = {
        "userId": publisher.get("userId", ""),
        "attributes": json.dumps(attributes),
        "allowPublish": "1",
        "allowSubscribe": "0",
        "published": "1",
        "publishing": "1",
        "replicationType": "REPLICA",
        "replicationState": "ACTIVE",
        "sourceStageArn": source["arn"],
        "sourceSessionId": source["activeSessionId"],
    }
    try:
        dest_session = state.join(dest_region, dest["id"], participant_id, replica)
    except state.EmulatorError as exc:
        raise state.AwsError("ConflictException", f"Cannot replicate into the destination: {exc}") from exc
    info = {"sourceSessionId": source["activeSessionId"], "destinationSessionId": dest_session}
    state.add_replication(source_region, source["id"], participant_id, dest["id"], info)
    state.update_participant(source_region, source["activeSessionId"], participant_id, replicationType="SOURCE")
    return {}


@operation
def stop_participant_replication(region: str, params: Params) -> Params:
    source_region, source = state.get_stage(params["sourceStageArn"])
    _dest_region, dest = state.get_stage(params["destinationStageArn"])
    if dest["id"] not in state.replications(source_region, source["id"], params["participantId"]):
        raise state.AwsError("ResourceNotFoundException", "No such participant replication")
    _stop_replication(source_region, source["id"], params["participantId"], dest["id"])
    return {}


def _stop_replication(region: str, source_id: str, participant_id: str, dest_id: str) -> None:
    info = state.replications(region, source_id, participant_id).get(dest_id)
    state.remove_replication(region, source_id, participant_id, dest_id)
    if info:
        state.update_participant(region, info["destinationSessionId"], participant_id, replicationState="STOPPED")
        state.leave(region, dest_id, participant_id)
    if not state.replications(region, source_id, participant_id) and info:
        state.update_participant(region, info["sourceSessionId"], participant_id, replicationType="NONE")


@operation
def list_participant_replicas(region: str, params: Params) -> Params:
    try:
        source_region, source = state.get_stage(params["sourceStageArn"])
    except state.AwsError:
        return {"replicas": []}
    replicas = [
        {
            "sourceStageArn": source["arn"],
            "participantId": params["participantId"],
            "sourceSessionId": info["sourceSessionId"],
            "destinationStageArn": state.stage_arn(source_region, dest_id),
            "destinationSessionId": info["destinationSessionId"],
            "replicationState": "ACTIVE",
        }
        for dest_id, info in state.replications(source_region, source["id"], params["participantId"]).items()
    ]
    page, token = paginate(replicas, params)
    return with_next_token({"replicas": page}, token)
