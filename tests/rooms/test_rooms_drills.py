"""Failure drills of rooms: a crash between CreateStage and our database write leaves no orphan (the
next reconcile adopts the stage into its room), and a room whose deletion IVS cut short answers a
clean 503 and completes on retry, closing each session once."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from autoscaling.tasks import autoscale
from ivsproject.redis import get_redis
from stages import ivs, presence, services
from stages.ivs import emulator
from stages.models import Room, Stage
from stages.selectors import master_stage as master_of
from stages.signals import stage_deleted
from viewers.models import ViewerSession

pytestmark = pytest.mark.django_db


def crash(created):
    raise SystemExit("worker killed between CreateStage and the database write")


def stages_in_ivs(room_id: str) -> list[ivs.IvsStage]:
    return [s for s in ivs.list_stages() if s.tags.get("Room") == room_id]


def reconcile(how: str) -> str:
    """The next reconcile: an autoscale tick (its first step) or the operator's `sync_stages`."""
    if how == "tick":
        return "\n".join(autoscale())
    out = io.StringIO()
    call_command("sync_stages", stdout=out)
    return out.getvalue()


@pytest.mark.parametrize("how", ["tick", "sync"])
def test_a_crash_after_creating_a_rooms_master_is_adopted_as_its_master(api, master_stage, monkeypatch, how):
    monkeypatch.setattr(services, "after_ivs_create", crash)
    with pytest.raises(SystemExit):
        api.post("/api/rooms", {"roomId": "r1"})
    monkeypatch.undo()

    [orphan] = stages_in_ivs("r1")
    assert orphan.name == "r1-master"
    assert not Stage.objects.filter(arn=orphan.arn).exists()
    assert Room.objects.filter(room_id="r1", deleted_at__isnull=True).exists()  # the row came first
    response = api.post("/api/token/viewer", {"userId": "early", "roomId": "r1"})
    assert (response.status_code, response.json()["error"]["message"]) == (404, "主播直播不存在")

    report = reconcile(how)

    assert orphan.arn in report and "adopt" in report
    master = master_of("r1")
    assert master is not None and master.arn == orphan.arn
    assert (master.room_id, master.role, master.status) == ("r1", Stage.Role.MASTER, Stage.Status.ACTIVE)
    assert [s.arn for s in stages_in_ivs("r1")] == [orphan.arn]  # adopted, not made again
    assert master_of().arn == master_stage.arn  # the default room's master is untouched
    token = api.post("/api/token/viewer", {"userId": "early", "roomId": "r1"}).json()["data"]
    assert token["stageArn"] == orphan.arn
    publisher = api.post("/api/token/publisher", {"userId": "host", "roomId": "r1"}).json()["data"]
    assert publisher["stageArn"] == orphan.arn
    assert autoscale() == []  # nothing left to reconcile
    assert api.post("/api/rooms", {"roomId": "r1"}).status_code == 409


def test_a_crash_after_creating_a_rooms_overflow_stage_is_adopted_into_that_room(
    api, master_stage, monkeypatch, settings
):
    settings.STAGE_MAX_PARTICIPANTS, settings.SCALE_UP_THRESHOLD = 2, 2
    monkeypatch.setattr("autoscaling.tasks.request_autoscale", lambda: None)
    api.post("/api/rooms", {"roomId": "r1"})
    for user in ("a", "b"):
        api.post("/api/token/viewer", {"userId": user, "roomId": "r1"})
    monkeypatch.setattr(services, "after_ivs_create", crash)
    with pytest.raises(SystemExit):
        autoscale()
    monkeypatch.setattr(services, "after_ivs_create", lambda created: None)

    [orphan] = [s for s in stages_in_ivs("r1") if s.tags["ManagedBy"] == "auto-scaler"]
    decisions = autoscale()

    assert [d.split()[0] for d in decisions] == ["adopt"]  # adopted; no second stage made
    adopted = Stage.objects.get(arn=orphan.arn)
    assert (adopted.room_id, adopted.role, adopted.auto_scaled) == ("r1", Stage.Role.OVERFLOW, True)
    assert api.post("/api/token/viewer", {"userId": "c", "roomId": "r1"}).json()["data"]["stageArn"] == orphan.arn
    assert Stage.objects.filter(room_id=Room.DEFAULT).count() == 1


def test_a_crashed_rooms_stage_is_deleted_when_the_room_was_deleted_meanwhile(api, master_stage, monkeypatch):
    monkeypatch.setattr(services, "after_ivs_create", crash)
    with pytest.raises(SystemExit):
        api.post("/api/rooms", {"roomId": "r1"})
    monkeypatch.undo()
    assert api.delete("/api/rooms/r1").status_code == 200  # the operator gives up on the room

    report = reconcile("tick")

    assert "a stage of a deleted room" in report
    assert stages_in_ivs("r1") == []
    assert not Stage.objects.filter(room_id="r1").exists()


def test_create_room_throttled_throughout_is_a_clean_503_and_a_retry_creates_it(api, master_stage):
    emulator.inject_fault("CreateStage", "ThrottlingException", times=ivs.client.MAX_ATTEMPTS)

    response = api.post("/api/rooms", {"roomId": "r1"})

    assert (response.status_code, response.json()["error"]["code"]) == (503, "SERVICE_UNAVAILABLE")
    assert stages_in_ivs("r1") == []
    assert api.get("/api/rooms/r1").status_code == 404
    retried = api.post("/api/rooms", {"roomId": "r1"})
    assert retried.status_code == 201
    assert [s.arn for s in stages_in_ivs("r1")] == [retried.json()["data"]["room"]["masterStageArn"]]


