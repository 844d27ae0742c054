import threading

import pytest
from django.db import connection

from stages import ivs
from stages.models import Stage
from stages.services import stage_create, stage_ensure_master, stages_sync

pytestmark = pytest.mark.django_db


def test_ensure_master_stage_is_idempotent(db):
    first, outcome = stage_ensure_master()
    assert outcome == "created"
    again, outcome = stage_ensure_master()
    assert outcome == "exists" and again.pk == first.pk
    assert len(ivs.list_stages()) == 1
    assert first.tags == {"Environment": "development", "ManagedBy": "api-server"}


def test_ensure_master_refinds_a_tagged_stage_in_ivs(db):
    created = ivs.create_stage(name="master-stage", tags={"Environment": "development", "ManagedBy": "api-server"})
    stage, outcome = stage_ensure_master()
    assert outcome == "re-found" and stage.arn == created.arn and stage.is_master


def test_ensure_master_adopts_configured_arn(db, settings):
    created = ivs.create_stage(name="existing", tags={})
    settings.IVS_MASTER_STAGE_ARN = created.arn
    stage, outcome = stage_ensure_master()
    assert outcome == "adopted" and stage.arn == created.arn and stage.is_master


def test_ensure_master_recreates_a_master_that_vanished_from_ivs(db):
    first, _ = stage_ensure_master()
    ivs.delete_stage(arn=first.arn)
    second, outcome = stage_ensure_master()
    assert outcome == "created" and second.arn != first.arn
    first.refresh_from_db()
    assert first.status == Stage.Status.DELETED


def test_sync_adopts_our_tagged_stage_and_marks_vanished_deleted(master_stage):
    ours = ivs.create_stage(name="orphan", tags={"Environment": "development", "ManagedBy": "auto-scaler"})
    foreign = ivs.create_stage(name="foreign", tags={"Owner": "someone-else"})
    doomed = stage_create(name="doomed")
    ivs.delete_stage(arn=doomed.arn)

    preview = stages_sync(dry_run=True)
    assert preview.adopted == [ours.arn] and preview.deleted == [doomed.arn]
    assert not Stage.objects.filter(arn=ours.arn).exists()

    report = stages_sync()
    assert report.adopted == [ours.arn] and report.deleted == [doomed.arn]
    adopted = Stage.objects.get(arn=ours.arn)
    assert adopted.role == Stage.Role.OVERFLOW and adopted.auto_scaled
    assert not Stage.objects.filter(arn=foreign.arn).exists()
    doomed.refresh_from_db()
    assert doomed.status == Stage.Status.DELETED


@pytest.mark.django_db(transaction=True)
def test_concurrent_creates_never_exceed_max_stages(settings):
    if connection.vendor == "sqlite":
        pytest.skip("in-memory SQLite is per-connection; the HTTP-level test covers this with real processes")
    settings.MAX_STAGES = 20
    settings.IVS_STAGE_CALLS_PER_SECOND = 1000
    stage_ensure_master()
    results: list[str] = []

    def create(n: int) -> None:
        try:
            stage_create(name=f"c{n}")
            results.append("ok")
        except Exception as exc:
            results.append(type(exc).__name__)
        finally:
            connection.close()

    threads = [threading.Thread(target=create, args=(n,)) for n in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count("ok") == 19
    assert results.count("StageLimitReached") == 11
    assert Stage.objects.exclude(status=Stage.Status.DELETED).count() == 20
