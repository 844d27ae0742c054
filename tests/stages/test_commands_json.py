"""`--json` on the operators' commands: the whole of stdout is one JSON document (for scripts and
cron), through call_command and through a real `manage.py` process whose logs go to stderr."""

from __future__ import annotations

import json
import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import call_command

from stages import ivs, presence
from stages.models import Stage
from tests.factories import track_viewers
from tests.stats.conftest import _migrated_server_db, server_db  # noqa: F401  (fixtures)
from tests.stats.servers import ROOT, server_env

pytestmark = pytest.mark.django_db

COMMANDS = ["list_stages", "sync_stages", "autoscale", "cleanup_viewers", "list_rooms"]


def run_json(*args: str):
    out, err = StringIO(), StringIO()
    call_command(*args, "--json", stdout=out, stderr=err)
    return json.loads(out.getvalue())


def test_list_stages_json(api, master_stage):
    api.post("/api/token/viewer", {"userId": "v1"})

    document = run_json("list_stages")

    assert document["totalStages"] == 1
    [row] = document["stages"]
    assert row["stageArn"] == master_stage.arn and row["roomId"] == "default"
    assert (row["role"], row["status"], row["viewerCount"], row["autoScaled"]) == ("master", "active", 1, False)
    assert row["createdAt"].endswith("Z")


def test_sync_stages_json_dry_run_then_apply(master_stage):
    orphan = ivs.create_stage(name="orphan", tags={"Environment": "development", "ManagedBy": "auto-scaler"})

    planned = run_json("sync_stages", "--dry-run")
    assert planned["dryRun"] is True and planned["adopted"] == [orphan.arn]
    assert not Stage.objects.filter(arn=orphan.arn).exists()

    applied = run_json("sync_stages")
    assert applied["dryRun"] is False and applied["adopted"] == [orphan.arn] and applied["errors"] == []
    assert Stage.objects.filter(arn=orphan.arn).exists()


def test_autoscale_json_lists_each_decision(master_stage, settings):
    settings.SCALE_UP_THRESHOLD = 1
    track_viewers(master_stage, 1)

    document = run_json("autoscale", "--dry-run")

    assert document["dryRun"] is True
    assert [d["action"] for d in document["decisions"]] == ["create"]
    assert set(document["decisions"][0]) == {"action", "stage", "reason"}
    assert Stage.objects.count() == 1  # a dry run


def test_autoscale_json_without_changes_is_an_empty_list(master_stage):
    assert run_json("autoscale") == {"dryRun": False, "decisions": []}


def test_cleanup_viewers_json(api, master_stage, settings, monkeypatch):
    api.post("/api/token/viewer", {"userId": "dave"})
    later = presence.now() + settings.HEARTBEAT_TIMEOUT_SECONDS + 5
    monkeypatch.setattr(presence, "now", lambda: later)

    document = run_json("cleanup_viewers")

    assert document["expired"] == 1 and document["sessionsClosed"] == 1
    assert set(document) == {"expired", "sessionsClosed", "sessionsReopened", "orphansClosed", "heartbeatsFlushed"}


def test_list_rooms_json(master_stage):
    document = run_json("list_rooms")

    assert document["totalRooms"] == 1 and document["rooms"][0]["roomId"] == "default"


def test_every_command_in_a_real_process_prints_only_its_document(server_db):  # noqa: F811
    """stdout of `manage.py <command> --json` is exactly one document; logs (INFO and up: the
    master stage's creation, the sync, the tick) go to stderr."""
    env = {**server_env(server_db), "LOG_LEVEL": "DEBUG"}

    def manage(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    assert manage("ensure_master_stage").returncode == 0
    documents = {}
    for command in COMMANDS:
        result = manage(command, "--json")
        assert result.returncode == 0, result.stderr
        documents[command] = json.loads(result.stdout)

    assert documents["list_stages"]["totalStages"] == 1
    assert documents["list_rooms"]["totalRooms"] == 1
    assert documents["sync_stages"]["errors"] == [] and documents["sync_stages"]["unchanged"] == 1
    assert documents["autoscale"]["decisions"] == []
    assert documents["cleanup_viewers"]["expired"] == 0
