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


def test_stage_commands_take_a_room(master_stage):
    from stages.rooms import room_create

    room_create(room_id="seller-1")
    out = run("create_stage", "seller-extra", "--room", "seller-1")
    arn = out.split()[-1]
    stage = Stage.objects.get(arn=arn)
    assert out.startswith("created seller-extra in room seller-1:")
    assert stage.room_id == "seller-1" and stage.tags["Room"] == "seller-1"

    table = run("list_stages", "--room", "seller-1")
    assert "seller-extra" in table and "seller-1-master" in table and "master-stage" not in table
    assert "2 stage(s)" in table
    header = table.splitlines()[0].split()
    assert header == ["NAME", "ROOM", "ROLE", "STATUS", "VIEWERS", "CREATED", "ARN"]
    assert "3 stage(s)" in run("list_stages")


def test_list_stages_of_a_deleted_room_with_all(master_stage):
    from stages.rooms import room_create, room_delete

    room_create(room_id="gone")
    room_delete(room_id="gone")
    with pytest.raises(CommandError, match="NOT_FOUND"):
        run("list_stages", "--room", "gone")
    history = run("list_stages", "--room", "gone", "--all")
    assert "gone-master" in history and "deleted" in history and "1 stage(s)" in history
    with pytest.raises(CommandError, match="NOT_FOUND"):
        run("list_stages", "--room", "never", "--all")
    with pytest.raises(CommandError, match="VALIDATION_ERROR"):
        run("list_stages", "--room", "Not_Valid")


def test_ensure_master_stage_for_a_room(master_stage):
    from stages.rooms import room_create

    room_create(room_id="seller-1")
    first = Stage.objects.get(room_id="seller-1", role="master")
    out = run("ensure_master_stage", "--room", "seller-1")
    assert out.strip() == f"master stage exists: seller-1-master {first.arn} (room seller-1)"

    ivs.delete_stage(arn=first.arn)  # gone from IVS behind our back: a new master is made
    out = run("ensure_master_stage", "--room", "seller-1")
    assert "master stage created: seller-1-master" in out and "(room seller-1)" in out
    [master] = Stage.objects.filter(room_id="seller-1", role="master", status="active")
    assert master.arn != first.arn and master.tags["Room"] == "seller-1"
    assert Stage.objects.get(arn=master_stage.arn).status == "active"  # the room default untouched


def test_stage_commands_refuse_an_unknown_room(master_stage):
    with pytest.raises(CommandError, match="NOT_FOUND"):
        run("create_stage", "x", "--room", "nope")
    with pytest.raises(CommandError, match="NOT_FOUND"):
        run("ensure_master_stage", "--room", "nope")
    with pytest.raises(CommandError, match="VALIDATION_ERROR"):
        run("ensure_master_stage", "--room", "Bad_Room")
    with pytest.raises(CommandError, match="invalid input"):
        run("create_stage", "x", "--room", "x" * 101)
    assert not Stage.objects.filter(name="x").exists()
