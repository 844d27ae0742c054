"""Every request the emulator handles and every response it returns matches botocore's model."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from ivsproject.api.exceptions import NotFound, StageLimitReached, ValidationFailed
from stages import ivs
from stages.ivs import emulator, emulator_ops
from stages.ivs.errors import IvsQuotaExceeded
from stages.ivs.keys import generate_key_pair
from stages.ivs.participant_token import mint_token, new_participant_id, signing_key
from tests.stages.ivs.model_check import Exchange, exchange_problems, operation_for


@pytest.fixture
def exchanges(monkeypatch):
    """Records the HTTP-level conversation between boto3 and the emulator."""
    recorded: list[Exchange] = []
    real_handler = emulator.handle_request

    def spy(request, **kwargs):
        response = real_handler(request, **kwargs)
        if response is not None:
            op = operation_for(request.method, urlsplit(request.url).path)
            body = request.body or b""
            recorded.append(
                Exchange(
                    operation=op.name,
                    request_body=body.encode() if isinstance(body, str) else bytes(body),
                    status=response.status_code,
                    headers=dict(response.headers),
                    response_body=response.content,
                )
            )
        return response

    monkeypatch.setattr(emulator, "handle_request", spy)
    return recorded


def _full_scenario(settings):
    settings.IVS_EMULATOR_MAX_STAGES = 6
    client = ivs.get_client()

    # Stages: create (also with participantTokenConfigurations), paginated list, get, update.
    master = ivs.create_stage(name="master-stage", tags={"Environment": "test", "ManagedBy": "api-server"})
    overflow = ivs.create_stage(name="overflow-1", tags={"ManagedBy": "auto-scaler"})
    ivs.create_stage(name="", tags={})
    created = client.create_stage(
        name="with-tokens",
        participantTokenConfigurations=[
            {"userId": "host", "capabilities": ["PUBLISH"], "duration": 60, "attributes": {"role": "host"}},
            {},
        ],
    )
    assert len(created["participantTokens"]) == 2
    first = client.list_stages(maxResults=2)
    second = client.list_stages(maxResults=2, nextToken=first["nextToken"])
    assert len(first["stages"]) + len(second["stages"]) == 4 and "nextToken" not in second
    assert {s.name for s in ivs.list_stages()} == {"master-stage", "overflow-1", "", "with-tokens"}
    assert ivs.update_stage(arn=overflow.arn, name="overflow-renamed").name == "overflow-renamed"

    # Tokens both ways, participants joining, publishing, sessions.
    host_token = ivs.create_participant_token(
        stage_arn=master.arn, user_id="host", capabilities=["PUBLISH"], duration_seconds=3600, attributes={"a": "b"}
    )
    client.create_participant_token(stageArn=master.arn)  # every optional member left to its default
    host = emulator.participant_join(stage_arn=master.arn, token=host_token.token)
    emulator.participant_publish(stage_arn=master.arn, participant_id=host)
    private_pem, key_arn = signing_key()  # provisions the development key through ImportPublicKey
    viewer_token = mint_token(
        stage_arn=master.arn,
        participant_id=new_participant_id(),
        user_id="viewer-1",
        capabilities=["SUBSCRIBE"],
        ttl_seconds=600,
        attributes={},
        whip_url=None,
        events_url=None,
        private_key_pem=private_pem,
        key_arn=key_arn,
    )
    viewer = emulator.participant_join(stage_arn=master.arn, token=viewer_token.token)
    session_id = ivs.get_stage(arn=master.arn).active_session_id
    assert session_id
    assert {p.participant_id for p in ivs.list_participants(stage_arn=master.arn, session_id=session_id)} == {
        host,
        viewer,
    }
    assert [
        p.participant_id
        for p in ivs.list_participants(stage_arn=master.arn, session_id=session_id, filter_by_published=True)
    ] == [host]
    client.list_participants(stageArn=master.arn, sessionId=session_id, filterByUserId="viewer-1", maxResults=1)
    client.list_participants(stageArn=master.arn, sessionId=session_id, filterByState="CONNECTED", maxResults=1)
    client.get_participant(stageArn=master.arn, sessionId=session_id, participantId=host)
    client.list_stage_sessions(stageArn=master.arn)
    client.get_stage_session(stageArn=master.arn, sessionId=session_id)

    # Replication: start, list, conflict on delete, stop, stop again.
    ivs.start_participant_replication(
        source_stage_arn=master.arn, destination_stage_arn=overflow.arn, participant_id=host
    )
    assert ivs.list_participant_replicas(source_stage_arn=master.arn, participant_id=host) == [overflow.arn]
    replica_session = ivs.get_stage(arn=overflow.arn).active_session_id
    client.list_participants(stageArn=overflow.arn, sessionId=replica_session)
    client.get_participant(stageArn=overflow.arn, sessionId=replica_session, participantId=host)
    with pytest.raises(ValidationFailed):
        ivs.delete_stage(arn=overflow.arn)
    ivs.stop_participant_replication(
        source_stage_arn=master.arn, destination_stage_arn=overflow.arn, participant_id=host
    )
    with pytest.raises(NotFound):
        ivs.stop_participant_replication(
            source_stage_arn=master.arn, destination_stage_arn=overflow.arn, participant_id=host
        )

    # Disconnect, leave, a finished session.
    ivs.disconnect_participant(stage_arn=master.arn, participant_id=viewer, reason="kicked")
    emulator.participant_leave(stage_arn=master.arn, participant_id=host)
    client.get_stage_session(stageArn=master.arn, sessionId=session_id)
    client.list_participants(stageArn=master.arn, sessionId=session_id, filterByPublished=False)

    # Public keys: the dev key plus two more fill the 3 slots.
    extra = [ivs.import_public_key(name=f"key-{i}", public_key_pem=generate_key_pair()[1]) for i in range(2)]
    with pytest.raises(IvsQuotaExceeded):
        ivs.import_public_key(name="one-too-many", public_key_pem=generate_key_pair()[1])
    assert len(ivs.list_public_keys()) == 3
    ivs.delete_public_key(arn=extra[0])
    with pytest.raises(NotFound):
        ivs.delete_public_key(arn=extra[0])

    # Errors IVS answers with.
    missing = master.arn[:-12] + "AAAAAAAAAAAA"
    with pytest.raises(NotFound):
        ivs.get_stage(arn=missing)
    with pytest.raises(ValidationFailed):
        ivs.create_stage(name="spaces are not allowed", tags={})
    with pytest.raises(ValidationFailed):
        ivs.create_stage(name="too-many-tags", tags={f"k{i}": "v" for i in range(51)})
    with pytest.raises(ValidationFailed):
        ivs.update_stage(arn=master.arn, name="x" * 129)
    with pytest.raises(client.exceptions.ValidationException):
        client.list_stages(nextToken="not-a-token")
    with pytest.raises(client.exceptions.ValidationException):
        client.create_participant_token(stageArn=master.arn, duration=20161)
    with pytest.raises(client.exceptions.ValidationException):
        client.create_participant_token(stageArn=master.arn, capabilities=["BROADCAST"])
    with pytest.raises(client.exceptions.ValidationException):
        client.list_participants(
            stageArn=master.arn, sessionId=session_id, filterByState="CONNECTED", filterByUserId="u"
        )
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_participant(stageArn=master.arn, sessionId=session_id, participantId="nobody")
    ivs.create_stage(name="fifth", tags={})
    ivs.create_stage(name="sixth", tags={})
    with pytest.raises(StageLimitReached):
        ivs.create_stage(name="seventh", tags={})
    for stage in ivs.list_stages():
        ivs.delete_stage(arn=stage.arn)
    with pytest.raises(NotFound):
        ivs.delete_stage(arn=master.arn)
    assert ivs.list_stages() == []


def test_emulator_traffic_of_a_full_scenario_conforms_to_the_service_model(settings, exchanges, caplog):
    try:
        _full_scenario(settings)
    except Exception as exc:  # boto3 errors from the emulator are ApiErrors; ClientError would surface here
        raise AssertionError(f"scenario failed: {exc!r}") from exc

    problems = [problem for exchange in exchanges for problem in exchange_problems(exchange)]
    assert problems == []
    exercised = {exchange.operation for exchange in exchanges}
    assert exercised >= {
        "CreateStage", "GetStage", "ListStages", "UpdateStage", "DeleteStage", "CreateParticipantToken",
        "ListParticipants", "GetParticipant", "DisconnectParticipant", "ListStageSessions", "GetStageSession",
        "StartParticipantReplication", "StopParticipantReplication", "ListParticipantReplicas",
        "ImportPublicKey", "GetPublicKey", "ListPublicKeys", "DeletePublicKey",
    }  # fmt: skip
    assert any(e.status >= 400 for e in exchanges) and any(e.status == 200 for e in exchanges)
    assert not [r for r in caplog.records if r.levelname == "ERROR" and r.name == "stages.ivs.emulator"]


def test_conformance_check_catches_a_field_of_the_wrong_type(monkeypatch, exchanges, caplog):
    real_summary = emulator_ops._stage_summary
    monkeypatch.setattr(emulator_ops, "_stage_summary", lambda record: {**real_summary(record), "name": 42})
    ivs.create_stage(name="s", tags={})  # boto3 passes the bad value through without complaint
    problems = [p for e in exchanges for p in exchange_problems(e)]
    assert any("stage.name: expected string, got int" in p for p in problems)
    assert any("parsed: " in p and "stage.name" in p for p in problems)  # botocore's validator agrees
    assert "service model refuses" in caplog.text  # and the emulator reported its own drift


def test_conformance_check_catches_a_missing_required_field(monkeypatch, exchanges):
    real_summary = emulator_ops._stage_summary
    monkeypatch.setattr(
        emulator_ops, "_stage_summary", lambda record: {k: v for k, v in real_summary(record).items() if k != "arn"}
    )
    with pytest.raises(Exception):
        ivs.create_stage(name="s", tags={})
    problems = [p for e in exchanges for p in exchange_problems(e)]
    assert any("missing required arn" in p for p in problems)


def test_conformance_check_catches_an_undeclared_error_code(monkeypatch, exchanges):
    emulator.inject_fault("ListStages", "ResourceNotFoundException")
    with pytest.raises(NotFound):
        ivs.list_stages()
    problems = [p for e in exchanges for p in exchange_problems(e)]
    assert any("is not an error ListStages declares" in p for p in problems)
