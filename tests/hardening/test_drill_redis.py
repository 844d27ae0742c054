"""Drill: Redis goes away under a running web process, then comes back (empty).

The production web server (granian from the Procfile, fast path on) against a Redis started for
the drill alone (not the test run's shared one):
- stopped (connections refused): every API answer is a 503 SERVICE_UNAVAILABLE envelope in a few
  milliseconds (docs/operations.md "Failure drills": the bounds below are those figures with a
  margin for a loaded machine, so a tenfold slowdown fails) and /health reports
  `redis: disconnected`; no worker hangs;
- hung (SIGSTOP: connections accepted, never answered): 503 after one socket timeout (1 s);
- restarted on the same port with no data (a failover without persistence): the same process
  recovers by itself, a viewer's next heartbeat rebuilds its presence on its *existing* session,
  and the viewer who never came back has its session closed by the cleanup — none lost, none left
  open forever.
"""

from __future__ import annotations

import os
import signal
import time

import pytest
import requests

from ivsproject.devtools.embedded_redis import embedded_redis, free_port
from tests.hardening.drills import API_KEY, FAST, all_unavailable, granian, record, scratch, wait_for

pytestmark = pytest.mark.slow

# HEARTBEAT_TIMEOUT_SECONDS of the drill: longer than a `manage.py cleanup_viewers` start-up on a
# busy machine (~3 s), so no viewer is timed out by the cleanup run right after its heartbeat.
TIMEOUT_SECONDS = 8


def api_calls(base: str, arn: str) -> dict[str, callable]:
    def post(path, body):
        return lambda: requests.post(base + path, json=body, headers=API_KEY, timeout=10)

    def get(path):
        return lambda: requests.get(base + path, headers=API_KEY, timeout=10)

    return {
        "heartbeat": post("/api/viewer/heartbeat", {"userId": "stays", "stageArn": arn}),
        "viewer token": post("/api/token/viewer", {"userId": "newcomer"}),
        "leave": post("/api/viewer/leave", {"userId": "someone", "stageArn": arn}),
        "viewer list": get(f"/api/viewer/list/{arn}"),
        "stage list": get("/api/stage/list"),
        "master info": get("/api/stage/master/info"),
    }


@pytest.fixture
def drill(tmp_path):
    with (
        embedded_redis(free_port()) as redis_server,
        scratch(
            tmp_path,
            REDIS_URL=redis_server.url,
            RATE_LIMIT_PER_MINUTE="100000",  # the limiter is on (it counts in Redis too), never limiting
            HEARTBEAT_TIMEOUT_SECONDS=str(TIMEOUT_SECONDS),
            CLEANUP_INTERVAL_SECONDS="1",
        ) as box,
        granian(box.env, tmp_path) as web,
    ):
        yield redis_server, box, web.url


def master_arn(base: str) -> str:
    return requests.get(base + "/api/stage/master/info", headers=API_KEY, timeout=10).json()["data"]["stage"]["arn"]


def test_redis_stopped_then_restarted_empty(drill):
    redis_server, box, base = drill
    arn = master_arn(base)
    for user in ("stays", "goes-away"):
        assert requests.post(base + "/api/token/viewer", json={"userId": user}, headers=API_KEY, timeout=10).ok
        assert requests.post(base + "/api/viewer/heartbeat", json={"userId": user, "stageArn": arn},
                             headers=API_KEY, timeout=10).ok  # fmt: skip
    box.manage("cleanup_viewers")  # the periodic flush: last heartbeats reach the database
    joined_before = {s["user"]: s["joined"] for s in box.sessions()}

    redis_server.stop()
    latencies, health = all_unavailable(base, api_calls(base, arn), within=FAST)
    services = health.json()["error"]["details"]["services"]
    assert health.status_code == 503
    assert (services["redis"], services["database"]) == ("disconnected", "connected")

    restarted_at = time.perf_counter()
    redis_server.start()  # same port, no data
    recovery = wait_for(lambda: requests.get(base + "/health", timeout=5).status_code == 200, timeout=15)
    first_ok = wait_for(lambda: api_calls(base, arn)["stage list"]().status_code == 200, timeout=15)
    # The first request after the restart reconnects: no back-off, no stale pool to wait out.
    assert recovery < FAST.recovery and first_ok < FAST.recovery, (recovery, first_ok)
    assert time.perf_counter() - restarted_at < 15

    # Presence is gone; the next heartbeat rebuilds it, on the viewer's existing session.
    assert (
        requests.get(base + f"/api/viewer/list/{arn}", headers=API_KEY, timeout=10).json()["data"]["totalViewers"] == 0
    )
    beat = requests.post(base + "/api/viewer/heartbeat", json={"userId": "stays", "stageArn": arn},
                         headers=API_KEY, timeout=10)  # fmt: skip
    listed = requests.get(base + f"/api/viewer/list/{arn}", headers=API_KEY, timeout=10).json()["data"]
    assert beat.status_code == 200
    assert [v["userId"] for v in listed["viewers"]] == ["stays"]

    # "goes-away" never comes back: once silent past the timeout, the cleanup closes its session.
    time.sleep(TIMEOUT_SECONDS + 0.5)
    requests.post(
        base + "/api/viewer/heartbeat", json={"userId": "stays", "stageArn": arn}, headers=API_KEY, timeout=10
    )
    box.manage("cleanup_viewers")
    rows = box.sessions()
    # One row each, counted as rows: a duplicate session would show here (nothing lost either).
    assert sorted(s["user"] for s in rows) == ["goes-away", "stays"], rows
    sessions = {s["user"]: s for s in rows}
    assert sessions["stays"]["left"] is None and sessions["stays"]["joined"] == joined_before["stays"]
    gone = sessions["goes-away"]
    assert (gone["reason"], gone["left"] is not None) == ("timeout", True)
    assert gone["watched"] >= 0

    record(
        "redis_stopped",
        answers="503 SERVICE_UNAVAILABLE envelopes",
        max_latency_seconds=max(latencies.values()),
        latency_seconds=latencies,
        health_redis="disconnected",
        recovery_seconds_after_restart=round(recovery, 3),
        first_api_success_seconds=round(first_ok, 3),
        sessions_open_after_cleanup=[u for u, s in sessions.items() if s["left"] is None],
    )


def test_redis_hung_answers_503_within_one_socket_timeout(drill):
    redis_server, _box, base = drill
    arn = master_arn(base)
    assert requests.post(base + "/api/token/viewer", json={"userId": "stays"}, headers=API_KEY, timeout=10).ok

    os.kill(redis_server.process.pid, signal.SIGSTOP)
    try:
        calls = api_calls(base, arn)
        latencies, health = all_unavailable(base, {n: calls[n] for n in ("heartbeat", "viewer token", "stage list")})
        assert health.status_code == 503
    finally:
        os.kill(redis_server.process.pid, signal.SIGCONT)
    # REDIS_SOCKET_TIMEOUT (1 s) bounds each wait; a request makes one Redis call before failing.
    assert all(0.9 <= seconds < 1.0 + FAST.each for seconds in latencies.values()), latencies
    recovery = wait_for(lambda: requests.get(base + "/health", timeout=5).status_code == 200, timeout=10)
    assert recovery < FAST.recovery, recovery
    record(
        "redis_hung",
        answers="503 SERVICE_UNAVAILABLE envelopes",
        max_latency_seconds=max(latencies.values()),
        latency_seconds=latencies,
        recovery_seconds_after_sigcont=round(recovery, 3),
    )
