import pytest
from django.core.management import CommandError, call_command

from stages import ivs
from stages.models import Stage

pytestmark = pytest.mark.django_db


def run(*args):
    from io import StringIO

    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_ensure_master_stage_command_is_idempotent():
    assert "master stage created" in run("ensure_master_stage")
    assert "master stage exists" in run("ensure_master_stage")
    assert Stage.objects.filter(role="master").count() == 1


def test_create_list_delete_commands(master_stage):
    out = run("create_stage", "cli-stage", "--tag", "Team=ops")
    arn = out.split()[-1]
    assert Stage.objects.get(arn=arn).tags["Team"] == "ops"
    table = run("list_stages")
    assert "cli-stage" in table and "master-stage" in table and "2 stage(s)" in table
    assert "deleted cli-stage" in run("delete_stage", arn)


def test_command_errors_are_clear_and_nonzero(master_stage, settings):
    with pytest.raises(CommandError, match="FORBIDDEN"):
        run("delete_stage", master_stage.arn)
    with pytest.raises(CommandError, match="VALIDATION_ERROR"):
        run("delete_stage", "not-an-arn")
    with pytest.raises(CommandError, match="KEY=VALUE"):
        run("create_stage", "x", "--tag", "novalue")
    with pytest.raises(CommandError, match="invalid input"):
        run("create_stage", "bad name")
    settings.MAX_STAGES = 1
    with pytest.raises(CommandError, match="STAGE_LIMIT_REACHED"):
        run("create_stage", "over-cap")


def test_sync_stages_command_dry_run_then_apply(master_stage):
    orphan = ivs.create_stage(name="orphan", tags={"Environment": "development", "ManagedBy": "auto-scaler"})
    out = run("sync_stages", "--dry-run")
    assert f"would adopt  {orphan.arn}" in out
    assert not Stage.objects.filter(arn=orphan.arn).exists()
    out = run("sync_stages")
    assert f"+ adopt  {orphan.arn}" in out and "adopted=1" in out
    assert Stage.objects.filter(arn=orphan.arn).exists()
