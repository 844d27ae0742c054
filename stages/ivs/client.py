"""The project's only door to Amazon IVS real-time: client factory and one wrapper per call.

Each wrapper spends the shared call budget, calls boto3, and turns every failure into an ApiError
(`errors.py`), so callers never see botocore. With IVS_BACKEND=emulator the same boto3 client is
used, with the local emulator answering on botocore's `before-send` event: the real request
serialisation and response parsing run in development and tests.

boto3 and botocore are imported inside the functions that use them, never at module level: they
cost a process ~10 MB before a client exists, and a web worker that only heartbeats and self-signs
tokens imports this package without ever calling AWS (tests/test_smoke.py keeps it so). The first
call pays the import once; later imports of a loaded module are a dictionary lookup.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from django.conf import settings

from stages.ivs import budget, errors
from stages.ivs.types import IvsParticipant, IvsStage, IvsToken

__all__ = [
    "create_participant_token",
    "create_stage",
    "delete_public_key",
    "delete_stage",
    "disconnect_participant",
    "get_client",
    "get_stage",
    "import_public_key",
    "list_participant_replicas",
    "list_participants",
    "list_public_keys",
    "list_stages",
    "reset_client",
    "start_participant_replication",
    "stop_participant_replication",
    "update_stage",
]

# Explicit timeouts: botocore's defaults (60 s) would hold a web worker far past any client's patience.
CONNECT_TIMEOUT_SECONDS = 3
READ_TIMEOUT_SECONDS = 10
# "standard" retries throttles, 5xx and connection errors with jittered backoff and a retry quota.
# Total attempts, initial one included (botocore's `max_attempts` key would count retries only).
MAX_ATTEMPTS = 3
# Static credentials for the emulator: no credential-chain lookup (no IMDS probe, no ~/.aws read).
EMULATOR_CREDENTIALS = {"aws_access_key_id": "EMULATORACCESSKEY", "aws_secret_access_key": "emulator-secret"}
TOKEN_DURATION_MAX_MINUTES = 20160

# CreateStage carries no idempotency token: when IVS created the stage but its answer was lost (read
# timeout, 5xx, a dropped connection), botocore's automatic retry would create a second stage (found
# by tests/hardening). Such operations go out through a client that never retries; only failures
# where IVS certainly did nothing — throttling, a connection never made — are retried here, with
# the backoff of `backoff_seconds`. A lost answer is an error for this call; the stage it may have
# created carries our tags, and the next reconcile (`stages_sync`, every autoscale tick) adopts it.
SEND_ONCE_OPERATIONS = frozenset({"CreateStage"})
MAX_BACKOFF_SECONDS = 20.0

_lock = threading.Lock()
_boto_session: Any = None
_clients: dict[tuple[str, str, bool], Any] = {}


def _session() -> Any:
    # One private boto3 Session per process (the default session is shared module state), kept
    # across client rebuilds: loading the service model again costs ~50 ms, a client ~2 ms.
    global _boto_session
    if _boto_session is None:
        import boto3.session

        _boto_session = boto3.session.Session()
    return _boto_session


def _build_client(backend: str, region: str, retrying: bool = True) -> Any:
    from botocore.config import Config

    config = Config(
        region_name=region,
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=READ_TIMEOUT_SECONDS,
        retries={"mode": "standard", "total_max_attempts": MAX_ATTEMPTS if retrying else 1},
    )
    credentials = EMULATOR_CREDENTIALS if backend == "emulator" else {}
    client = _session().client("ivs-realtime", region_name=region, config=config, **credentials)
    if backend == "emulator":
        # Imported with the client that uses it: the emulator answers with botocore's own response
        # objects and reads botocore's service model, so it loads botocore too.
        from stages.ivs import emulator

        def answer(request: Any, **kwargs: Any) -> Any:
            # Looked up per call (not bound here) so tests can wrap the emulator's handler.
            return emulator.handle_request(request, **kwargs)

        # register_first: answer before anything else on the event (moto's stubber listens on
        # every `before-send` under mock_aws and would answer 404 for a service it lacks).
        client.meta.events.register_first("before-send.ivs-realtime", answer)
    return client


def get_client(*, retrying: bool = True) -> Any:
    """The process-wide ivs-realtime client (thread-safe); rebuilt when backend or region change.
    `retrying=False`: the twin that sends each request once (SEND_ONCE_OPERATIONS)."""
    wanted = (settings.IVS_BACKEND, settings.AWS_REGION, retrying)
    client = _clients.get(wanted)
    if client is None:
        with _lock:
            client = _clients.get(wanted)
            if client is None:
                for stale in [k for k in _clients if k[:2] != wanted[:2]]:
                    del _clients[stale]
                client = _clients[wanted] = _build_client(*wanted)
    return client


def reset_client() -> None:
    with _lock:
        _clients.clear()


def _method(operation: str, *, retrying: bool = True) -> Any:
    """The client's method for an operation name ("CreateStage" -> `create_stage`)."""
    from botocore import xform_name

    return getattr(get_client(retrying=retrying), xform_name(operation))


