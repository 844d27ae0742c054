"""Real server processes for the slow and browser tests: daphne (HTTP + /ws) on a free port against a
temporary SQLite file and the test run's Redis, so several processes share one channel layer."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings

from ivsproject.devtools.embedded_redis import free_port

ROOT = Path(__file__).resolve().parents[2]


def server_env(db_file: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "DJANGO_SETTINGS_MODULE"))}
    for name in ("API_SECRET_KEY", "SKIP_AUTH", "IVS_MASTER_STAGE_ARN", "DATABASE_URL"):
        env.pop(name, None)  # dev defaults: API key "dev-api-key", emulator master stage
    env.update(
        DATABASE_URL=f"sqlite:///{db_file}",
        REDIS_URL=settings.REDIS_URL,
        ENVIRONMENT="development",
        IVS_BACKEND="emulator",
        DEBUG="false",
        PYTHONUNBUFFERED="1",
        # Belt and braces: the emulator answers every IVS call, but nothing may ever reach AWS.
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
    )
    return env


def manage(db_file: Path, *args: str, timeout: float = 120) -> str:
    result = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        cwd=ROOT,
        env=server_env(db_file),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def migrated_copy(template: Path, target_dir: Path) -> Path:
    target = target_dir / "server.sqlite3"
    shutil.copyfile(template, target)
    return target


class Daphne:
    def __init__(self, db_file: Path, log_file: Path):
        self.port = free_port()
        self.log_file = log_file
        self._log = log_file.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), "ivsproject.asgi:application"],
            cwd=ROOT,
            env=server_env(db_file),
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 30.0) -> Daphne:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"daphne exited early:\n{self.log()}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return self
            time.sleep(0.1)
        raise RuntimeError(f"daphne did not listen on {self.port} within {timeout}s:\n{self.log()}")

    def log(self) -> str:
        self._log.flush()
        return self.log_file.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()


@contextlib.contextmanager
def daphne_servers(db_file: Path, log_dir: Path, count: int) -> Iterator[list[Daphne]]:
    servers: list[Daphne] = []
    try:
        for i in range(count):
            servers.append(Daphne(db_file, log_dir / f"daphne-{i}.log"))
        for server in servers:
            server.wait_ready()
        yield servers
    finally:
        for server in servers:
            server.stop()
