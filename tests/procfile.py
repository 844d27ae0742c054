"""The production processes exactly as `Procfile` starts them (granian, daphne, Celery worker and beat),
under production settings, on a scratch database and the test run's Redis, with their output kept."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import requests

from deploy.procfile import procfile_commands
from tests.processes import ROOT, free_port, manage, process_env, scratch_database

SECRET_KEY = "p" * 64


def production_env(database_url: str, **extra: str) -> dict[str, str]:
    env = process_env(
        database_url,
        ENVIRONMENT="production",
        DJANGO_SECRET_KEY=SECRET_KEY,
        SECURE_COOKIES="false",
        IVS_BACKEND="emulator",
        PATH=f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        WEB_CONCURRENCY="1",
        CELERY_CONCURRENCY="1",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
    )
    env.pop("LOG_FORMAT", None)
    env.pop("LOG_LEVEL", None)
    env.update(extra)
    return env


@contextlib.contextmanager
def migrated_database(tmp_path: Path) -> Iterator[str]:
    with scratch_database(tmp_path) as url:
        manage(production_env(url), "migrate", "--noinput")
        yield url


@dataclass
class Running:
    kind: str
    process: subprocess.Popen
    stdout_path: Path
    stderr_path: Path
    port: int | None = None
    extra: dict = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> tuple[str, str]:
        return self.stdout_path.read_text(errors="replace"), self.stderr_path.read_text(errors="replace")

    def wait_http(self, path: str = "/livez", timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.kind} exited with {self.process.returncode}: {self.output()}")
            with contextlib.suppress(requests.RequestException):
                requests.get(self.base_url + path, timeout=1)
                return
            time.sleep(0.1)
        raise RuntimeError(f"{self.kind} did not serve within {timeout} s: {self.output()}")

    def wait_output(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in "".join(self.output()):
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError(f"{self.kind}: {text!r} not seen: {self.output()}")

    def stop(self, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
            raise


@contextlib.contextmanager
def procfile_process(kind: str, env: dict[str, str], **extra_env: str) -> Iterator[Running]:
    """Start the Procfile's `kind` line (through `sh -c`, as honcho or a container would)."""
    port = free_port()
    env = {**env, "WEB_PORT": str(port), "WS_PORT": str(port), "WS2_PORT": str(port), **extra_env}
    workdir = Path(tempfile.mkdtemp(prefix=f"procfile-{kind}-"))
    env.setdefault("CELERY_BEAT_SCHEDULE_FILE", str(workdir / "celerybeat-schedule"))
    stdout_path, stderr_path = workdir / "stdout", workdir / "stderr"
    with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
        process = subprocess.Popen(["sh", "-c", procfile_commands()[kind]], env=env, cwd=ROOT, stdout=stdout,
                                   stderr=stderr)  # fmt: skip
    running = Running(kind, process, stdout_path, stderr_path, port if kind in ("web", "ws", "ws2") else None)
    try:
        yield running
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
