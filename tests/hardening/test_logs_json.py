"""JSON logs from every production process: granian (web), daphne (ws), the Celery worker and beat,
each started from its Procfile line under ENVIRONMENT=production. Every line either writes on stdout
and stderr must be one JSON object, and a secret the process was made to log is redacted."""

from __future__ import annotations

import json
import socket
import time

import pytest
import requests

from tests.procfile import Running, migrated_database, procfile_process, production_env

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

API_KEY = "sk-live-4f1c9e27b3a8d605"
REDACTED = "[secret redacted]"


@pytest.fixture(scope="module")
def database(tmp_path_factory, django_db_blocker):
    with django_db_blocker.unblock(), migrated_database(tmp_path_factory.mktemp("logs")) as url:
        yield url


def assert_json_lines(process: Running, *, must_contain: str) -> list[dict]:
    stdout, stderr = process.output()
    records = []
    for stream_name, text in (("stdout", stdout), ("stderr", stderr)):
        for number, line in enumerate(text.splitlines(), 1):  # a blank line fails too
            try:
                record = json.loads(line)
            except ValueError:
                pytest.fail(f"{process.kind} {stream_name} line {number} is not JSON: {line!r}\n{stdout}\n{stderr}")
            assert isinstance(record, dict), line
            assert {"time", "level", "logger", "message"} <= set(record), line
            records.append(record)
    everything = stdout + stderr
    assert API_KEY not in everything, f"{process.kind} wrote the secret:\n{everything}"
    assert REDACTED in everything, f"{process.kind} never logged the line with the secret:\n{everything}"
    assert must_contain in everything, everything
    return records


def test_granian_writes_json_lines_and_redacts(database):
    env = production_env(database, API_SECRET_KEY=API_KEY)
    with procfile_process("web", env) as web:
        web.wait_http()
        # A Host that ALLOWED_HOSTS refuses is logged (django.security.DisallowedHost) with its value.
        response = requests.get(web.base_url + "/livez", headers={"Host": f"{API_KEY}.example.com"}, timeout=10)
        assert response.status_code == 400
        web.wait_output(REDACTED)
        assert web.stop() == 0
    records = assert_json_lines(web, must_contain="Invalid HTTP_HOST header")
    loggers = {record["logger"] for record in records}
    assert any(name.startswith("_granian") for name in loggers), loggers  # granian's own lines, as JSON


def test_daphne_writes_json_lines_and_redacts(database):
    env = production_env(database, API_SECRET_KEY=API_KEY, WS_ALLOWED_ORIGINS="https://dash.example.com")
    with procfile_process("ws", env) as ws:
        ws.wait_http("/")
        # A WebSocket handshake from a refused Origin is logged with that Origin.
        with socket.create_connection(("127.0.0.1", ws.port), timeout=10) as sock:
            sock.sendall(
                (
                    "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                    f"Origin: https://{API_KEY}.example.com\r\n\r\n"
                ).encode()
            )
            assert b" 403 " in sock.recv(4096).split(b"\r\n", 1)[0]
        ws.wait_output(REDACTED)
        assert ws.stop() == 0
    assert_json_lines(ws, must_contain="ws handshake refused")


def test_celery_worker_writes_json_lines_and_redacts(database):
    from ivsproject.celery import app

    env = production_env(database, API_SECRET_KEY=API_KEY)
    with procfile_process("worker", env) as worker:
        worker.wait_output(" ready.")
        # A message for a task the worker does not know is logged whole, arguments included.
        app.send_task("no.such.task", args=[API_KEY])
        worker.wait_output("no.such.task")
        time.sleep(0.5)
        assert worker.stop() == 0
    records = assert_json_lines(worker, must_contain="Received unregistered task")
    assert any(record["logger"].startswith("celery.") for record in records)


def test_celery_beat_writes_json_lines_and_redacts(database):
    # Beat logs the tasks it sends; with one of their names configured as a secret, the redaction on
    # beat's log handler must hide it (a handler without it would write it in clear).
    secret = "stages.host_live_poll"
    env = production_env(database, API_SECRET_KEY=API_KEY, INTERNAL_SECRET=secret, STATS_PUSH_INTERVAL_SECONDS="1")
    with procfile_process("beat", env) as beat:
        beat.wait_output("Sending due task publisher-live-poll")
        assert beat.stop() == 0
    records = assert_json_lines(beat, must_contain="beat: Starting")
    assert secret not in "".join(beat.output())
    assert any(record["logger"] == "celery.beat" for record in records)
