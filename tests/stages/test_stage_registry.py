"""The token path's cached stage list: every change to a stage is seen by the very next token."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ivsproject.redis import get_redis
from stages import registry
from stages.models import Stage
from stages.services import stage_create, stage_delete, stage_mark_deleted

pytestmark = pytest.mark.django_db


def _stage_of(api, user):
    response = api.post("/api/token/viewer", {"userId": user})
    assert response.status_code == 200, response.json()
    return response.json()["data"]["stageArn"]


def test_tokens_read_no_stage_rows_once_the_list_is_cached(api, master_stage):
    _stage_of(api, "first")
    with CaptureQueriesContext(connection) as ctx:
        assert _stage_of(api, "second") == master_stage.arn
    statements = [q["sql"] for q in ctx.captured_queries if "SAVEPOINT" not in q["sql"]]
    assert len(statements) == 1 and statements[0].startswith('INSERT INTO "viewers_viewersession"')


def test_a_created_stage_takes_the_next_viewer(api, master_stage):
    assert _stage_of(api, "v0") == master_stage.arn
    other = stage_create(name="overflow-a")
    assert _stage_of(api, "v1") == other.arn


def test_a_draining_stage_takes_no_more_viewers(api, master_stage):
    other = stage_create(name="overflow-a")
    assert [_stage_of(api, f"v{n}") for n in range(2)] == [master_stage.arn, other.arn]
    other.status = Stage.Status.DRAINING  # as the autoscaler's drain and the admin save it
    other.save(update_fields=["status"])
    assert {_stage_of(api, f"w{n}") for n in range(3)} == {master_stage.arn}
    other.status = Stage.Status.ACTIVE
    other.save(update_fields=["status"])
    assert _stage_of(api, "w3") == other.arn  # master 4, other 1: least loaded again


def test_a_deleted_stage_takes_no_more_viewers(api, master_stage):
    other = stage_create(name="overflow-a")
    _stage_of(api, "v0")
    stage_delete(arn=other.arn)
    assert {_stage_of(api, f"w{n}") for n in range(3)} == {master_stage.arn}


def test_losing_the_master_answers_404_at_once(api, master_stage):
    _stage_of(api, "v0")
    stage_mark_deleted(stage=master_stage)
    response = api.post("/api/token/viewer", {"userId": "v1"})
    assert response.status_code == 404
    assert response.json()["error"] == {"code": "NOT_FOUND", "message": "主播直播不存在"}


def test_a_lost_generation_key_is_recreated_and_changes_are_still_seen(api, master_stage):
    _stage_of(api, "v0")
    get_redis().delete(registry.generation_key())  # Redis lost its data (or was flushed)
    assert _stage_of(api, "v1") == master_stage.arn
    assert get_redis().get(registry.generation_key())
    get_redis().delete(registry.generation_key())
    # Lost again, and a stage is created before anyone reloads: the new generation must not
    # equal the one this process cached before the loss.
    other = stage_create(name="overflow-a")
    assert _stage_of(api, "v2") == other.arn


def test_a_change_committed_elsewhere_is_seen_after_commit(api, master_stage, django_capture_on_commit_callbacks):
    _stage_of(api, "v0")
    before = get_redis().get(registry.generation_key())
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        other = stage_create(name="overflow-a")
    assert callbacks  # a bump is queued for the commit (not only made inside the transaction)
    assert get_redis().get(registry.generation_key()) != before
    assert _stage_of(api, "v1") == other.arn


def test_a_stale_list_is_refused_by_the_seat_script_and_reloaded(api, master_stage):
    other = stage_create(name="overflow-a")
    assert [_stage_of(api, f"v{n}") for n in range(2)] == [master_stage.arn, other.arn]  # both cached
    # A change that bypasses the signal (a raw UPDATE) is seen as soon as the generation moves.
    Stage.objects.filter(pk=other.pk).update(status=Stage.Status.DRAINING)
    registry.bump()
    assert {_stage_of(api, f"w{n}") for n in range(3)} == {master_stage.arn}
