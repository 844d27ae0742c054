import subprocess
import sys

import pytest


def test_health_is_healthy(client, db):
    response = client.get("/health")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["success"] is True
    assert body["data"]["services"]["redis"] == "connected"


# --- what a process loads (make bench, row 7a: web RSS per worker) ---------------------------------

FOOTPRINT_PROBE = (
    "import sys, ivsproject.wsgi; print(sorted({'boto3', 'botocore', 'twisted', 'daphne'} & set(sys.modules)))"
)


def test_the_wsgi_worker_loads_neither_boto3_nor_twisted(tmp_path):
    """The production web worker heartbeats and self-signs tokens without AWS or Twisted: boto3 and
    botocore (~10 MB) load on the first AWS call, daphne's Twisted (~14 MB) only in runserver."""
    from tests.processes import ROOT, process_env

    env = process_env(f"sqlite:///{tmp_path / 'footprint.sqlite3'}")
    result = subprocess.run(
        [sys.executable, "-c", FOOTPRINT_PROBE], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_runserver_is_still_daphnes_asgi_server(tmp_path):
    """Only runserver installs daphne's app: its runserver (ASGI, /ws included) replaces Django's."""
    from tests.processes import manage, process_env

    env = process_env(f"sqlite:///{tmp_path / 'footprint.sqlite3'}")
    assert "--noasgi" in manage(env, "runserver", "--help")
    assert "--noasgi" not in manage(env, "check", "--help")


def test_an_aws_call_loads_the_client_on_first_use(settings):
    from stages import ivs

    settings.IVS_BACKEND = "emulator"
    assert callable(ivs.create_stage) and ivs.get_client().meta.service_model.service_name == "ivs-realtime"
    with pytest.raises(AttributeError):
        ivs.no_such_call  # noqa: B018
