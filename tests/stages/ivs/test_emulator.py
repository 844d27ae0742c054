"""IVS behaviour the emulator reproduces: sessions, quotas, revocation, replication, faults."""

from __future__ import annotations

import threading
from datetime import UTC

import pytest
from botocore.awsrequest import AWSPreparedRequest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from moto.core.models import botocore_stubber
from redis.crc import key_slot

from ivsproject.api.exceptions import NotFound, StageLimitReached, ValidationFailed
from stages import ivs
from stages.ivs import emulator, emulator_state
from stages.ivs.errors import IvsQuotaExceeded
from stages.ivs.keys import generate_key_pair


@pytest.fixture
def stage():
    return ivs.create_stage(name="main", tags={"ManagedBy": "api-server"})


def _join(stage_arn, user_id="u", capabilities=("PUBLISH", "SUBSCRIBE")):
    token = ivs.create_participant_token(
        stage_arn=stage_arn, user_id=user_id, capabilities=list(capabilities), duration_seconds=600, attributes={}
    )
    return emulator.participant_join(stage_arn=stage_arn, token=token.token)


def test_emulator_answers_before_moto_which_stays_active(stage):
    assert botocore_stubber.enabled  # mock_aws is on, and would answer 404 for ivs-realtime
    assert ivs.get_stage(arn=stage.arn) == stage


def test_handler_ignores_requests_for_other_services():
    request = AWSPreparedRequest("POST", "https://s3.ap-northeast-1.amazonaws.com/CreateStage", {}, b"{}", False)
    assert emulator.handle_request(request) is None


def test_a_session_starts_with_the_first_participant_and_ends_with_the_last(stage):
    assert stage.active_session_id is None
    host = _join(stage.arn, "host")
    viewer = _join(stage.arn, "viewer", ["SUBSCRIBE"])
    session = ivs.get_stage(arn=stage.arn).active_session_id
    assert session is not None and session.startswith("st-") and len(session) == 16
    emulator.participant_leave(stage_arn=stage.arn, participant_id=host)
    assert ivs.get_stage(arn=stage.arn).active_session_id == session
    emulator.participant_leave(stage_arn=stage.arn, participant_id=viewer)
    assert ivs.get_stage(arn=stage.arn).active_session_id is None
    states = {p.participant_id: p.state for p in ivs.list_participants(stage_arn=stage.arn, session_id=session)}
    assert states == {host: "DISCONNECTED", viewer: "DISCONNECTED"}
    _join(stage.arn, "late")
    assert ivs.get_stage(arn=stage.arn).active_session_id not in (None, session)


def test_published_means_ever_published_in_the_session_as_in_ivs(stage):
    host = _join(stage.arn, "host")
    emulator.participant_publish(stage_arn=stage.arn, participant_id=host)
    emulator.participant_unpublish(stage_arn=stage.arn, participant_id=host)
    session = ivs.get_stage(arn=stage.arn).active_session_id
    [participant] = ivs.list_participants(stage_arn=stage.arn, session_id=session)
    assert participant.published is True
    assert participant.first_join_time is not None and participant.first_join_time.tzinfo is UTC
    assert emulator.describe_participants(stage.arn)[0]["publishing"] is False


def test_a_subscribe_only_participant_cannot_publish(stage):
    viewer = _join(stage.arn, "viewer", ["SUBSCRIBE"])
    with pytest.raises(emulator.EmulatorError, match="PUBLISH"):
        emulator.participant_publish(stage_arn=stage.arn, participant_id=viewer)


def test_list_participants_filters_by_state_and_published_together(stage):
    host, viewer, gone = _join(stage.arn, "host"), _join(stage.arn, "viewer"), _join(stage.arn, "gone")
    emulator.participant_publish(stage_arn=stage.arn, participant_id=host)
    emulator.participant_leave(stage_arn=stage.arn, participant_id=gone)
    session = ivs.get_stage(arn=stage.arn).active_session_id
    connected = ivs.list_participants(stage_arn=stage.arn, session_id=session, filter_by_state="CONNECTED")
    assert {p.participant_id for p in connected} == {host, viewer}
    watching = ivs.list_participants(
        stage_arn=stage.arn, session_id=session, filter_by_state="CONNECTED", filter_by_published=False
    )
    assert [p.participant_id for p in watching] == [viewer]


