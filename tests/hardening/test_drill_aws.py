"""AWS failure drills against the emulator's fault injection (the real boto3 client, its real retry
policy): throttling, 5xx and timeouts on CreateStage during scale-up, lost responses, and stages
deleted behind our back."""

from __future__ import annotations

import pytest
from botocore import exceptions as boto_exc

from autoscaling.autoscaler import autoscale_tick
from stages import ivs
from stages.ivs import emulator
from stages.models import Stage
from tests.factories import track_viewers
from tests.hardening.helpers import envelope_error
from viewers.models import ViewerSession

pytestmark = pytest.mark.django_db


@pytest.fixture
def backoff_delays(monkeypatch):
    """Each time the client's retry policy asks for a delay (before every retry), the attempt
    number — not slept (the root conftest zeroes the delay too)."""
    attempts: list[int] = []

    def recording(attempt, *, throttled):
        attempts.append(attempt)
        return 0.0

    monkeypatch.setattr(ivs.client, "backoff_seconds", recording)
    return attempts


def clear_fault(operation: str) -> None:
    from ivsproject.redis import get_redis
    from stages.ivs.emulator_state import fault_key

    get_redis().delete(fault_key(operation))


def ivs_stage_names() -> list[str]:
    return sorted(s.name for s in ivs.list_stages())


def hot_master(master_stage, settings):
    settings.STAGE_MAX_PARTICIPANTS = 10
    settings.SCALE_UP_THRESHOLD = 8
    settings.SCALE_DOWN_THRESHOLD = 2
    track_viewers(master_stage, 9)


# --- throttling: retried with backoff, then a clean 503 -------------------------------------------
def test_create_stage_throttled_once_is_retried_and_succeeds(api, master_stage, backoff_delays):
    emulator.inject_fault("CreateStage", "ThrottlingException", times=1)

    response = api.post("/api/stage", {"name": "after-a-throttle"})

    assert response.status_code == 201, response.content
    assert backoff_delays == [1]
    assert ivs_stage_names().count("after-a-throttle") == 1


def test_create_stage_throttled_throughout_is_a_clean_503_after_backoff(api, master_stage, backoff_delays):
    before = ivs_stage_names()
    emulator.inject_fault("CreateStage", "ThrottlingException", times=10)

    response = api.post("/api/stage", {"name": "never-made"})

    error = envelope_error(response.status_code, response.content)
    assert (response.status_code, error["code"]) == (503, "SERVICE_UNAVAILABLE")
    assert response["Retry-After"] == "1"
    assert backoff_delays == list(range(1, ivs.client.MAX_ATTEMPTS))  # backed off before each retry
    assert ivs_stage_names() == before
    assert not Stage.objects.filter(name="never-made").exists()


def test_token_minting_throttled_is_503_and_gives_the_seat_back(api, master_stage, settings, backoff_delays):
    from stages import presence

    settings.IVS_TOKEN_SIGNING = "api"
    emulator.inject_fault("CreateParticipantToken", "ThrottlingException", times=10)

    response = api.post("/api/token/viewer", {"userId": "unlucky"})

    # Transient: SERVICE_UNAVAILABLE (retry), not TOKEN_GENERATION_FAILED (check your credentials).
    assert envelope_error(response.status_code, response.content)["code"] == "SERVICE_UNAVAILABLE"
    assert presence.counts([master_stage.stage_id])[master_stage.stage_id] == 0
    assert not ViewerSession.objects.filter(user_id="unlucky").exists()


# --- 5xx and timeouts on CreateStage during scale-up ----------------------------------------------
@pytest.mark.parametrize("fault", ["InternalServerException", "ServiceUnavailableException", "ReadTimeoutError"])
def test_scale_up_failing_create_is_retried_next_tick_without_duplicates(master_stage, settings, fault):
    hot_master(master_stage, settings)
    status = {"InternalServerException": 500, "ServiceUnavailableException": 503}.get(fault)
    emulator.inject_fault("CreateStage", fault, times=10, http_status=status)

    first = autoscale_tick()

    assert [d.action for d in first if d.action in ("create", "error")] == ["error"]
    assert Stage.objects.filter(role=Stage.Role.OVERFLOW).count() == 0
    clear_fault("CreateStage")

    second = autoscale_tick()
    third = autoscale_tick()

    assert [d.action for d in second].count("create") == 1
    assert [d.action for d in third].count("create") == 0  # the new stage is not hot: no more
    overflow = Stage.objects.filter(role=Stage.Role.OVERFLOW)
    assert overflow.count() == 1
    assert [s.name for s in ivs.list_stages()].count(overflow.get().name) == 1


