"""`manage.py ivs_emulator` and `manage.py ivs_keys`, called as an operator would."""

from __future__ import annotations

import re
import stat
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from stages import ivs
from stages.ivs import emulator
from stages.ivs.participant_token import mint_token, new_participant_id, signing_key


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.fixture
def stage():
    return ivs.create_stage(name="cli", tags={"ManagedBy": "api-server"})


def test_join_mints_a_token_and_joins_publishing(stage):
    output = run("ivs_emulator", "join", stage.arn, "--user-id", "host-1", "--publish")
    participant_id = re.search(r"participantId:\s+(\w+)", output).group(1)
    assert "publishing:    yes" in output
    [participant] = emulator.describe_participants(stage.arn)
    assert (participant["participantId"], participant["userId"], participant["publishing"]) == (
        participant_id,
        "host-1",
        True,
    )


def test_publish_unpublish_leave_and_participants(stage):
    output = run("ivs_emulator", "join", stage.arn, "--user-id", "host-1")
    participant_id = re.search(r"participantId:\s+(\w+)", output).group(1)
    assert "is publishing" in run("ivs_emulator", "publish", stage.arn, participant_id)
    listing = run("ivs_emulator", "participants", stage.arn)
    assert participant_id in listing and "CONNECTED" in listing and "yes" in listing
    assert "stopped publishing" in run("ivs_emulator", "unpublish", stage.arn, participant_id)
    assert "left" in run("ivs_emulator", "leave", stage.arn, participant_id)
    assert "DISCONNECTED" in run("ivs_emulator", "participants", stage.arn)


def test_join_as_viewer_cannot_publish(stage):
    output = run("ivs_emulator", "join", stage.arn, "--subscribe-only")
    participant_id = re.search(r"participantId:\s+(\w+)", output).group(1)
    with pytest.raises(CommandError, match="PUBLISH"):
        run("ivs_emulator", "publish", stage.arn, participant_id)


def test_join_an_unknown_stage_fails_clearly(stage):
    with pytest.raises(CommandError, match="NOT_FOUND"):
        run("ivs_emulator", "join", stage.arn[:-12] + "ZZZZZZZZZZZZ")


def test_stages_and_reset(stage):
    listing = run("ivs_emulator", "stages")
    assert "1 stage(s)" in listing and stage.arn in listing and "ManagedBy=api-server" in listing
    assert "wiped" in run("ivs_emulator", "reset")
    assert "0 stage(s)" in run("ivs_emulator", "stages")


def test_ivs_emulator_refuses_to_run_against_aws(settings, stage):
    settings.IVS_BACKEND = "aws"
    with pytest.raises(CommandError, match="IVS_BACKEND=emulator"):
        run("ivs_emulator", "stages")


def test_ivs_keys_create_prints_env_lines_that_sign_joinable_tokens(settings, stage):
    output = run("ivs_keys", "create", "--name", "prod-key")
    arn = re.search(r"^IVS_PUBLIC_KEY_ARN=(\S+)$", output, re.M).group(1)
    private = re.search(r'^IVS_PRIVATE_KEY="(.+)"$', output, re.M).group(1)
    settings.IVS_PUBLIC_KEY_ARN, settings.IVS_PRIVATE_KEY = arn, private
    private_pem, key_arn = signing_key()
    token = mint_token(
        stage_arn=stage.arn,
        participant_id=new_participant_id(),
        user_id="u",
        capabilities=["SUBSCRIBE"],
        ttl_seconds=60,
        attributes={},
        whip_url=None,
        events_url=None,
        private_key_pem=private_pem,
        key_arn=key_arn,
    )
    assert emulator.participant_join(stage_arn=stage.arn, token=token.token) == token.participant_id


def test_ivs_keys_create_writes_the_private_key_to_a_private_file(tmp_path):
    target = tmp_path / "ivs-key.pem"
    output = run("ivs_keys", "create", "--out", str(target))
    assert f"IVS_PRIVATE_KEY={target}" in output
    assert target.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    with pytest.raises(CommandError, match="already exists"):
        run("ivs_keys", "create", "--out", str(target))


def test_ivs_keys_list_and_delete(settings):
    arn = re.search(r"IVS_PUBLIC_KEY_ARN=(\S+)", run("ivs_keys", "create", "--name", "k1")).group(1)
    settings.IVS_PUBLIC_KEY_ARN = arn
    listing = run("ivs_keys", "list")
    assert "1 of 3" in listing and arn in listing and "k1" in listing and "(configured" in listing
    with pytest.raises(CommandError, match="--force"):
        run("ivs_keys", "delete", arn)
    assert f"deleted {arn}" in run("ivs_keys", "delete", arn, "--force")
    with pytest.raises(CommandError, match="NOT_FOUND"):
        run("ivs_keys", "delete", arn, "--force")


def test_ivs_keys_create_fails_clearly_when_the_slots_are_full():
    for index in range(3):
        run("ivs_keys", "create", "--name", f"k{index}")
    with pytest.raises(CommandError, match="all 3 public key slots"):
        run("ivs_keys", "create", "--name", "k3")
