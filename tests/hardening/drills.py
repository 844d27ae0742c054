"""Plumbing for the failure drills that run real processes (on top of tests/processes.py).

Each drill gets a scratch database (SQLite file, or a fresh PostgreSQL database when DATABASE_URL
points at PostgreSQL), migrated, with a master stage; measured results are appended to
`test-artifacts/hardening/drills.json` so the README's Reliability section can quote real numbers.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from tests.processes import ROOT, manage, process_env, scratch_database

ARTIFACTS = ROOT / "test-artifacts" / "hardening"
API_KEY = {"x-api-key": "test-key"}


@dataclass
class Scratch:
    database_url: str
    env: dict[str, str]

    def manage(self, *args: str) -> str:
        return manage(self.env, *args)

    def query(self, code: str) -> Any:
        """Run Python in a Django shell against the scratch database; `code` must print one JSON line."""
        out = subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), "shell", "-c", code],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout.strip().splitlines()[-1])

    def sessions(self) -> list[dict[str, Any]]:
        return self.query(
            "import json; from viewers.models import ViewerSession as S; print(json.dumps(["
            "{'user': s.user_id, 'joined': s.joined_at.isoformat(), 'left': s.left_at and s.left_at.isoformat(),"
            " 'reason': s.leave_reason, 'watched': s.watched_seconds, 'stage': s.stage.arn}"
            " for s in S.objects.select_related('stage').order_by('id')]))"
        )


@contextlib.contextmanager
def scratch(tmp_path: Path, **extra_env: str) -> Iterator[Scratch]:
    with scratch_database(tmp_path) as database_url:
        env = process_env(database_url, **extra_env)
        box = Scratch(database_url, env)
        box.manage("migrate", "--noinput")
        box.manage("ensure_master_stage")
        yield box


def timed(call: Callable[[], requests.Response]) -> tuple[requests.Response, float]:
    started = time.perf_counter()
    response = call()
    return response, time.perf_counter() - started


def wait_for(predicate: Callable[[], bool], *, timeout: float, interval: float = 0.05) -> float:
    """Seconds until `predicate()` held (raises after `timeout`)."""
    started = time.perf_counter()
    while True:
        with contextlib.suppress(requests.RequestException):
            if predicate():
                return time.perf_counter() - started
        if time.perf_counter() - started > timeout:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


def record(drill: str, **measured: Any) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / "drills.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data[drill] = measured
    path.write_text(json.dumps(data, indent=2, sort_keys=True))


def all_unavailable(
    base: str, calls: dict[str, Callable[[], requests.Response]], *, within: float | None = None
) -> tuple[dict[str, float], requests.Response]:
    """Every call answers 503 SERVICE_UNAVAILABLE (each in less than `within` seconds, if given);
    then /health is asked. Returns the rounded seconds per call and for /health, and /health's answer."""
    latencies = {}
    for name, call in calls.items():
        response, seconds = timed(call)
        latencies[name] = round(seconds, 3)
        assert (response.status_code, error_code(response)) == (503, "SERVICE_UNAVAILABLE"), (name, response.text)
        assert within is None or seconds < within, (name, seconds)
    health, seconds = timed(lambda: requests.get(base + "/health", timeout=10))
    latencies["health"] = round(seconds, 3)
    assert within is None or seconds < within, ("health", seconds)
    return latencies, health


def error_code(response: requests.Response) -> str | None:
    try:
        return str(response.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return None
