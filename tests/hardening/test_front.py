"""The production front, replayed from outside against real processes: nginx from deploy/nginx.conf,
granian and daphne from the Procfile's own lines, ENVIRONMENT=production, TRUSTED_PROXY_COUNT=1.

- Slow clients: bodies that stop arriving wait in nginx (it buffers every body before granian sees
  it), so 64 of them leave /health, heartbeats and viewer tokens answering within 1 s; straight at
  granian they hold at most two threads per worker (ivsproject/api/slowbody.py) and the server
  degrades instead of hanging. Stalled *headers* straight at granian hold no thread and are cut off
  after the Procfile's header read timeout.
- daphne serves WebSockets only: HTTP there is a 404 envelope, and its client address follows
  TRUSTED_PROXY_COUNT like every other process (a forged X-Forwarded-For is not believed).
- Header names with "_" never pass nginx: granian would read `x_api_key` as `x-api-key` and
  `X_Forwarded_For` as `X-Forwarded-For`.
- nginx keeps few idle upstream connections, so a burst over a granian worker's connection slots
  waits for one request, not for idle connections to be dropped.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import select
import socket
import statistics
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from deploy.procfile import procfile_command
from ivsproject.api import throttling
from ivsproject.api.slowbody import READERS_PER_WORKER, SLOT_WAIT_SECONDS
from ivsproject.devtools.embedded_redis import embedded_redis
from tests.hardening.drills import (
    API_KEY,
    Front,
    Server,
    granian,
    production_env,
    production_front,
    record,
    scratch,
    start_procfile,
    timed,
)
from tests.hardening.helpers import envelope_error, http_request, raw_http
from tests.processes import free_port

pytestmark = pytest.mark.slow

STALLED = 64
WORKERS = 2  # straight at granian: the Procfile's two workers
DECLARED = 60_000  # under API_MAX_BODY_BYTES: a body the app would read


@pytest.fixture(scope="module")
def box(tmp_path_factory):
    # Its own Redis: the suite's is flushed between tests, and this front outlives one test.
    tmp = tmp_path_factory.mktemp("front")
    with embedded_redis(free_port()) as redis_server, scratch(tmp, REDIS_URL=redis_server.url) as scratch_box:
        yield scratch_box, tmp


@pytest.fixture(scope="module")
def front(box) -> Iterator[Front]:
    scratch_box, tmp = box
    with production_front(production_env(scratch_box.env), tmp) as running:
        yield running


def stalled_body(port: int, path: str, headers: list[tuple[str, str]]) -> socket.socket:
    """A POST that declares DECLARED bytes, sends two, and then nothing: the socket stays open."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    head = http_request("POST", path, [*headers, ("Content-Length", str(DECLARED))])
    sock.sendall(head.replace(b"Connection: close\r\n", b"") + b"ab")
    return sock


@contextlib.contextmanager
def stalled_flood(port: int, count: int = STALLED) -> Iterator[list[socket.socket]]:
    form = ("Content-Type", "application/x-www-form-urlencoded")
    cookie = ("Cookie", "csrftoken=" + "a" * 32)  # so the admin's CSRF check reads the body
    json_type = ("Content-Type", "application/json")
    socks = []
    try:
        for n in range(count):
            if n % 2:
                socks.append(stalled_body(port, "/admin/login/", [form, cookie]))
            else:
                socks.append(stalled_body(port, "/api/token/viewer", [json_type, ("x-api-key", "test-key")]))
        time.sleep(0.5)  # every one of them has reached whatever reads it
        yield socks
    finally:
        for sock in socks:
            sock.close()


def status_of(sock: socket.socket) -> int:
    """The status code of the answer waiting on a stalled request's socket."""
    head = sock.recv(64)
    return int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/1.") else 0


