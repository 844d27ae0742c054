"""Drill: SIGTERM to the web server (granian) and to the WebSocket server (daphne) mid-traffic.

A request is made slow for real: the IVS stage-call budget is set to 1 call/s, so of four
concurrent POST /api/stage the last waits ~3 s for its slot. SIGTERM arrives while they wait.
- granian (the Procfile's `web`, its own graceful shutdown): stops accepting, finishes all four,
  exits 0.
- daphne: its own SIGTERM handling cancels everything at once — in-flight requests dropped, no
  WebSocket close frame, and a stuck worker thread keeps the process alive until SIGKILL — so
  ivsproject/asgi.py takes SIGTERM over (GracefulShutdown): stop accepting, a close frame to every
  WebSocket, in-flight requests finished, then exit 0.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
import time

import pytest
import requests

from tests.hardening.drills import API_KEY, granian, record, scratch

pytestmark = pytest.mark.slow

SLOW_REQUESTS = 4


def slow_creates(base: str, key: str) -> tuple[list[threading.Thread], dict[int, object]]:
    results: dict[int, object] = {}

    def create(n: int) -> None:
        try:
            response = requests.post(f"{base}/api/stage", json={"name": f"drain-{n}"}, headers={"x-api-key": key},
                                     timeout=30)  # fmt: skip
            results[n] = response.status_code
        except requests.RequestException as exc:
            results[n] = type(exc).__name__

    threads = [threading.Thread(target=create, args=(n,)) for n in range(SLOW_REQUESTS)]
    for thread in threads:
        thread.start()
    return threads, results


def refuses_connections(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        return False
    return True


def test_granian_sigterm_finishes_in_flight_requests(tmp_path):
    with scratch(tmp_path, IVS_STAGE_CALLS_PER_SECOND="1") as box, granian(box.env, tmp_path) as web:
        threads, results = slow_creates(web.url, API_KEY["x-api-key"])
        time.sleep(0.5)

        signalled = time.perf_counter()
        web.signal(signal.SIGTERM)
        time.sleep(0.3)
        try:
            late = requests.get(f"{web.url}/health", timeout=15).status_code
        except requests.RequestException as exc:
            late = type(exc).__name__
        for thread in threads:
            thread.join(30)
        exit_code = web.process.wait(30)
        exited_after = time.perf_counter() - signalled
        created = box.query(
            "import json; from stages.models import Stage; "
            "print(json.dumps(sorted(Stage.objects.filter(name__startswith='drain-').values_list('name', flat=True))))"
        )

    assert late == "ConnectionError", f"a request sent after SIGTERM got {late}"
    assert sorted(results.values()) == [201] * SLOW_REQUESTS, (results, web.log()[-2000:])
    assert created == [f"drain-{n}" for n in range(SLOW_REQUESTS)]
    assert exit_code == 0, web.log()[-2000:]
    # The last request waits ~3 s for its IVS slot; the exit follows it, not a kill timeout.
    assert exited_after < 6.0, exited_after
    record("sigterm_granian", in_flight=SLOW_REQUESTS, completed=list(results.values()), new_requests="not served",
           exit_code=exit_code, exit_seconds_after_sigterm=round(exited_after, 2))  # fmt: skip


@pytest.fixture
def daphne(tmp_path, monkeypatch):
    from tests.stats.servers import Daphne, manage

    monkeypatch.setenv("IVS_STAGE_CALLS_PER_SECOND", "1")
    monkeypatch.setenv("SHUTDOWN_GRACE_SECONDS", "20")
    db_file = tmp_path / "daphne.sqlite3"
    manage(db_file, "migrate", "--noinput")
    manage(db_file, "ensure_master_stage")
    server = Daphne(db_file, tmp_path / "daphne.log").wait_ready()
    yield server
    server.stop()


def test_daphne_sigterm_closes_websockets_and_finishes_in_flight_requests(daphne):
    from ivsproject.asgi import CLOSE_CODE
    from tests.stats.wsclient import ConnectionClosed, WsClient

    clients = [WsClient("127.0.0.1", daphne.port) for _ in range(3)]
    for client in clients:
        client.send_json({"action": "subscribe", "channel": "stats"})
        assert client.recv_json(5)["type"] == "stats_update"
    threads, results = slow_creates(daphne.base_url, "dev-api-key")
    time.sleep(0.5)

    signalled = time.perf_counter()
    daphne.process.send_signal(signal.SIGTERM)
    close_codes = []
    for client in clients:
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                client.recv_text(5)
        close_codes.append(closed.value.code)
        client.close()  # answer the close frame, as browsers do
    closed_after = time.perf_counter() - signalled
    refused = refuses_connections(daphne.port)
    for thread in threads:
        thread.join(30)
    exit_code = daphne.process.wait(30)
    exited_after = time.perf_counter() - signalled

    assert close_codes == [CLOSE_CODE] * len(clients), close_codes  # a close frame, not a dropped socket
    assert refused, "daphne kept accepting connections after SIGTERM"
    assert sorted(results.values()) == [201] * SLOW_REQUESTS, (results, daphne.log()[-2000:])
    assert exit_code == 0, daphne.log()[-2000:]
    record("sigterm_daphne", websockets=len(clients), close_codes=close_codes,
           close_frames_after_seconds=round(closed_after, 2), in_flight=SLOW_REQUESTS,
           completed=list(results.values()), new_connections="refused", exit_code=exit_code,
           exit_seconds_after_sigterm=round(exited_after, 2))  # fmt: skip


def test_idle_daphne_exits_promptly_on_sigterm(daphne):
    signalled = time.perf_counter()
    daphne.process.send_signal(signal.SIGTERM)

    assert daphne.process.wait(10) == 0
    assert time.perf_counter() - signalled < 2.0


def test_a_second_sigterm_stops_daphne_at_once(daphne):
    threads, results = slow_creates(daphne.base_url, "dev-api-key")
    time.sleep(0.5)

    daphne.process.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    signalled = time.perf_counter()
    daphne.process.send_signal(signal.SIGTERM)

    assert daphne.process.wait(10) == 0
    assert time.perf_counter() - signalled < 2.0  # does not wait for the ~3 s of queued requests
    for thread in threads:
        thread.join(30)
    assert "ConnectionError" in results.values()  # the cut-off ones saw the connection drop
