"""Probes for an orchestrator (ivsproject/api/probes.py): /livez and /readyz without a key and outside
the rate limit, /readyz 503 when a dependency is down and while a real granian drains after SIGTERM,
and `manage.py probe worker|beat` against the heartbeats of real Celery processes."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
import requests
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import OperationalError

from ivsproject.api.probes import heartbeat_key, write_heartbeat
from ivsproject.redis import get_redis, reset_redis
from tests.api.helpers import assert_error, assert_success
from tests.processes import ROOT, free_port, manage
from tests.procfile import migrated_database, procfile_process, production_env

pytestmark = pytest.mark.django_db


def test_livez_answers_without_a_key(client):
    assert assert_success(client.get("/livez")) == {"status": "alive"}


def test_readyz_is_200_when_redis_and_the_database_answer(client):
    data = assert_success(client.get("/readyz"))
    assert data == {"status": "ready", "services": {"redis": "connected", "database": "connected"}}


def test_probes_are_outside_the_rate_limit(client, settings):
    settings.RATE_LIMIT_PER_MINUTE = 2
    answers = [client.get(path).status_code for _ in range(5) for path in ("/livez", "/readyz")]
    assert answers == [200] * 10
    assert client.get("/api/stats", HTTP_X_API_KEY="dev-api-key").status_code == 200  # probes counted nothing


def test_readyz_is_503_with_redis_down_and_livez_stays_200(client, settings):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.REDIS_URL = f"redis://127.0.0.1:{port}/0"
    reset_redis()
    try:
        error = assert_error(client.get("/readyz"), 503, "SERVICE_UNAVAILABLE")
        assert error["details"]["failed"] == ["redis"]
        assert client.get("/livez").status_code == 200  # a dependency down is no reason to restart the process
    finally:
        reset_redis()


class DownDatabase:
    def cursor(self):
        raise OperationalError("connection refused")

    def close_if_unusable_or_obsolete(self):
        pass


def test_readyz_is_503_with_the_database_down(client, monkeypatch):
    monkeypatch.setattr("ivsproject.api.health.connection", DownDatabase())
    error = assert_error(client.get("/readyz"), 503, "SERVICE_UNAVAILABLE")
    assert error["details"]["failed"] == ["database"]
    assert client.get("/livez").status_code == 200


def test_health_keeps_the_contracts_fields(client):
    data = assert_success(client.get("/health"))
    assert set(data) == {"status", "uptime", "environment", "version", "services", "memory"}


# --- draining: a real granian, started by the Procfile's web line -----------------------------------


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_readyz_is_503_while_granian_drains_after_sigterm(tmp_path):
    """One blocking thread, four slow requests in flight (the IVS stage-call budget is 1/s, so each
    create waits ~1 s for its slot) and a /readyz queued behind them. SIGTERM: every create still
    completes, the queued /readyz answers 503, and granian exits 0."""
    with migrated_database(tmp_path) as url:
        env = production_env(url, API_SECRET_KEY="test-key", IVS_STAGE_CALLS_PER_SECOND="1", RATE_LIMIT_PER_MINUTE="0",
                             WEB_THREADS="1", WEB_BACKPRESSURE="16")  # fmt: skip
        manage(env, "ensure_master_stage")
        with procfile_process("web", env) as web:
            web.wait_http()
            assert requests.get(web.base_url + "/readyz", timeout=5).status_code == 200
            results: dict[str, object] = {}

            def get(name: str, method: str, path: str, **kwargs) -> None:
                try:
                    results[name] = requests.request(method, web.base_url + path, timeout=30, **kwargs)
                except requests.RequestException as exc:
                    results[name] = type(exc).__name__

            threads = [
                threading.Thread(target=get, args=(f"create-{n}", "POST", "/api/stage"),
                                 kwargs={"json": {"name": f"drain-{n}"}, "headers": {"x-api-key": "test-key"}})
                for n in range(4)
            ]  # fmt: skip
            for thread in threads:
                thread.start()
            time.sleep(0.3)
            ready = threading.Thread(target=get, args=("readyz", "GET", "/readyz"))
            ready.start()
            time.sleep(0.3)
            web.process.send_signal(signal.SIGTERM)
            for thread in [*threads, ready]:
                thread.join(30)
            exit_code = web.process.wait(30)
            output = web.output()

    creates = [results[f"create-{n}"] for n in range(4)]
    assert [getattr(r, "status_code", r) for r in creates] == [201] * 4, output
    readyz = results["readyz"]
    assert getattr(readyz, "status_code", readyz) == 503, output
    assert readyz.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert exit_code == 0, output


# --- Celery heartbeats and `manage.py probe` ---------------------------------------------------------


def probe(*args: str) -> int:
    try:
        call_command("probe", *args)
    except CommandError:
        return 1
    return 0


def test_probe_is_1_without_a_heartbeat_0_when_fresh_and_1_when_stale():
    assert probe("worker", "--node", "celery@w1") == 1
    write_heartbeat("worker", "celery@w1")
    assert probe("worker", "--node", "celery@w1") == 0
    assert probe("worker", "--node", "celery@w2") == 1  # another worker's heartbeat is not this one's
    time.sleep(0.05)
    assert probe("worker", "--node", "celery@w1", "--max-age", "0.01") == 1
    assert probe("beat") == 1
    write_heartbeat("beat", "beat")
    assert probe("beat") == 0


def test_a_heartbeat_expires_after_the_maximum_age(settings):
    settings.PROBE_MAX_AGE_SECONDS = 7
    write_heartbeat("beat", "beat")
    assert 0 < get_redis().ttl(heartbeat_key("beat", "beat")) <= 7


def _probe_process(env: dict[str, str], kind: str) -> int:
    result = subprocess.run([sys.executable, str(ROOT / "manage.py"), "probe", kind], env=env, cwd=ROOT,
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    return result.returncode


def _wait_for_exit_code(env: dict[str, str], kind: str, wanted: int, timeout: float) -> None:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if _probe_process(env, kind) == wanted:
            return
        time.sleep(0.5)
    raise AssertionError(f"probe {kind} never exited {wanted} within {timeout} s")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", ["worker", "beat"])
def test_probe_follows_a_real_celery_process(tmp_path, kind):
    """`manage.py probe` exits 1 before the process runs, 0 while it runs, and 1 again within the
    maximum age once it has stopped."""
    with migrated_database(tmp_path) as url:
        env = production_env(url, API_SECRET_KEY="test-key", PROBE_MAX_AGE_SECONDS="4",
                             REDIS_KEY_PREFIX=f"probe{free_port()}")  # fmt: skip
        assert _probe_process(env, kind) == 1
        with procfile_process(kind, env) as process:
            _wait_for_exit_code(env, kind, 0, timeout=60)
            time.sleep(3)  # longer than a worker's heartbeat interval (1 s here): still fresh
            assert _probe_process(env, kind) == 0, process.output()
            assert process.stop() == 0
        # Stale once the last heartbeat is 4 s old (each probe is a fresh interpreter, ~1-2 s).
        _wait_for_exit_code(env, kind, 1, timeout=15)