def _call(operation: str, **params: Any) -> dict[str, Any]:
    params = {k: v for k, v in params.items() if v is not None}
    if operation in SEND_ONCE_OPERATIONS:
        return _call_sent_once(operation, params)
    budget.acquire(operation)
    try:
        return _method(operation)(**params)
    except errors.mapped_errors() as exc:
        raise errors.to_api_error(exc, operation=operation) from exc


def backoff_seconds(attempt: int, *, throttled: bool) -> float:
    """The pause after failed attempt `attempt` (1-based) of a send-once call.

    The policy botocore's "standard" mode applies to its own retries: a random share ("full
    jitter", so callers that failed together do not come back together) of an exponential step,
    1 s after a throttle and 50 ms after a connection that was never made, at most 20 s. Written
    out here because botocore's implementation of it is internal to botocore's retry handler.
    """
    base = 1.0 if throttled else 0.05
    return random.random() * min(base * 2 ** (attempt - 1), MAX_BACKOFF_SECONDS)


def _call_sent_once(operation: str, params: dict[str, Any]) -> dict[str, Any]:
    from botocore.exceptions import ClientError, ConnectTimeoutError, EndpointConnectionError

    for attempt in range(1, MAX_ATTEMPTS + 1):
        budget.acquire(operation)  # a retry is another request: it spends budget like one
        try:
            return _method(operation, retrying=False)(**params)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code not in errors.THROTTLING_CODES or attempt == MAX_ATTEMPTS:
                raise errors.to_api_error(exc, operation=operation) from exc
            throttled = True
        except (EndpointConnectionError, ConnectTimeoutError) as exc:  # the request never left
            if attempt == MAX_ATTEMPTS:
                raise errors.to_api_error(exc, operation=operation) from exc
            throttled = False
        except errors.mapped_errors() as exc:
            raise errors.to_api_error(exc, operation=operation) from exc
        time.sleep(backoff_seconds(attempt, throttled=throttled))
    raise AssertionError("unreachable")  # pragma: no cover


def _pages(operation: str, items_key: str, *, page_size: int = 100, **params: Any) -> Iterator[dict[str, Any]]:
    # botocore ships no paginator for ivs-realtime list calls: follow nextToken ourselves.
    # Every page is a budgeted call, so large pages keep a full listing cheap.
    next_token: str | None = None
    while True:
        page = _call(operation, nextToken=next_token, maxResults=page_size, **params)
        yield from page.get(items_key, [])
        next_token = page.get("nextToken")
        if not next_token:
            return


def _stage(data: dict[str, Any]) -> IvsStage:
    endpoints = data.get("endpoints") or {}
    return IvsStage(
        arn=data["arn"],
        name=data.get("name", ""),
        tags=dict(data.get("tags") or {}),
        active_session_id=data.get("activeSessionId") or None,
        whip_endpoint=endpoints.get("whip") or None,
        events_endpoint=endpoints.get("events") or None,
    )


def create_stage(*, name: str, tags: dict[str, str]) -> IvsStage:
    return _stage(_call("CreateStage", name=name, tags=tags)["stage"])


def get_stage(*, arn: str) -> IvsStage:
    return _stage(_call("GetStage", arn=arn)["stage"])


def list_stages() -> list[IvsStage]:
    return [_stage(summary) for summary in _pages("ListStages", "stages")]