def hot_calls(base: str, arn: str) -> dict[str, requests.Response]:
    def post(path: str, body: dict) -> requests.Response:
        return requests.post(base + path, json=body, headers=API_KEY, timeout=5)

    return {
        "health": lambda: requests.get(base + "/health", timeout=5),
        "heartbeat": lambda: post("/api/viewer/heartbeat", {"userId": "steady", "stageArn": arn}),
        "viewer token": lambda: post("/api/token/viewer", {"userId": f"late-{time.monotonic_ns()}"}),
    }


def master_arn(base: str) -> str:
    answer = requests.get(base + "/api/stage/master/info", headers=API_KEY, timeout=10)
    return answer.json()["data"]["stage"]["arn"]


def test_stalled_bodies_wait_in_nginx_while_the_api_answers_within_a_second(front):
    arn = master_arn(front.url)
    requests.post(front.url + "/api/token/viewer", json={"userId": "steady"}, headers=API_KEY, timeout=10)
    latencies: dict[str, float] = {}
    with stalled_flood(front.port):
        # Several rounds, the stalled clients' bodies still pending all along.
        for round_ in range(3):
            for name, call in hot_calls(front.url, arn).items():
                response, seconds = timed(call)
                assert response.status_code == 200, (name, response.status_code, response.text[:300])
                assert seconds < 1.0, (name, seconds)
                latencies[f"{name} #{round_ + 1}"] = round(seconds, 3)
            time.sleep(0.3)
    record("stalled_bodies_through_nginx", stalled=STALLED, max_latency_seconds=max(latencies.values()),
           latency_seconds=latencies)  # fmt: skip


def test_stalled_bodies_straight_at_granian_hold_two_threads_per_worker_not_the_server(box):
    """A granian port reached without nginx (a misconfigured exposure): degraded, never down."""
    scratch_box, tmp = box
    env = production_env(scratch_box.env, TRUSTED_PROXY_COUNT="0")
    with granian(env, tmp, workers=WORKERS) as web:
        arn = master_arn(web.url)
        with stalled_flood(web.port) as socks:
            # The flood's own requests beyond the reader slots are refused one slot wait (1 s) each,
            # six threads per worker at a time (however the kernel spread the connections over the
            # workers). Once no answer has come for longer than a slot wait, the queue is empty and
            # the requests still pending are the stalls that hold a slot: at most two per worker.
            held = WORKERS * READERS_PER_WORKER
            started = last_answer = time.perf_counter()
            pending = list(socks)
            while time.perf_counter() - started < 30 and (
                len(pending) > held or time.perf_counter() - last_answer < 1.5 * SLOT_WAIT_SECONDS
            ):
                readable, _w, _x = select.select(pending, [], [], 0.1)
                if readable:
                    pending, last_answer = [sock for sock in pending if sock not in readable], time.perf_counter()
            drained = last_answer - started
            answered = [sock for sock in socks if sock not in pending]
            assert 0 < len(pending) <= held, f"{len(pending)} stalled requests still pending after {drained:.1f} s"
            assert {status_of(sock) for sock in answered} == {503}
            # Now, every stalled body still pending: a request without a body answers at once, and
            # one with a body never hangs: served if its worker has a slot the stalls left free,
            # else refused after one slot wait.
            health, health_seconds = timed(lambda: requests.get(web.url + "/health", timeout=5))
            assert health.status_code == 200 and health_seconds < 0.5, health_seconds
            body = {"userId": "steady", "stageArn": arn}
            beat, seconds = timed(
                lambda: requests.post(web.url + "/api/viewer/heartbeat", headers=API_KEY, json=body, timeout=5)
            )
            if beat.status_code == 503:
                assert envelope_error(503, beat.content)["code"] == "SERVICE_UNAVAILABLE"
                assert SLOT_WAIT_SECONDS <= seconds < 2 * SLOT_WAIT_SECONDS, seconds
            else:
                assert beat.status_code == 200 and len(pending) < held and seconds < 0.5, (beat.status_code, seconds)
        # The stalled clients gone, everything is served again.
        after = requests.post(web.url + "/api/token/viewer", json={"userId": "after"}, headers=API_KEY, timeout=10)
        assert after.status_code == 200, after.text
    record("stalled_bodies_straight_at_granian", stalled=STALLED, flood_refused_after_seconds=round(drained, 2),
           still_pending=len(pending), body_request=beat.status_code, body_request_seconds=round(seconds, 3),
           health_seconds=round(health_seconds, 3))  # fmt: skip