def test_a_lost_create_response_does_not_make_a_second_stage(master_stage, settings, monkeypatch):
    """IVS created the stage but the response never arrived (read timeout). CreateStage has no
    idempotency token, so sending it again would make a duplicate: it is sent once, the tick
    reports the error, and the next tick adopts the tagged orphan instead of creating another."""
    hot_master(master_stage, settings)
    real = emulator.handle_request
    lost = []

    def lose_the_first_create_response(request, **kwargs):
        response = real(request, **kwargs)
        if request.url.endswith("/CreateStage") and not lost:
            lost.append(1)
            raise boto_exc.ReadTimeoutError(endpoint_url=request.url)
        return response

    monkeypatch.setattr(emulator, "handle_request", lose_the_first_create_response)

    first = autoscale_tick()
    second = autoscale_tick()

    in_ivs = [s for s in ivs.list_stages() if s.tags.get("ManagedBy") == "auto-scaler"]
    assert len(in_ivs) == 1, [s.name for s in in_ivs]
    assert "error" in [d.action for d in first]
    assert [d.action for d in second].count("adopt") == 1
    assert [d.action for d in second].count("create") == 0
    assert Stage.objects.filter(role=Stage.Role.OVERFLOW).count() == 1


# --- a stage deleted behind our back --------------------------------------------------------------
def test_overflow_stage_deleted_in_ivs_is_forgotten_and_its_sessions_closed(api, master_stage, settings):
    from stages import presence
    from stages.services import stage_create

    stage = stage_create(name="vanishing", role=Stage.Role.OVERFLOW, managed_by=Stage.ManagedBy.AUTO_SCALER)
    api.post("/api/token/viewer", {"userId": "stranded", "stageArn": stage.arn})
    ivs.delete_stage(arn=stage.arn)  # someone else, straight in IVS

    decisions = autoscale_tick()

    stage.refresh_from_db()
    session = ViewerSession.objects.get(user_id="stranded")
    assert ("forget", stage.arn) in [(d.action, d.stage) for d in decisions]
    assert stage.status == Stage.Status.DELETED
    assert session.left_at is not None and session.leave_reason == ViewerSession.LeaveReason.STAGE_DELETED
    assert presence.counts([stage.stage_id])[stage.stage_id] == 0
    # Viewers are not sent to it any more.
    assert api.post("/api/token/viewer", {"userId": "next"}).json()["data"]["stageArn"] == master_stage.arn


def test_master_stage_deleted_in_ivs_is_replaced_by_the_next_tick(api, master_stage):
    ivs.delete_stage(arn=master_stage.arn)

    decisions = autoscale_tick()

    new_master = Stage.objects.get(role=Stage.Role.MASTER, status=Stage.Status.ACTIVE)
    assert new_master.arn != master_stage.arn
    assert new_master.arn in {s.arn for s in ivs.list_stages()}
    assert "forget" in [d.action for d in decisions]
    response = api.post("/api/token/viewer", {"userId": "after"})
    assert response.status_code == 200 and response.json()["data"]["stageArn"] == new_master.arn


def test_a_stage_deleted_behind_our_back_is_404_to_its_viewers_after_reconcile(api, master_stage):
    from stages.services import stage_create

    stage = stage_create(name="gone")
    ivs.delete_stage(arn=stage.arn)
    autoscale_tick()

    response = api.post("/api/viewer/heartbeat", {"userId": "late", "stageArn": stage.arn})

    assert envelope_error(response.status_code, response.content)["code"] == "NOT_FOUND"
