"""Server processes of a bench run, started from the production Procfile's own command lines.

Each server runs in its own process group (session); stopping it signals that group only —
never anything this run did not start.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import requests

from bench.env import ROOT, BenchEnv, free_port
from deploy.procfile import procfile_command, web_workers_serving

PEER_DIR = ROOT / "bench" / "peer"

# The alternative WSGI server of the comparison row: README's former production command.
GUNICORN = (
    'gunicorn ivsproject.wsgi:application -k gthread --workers "$WEB_CONCURRENCY" --threads 8 '
    '--bind "$HOST:$WEB_PORT" --log-level warning'
)


@dataclass
class Server:
    name: str
    command: str
    port: int
    process: subprocess.Popen
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def tree(self) -> list[psutil.Process]:
        try:
            root = psutil.Process(self.process.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def rss_mb(self) -> list[dict]:
        """RSS of each server process (the shell wrapper excluded); role `worker` for the processes
        that serve requests (leaves of the tree), `supervisor` for their parents."""
        procs = [p for p in self.tree() if _name(p) not in ("sh", "bash")]
        pids = {p.pid for p in procs}
        rows = []
        for proc in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                has_children = any(c.pid in pids for c in proc.children())
                rows.append(
                    {
                        "pid": proc.pid,
                        "role": "supervisor" if has_children else "worker",
                        "rss_mb": round(proc.memory_info().rss / 2**20, 1),
                    }
                )
        return rows

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)
        # Workers that outlived their parent in the same group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)


def _name(proc: psutil.Process) -> str:
    try:
        return proc.name()
    except psutil.Error:
        return ""


def start(
    env: BenchEnv,
    name: str,
    command: str,
    *,
    extra_env: dict[str, str] | None = None,
    port: int = 0,
    cwd: Path = ROOT,
    health: str = "/health",
    timeout: float = 60,
) -> Server:
    port = port or free_port()
    server_env = env.server_env(HOST="127.0.0.1", WEB_PORT=str(port), WS_PORT=str(port), PORT=str(port))
    server_env.update(extra_env or {})
    log = env.workdir / f"{name}-{port}.log"
    handle = log.open("wb")
    process = subprocess.Popen(
        ["sh", "-c", command], env=server_env, cwd=cwd, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
    )
    server = Server(name=name, command=command, port=port, process=process, log=log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(server.url + health, timeout=2).status_code < 500 and _all_workers_serving(log):
                return server
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"{name} did not answer on {server.url}{health} within {timeout} s:\n{log.read_text()[-3000:]}")


def _all_workers_serving(log: Path) -> bool:
    """granian answers once its first worker serves; measure only when all of them do (a server
    that logs no granian worker lines, gunicorn, is ready when it answers)."""
    text = log.read_text(errors="replace")
    return "Spawning worker-" not in text or web_workers_serving(text)


@contextlib.contextmanager
def running(env: BenchEnv, name: str, command: str, **kwargs) -> Iterator[Server]:  # type: ignore[no-untyped-def]
    server = start(env, name, command, **kwargs)
    try:
        yield server
    finally:
        server.stop()


def web_command() -> str:
    return procfile_command("web")


@dataclass
class RssSampler:
    """Samples a server's per-process RSS in the background (the peak under load)."""

    server: Server
    interval: float = 0.5
    peak: dict[int, dict] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> RssSampler:
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.is_set():
            for row in self.server.rss_mb():
                best = self.peak.get(row["pid"])
                if best is None or row["rss_mb"] > best["rss_mb"]:
                    self.peak[row["pid"]] = row
            self._stop.wait(self.interval)


class ForeignLoad:
    """CPU used by processes this run did not start (other sessions, CI) while a row ran, in cores:
    the machine's busy time minus ours (this process, its children — reaped ones like wrk
    included — and the shared Redis and PostgreSQL servers, which the bench drives)."""

    SHARED = ("redis-server", "postgres")

    def __enter__(self) -> ForeignLoad:
        self.started = time.monotonic()
        self.before = self._snapshot()
        return self

    def __exit__(self, *exc: object) -> None:
        after = self._snapshot()
        elapsed = max(time.monotonic() - self.started, 1e-6)
        # Where our CPU went, by process kind (web workers, postgres, redis-server, the load
        # generator, this process): the "profile, fix the cause" split. A process started
        # during the run counts from zero.
        self.by_kind: dict[str, float] = {"bench": after["self"] - self.before["self"]}
        for pid, cpu in after["procs"].items():
            kind = after["kinds"][pid]
            self.by_kind[kind] = self.by_kind.get(kind, 0.0) + cpu - self.before["procs"].get(pid, 0.0)
        busy = after["busy"] - self.before["busy"]
        self.cores = round(max(busy - sum(self.by_kind.values()), 0.0) / elapsed, 2)

    def _snapshot(self) -> dict:
        times = psutil.cpu_times()
        busy = sum(times) - times.idle - getattr(times, "iowait", 0.0)
        own = os.times()
        procs = {}
        kinds = {}
        candidates: list[psutil.Process] = []
        with contextlib.suppress(psutil.Error):
            candidates = psutil.Process().children(recursive=True)
        for proc in psutil.process_iter(["name"]):
            if (proc.info["name"] or "").startswith(self.SHARED):
                candidates.append(proc)
        for proc in candidates:
            with contextlib.suppress(psutil.Error):
                kind, cpu = _kind_of(proc), proc.cpu_times()
                procs[proc.pid] = cpu.user + cpu.system
                kinds[proc.pid] = kind
        return {
            "busy": busy,
            "self": own.user + own.system + own.children_user + own.children_system,
            "procs": procs,
            "kinds": kinds,
        }


def _kind_of(proc: psutil.Process) -> str:
    name = proc.name()
    for shared in ForeignLoad.SHARED:
        if name.startswith(shared):
            return shared
    if name in ("wrk", "node"):
        return name
    return "web" if any("granian" in part or "gunicorn" in part for part in proc.cmdline()[:3]) else name