def update_stage(*, arn: str, name: str) -> IvsStage:
    return _stage(_call("UpdateStage", arn=arn, name=name)["stage"])


def delete_stage(*, arn: str) -> None:
    _call("DeleteStage", arn=arn)


def create_participant_token(
    *, stage_arn: str, user_id: str, capabilities: list[str], duration_seconds: int, attributes: dict[str, str]
) -> IvsToken:
    # IVS counts token lifetimes in whole minutes (1..20160); round up so a token never dies early.
    minutes = min(max(1, math.ceil(duration_seconds / 60)), TOKEN_DURATION_MAX_MINUTES)
    data = _call(
        "CreateParticipantToken",
        stageArn=stage_arn,
        userId=user_id,
        capabilities=list(capabilities),
        duration=minutes,
        attributes=attributes,
    )["participantToken"]
    return IvsToken(token=data["token"], participant_id=data["participantId"], expires_at=_utc(data["expirationTime"]))


def _utc(value: datetime) -> datetime:
    # botocore parses timestamps into the *local* zone (tzlocal); the project speaks UTC only.
    return value.astimezone(UTC)


def _participant(data: dict[str, Any]) -> IvsParticipant:
    return IvsParticipant(
        participant_id=data["participantId"],
        user_id=data.get("userId") or None,
        state=data.get("state", "DISCONNECTED"),
        published=bool(data.get("published", False)),
        first_join_time=_utc(data["firstJoinTime"]) if data.get("firstJoinTime") else None,
        attributes=dict(data.get("attributes") or {}),
    )


def list_participants(
    *, stage_arn: str, session_id: str, filter_by_published: bool | None = None, filter_by_state: str | None = None
) -> list[IvsParticipant]:
    """Participants of one stage session. Note IVS's `published` means "ever published in the session"."""
    # IVS accepts one filter per request: with both, AWS filters by state and we filter the rest.
    both = filter_by_published is not None and filter_by_state is not None
    pages = _pages(
        "ListParticipants",
        "participants",
        stageArn=stage_arn,
        sessionId=session_id,
        filterByPublished=None if both else filter_by_published,
        filterByState=filter_by_state,
    )
    found = [_participant(summary) for summary in pages]
    if both:
        found = [p for p in found if p.published == filter_by_published]
    return found


def disconnect_participant(*, stage_arn: str, participant_id: str, reason: str = "") -> None:
    _call("DisconnectParticipant", stageArn=stage_arn, participantId=participant_id, reason=reason or None)


def import_public_key(*, name: str, public_key_pem: str, tags: dict[str, str] | None = None) -> str:
    return str(_call("ImportPublicKey", name=name, publicKeyMaterial=public_key_pem, tags=tags)["publicKey"]["arn"])


def list_public_keys() -> list[dict]:
    # The list call omits fingerprints; at most 3 keys exist per region, so fetching each is cheap.
    keys = []
    for summary in _pages("ListPublicKeys", "publicKeys"):
        detail = _call("GetPublicKey", arn=summary["arn"])["publicKey"]
        keys.append({"arn": summary["arn"], "name": summary.get("name", ""), "fingerprint": detail.get("fingerprint")})
    return keys


def delete_public_key(*, arn: str) -> None:
    _call("DeletePublicKey", arn=arn)


def start_participant_replication(
    *, source_stage_arn: str, destination_stage_arn: str, participant_id: str, attributes: dict[str, str] | None = None
) -> None:
    _call(
        "StartParticipantReplication",
        sourceStageArn=source_stage_arn,
        destinationStageArn=destination_stage_arn,
        participantId=participant_id,
        attributes=attributes,
    )


def stop_participant_replication(*, source_stage_arn: str, destination_stage_arn: str, participant_id: str) -> None:
    _call(
        "StopParticipantReplication",
        sourceStageArn=source_stage_arn,
        destinationStageArn=destination_stage_arn,
        participantId=participant_id,
    )


def list_participant_replicas(*, source_stage_arn: str, participant_id: str) -> list[str]:
    replicas = _pages(
        "ListParticipantReplicas",
        "replicas",
        page_size=50,  # this list caps maxResults at 50, the others at 100
        sourceStageArn=source_stage_arn,
        participantId=participant_id,
    )
    return [replica["destinationStageArn"] for replica in replicas]