def procfile_header_read_timeout() -> float:
    """The web line's --http1-header-read-timeout, in seconds."""
    match = re.search(r"--http1-header-read-timeout (\d+)", procfile_command("web"))
    assert match, "the Procfile's web line sets no header read timeout"
    return int(match.group(1)) / 1000


def test_stalled_headers_straight_at_granian_hold_no_thread_and_are_cut_off(box):
    """Headers that stop arriving (slowloris) reach no Python thread: granian reads headers itself
    and closes such a connection after the Procfile's header read timeout, meanwhile the API
    answers at once."""
    scratch_box, tmp = box
    timeout = procfile_header_read_timeout()
    env = production_env(scratch_box.env, TRUSTED_PROXY_COUNT="0")
    with granian(env, tmp, workers=WORKERS) as web:
        for user_id in ("warm-1", "warm-2"):  # each worker's first request loads what it lazily imports
            requests.post(web.url + "/api/token/viewer", json={"userId": user_id}, headers=API_KEY, timeout=10)
        socks = []
        try:
            started = time.perf_counter()
            for _ in range(STALLED):
                sock = socket.create_connection(("127.0.0.1", web.port), timeout=5)
                sock.sendall(b"POST /api/token/viewer HTTP/1.1\r\nHost: 127.0.0.1\r\nx-api-key: test-key\r\nX-Slow: ")
                socks.append(sock)
            time.sleep(0.5)
            health, health_seconds = timed(lambda: requests.get(web.url + "/health", timeout=5))
            assert health.status_code == 200 and health_seconds < 1.0, health_seconds
            token, token_seconds = timed(
                lambda: requests.post(web.url + "/api/token/viewer", json={"userId": "v"}, headers=API_KEY, timeout=5)
            )
            assert token.status_code == 200 and token_seconds < 1.0, (token.status_code, token_seconds)
            # Each stalled connection is closed (with or without a 408) once its headers are overdue.
            pending = list(socks)
            while pending and time.perf_counter() - started < timeout + 10:
                readable, _w, _x = select.select(pending, [], [], 0.2)
                for sock in readable:
                    answer = sock.recv(64)
                    assert answer == b"" or answer.startswith(b"HTTP/1.1 408"), answer
                    pending.remove(sock)
            cut_off = time.perf_counter() - started
        finally:
            for sock in socks:
                sock.close()
    assert not pending, f"{len(pending)} stalled headers still open after {cut_off:.1f} s"
    assert timeout - 1 <= cut_off <= timeout + 10, cut_off
    record("stalled_headers_straight_at_granian", stalled=STALLED, header_read_timeout_seconds=timeout,
           all_cut_off_after_seconds=round(cut_off, 2), health_seconds=round(health_seconds, 3),
           viewer_token_seconds=round(token_seconds, 3))  # fmt: skip


# --- daphne: WebSockets only, one client-address rule ---------------------------------------------
def test_daphne_answers_http_with_a_404_envelope(front):
    ws = front.ws[0]
    asked = [
        requests.get(ws.url + "/health", timeout=5),
        requests.post(ws.url + "/api/token/viewer", json={"userId": "x"}, headers=API_KEY, timeout=5),
        requests.post(ws.url + "/admin/login/", data={"username": "a", "password": "b"}, timeout=5),
        requests.get(ws.url + "/ws", timeout=5),  # the WebSocket path, but plain HTTP
        requests.get(front.url + "/ws", timeout=5),  # the same through nginx
    ]
    for answer in asked:
        assert answer.status_code == 404, (answer.url, answer.status_code, answer.text[:200])
        assert envelope_error(404, answer.content)["code"] == "NOT_FOUND"
    english = requests.get(ws.url + "/health", headers={"Accept-Language": "en"}, timeout=5)
    assert envelope_error(404, english.content)["message"] != envelope_error(404, asked[0].content)["message"]
    # …while the WebSocket is served, through the one public port.
    status, _headers = websocket_handshake(front.port, origin=None)
    assert status == 101


