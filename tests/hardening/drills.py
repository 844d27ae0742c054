"""Plumbing for the failure drills that run real processes (on top of tests/processes.py).

Each drill gets a scratch database (SQLite file, or a fresh PostgreSQL database when DATABASE_URL
points at PostgreSQL), migrated, with a master stage; measured results are appended to
`test-artifacts/hardening/drills.json` so docs/operations.md "Failure drills" can quote real numbers.

The servers are the production ones, started from the Procfile's own lines: granian serving
`ivsproject.wsgi:application` (the WSGI fast path on), daphne with `websocket_application`, and
nginx from deploy/nginx.conf in front (`production_front`).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from deploy import nginx_conf
from deploy.procfile import procfile_command, web_workers_serving
from tests.processes import ROOT, free_port, manage, process_env, scratch_database

ARTIFACTS = ROOT / "test-artifacts" / "hardening"
API_KEY = {"x-api-key": "test-key"}


@dataclass(frozen=True)
class Bounds:
    """What a drill holds a failing dependency's answers to (docs/operations.md "Failure drills").

    The measured figures are a few milliseconds (~0.005-0.015 s) for a 503 and for the first
    answer after a recovery; the bounds leave room for a loaded 2-core machine and still fail
    when those answers get ten times slower.
    """

    median: float  # the median over the endpoints asked
    each: float  # any single answer (one slow outlier on a busy machine is tolerated up to this)
    recovery: float  # from the dependency's return to the first good answer


FAST = Bounds(median=0.05, each=0.25, recovery=0.1)


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


def wait_for(predicate: Callable[[], bool], *, timeout: float, interval: float = 0.002) -> float:
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
    base: str, calls: dict[str, Callable[[], requests.Response]], *, within: Bounds | None = None
) -> tuple[dict[str, float], requests.Response]:
    """Every call answers 503 SERVICE_UNAVAILABLE, then /health is asked; with `within`, every
    answer (/health's too) within `within.each` and their median within `within.median`.
    Returns the rounded seconds per call and for /health, and /health's answer."""
    latencies = {}
    for name, call in calls.items():
        response, seconds = timed(call)
        latencies[name] = round(seconds, 4)
        assert (response.status_code, error_code(response)) == (503, "SERVICE_UNAVAILABLE"), (name, response.text)
    health, seconds = timed(lambda: requests.get(base + "/health", timeout=10))
    latencies["health"] = round(seconds, 4)
    if within is not None:
        assert max(latencies.values()) < within.each, latencies
        assert statistics.median(latencies.values()) < within.median, latencies
    return latencies, health


def error_code(response: requests.Response) -> str | None:
    try:
        return str(response.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return None


# --- the production servers ----------------------------------------------------------------------
@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen
    log_path: Path
    _log: Any = field(repr=False, default=None)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def stop(self) -> None:
        """Stop this server and whatever it started (its own process group), nothing else."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=15)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        if self._log is not None:
            self._log.close()


def start(name: str, argv: list[str], env: dict[str, str], port: int, log_dir: Path, *, ready: str | None = "/health",
          ready_log: Callable[[str], bool] | None = None, timeout: float = 60) -> Server:  # fmt: skip
    """Start `argv` in its own session; wait until `ready` answers (anything below 500) and, when
    given, `ready_log` holds for the process's output so far."""
    log_path = log_dir / f"{name}-{port}.log"
    handle = log_path.open("wb")
    process = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
    server = Server(name, port, process, log_path, handle)
    deadline = time.monotonic() + timeout
    while ready is not None:
        if process.poll() is not None:
            server.stop()
            raise RuntimeError(f"{name} exited with {process.returncode}:\n{server.log()[-3000:]}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(server.url + ready, timeout=2).status_code < 500 and (
                ready_log is None or ready_log(server.log())
            ):
                break
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"{name} was not ready on {server.url}{ready}:\n{server.log()[-3000:]}")
        time.sleep(0.1)
    return server


def start_procfile(
    name: str, env: dict[str, str], log_dir: Path, *, ready_log: Callable[[str], bool] | None = None, **extra: str
) -> Server:
    """The Procfile's `name` line (through `sh -c`, as a process manager runs it) on a free port."""
    port = free_port()
    ports = {"web": "WEB_PORT", "ws": "WS_PORT", "ws2": "WS2_PORT"}
    path = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])  # granian, daphne
    server_env = {**env, "PATH": path, "HOST": "127.0.0.1", ports[name]: str(port), **extra}
    return start(name, ["sh", "-c", procfile_command(name)], server_env, port, log_dir, ready_log=ready_log)


def start_web(env: dict[str, str], log_dir: Path, *, workers: int, threads: int = 8) -> Server:
    """The Procfile's `web` (granian), returned once every worker serves, not just the first to answer
    /health: a worker still importing the app accepts no connection, so the others would take them all."""
    return start_procfile(
        "web", env, log_dir, ready_log=web_workers_serving, WEB_CONCURRENCY=str(workers), WEB_THREADS=str(threads)
    )


@contextlib.contextmanager
def granian(env: dict[str, str], log_dir: Path, *, workers: int = 1, threads: int = 8) -> Iterator[Server]:
    """The Procfile's `web`: granian serving ivsproject.wsgi:application, fast path and all."""
    server = start_web(env, log_dir, workers=workers, threads=threads)
    try:
        yield server
    finally:
        server.stop()


def production_env(env: dict[str, str], **extra: str) -> dict[str, str]:
    """`env` as production runs: ENVIRONMENT=production behind one trusted proxy (nginx)."""
    return {
        **env,
        "ENVIRONMENT": "production",
        "DJANGO_SECRET_KEY": "drill-" + "s" * 50,
        "SECURE_COOKIES": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "TRUSTED_PROXY_COUNT": "1",
        "LOG_LEVEL": "INFO",
        **extra,
    }


@dataclass
class Front:
    url: str  # nginx: the one public port
    web: Server
    ws: list[Server]
    nginx: Server

    @property
    def port(self) -> int:
        return self.nginx.port


def nginx_or_skip() -> str:
    binary = nginx_conf.nginx_binary()
    if binary is None:
        pytest.skip("nginx is not installed (Debian package nginx; .ci/run installs it)")
    return binary


@contextlib.contextmanager
def production_front(env: dict[str, str], log_dir: Path, *, workers: int = 2, ws_processes: int = 1) -> Iterator[Front]:
    """granian and daphne from the Procfile, nginx from deploy/nginx.conf in front of both."""
    binary = nginx_or_skip()
    started: list[Server] = []
    try:
        web = start_web(env, log_dir, workers=workers)
        started.append(web)
        ws = [start_procfile("ws", env, log_dir) for _ in range(ws_processes)]
        started += ws
        port = free_port()
        prefix = log_dir / f"nginx-{port}"
        config = nginx_conf.write(
            f"127.0.0.1:{port}", {"ivs_http": [f"127.0.0.1:{web.port}"], "ivs_ws": [f"127.0.0.1:{s.port}" for s in ws]},
            prefix,
        )  # fmt: skip
        nginx = start("nginx", [binary, "-p", str(prefix), "-c", str(config)], env, port, log_dir)
        started.append(nginx)
        yield Front(f"http://127.0.0.1:{port}", web, ws, nginx)
    finally:
        for server in reversed(started):
            server.stop()