def test_disconnect_revokes_the_participant(stage):
    token = ivs.create_participant_token(
        stage_arn=stage.arn, user_id="v", capabilities=["SUBSCRIBE"], duration_seconds=600, attributes={}
    )
    participant = emulator.participant_join(stage_arn=stage.arn, token=token.token)
    ivs.disconnect_participant(stage_arn=stage.arn, participant_id=participant, reason="kicked")
    assert ivs.get_stage(arn=stage.arn).active_session_id is None
    with pytest.raises(emulator.EmulatorError, match="revoked"):
        emulator.participant_join(stage_arn=stage.arn, token=token.token)


def test_joining_twice_with_one_token_is_refused(stage):
    token = ivs.create_participant_token(
        stage_arn=stage.arn, user_id="v", capabilities=["SUBSCRIBE"], duration_seconds=600, attributes={}
    )
    emulator.participant_join(stage_arn=stage.arn, token=token.token)
    with pytest.raises(emulator.EmulatorError, match="already connected"):
        emulator.participant_join(stage_arn=stage.arn, token=token.token)


class _StaleFirstRead:
    """The Redis client, except that the first `activeSessionId` read returns `stale`: what a
    process sees when another one opens or ends the session between its read and its script."""

    def __init__(self, client, stale):
        self.client, self.stale, self.reads = client, stale, 0

    def hget(self, name, field):
        self.reads += 1
        return self.stale if self.reads == 1 else self.client.hget(name, field)

    def __getattr__(self, name):
        return getattr(self.client, name)


def test_a_join_that_raced_a_session_change_reads_the_session_again(stage, monkeypatch):
    _join(stage.arn, "host")
    session = ivs.get_stage(arn=stage.arn).active_session_id
    region, record = emulator_state.get_stage(stage.arn)
    stale = _StaleFirstRead(emulator_state.get_redis(), None)  # "no session yet": it would open a second one
    monkeypatch.setattr(emulator_state, "get_redis", lambda: stale)
    fields = {"userId": "late", "attributes": "{}", "allowPublish": "0", "allowSubscribe": "1"}
    assert emulator_state.join(region, record["id"], "LateViewer01", fields) == session
    assert stale.reads == 2
    assert [s["sessionId"] for s in emulator_state.stage_sessions(region, record["id"])] == [session]


def test_a_leave_that_raced_a_session_change_reads_the_session_again(stage, monkeypatch):
    host = _join(stage.arn, "host")
    session = ivs.get_stage(arn=stage.arn).active_session_id
    region, record = emulator_state.get_stage(stage.arn)
    stale = _StaleFirstRead(emulator_state.get_redis(), "st-EndedBefore1")
    monkeypatch.setattr(emulator_state, "get_redis", lambda: stale)
    assert emulator_state.leave(region, record["id"], host) == session
    assert stale.reads == 2
    monkeypatch.undo()
    assert ivs.get_stage(arn=stage.arn).active_session_id is None


def test_the_keys_each_emulator_script_touches_share_one_cluster_slot():
    keys = [
        emulator_state.ns("ap-northeast-1", "stage", "Stage0000001", "connected"),
        emulator_state.ns("ap-northeast-1", "session", "st-0000000000001", "participants"),
        emulator_state.ns("us-east-1", "keys", "fingerprints"),
    ]
    assert len({key_slot(k.encode()) for k in keys}) == 1


def test_concurrent_create_stage_never_exceeds_the_quota(settings):
    settings.IVS_EMULATOR_MAX_STAGES = 5
    outcomes: list[str] = []
    lock = threading.Lock()

    def create(index: int) -> None:
        try:
            ivs.create_stage(name=f"race-{index}", tags={})
            result = "created"
        except StageLimitReached:
            result = "refused"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=create, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["created"] * 5 + ["refused"] * 7
    assert len(ivs.list_stages()) == 5