def websocket_handshake(port: int, *, origin: str | None, forwarded_for: str | None = None) -> tuple[int, str]:
    key = base64.b64encode(os.urandom(16)).decode()
    headers = [("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Key", key),
               ("Sec-WebSocket-Version", "13")]  # fmt: skip
    if origin:
        headers.append(("Origin", origin))
    if forwarded_for:
        headers.append(("X-Forwarded-For", forwarded_for))
    lines = ["GET /ws HTTP/1.1", "Host: 127.0.0.1"] + [f"{k}: {v}" for k, v in headers]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk:
                break
            head += chunk
    text = head.decode("latin-1")
    return int(text.split()[1]), text


def refused_handshake_client(ws: Server, forged: str) -> str:
    """Refuse one handshake (wrong Origin) carrying a forged X-Forwarded-For; the address daphne's
    log names for it."""
    status, _head = websocket_handshake(ws.port, origin="https://evil.example", forwarded_for=forged)
    assert status == 403
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        lines = [line for line in ws.log().splitlines() if "ws handshake refused" in line]
        if lines:
            return lines[-1]
        time.sleep(0.05)
    raise AssertionError(ws.log()[-2000:])


@pytest.mark.parametrize(("trusted", "seen"), [("0", "127.0.0.1"), ("1", "203.0.113.7")])
def test_daphne_believes_x_forwarded_for_only_as_trusted_proxy_count_says(box, trusted, seen):
    scratch_box, tmp = box
    env = production_env(scratch_box.env, TRUSTED_PROXY_COUNT=trusted, WS_ALLOWED_ORIGINS="https://ok.example")
    ws = start_procfile("ws", env, tmp)
    try:
        line = refused_handshake_client(ws, forged="203.0.113.7")
    finally:
        ws.stop()
    assert f"from {seen}" in line, line
    if trusted == "0":
        assert "203.0.113.7" not in line, line


# --- header names with underscores ----------------------------------------------------------------
def stats_with(port: int, headers: list[tuple[str, str]]) -> int:
    status, _h, _body = raw_http(port, http_request("GET", "/api/stats/viewers", headers))
    return status


def test_underscored_header_names_have_no_effect_through_nginx(box):
    scratch_box, tmp = box
    with production_front(production_env(scratch_box.env, RATE_LIMIT_PER_MINUTE="5"), tmp, workers=1) as front:
        port = front.port
        # The nine requests below must share one fixed 60 s window (real time): not one that ends
        # in the next few seconds.
        time_left = throttling.window_end("127.0.0.1", 60) - time.time()
        if time_left < 10:
            time.sleep(time_left + 0.5)
        assert stats_with(port, [("x-api-key", "test-key")]) == 200
        # The key under an underscored name is dropped by nginx: unauthenticated.
        assert stats_with(port, [("x_api_key", "test-key")]) == 401
        # An underscored X-Forwarded-For never reaches granian: every request counts against the
        # one address nginx saw, so the limit (5 a minute) holds whatever the header says.
        statuses = [
            stats_with(port, [("x-api-key", "test-key"), ("X_Forwarded_For", f"192.0.2.{n}")]) for n in range(1, 8)
        ]
    # At most 5 in the minute (the two above counted too), then refused: one client throughout.
    limited = statuses.index(429) if 429 in statuses else len(statuses)
    assert limited <= 4 and statuses[limited:] == [429] * (len(statuses) - limited), statuses