# --- deleting a room that IVS half-deleted -------------------------------------------------------


@pytest.fixture
def deletions():
    """Every stage announced deleted, in order (the announcement closes its sessions)."""
    seen: list[str] = []

    def record(sender, *, stage, **kwargs):
        seen.append(stage.arn)

    stage_deleted.connect(record, dispatch_uid="test-rooms-drills")
    yield seen
    stage_deleted.disconnect(dispatch_uid="test-rooms-drills")


def join(api, user: str, stage_arn: str) -> None:
    assert api.post("/api/token/viewer", {"userId": user, "roomId": "r1", "stageArn": stage_arn}).status_code == 200


def watched() -> dict[str, float | None]:
    return {
        s.user_id: (s.watched_seconds if s.left_at else None)
        for s in ViewerSession.objects.filter(stage__room_id="r1").order_by("user_id")
    }


@pytest.mark.parametrize(
    ("fault", "fails_at"),
    [("ThrottlingException", 2), ("InternalServerException", 3), ("ServiceUnavailableException", 2)],
)
def test_deleting_a_room_that_ivs_half_deleted_is_a_503_then_completes_once(
    api, master_stage, clock, deletions, fault, fails_at
):
    master_arn = api.post("/api/rooms", {"roomId": "r1"}).json()["data"]["room"]["masterStageArn"]
    first, second = (
        services.stage_create(name=f"r1-extra-{n}", role="overflow", managed_by="auto-scaler", room_id="r1")
        for n in (1, 2)
    )
    join(api, "left", first.arn)
    clock.advance(60)
    api.post("/api/viewer/leave", {"userId": "left", "stageArn": first.arn})
    join(api, "on-first", first.arn)
    join(api, "on-second", second.arn)
    join(api, "on-master", master_arn)
    clock.advance(30)
    # Redis lost the room's seats: nobody counts as watching, but the sessions are still open and
    # the deletion must close them with their watch time.
    room_stages = [first.stage_id, second.stage_id, master_arn.rsplit("/", 1)[1]]
    get_redis().delete(presence.seats_key("r1"), *(presence.stage_key(s) for s in room_stages))
    before = watched()
    assert before == {"left": 60.0, "on-first": None, "on-master": None, "on-second": None}

    def fail_after_the_first_deletions(sender, *, stage, **kwargs):
        if len(deletions) == fails_at - 1:  # IVS answers the next DeleteStage with errors throughout
            emulator.inject_fault("DeleteStage", fault, times=ivs.client.MAX_ATTEMPTS)

    stage_deleted.connect(fail_after_the_first_deletions, dispatch_uid="test-rooms-drills-fault")
    try:
        response = api.delete("/api/rooms/r1")
    finally:
        stage_deleted.disconnect(dispatch_uid="test-rooms-drills-fault")

    assert (response.status_code, response.json()["error"]["code"]) == (503, "SERVICE_UNAVAILABLE")
    assert response["Retry-After"]
    assert len(deletions) == fails_at - 1  # overflow first, the master last
    assert api.get("/api/rooms/r1").status_code == 200  # the room stands until all of it is gone
    half = watched()
    assert half["left"] == 60.0 and half["on-first"] == 30.0  # closed when its stage went
    remaining = {s.arn for s in Stage.objects.filter(room_id="r1").exclude(status=Stage.Status.DELETED)}
    assert remaining == {s.arn for s in stages_in_ivs("r1")}  # registry and IVS agree on what is left

    clock.advance(120)
    retried = api.delete("/api/rooms/r1")

    assert retried.status_code == 200, retried.json()
    assert sorted(deletions) == sorted([first.arn, second.arn, master_arn])  # each stage once
    assert deletions[-1] == master_arn
    done = watched()
    assert done["left"] == 60.0 and done["on-first"] == 30.0  # unchanged by the retry
    # Sessions the first try left open close at the retry, once.
    later = {"on-second": 150.0 if fails_at == 2 else 30.0, "on-master": 150.0}
    assert {user: done[user] for user in later} == later
    assert ViewerSession.objects.filter(stage__room_id="r1", left_at__isnull=True).count() == 0
    assert stages_in_ivs("r1") == []
    assert not Stage.objects.filter(room_id="r1").exclude(status=Stage.Status.DELETED).exists()
    assert api.get("/api/rooms/r1").status_code == 404
    assert api.delete("/api/rooms/r1").status_code == 404
    assert watched() == done


def test_a_stage_recorded_for_a_room_deleted_meanwhile_is_deleted_by_the_next_reconcile(api, master_stage, monkeypatch):
    """A stage of the room is being created (the operator's POST /api/stage, or the autoscaler)
    while the room is deleted: the stage lands in the registry of a room that no longer exists,
    where nothing would ever seat a viewer or delete it. The next reconcile deletes it."""
    from stages import rooms

    api.post("/api/rooms", {"roomId": "r1"})

    def room_deleted_meanwhile(created):
        rooms.room_delete(room_id="r1")

    monkeypatch.setattr(services, "after_ivs_create", room_deleted_meanwhile)
    api.post("/api/stage", {"name": "late", "roomId": "r1"})
    monkeypatch.undo()
    [late] = stages_in_ivs("r1")
    assert Stage.objects.get(arn=late.arn).status == Stage.Status.ACTIVE  # recorded, in a deleted room

    report = reconcile("tick")

    assert late.arn in report
    assert stages_in_ivs("r1") == []
    assert Stage.objects.get(arn=late.arn).status == Stage.Status.DELETED
    assert reconcile("tick") == ""
