"""The autoscaler driven through its real services, the emulator and Redis presence."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from autoscaling import autoscaler, demand
from autoscaling.tasks import autoscale
from stages import hostlive, ivs, services
from stages.ivs import emulator
from stages.models import Stage
from tests.factories import track_viewers
from tokens.services import token_publisher_create

pytestmark = pytest.mark.django_db


def later(seconds: int = 3600):
    return timezone.now() + timedelta(seconds=seconds)


def overflow_stages():
    return list(Stage.objects.filter(role=Stage.Role.OVERFLOW).exclude(status=Stage.Status.DELETED))


def test_hot_master_gets_an_overflow_stage(master_stage):
    track_viewers(master_stage, 45)
    decisions = autoscaler.autoscale_tick()
    assert [d.action for d in decisions] == ["create"]
    (stage,) = overflow_stages()
    assert stage.name == "autoscale-stage-1"
    assert stage.auto_scaled and stage.managed_by == "auto-scaler"
    assert stage.tags == {"Environment": "development", "ManagedBy": "auto-scaler"}
    assert ivs.get_stage(arn=stage.arn).tags == stage.tags


def test_quiet_master_gets_nothing(master_stage):
    track_viewers(master_stage, 44)
    assert autoscaler.autoscale_tick() == []
    assert overflow_stages() == []


def test_burst_demand_creates_enough_stages_in_one_tick_within_the_cap(master_stage, settings):
    track_viewers(master_stage, 50)
    demand.demand_record(*(f"w{n}" for n in range(200)))  # 200 viewers found no seat
    decisions = autoscaler.autoscale_tick()
    assert [d.action for d in decisions] == ["create"] * 5  # ceil(200 / 45)
    settings.MAX_STAGES = 8
    demand.demand_record(*(f"x{n}" for n in range(500)))
    decisions = autoscaler.autoscale_tick()
    assert [d.action for d in decisions] == ["create", "create", "blocked"]
    assert len(overflow_stages()) == 7


def test_viewer_token_stage_full_asks_for_capacity_now(api, master_stage, settings, monkeypatch):
    from ivsproject.redis import get_redis, key

    settings.STAGE_MAX_PARTICIPANTS = 2
    settings.SCALE_UP_THRESHOLD = 1
    settings.SCALE_DOWN_THRESHOLD = 0
    ticks = []
    monkeypatch.setattr(autoscale, "delay", lambda: ticks.append(autoscaler.autoscale_tick()))
    api.post("/api/token/viewer", {"userId": "a"})  # crosses the threshold → a tick at once → new stage
    assert len(overflow_stages()) == 1
    # The debounce is a 2 s key in Redis (real time): kept for the next requests, however slowly
    # a loaded machine serves them.
    get_redis().persist(key("autoscale", "requested"))
    for user in "bcd":
        assert api.post("/api/token/viewer", {"userId": user}).status_code == 200
    full = api.post("/api/token/viewer", {"userId": "e"})
    assert full.status_code == 503 and full.json()["error"]["code"] == "STAGE_FULL"
    assert len(ticks) == 1  # requests within 2 s are debounced into one tick
    get_redis().delete(key("autoscale", "requested"))  # two seconds later, e retries
    assert api.post("/api/token/viewer", {"userId": "e"}).status_code == 503
    assert len(ticks) == 2 and [d.action for d in ticks[1]] == ["create"]
    assert api.post("/api/token/viewer", {"userId": "e"}).status_code == 200


def test_idle_overflow_stage_drains_then_is_deleted(api, master_stage, settings):
    overflow = services.stage_create(name="autoscale-stage-1", role="overflow", managed_by="auto-scaler")
    track_viewers(master_stage, 10)
    track_viewers(overflow, 3, prefix="o")
    assert autoscaler.autoscale_tick(now=timezone.now()) == []  # still warming up
    decisions = autoscaler.autoscale_tick(now=later())
    assert [(d.action, d.stage) for d in decisions] == [("drain", overflow.arn)]
    overflow.refresh_from_db()
    assert overflow.status == Stage.Status.DRAINING
    # a draining stage takes no new viewers
    for n in range(5):
        assert api.post("/api/token/viewer", {"userId": f"new{n}"}).json()["data"]["stageArn"] == master_stage.arn
    for n in range(3):
        api.post("/api/viewer/leave", {"userId": f"o{n}", "stageArn": overflow.arn})
    decisions = autoscaler.autoscale_tick(now=later())
    assert ("delete", overflow.arn) in [(d.action, d.stage) for d in decisions]
    overflow.refresh_from_db()
    assert overflow.status == Stage.Status.DELETED
    with pytest.raises(Exception):
        ivs.get_stage(arn=overflow.arn)


def test_draining_stage_returns_to_active_when_load_returns(master_stage):
    overflow = services.stage_create(name="autoscale-stage-1", role="overflow", managed_by="auto-scaler")
    Stage.objects.filter(pk=overflow.pk).update(status=Stage.Status.DRAINING)
    track_viewers(overflow, 2, prefix="o")
    track_viewers(master_stage, 45)
    decisions = autoscaler.autoscale_tick(now=later())
    assert [d.action for d in decisions] == ["reactivate"]
    overflow.refresh_from_db()
    assert overflow.status == Stage.Status.ACTIVE
    assert overflow_stages() == [overflow]  # reactivated instead of creating another


def test_never_drains_master_manual_stages_or_when_others_cannot_absorb(master_stage):
    manual = services.stage_create(name="manual")
    one = services.stage_create(name="autoscale-stage-1", role="overflow", managed_by="auto-scaler")
    two = services.stage_create(name="autoscale-stage-2", role="overflow", managed_by="auto-scaler")
    track_viewers(master_stage, 44)
    track_viewers(manual, 44, prefix="m")
    track_viewers(one, 5, prefix="a")
    track_viewers(two, 4, prefix="b")
    # others hold 44 + 44 + 5 + 4 = 97 < 3 × 45 = 135: only one of the two quiet stages can go
    decisions = autoscaler.autoscale_tick(now=later())
    assert [(d.action, d.stage) for d in decisions] == [("drain", two.arn)]
    assert Stage.objects.get(pk=one.pk).status == Stage.Status.ACTIVE
    assert Stage.objects.get(pk=manual.pk).status == Stage.Status.ACTIVE
    assert Stage.objects.get(pk=master_stage.pk).status == Stage.Status.ACTIVE


def test_crash_between_create_and_record_is_adopted_next_tick(master_stage, monkeypatch):
    track_viewers(master_stage, 45)

    def crash(created):
        raise SystemExit("worker killed")

    monkeypatch.setattr(services, "after_ivs_create", crash)
    with pytest.raises(SystemExit):
        autoscaler.autoscale_tick()
    assert overflow_stages() == []
    orphans = [s for s in ivs.list_stages() if s.tags.get("ManagedBy") == "auto-scaler"]
    assert len(orphans) == 1
    monkeypatch.undo()
    decisions = autoscaler.autoscale_tick()
    assert ("adopt", orphans[0].arn) in [(d.action, d.stage) for d in decisions]
    # adopted stage counts; master still hot and the adopted one empty: no duplicate creation
    assert [d.action for d in decisions if d.action == "create"] == []
    assert [s.arn for s in overflow_stages()] == [orphans[0].arn]


def test_failed_delete_is_retried_next_tick(master_stage):
    overflow = services.stage_create(name="autoscale-stage-1", role="overflow", managed_by="auto-scaler")
    Stage.objects.filter(pk=overflow.pk).update(status=Stage.Status.DRAINING)
    emulator.inject_fault("DeleteStage", "InternalServerException", times=3)
    decisions = autoscaler.autoscale_tick(now=later())
    assert [d.action for d in decisions] == ["delete", "error"]
    assert Stage.objects.get(pk=overflow.pk).status == Stage.Status.DRAINING
    decisions = autoscaler.autoscale_tick(now=later())
    assert [d.action for d in decisions] == ["delete"]
    assert Stage.objects.get(pk=overflow.pk).status == Stage.Status.DELETED


def test_live_host_is_replicated_into_overflow_stages_beyond_five_a_relay(master_stage, settings):
    settings.MAX_STAGES = 10
    host = token_publisher_create(user_id="host")
    participant = emulator.participant_join(stage_arn=master_stage.arn, token=host.token)
    emulator.participant_publish(stage_arn=master_stage.arn, participant_id=participant)
    hostlive.set_live(live=True)
    stages = [
        services.stage_create(name=f"autoscale-stage-{n}", role="overflow", managed_by="auto-scaler") for n in range(6)
    ]
    track_viewers(master_stage, 20)
    decisions = autoscaler.autoscale_tick()
    assert [d.action for d in decisions] == ["replicate"] * 5 + ["relay-needed"]
    replicas = ivs.list_participant_replicas(source_stage_arn=master_stage.arn, participant_id=participant)
    assert sorted(replicas) == sorted(s.arn for s in stages[:5])
    assert Stage.objects.get(pk=stages[5].pk).relay_needed
    assert autoscaler.autoscale_tick() == []  # idempotent
    metrics = api_metrics()
    assert "ivs_stages_relay_needed 1.0" in metrics
    assert "ivs_stages_host_replicated 5.0" in metrics


def api_metrics() -> str:
    from django.test import Client

    return Client().get("/metrics").content.decode()


def test_replication_is_stopped_before_a_drained_stage_is_deleted(master_stage):
    host = token_publisher_create(user_id="host")
    participant = emulator.participant_join(stage_arn=master_stage.arn, token=host.token)
    emulator.participant_publish(stage_arn=master_stage.arn, participant_id=participant)
    hostlive.set_live(live=True)
    overflow = services.stage_create(name="autoscale-stage-1", role="overflow", managed_by="auto-scaler")
    autoscaler.autoscale_tick()
    assert ivs.list_participant_replicas(source_stage_arn=master_stage.arn, participant_id=participant) == [
        overflow.arn
    ]
    Stage.objects.filter(pk=overflow.pk).update(status=Stage.Status.DRAINING)
    decisions = autoscaler.autoscale_tick(now=later())
    assert ("delete", overflow.arn) in [(d.action, d.stage) for d in decisions]
    assert ivs.list_participant_replicas(source_stage_arn=master_stage.arn, participant_id=participant) == []


def test_autoscale_command_prints_decisions_and_dry_run_changes_nothing(master_stage):
    track_viewers(master_stage, 45)
    out = StringIO()
    call_command("autoscale", "--dry-run", stdout=out)
    assert "create" in out.getvalue() and "autoscale-stage-1" in out.getvalue()
    assert overflow_stages() == []
    out = StringIO()
    call_command("autoscale", stdout=out)
    assert len(overflow_stages()) == 1
    assert overflow_stages()[0].arn in out.getvalue()


def test_autoscale_task_runs_one_tick_at_a_time(master_stage):
    from ivsproject.locks import single_run

    track_viewers(master_stage, 45)
    with single_run("autoscale", ttl_seconds=30) as held:
        assert held
        assert autoscale() is None  # another tick holds the lock
    assert len(autoscale()) == 1
