"""Drill: the database goes away under a running web process, then comes back.

The production web server (granian from the Procfile, fast path on) on a scratch database. The
outage is real for either backend the suite runs on:
- PostgreSQL: the database is renamed away (its connections terminated first), so every
  connection attempt fails as "database does not exist"; renamed back afterwards;
- SQLite: the database file is moved away and a directory put in its place, so opening it fails;
  moved back afterwards.
While it is down, database-backed endpoints answer 503 SERVICE_UNAVAILABLE envelopes in a few
milliseconds (bounds: tests/hardening/drills.py FAST) (the
stage list, read from the Redis-checked stage registry copy, keeps answering), and /health reports
`database: disconnected` (Redis still connected); afterwards the same process serves again without
a restart, and nothing written before the outage is lost.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.hardening.drills import API_KEY, FAST, all_unavailable, granian, record, scratch, wait_for

pytestmark = pytest.mark.slow


@contextlib.contextmanager
def database_down(database_url: str) -> Iterator[None]:
    if database_url.startswith(("postgres://", "postgresql://")):
        import psycopg

        base, name = database_url.rsplit("/", 1)
        admin = base + "/postgres"
        parked = f"{name}_down"

        def rename(old: str, new: str) -> None:
            with psycopg.connect(admin, autocommit=True) as conn:
                for _ in range(50):  # a worker may reconnect between terminate and rename: retry
                    conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (old,))
                    try:
                        conn.execute(f'ALTER DATABASE "{old}" RENAME TO "{new}"')
                        return
                    except psycopg.errors.ObjectInUse:
                        time.sleep(0.05)
                raise AssertionError(f"could not rename {old}")

        rename(name, parked)
        try:
            yield
        finally:
            rename(parked, name)
    else:
        path = Path(database_url.removeprefix("sqlite:///"))
        parked_file = path.with_suffix(".down")
        shutil.move(path, parked_file)
        path.mkdir()  # "unable to open database file", not a fresh empty database
        try:
            yield
        finally:
            path.rmdir()
            shutil.move(parked_file, path)


def test_database_down_then_back(tmp_path):
    with scratch(tmp_path) as box, granian(box.env, tmp_path) as web:
        base = web.url
        arn = requests.get(base + "/api/stage/master/info", headers=API_KEY, timeout=10).json()["data"]["stage"]["arn"]
        assert requests.post(base + "/api/token/viewer", json={"userId": "before"}, headers=API_KEY, timeout=10).ok
        listed = requests.get(base + "/api/stage/list", headers=API_KEY, timeout=10).json()["data"]

        calls = {
            "master info": lambda: requests.get(base + "/api/stage/master/info", headers=API_KEY, timeout=10),
            "viewer token": lambda: requests.post(
                base + "/api/token/viewer", json={"userId": "during"}, headers=API_KEY, timeout=10
            ),
            "create stage": lambda: requests.post(base + "/api/stage", json={"name": "x"}, headers=API_KEY, timeout=10),
            "duration": lambda: requests.get(
                base + "/api/viewer/duration", params={"userId": "before", "stageArn": arn}, headers=API_KEY, timeout=10
            ),
        }
        with database_down(box.database_url):
            latencies, health = all_unavailable(base, calls, within=FAST)
            services = health.json()["error"]["details"]["services"]
            assert health.status_code == 503
            assert (services["database"], services["redis"]) == ("disconnected", "connected")
            # Heartbeats of tracked viewers touch Redis only: they may keep working; never a 500.
            beat = requests.post(base + "/api/viewer/heartbeat", json={"userId": "before", "stageArn": arn},
                                 headers=API_KEY, timeout=10)  # fmt: skip
            assert beat.status_code in (200, 503), beat.text
            # The stage list reads this process's stage registry copy, which the registry generation
            # in Redis still confirms (no stage change can commit while the database is away): it
            # keeps answering — the same stages, live counts — until the copy's 60 s age limit.
            during = requests.get(base + "/api/stage/list", headers=API_KEY, timeout=10)
            assert during.status_code == 200, during.text
            assert during.json()["data"] == listed

        recovery = wait_for(lambda: requests.get(base + "/health", timeout=5).status_code == 200, timeout=15)
        assert recovery < FAST.recovery, recovery
        after = requests.post(base + "/api/token/viewer", json={"userId": "after"}, headers=API_KEY, timeout=10)
        assert after.status_code == 200, after.text
        # Counted as rows: one session each for "before" and "after", none for "during".
        assert sorted(s["user"] for s in box.sessions()) == ["after", "before"]

    backend = "postgresql" if box.database_url.startswith("postgres") else "sqlite"
    record(
        f"database_down_{backend}",
        backend=backend,
        answers="503 SERVICE_UNAVAILABLE envelopes",
        max_latency_seconds=max(latencies.values()),
        latency_seconds=latencies,
        health_database="disconnected",
        heartbeat_during_outage=beat.status_code,
        recovery_seconds=round(recovery, 3),
    )