def test_list_stages_follows_next_token_across_pages(monkeypatch):
    for index in range(105):
        emulator_state.create_stage("ap-northeast-1", name=f"bulk-{index}", tags={}, max_stages=1000)
    calls = []
    real = emulator.handle_request
    monkeypatch.setattr(emulator, "handle_request", lambda request, **kw: calls.append(request.url) or real(request))
    stages = ivs.list_stages()
    assert [s.name for s in stages] == [f"bulk-{i}" for i in range(105)]
    assert len(calls) == 2  # 100 + 5


def test_stages_of_another_region_are_invisible(settings, stage):
    settings.AWS_REGION = "us-east-1"
    assert ivs.list_stages() == []
    with pytest.raises(NotFound):
        ivs.get_stage(arn=stage.arn.replace("ap-northeast-1", "us-east-1"))


def test_deleting_a_stage_with_participants_disconnects_them(stage):
    _join(stage.arn)
    ivs.delete_stage(arn=stage.arn)
    with pytest.raises(NotFound):
        ivs.get_stage(arn=stage.arn)
    assert ivs.list_stages() == []


def test_replication_copies_a_publisher_into_another_stage(stage):
    overflow = ivs.create_stage(name="overflow", tags={})
    host = _join(stage.arn, "host")
    with pytest.raises(ValidationFailed):  # not publishing yet
        ivs.start_participant_replication(
            source_stage_arn=stage.arn, destination_stage_arn=overflow.arn, participant_id=host
        )
    emulator.participant_publish(stage_arn=stage.arn, participant_id=host)
    ivs.start_participant_replication(
        source_stage_arn=stage.arn, destination_stage_arn=overflow.arn, participant_id=host, attributes={"r": "1"}
    )
    with pytest.raises(ValidationFailed):  # ConflictException: already replicated there
        ivs.start_participant_replication(
            source_stage_arn=stage.arn, destination_stage_arn=overflow.arn, participant_id=host
        )
    replica_session = ivs.get_stage(arn=overflow.arn).active_session_id
    [replica] = ivs.list_participants(stage_arn=overflow.arn, session_id=replica_session)
    assert (replica.participant_id, replica.user_id, replica.published) == (host, "host", True)

    emulator.participant_leave(stage_arn=stage.arn, participant_id=host)  # the source leaving ends it
    assert ivs.list_participant_replicas(source_stage_arn=stage.arn, participant_id=host) == []
    assert ivs.get_stage(arn=overflow.arn).active_session_id is None
    ivs.delete_stage(arn=overflow.arn)


def test_a_participant_has_at_most_five_replicas(stage):
    destinations = [ivs.create_stage(name=f"d{i}", tags={}) for i in range(6)]
    host = _join(stage.arn, "host")
    emulator.participant_publish(stage_arn=stage.arn, participant_id=host)
    for destination in destinations[:5]:
        ivs.start_participant_replication(
            source_stage_arn=stage.arn, destination_stage_arn=destination.arn, participant_id=host
        )
    with pytest.raises(IvsQuotaExceeded):
        ivs.start_participant_replication(
            source_stage_arn=stage.arn, destination_stage_arn=destinations[5].arn, participant_id=host
        )
    assert len(ivs.list_participant_replicas(source_stage_arn=stage.arn, participant_id=host)) == 5


def test_public_keys_must_be_p384_and_unique():
    _, public_pem = generate_key_pair()
    ivs.import_public_key(name="k", public_key_pem=public_pem)
    with pytest.raises(ValidationFailed):  # ConflictException: same material again
        ivs.import_public_key(name="again", public_key_pem=public_pem)
    p256 = ec.generate_private_key(ec.SECP256R1()).public_key()
    pem = p256.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    with pytest.raises(ValidationFailed):
        ivs.import_public_key(name="p256", public_key_pem=pem)


def test_injected_faults_fail_the_next_calls_then_clear(stage):
    emulator.inject_fault("GetStage", "AccessDeniedException", times=2)
    for _ in range(2):
        with pytest.raises(Exception):
            ivs.get_stage(arn=stage.arn)
    assert ivs.get_stage(arn=stage.arn) == stage


def test_inject_fault_refuses_an_unknown_operation():
    with pytest.raises(ValueError):
        emulator.inject_fault("CreateStages", "ThrottlingException")


def test_reset_forgets_everything(stage):
    emulator.inject_fault("ListStages", "ThrottlingException", times=5)
    emulator.reset()
    assert ivs.list_stages() == []