def test_granian_itself_would_read_underscored_names_as_dashed_ones(box):
    """Why the front must drop them: straight at granian `x_api_key` authenticates and
    `X_Forwarded_For` picks the rate-limit bucket."""
    scratch_box, tmp = box
    env = production_env(scratch_box.env, RATE_LIMIT_PER_MINUTE="5")
    with granian(env, tmp) as web:
        # (a bucket of its own: 127.0.0.1's was spent through nginx by the test above)
        assert stats_with(web.port, [("x_api_key", "test-key"), ("X-Forwarded-For", "192.0.2.150")]) == 200
        statuses = [
            stats_with(web.port, [("x-api-key", "test-key"), ("X_Forwarded_For", f"192.0.2.{n}")])
            for n in range(101, 108)
        ]
    assert statuses == [200] * 7, statuses


def test_nginx_answers_many_concurrent_requests_on_one_port(front):
    """Sanity for the drills above: the front serves HTTP and /ws side by side, concurrently."""
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _n: requests.get(front.url + "/health", timeout=5).status_code, range(32)))
    assert answers == [200] * 32


# --- nginx's idle upstream connections against granian's connection slots --------------------------
def procfile_backpressure() -> int:
    """The web line's default --backpressure: connections one granian worker serves at once."""
    match = re.search(r'--backpressure "\$\{WEB_BACKPRESSURE:-(\d+)\}"', procfile_command("web"))
    assert match, "the Procfile's web line sets no backpressure default"
    return int(match.group(1))


def burst(port: int, count: int) -> list[tuple[int, float]]:
    """`count` clients, each on a connection of its own, ask /health at the same moment: all connect
    first, then all send, so the requests overlap however fast each is served. Status and seconds
    from sending to the whole answer, per client."""
    request = http_request("GET", "/health", [])
    socks = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(count)]
    sent: dict[socket.socket, float] = {}
    answers: dict[socket.socket, tuple[bytes, float]] = {}
    received: dict[socket.socket, bytes] = {sock: b"" for sock in socks}
    try:
        for sock in socks:
            sock.sendall(request)
            sent[sock] = time.perf_counter()
        deadline = time.perf_counter() + 30
        while len(answers) < count and time.perf_counter() < deadline:
            readable, _w, _x = select.select([s for s in socks if s not in answers], [], [], 0.5)
            for sock in readable:
                chunk = sock.recv(65536)
                received[sock] += chunk
                if not chunk:  # the request asked nginx to close once answered
                    answers[sock] = (received[sock], time.perf_counter() - sent[sock])
    finally:
        for sock in socks:
            sock.close()
    assert len(answers) == count, f"{count - len(answers)} of {count} unanswered after 30 s"
    return [(int(raw.split(b" ", 2)[1]), seconds) for raw, seconds in answers.values()]


def test_a_burst_over_one_workers_slots_is_not_held_by_idle_upstream_connections(box):
    """granian gives each connection one of its worker's backpressure slots, held while the
    connection stays open, idle keep-alive included, until granian drops it 10 s after its last
    request. nginx keeps idle upstream connections for reuse; were it allowed to keep as many as a
    worker has slots, a burst after a burst would find them all held and its overflow would wait out
    those 10 s. nginx keeps fewer, and closes the rest as requests finish, so the overflow waits for
    one request."""
    scratch_box, tmp = box
    slots = procfile_backpressure()
    with production_front(production_env(scratch_box.env), tmp, workers=1) as front:
        answers = burst(front.port, slots)  # opens up to `slots` upstream connections; nginx keeps some
        later = [answer for _n in range(3) for answer in burst(front.port, slots + 16)]
    assert [status for status, _s in answers + later] == [200] * len(answers + later)
    slowest = max(seconds for _status, seconds in later)
    assert slowest < 3.0, f"a burst's slowest request took {slowest:.1f} s"
    median = statistics.median(seconds for _status, seconds in later)
    record("bursts_over_one_workers_slots", slots=slots, clients=slots + 16, bursts=3,
           slowest_seconds=round(slowest, 3), median_seconds=round(median, 3))  # fmt: skip
