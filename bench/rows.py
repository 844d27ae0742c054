"""The rows of `make bench`. Each function measures one group and returns Row objects.

Ratios are "speed relative to the baseline" in every row: value ÷ baseline for throughputs,
baseline ÷ value for times — 1.0 means as fast as the bare DRF view, 0.5 means half as fast.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import io
import json
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from bench import load, servers
from bench.env import ROOT, BenchEnv
from bench.load import Stream

CONNECTIONS = 64


@dataclass
class Row:
    id: str
    name: str
    value: float | None
    unit: str
    target: str
    met: bool | None
    baseline: float | None = None
    ratio: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "value": self.value,
            "unit": self.unit,
            "baseline": self.baseline,
            "ratio": self.ratio,
            "target": self.target,
            "met": self.met,
            "detail": self.detail,
        }


def _ratio(value: float | None, baseline: float | None, *, lower_is_better: bool = False) -> float | None:
    if not value or not baseline:
        return None
    return round(baseline / value if lower_is_better else value / baseline, 2)


@dataclass
class Context:
    env: BenchEnv
    seconds: float
    master_arn: str = ""
    results: dict[str, Any] = field(default_factory=dict)

    def hb_stream(self, path: str = "/api/viewer/heartbeat") -> Stream:
        return Stream(
            "POST", path, self.env.api_key, user_prefix="hb-", viewers=HEARTBEAT_VIEWERS, stage_arn=self.master_arn
        )

    def token_stream(self, path: str = "/api/token/viewer") -> Stream:
        return Stream("POST", path, self.env.api_key, user_prefix=f"tok-{uuid.uuid4().hex[:6]}-")

    def measure(self, base_url: str, stream: Stream, connections: int = CONNECTIONS) -> load.LoadResult:
        return self.measure_interleaved(base_url, [stream], connections=connections)[0]

    def measure_interleaved(
        self, base_url: str, streams: list[Stream], connections: int = CONNECTIONS
    ) -> list[load.LoadResult]:
        """Each stream for `seconds` in all, in alternating slices (A, B, A, B, ...) after one warm-up
        each. Why: on a shared 2-core machine the speed of the same code drifts by ±30% within a
        minute (other tenants); a row and its baseline measured back to back could each land in a
        different spell, so their ratio moved by ±15% between runs. Interleaved, both see the same
        machine and their ratio holds."""
        slices = max(1, min(5, int(self.seconds))) if len(streams) > 1 else 1
        for stream in streams:
            load.warm(base_url, stream, connections=connections)
        parts: list[list[load.LoadResult]] = [[] for _ in streams]
        cpu: list[dict[str, float]] = [{} for _ in streams]
        foreign: list[float] = [0.0 for _ in streams]
        for n in range(slices):
            for i, stream in enumerate(streams):
                with servers.ForeignLoad() as watch:
                    part = load.run_once(
                        base_url, stream.slice(n), connections=connections, seconds=self.seconds / slices
                    )
                parts[i].append(part)
                foreign[i] = max(foreign[i], watch.cores)
                for kind, seconds in watch.by_kind.items():
                    cpu[i][kind] = cpu[i].get(kind, 0.0) + seconds
        results = [load.merged(p) for p in parts]
        for i, (stream, result) in enumerate(zip(streams, results, strict=True)):
            out = result.as_dict()
            out["foreign_cpu_cores"] = foreign[i]
            # Where the CPU went, per request, by process kind: the "profile, fix the cause" split.
            out["cpu_us_per_request"] = {
                kind: round(s / max(result.requests, 1) * 1e6) for kind, s in sorted(cpu[i].items()) if s > 0
            }
            out["slices"] = slices
            self.results.setdefault("load_runs", []).append({"path": stream.path, **out})
        return results


HEARTBEAT_VIEWERS = 10_000
# Token rows: every request is a new viewer; seats must never run out during the run.
TOKEN_ENV = {"STAGE_MAX_PARTICIPANTS": "10000000", "SCALE_UP_THRESHOLD": "9999999"}


# --- 1, 2, 7a: HTTP throughput on the production web command ---------------------------------------


def http_rows(ctx: Context, *, compare_gunicorn: bool, peer: bool) -> list[Row]:
    from bench import seed

    seed.presence_clear()
    master = seed.stages_ensure(1)[0]
    ctx.master_arn = master.arn
    seed.viewers_write(master, [f"hb-{i}" for i in range(HEARTBEAT_VIEWERS)], at=time.time(), with_sessions=False)
    rows: list[Row] = []
    web = servers.web_command()
    with servers.running(ctx.env, "web", web, extra_env=TOKEN_ENV) as server:
        rest = server.rss_mb()
        with servers.RssSampler(server) as sampler:
            base_hb, hb = ctx.measure_interleaved(
                server.url, [ctx.hb_stream("/api/bench/baseline/heartbeat"), ctx.hb_stream()]
            )
        base_tok, tok = ctx.measure_interleaved(
            server.url, [ctx.token_stream("/api/bench/baseline/token"), ctx.token_stream()]
        )
        loaded = list(sampler.peak.values())
    ctx.results["web"] = {"command": web, "rss_at_rest": rest, "rss_under_load": loaded}
    rows.append(
        _throughput_row(
            "1a",
            "heartbeat req/s (64 conn, auth + rate limit + presence)",
            "req/s",
            hb,
            base_hb,
            min_ratio=0.6,
            min_rps=3400,
            detail={"heartbeat": hb.as_dict(), "baseline": base_hb.as_dict()},
        )
    )
    rows.append(
        Row(
            "1b",
            "heartbeat latency p50 / p99",
            round(hb.p99_ms, 1),
            "ms p99",
            "p99 < 50 ms",
            hb.p99_ms < 50,
            baseline=round(base_hb.p99_ms, 1),
            ratio=_ratio(hb.p99_ms, base_hb.p99_ms, lower_is_better=True),
            detail={
                "p50_ms": round(hb.p50_ms, 2),
                "p99_ms": round(hb.p99_ms, 2),
                "baseline_p50_ms": round(base_hb.p50_ms, 2),
            },
        )
    )
    if peer:
        rows.append(_peer_row(ctx, hb))
    rows.append(
        _throughput_row(
            "2a",
            "viewer tokens, self-signed (new viewer each)",
            "tokens/s",
            tok,
            base_tok,
            min_ratio=0.4,
            min_rps=500,
            detail={"tokens": tok.as_dict(), "baseline": base_tok.as_dict(), "p99_ms": round(tok.p99_ms, 1)},
        )
    )
    with servers.running(ctx.env, "web-api-tokens", web, extra_env={**TOKEN_ENV, "IVS_TOKEN_SIGNING": "api"}) as server:
        api = ctx.measure(server.url, ctx.token_stream(), connections=16)
    rows.append(
        Row(
            "2b",
            "viewer tokens, api mode (emulator, 50 TPS budget)",
            round(api.rps),
            "tokens/s",
            "≤ 50/s (AWS quota, by design)",
            api.rps <= 55,
            baseline=round(base_tok.rps),
            ratio=_ratio(api.rps, base_tok.rps),
            detail={"tokens": api.as_dict(), "p99_ms": round(api.p99_ms, 1), "connections": 16},
        )
    )
    rows.append(_rss_row("7a", "web RSS per worker at rest", rest))
    rows.append(_rss_row("7b", "web RSS per worker under load (peak)", loaded))
    if compare_gunicorn:
        rows.append(_gunicorn_row(ctx, hb, base_hb))
    return rows


def _throughput_row(
    row_id: str,
    name: str,
    unit: str,
    result: load.LoadResult,
    base: load.LoadResult,
    *,
    min_ratio: float,
    min_rps: int,
    detail: dict[str, Any],
) -> Row:
    """A throughput row judged against the same run's baseline and an absolute floor."""
    ratio = _ratio(result.rps, base.rps)
    return Row(
        row_id,
        name,
        round(result.rps),
        unit,
        f"≥{min_ratio}× baseline, ≥{min_rps:,}/s",
        bool(ratio and ratio >= min_ratio and result.rps >= min_rps and not result.errors),
        baseline=round(base.rps),
        ratio=ratio,
        detail=detail,
    )


def _rss_row(row_id: str, name: str, procs: list[dict]) -> Row:
    workers = [p["rss_mb"] for p in procs if p["role"] == "worker"] or [p["rss_mb"] for p in procs]
    peak = max(workers) if workers else None
    return Row(row_id, name, peak, "MB", "< 150 MB", peak is not None and peak < 150, detail={"processes": procs})


def _gunicorn_row(ctx: Context, granian_hb: load.LoadResult, granian_base: load.LoadResult) -> Row:
    """The WSGI server choice, measured as interleaved pairs (gunicorn, then granian with the same
    worker count) so that a burst of load from elsewhere cannot decide it alone."""
    import os

    workers = os.environ.get("WEB_CONCURRENCY") or str(os.cpu_count() or 2)
    pairs = []
    gunicorn_base = None
    for n in range(2):
        with servers.running(ctx.env, "gunicorn", servers.GUNICORN, extra_env={"WEB_CONCURRENCY": workers}) as server:
            if n == 0:
                gunicorn_base = ctx.measure(server.url, ctx.hb_stream("/api/bench/baseline/heartbeat"))
            gunicorn = ctx.measure(server.url, ctx.hb_stream())
        with servers.running(ctx.env, "web", servers.web_command(), extra_env={"WEB_CONCURRENCY": workers}) as server:
            granian = ctx.measure(server.url, ctx.hb_stream())
        pairs.append({"gunicorn": gunicorn.as_dict(), "granian": granian.as_dict()})
    gunicorn_rps = statistics.median(p["gunicorn"]["rps"] for p in pairs)
    granian_rps = statistics.median([granian_hb.rps, *(p["granian"]["rps"] for p in pairs)])
    return Row(
        "1d",
        "server choice: heartbeat on gunicorn gthread (vs granian, interleaved)",
        round(gunicorn_rps),
        "req/s",
        "informational: the faster one serves `web`",
        None,
        baseline=round(granian_rps),
        ratio=_ratio(gunicorn_rps, granian_rps),
        detail={
            "pairs": pairs,
            "granian_faster_in_pairs": sum(p["granian"]["rps"] > p["gunicorn"]["rps"] for p in pairs),
            "gunicorn_baseline": gunicorn_base.as_dict() if gunicorn_base else None,
            "granian_baseline_rps": round(granian_base.rps),
            "command": servers.GUNICORN,
        },
    )


def _peer_row(ctx: Context, ours: load.LoadResult) -> Row:
    def pending(reason: str) -> Row:
        return Row("1c", "heartbeat vs Node/Express + ioredis peer", None, "req/s", "≥0.5× peer", None,
                   detail={"pending": reason})  # fmt: skip

    npm, node = shutil.which("npm"), shutil.which("node")
    if not (npm and node):
        return pending("node/npm not installed")
    install = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel", "error"],
        cwd=servers.PEER_DIR,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if install.returncode != 0:
        return pending(f"npm ci failed: {install.stderr[-500:]}")
    command = f"exec {node} server.js"
    with servers.running(ctx.env, "peer", command, cwd=servers.PEER_DIR, extra_env={"PEER_WORKERS": "2"}) as server:
        peer = ctx.measure(server.url, ctx.hb_stream())
    ratio = _ratio(ours.rps, peer.rps)
    return Row(
        "1c",
        "heartbeat vs Node/Express + ioredis peer (2-process cluster)",
        round(ours.rps),
        "req/s",
        "≥0.5× peer (aim 1.0×)",
        bool(ratio and ratio >= 0.5),
        baseline=round(peer.rps),
        ratio=ratio,
        detail={"peer": peer.as_dict(), "peer_p99_ms": round(peer.p99_ms, 2)},
    )


# --- 3: seats under concurrency -----------------------------------------------------------------


SEAT_REQUESTS = 1000
SEAT_STAGES = 4


def correctness_row(ctx: Context) -> Row:
    from django.conf import settings

    from bench import seed
    from stages import presence
    from stages.selectors import live_stages
    from viewers.models import ViewerSession

    seed.presence_clear()
    stages = seed.stages_ensure(SEAT_STAGES)[:SEAT_STAGES]
    # Only these stages take viewers in this row (stages made by other rows are set aside).
    capacity = settings.STAGE_MAX_PARTICIPANTS
    extra = {"STAGE_MAX_PARTICIPANTS": str(capacity)}
    web = servers.web_command()
    two = {"WEB_CONCURRENCY": "1", **extra}
    with (
        servers.running(ctx.env, "web-a", web, extra_env=two) as a,
        servers.running(ctx.env, "web-b", web, extra_env=two) as b,
    ):
        started = time.perf_counter()
        responses = asyncio.run(_concurrent_tokens([a.port, b.port], ctx.env.api_key, SEAT_REQUESTS))
        elapsed = time.perf_counter() - started
    granted: dict[str, str] = {}
    statuses: Counter[int] = Counter()
    reported_counts: dict[str, list[int]] = {}
    for user, status, body in responses:
        statuses[status] += 1
        if status == 200:
            data = body["data"]
            granted[user] = data["stageArn"]
            reported_counts.setdefault(data["stageArn"], []).append(data["currentViewers"])
    live = {s.arn: s for s in live_stages()}
    by_stage_responses = Counter(granted.values())
    presence_counts = {arn: presence.counts([s.stage_id])[s.stage_id] for arn, s in live.items()}
    open_sessions = Counter(ViewerSession.objects.filter(left_at__isnull=True).values_list("stage__arn", flat=True))
    seated = {}
    for arn, stage in live.items():
        for entry in presence.page(room_id=stage.room_id, stage_id=stage.stage_id, offset=0, limit=100_000):
            seated[entry.user_id] = arn
    over = sum(max(0, n - capacity) for n in presence_counts.values()) + sum(
        1 for counts in reported_counts.values() for c in counts if c > capacity
    )
    lost = sum(1 for user, arn in granted.items() if seated.get(user) != arn)
    phantom = sum(1 for user in seated if user not in granted)
    mismatched = sum(1 for arn in live if not (by_stage_responses[arn] == presence_counts[arn] == open_sessions[arn]))
    seats = capacity * len(stages)
    expected_granted = min(SEAT_REQUESTS, seats)
    unexpected = sum(n for s, n in statuses.items() if s not in (200, 503))
    problems = over + lost + phantom + mismatched + unexpected + abs(len(granted) - expected_granted)
    return Row(
        "3",
        f"{SEAT_REQUESTS} concurrent viewer tokens, 2 processes: over-allocated + lost seats",
        over + lost,
        "seats",
        "0, counts reconcile exactly",
        problems == 0,
        detail={
            "requests": SEAT_REQUESTS,
            "stages": len(stages),
            "capacity_per_stage": capacity,
            "seats": seats,
            "statuses": dict(statuses),
            "granted": len(granted),
            "expected_granted": expected_granted,
            "over_allocated": over,
            "lost_seats": lost,
            "phantom_seats": phantom,
            "stages_not_reconciled": mismatched,
            "per_stage": {
                arn.rsplit("/", 1)[-1]: {
                    "responses": by_stage_responses[arn],
                    "presence": presence_counts[arn],
                    "open_sessions": open_sessions[arn],
                }
                for arn in live
            },
            "seconds": round(elapsed, 2),
        },
    )


async def _concurrent_tokens(ports: list[int], api_key: str, count: int) -> list[tuple[str, int, dict]]:
    """`count` connections opened first, then every request sent at once (one per connection)."""
    conns = []
    for start in range(0, count, 200):
        batch = [
            asyncio.open_connection("127.0.0.1", ports[i % len(ports)]) for i in range(start, min(count, start + 200))
        ]
        conns += await asyncio.gather(*batch)
    gate = asyncio.Event()

    async def one(i: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> tuple[str, int, dict]:
        user = f"seat-{i}"
        body = json.dumps({"userId": user}).encode()
        request = (
            f"POST /api/token/viewer HTTP/1.1\r\nHost: 127.0.0.1\r\nx-api-key: {api_key}\r\n"
            f"X-Forwarded-For: {load.client_ip(50_000 + i)}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode() + body
        await gate.wait()
        writer.write(request)
        try:
            status, payload = await asyncio.wait_for(load.read_response(reader), 60)
        finally:
            writer.close()
        return user, status, json.loads(payload or b"{}")

    tasks = [asyncio.ensure_future(one(i, r, w)) for i, (r, w) in enumerate(conns)]
    await asyncio.sleep(0.2)
    gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    return [r if isinstance(r, tuple) else (f"seat-{i}", 0, {"error": repr(r)}) for i, r in enumerate(results)]


# --- 4: WebSocket fan-out -----------------------------------------------------------------------

SUBSCRIBE_BATCH = 50


def fanout_rows(ctx: Context, sizes: tuple[int, ...] = (500, 2000), ticks: int = 3) -> list[Row]:
    try:
        from stats.broadcast import stats_broadcast
        from stats.consumers import StatsConsumer  # noqa: F401  (the /ws consumer must exist)
    except ImportError as exc:
        return [
            Row(
                f"4{'ab'[i]}",
                f"WebSocket fan-out, {n} subscribers",
                None,
                "ms",
                "≤ 1,000 ms",
                None,
                detail={"pending": f"stats consumer not importable: {exc}"},
            )
            for i, n in enumerate(sizes)
        ]
    ws = servers.procfile_command("ws")
    rows = []
    # One daphne process (the Procfile's `ws`), then the same 2,000 over two (the scale-out), then
    # 2,000 over two processes following 100 rooms (a push is still one message per process).
    runs: list[tuple[int, list[tuple[int, str]], list[str] | None]] = [
        (1, [(size, f"4{'ab'[i]}") for i, size in enumerate(sizes)], None),
        (2, [(sizes[-1], "4c")], None),
        (2, [(sizes[-1], "4d")], _bench_rooms(FANOUT_ROOMS)),
    ]
    for count, plan, rooms in runs:
        started = [servers.start(ctx.env, f"ws{n}", ws) for n in range(count)]
        try:
            rows += asyncio.run(_fanout(started, plan, ticks, stats_broadcast, rooms=rooms))
        except Exception as exc:
            logs = "\n".join(s.log_tail() for s in started)
            raise RuntimeError(f"{exc}\n--- daphne log ---\n{logs}") from exc
        finally:
            ctx.results.setdefault("ws", {"command": ws})[f"rss_{count}_process"] = [
                r for s in started for r in s.rss_mb()
            ]
            for server in started:
                server.stop()
    _drop_bench_rooms()
    return rows


FANOUT_ROOMS = 100
_BENCH_ROOM_PREFIX = "bench-fanout-"


def _bench_rooms(count: int) -> list[str]:
    """`count` rooms for the fan-out (the default one and `count - 1` rows of our own, without
    stages: the push carries every room's stats, which is what this row measures)."""
    from stages.models import Room

    names = [f"{_BENCH_ROOM_PREFIX}{n:03d}" for n in range(count - 1)]
    Room.objects.bulk_create([Room(room_id=n, name=n) for n in names], ignore_conflicts=True)
    from stages import registry

    registry.bump()
    return [Room.DEFAULT, *names]


def _drop_bench_rooms() -> None:
    from stages import registry
    from stages.models import Room

    Room.objects.filter(room_id__startswith=_BENCH_ROOM_PREFIX).delete()
    registry.bump()


async def _fanout(
    wss: list[servers.Server], plan: list[tuple[int, str]], ticks: int, broadcast, rooms: list[str] | None = None
) -> list[Row]:  # type: ignore[no-untyped-def]
    from bench.wsclient import WsSubscriber

    subscribers: list[WsSubscriber] = []
    listeners: list[asyncio.Task] = []
    rows = []
    try:
        for size, row_id in plan:
            fresh = [WsSubscriber() for _ in range(size - len(subscribers))]
            # 50 handshakes + subscribes at a time: the channel layer's Redis pool (redis.asyncio,
            # max 100 connections, raising instead of waiting) fails a burst of >100 concurrent
            # group_adds in one daphne process — a finding reported in README "Performance".
            for start in range(0, len(fresh), SUBSCRIBE_BATCH):
                batch = fresh[start : start + SUBSCRIBE_BATCH]
                ports = [wss[(start + i) % len(wss)].port for i in range(len(batch))]
                await asyncio.gather(*(s.connect("127.0.0.1", p) for s, p in zip(batch, ports, strict=True)))
                await asyncio.gather(
                    *(
                        s.send_json(
                            {"action": "subscribe", "channel": "stats"}
                            if rooms is None
                            else {"action": "subscribe", "channel": "stats", "roomId": rooms[(start + i) % len(rooms)]}
                        )
                        for i, s in enumerate(batch)
                    )
                )
                snapshots = await asyncio.wait_for(asyncio.gather(*(s.read_json() for s in batch)), 60)
                bad = [m for m in snapshots if not m or m.get("type") != "stats_update"]
                if bad:
                    raise RuntimeError(f"{len(bad)} subscribes did not answer with a snapshot: {bad[:3]}")
            subscribers += fresh
            listeners += [asyncio.ensure_future(s.listen()) for s in fresh]
            # The load generator's own garbage collection is not the server's fan-out: with 2,000
            # subscribers in this process a full collection landing in a tick moved rows 4b/4c by
            # ±40% between otherwise identical runs (A/B: a change that only altered which modules
            # this process imports flipped them). Paused while the ticks are timed.
            with _client_gc_paused():
                timings, calls, missing = await _ticks(subscribers, ticks, broadcast)
            worst = max(timings)
            where = "one daphne process" if len(wss) == 1 else f"{len(wss)} daphne processes"
            if rooms is not None:
                where += f", {len(rooms)} rooms"
            rows.append(
                Row(
                    row_id,
                    f"WebSocket fan-out, {size:,} subscribers on {where}: tick → last delivery",
                    round(worst, 1),
                    "ms",
                    # The Procfile runs one daphne per core (ws, ws2): the two-process row is the
                    # production topology; one process is shown for the per-process cost.
                    "≤ 1,000 ms (2,000 subscribers)" if len(wss) > 1 else "informational: Procfile runs 2",
                    (worst <= 1000 and missing == 0) if len(wss) > 1 else (None if missing == 0 else False),
                    detail={
                        "ticks_ms": [round(t, 1) for t in timings],
                        "median_ms": round(statistics.median(timings), 1),
                        "missed_deliveries": missing,
                        # stats_broadcast() itself: payload from DB + Redis, history sample, group_send
                        "broadcast_call_ms": [round(c, 1) for c in calls],
                        "daphne_processes": len(wss),
                        "rooms": len(rooms) if rooms is not None else 1,
                    },
                )
            )
    finally:
        for task in listeners:
            task.cancel()
        for s in subscribers:
            s.close()
    return rows


@contextlib.contextmanager
def _client_gc_paused() -> Iterator[None]:
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()


async def _ticks(subscribers: list, ticks: int, broadcast) -> tuple[list[float], list[float], int]:  # type: ignore[no-untyped-def]
    """`ticks` pushes (stats_broadcast in a thread, as Celery calls it): per tick the time from the
    call to the last subscriber's delivery, the call's own time, and the deliveries missed."""
    loop = asyncio.get_running_loop()
    seen = [len(s.updates) for s in subscribers]
    timings: list[float] = []
    calls: list[float] = []
    missing = 0
    for _ in range(ticks):
        started = time.perf_counter()
        await loop.run_in_executor(None, lambda: broadcast(reason="bench"))
        calls.append((time.perf_counter() - started) * 1000)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(len(s.updates) <= n for s, n in zip(subscribers, seen, strict=True)):
            await asyncio.sleep(0.005)
        arrivals = [s.updates[n][0] for s, n in zip(subscribers, seen, strict=True) if len(s.updates) > n]
        missing += len(subscribers) - len(arrivals)
        timings.append(((max(arrivals) - started) * 1000) if arrivals else float("inf"))
        seen = [len(s.updates) for s in subscribers]
        await asyncio.sleep(0.5)
    return timings, calls, missing


# --- 5, 6, 7c: 100,000 simulated viewers ----------------------------------------------------------------

VIEWERS = 100_000
STAGES = 20
EXPIRED_SHARE = 0.10


def scale_rows(ctx: Context) -> list[Row]:
    from django.conf import settings
    from django.core.wsgi import get_wsgi_application

    from bench import seed
    from ivsproject.redis import get_redis
    from viewers.cleanup import viewers_cleanup

    app = get_wsgi_application()
    seed.presence_clear()
    stages = seed.stages_ensure(STAGES)
    paths = {"stats": "/api/stats", "list": "/api/stage/list", "baseline": "/api/bench/baseline/stats"}
    empty = {name: _server_time(app, ctx.env.api_key, path) for name, path in paths.items()}
    redis = get_redis()
    before = int(redis.info("memory")["used_memory"])
    now = time.time()
    stale = now - settings.HEARTBEAT_TIMEOUT_SECONDS - 30
    per_stage = VIEWERS // len(stages)
    expired_per_stage = int(per_stage * EXPIRED_SHARE)
    seed_started = time.perf_counter()
    for n, stage in enumerate(stages):
        users = [f"v{n:02d}-{i:06d}" for i in range(per_stage)]
        seed.viewers_write(stage, users[:expired_per_stage], at=stale, with_sessions=True)
        # The live ones last had their heartbeat flushed one cleanup interval ago.
        seed.viewers_write(
            stage,
            users[expired_per_stage:],
            at=now,
            with_sessions=True,
            flushed_lag=settings.CLEANUP_INTERVAL_SECONDS,
        )
    seed_seconds = time.perf_counter() - seed_started
    after = int(redis.info("memory")["used_memory"])
    usage = seed.presence_memory()
    full = {name: _server_time(app, ctx.env.api_key, path) for name, path in paths.items()}
    rows = []
    for row_id, name, label in (("5a", "stats", "GET /api/stats"), ("5b", "list", "GET /api/stage/list")):
        t = full[name]
        rows.append(
            Row(
                row_id,
                f"{label} at {VIEWERS:,} viewers / {len(stages)} stages: server time",
                t["median_ms"],
                "ms",
                "< 5 ms, independent of viewers",
                t["p99_ms"] < 5,
                baseline=full["baseline"]["median_ms"],
                ratio=_ratio(t["median_ms"], full["baseline"]["median_ms"], lower_is_better=True),
                detail={"at_100k": t, "at_0_viewers": empty[name], "baseline": full["baseline"]},
            )
        )
    started = time.perf_counter()
    report = viewers_cleanup()
    cleanup_seconds = time.perf_counter() - started
    expected_expired = expired_per_stage * len(stages)
    rows.append(
        Row(
            "6",
            f"cleanup tick over {VIEWERS:,} viewers, {EXPIRED_SHARE:.0%} expired",
            round(cleanup_seconds, 2),
            "s",
            "< 2 s",
            cleanup_seconds < 2 and report.expired == expected_expired,
            detail={
                "report": vars(report),
                "expected_expired": expected_expired,
                "seed_seconds": round(seed_seconds, 1),
            },
        )
    )
    per_viewer = (after - before) / VIEWERS
    rows.append(
        Row(
            "7c",
            "Redis bytes per tracked viewer (INFO used_memory delta)",
            round(per_viewer),
            "B",
            "< 300 B",
            per_viewer < 300,
            detail={
                "used_memory_delta": after - before,
                "memory_usage_keys": usage,
                "memory_usage_per_viewer": round(usage["bytes"] / VIEWERS, 1),
            },
        )
    )
    return rows


# --- 8: 100 rooms -----------------------------------------------------------------------------------

ROOMS = 100  # `default` and 99 more, each with its master stage: the account's default stage quota
ROOM_VIEWERS = 1_000  # per room in the stats rows: 100,000 viewers in all


def rooms_rows(ctx: Context) -> list[Row]:
    """Heartbeat and viewer token with 100 rooms (the targets of rows 1a/1b/2a: their cost must not
    grow with the number of rooms), then the room stats at 100 rooms x 1,000 viewers.

    The same requests on the default room alone run interleaved with them and the baseline, so
    "100 rooms against one" is read off the same spells of the machine (`vs_one_room`)."""
    from bench import seed

    seed.presence_clear()
    masters = seed.rooms_ensure(ROOMS)
    room_ids = tuple(m.room_id for m in masters)
    arns = tuple(m.arn for m in masters)
    # Heartbeat viewer i sits in room i % 100, the room the stream names for it; the one-room
    # stream's viewers all sit on the default room's master.
    now = time.time()
    for n, master in enumerate(masters):
        users = [f"hbr-{i}" for i in range(n, HEARTBEAT_VIEWERS, len(masters))]
        seed.viewers_write(master, users, at=now, with_sessions=False)
    seed.viewers_write(masters[0], [f"hb1-{i}" for i in range(HEARTBEAT_VIEWERS)], at=now, with_sessions=False)
    key = ctx.env.api_key
    run = uuid.uuid4().hex[:6]

    def heartbeats(path: str, *, rooms: bool = True) -> Stream:
        if not rooms:
            return Stream("POST", path, key, user_prefix="hb1-", viewers=HEARTBEAT_VIEWERS, stage_arn=arns[0])
        return Stream("POST", path, key, user_prefix="hbr-", viewers=HEARTBEAT_VIEWERS, arns=arns)

    def tokens(path: str, *, rooms: bool = True) -> Stream:
        if not rooms:
            return Stream("POST", path, key, user_prefix=f"tok1-{run}-")
        return Stream("POST", path, key, user_prefix=f"tokr-{run}-", rooms=room_ids)

    with servers.running(ctx.env, "web-rooms", servers.web_command(), extra_env=TOKEN_ENV) as server:
        base_hb, one_hb, hb = ctx.measure_interleaved(
            server.url,
            [
                heartbeats("/api/bench/baseline/heartbeat"),
                heartbeats("/api/viewer/heartbeat", rooms=False),
                heartbeats("/api/viewer/heartbeat"),
            ],
        )
        base_tok, one_tok, tok = ctx.measure_interleaved(
            server.url,
            [
                tokens("/api/bench/baseline/token"),
                tokens("/api/token/viewer", rooms=False),
                tokens("/api/token/viewer"),
            ],
        )
    rows = [
        _throughput_row(
            "8a",
            f"heartbeat req/s, {len(masters)} rooms (viewer i in room i % {len(masters)})",
            "req/s",
            hb,
            base_hb,
            min_ratio=0.6,
            min_rps=3400,
            detail={
                "heartbeat": hb.as_dict(),
                "one_room": one_hb.as_dict(),
                "vs_one_room": _ratio(hb.rps, one_hb.rps),
                "baseline": base_hb.as_dict(),
            },
        ),
        Row(
            "8b",
            f"heartbeat latency p99, {len(masters)} rooms",
            round(hb.p99_ms, 1),
            "ms p99",
            "p99 < 50 ms",
            hb.p99_ms < 50,
            baseline=round(base_hb.p99_ms, 1),
            ratio=_ratio(hb.p99_ms, base_hb.p99_ms, lower_is_better=True),
            detail={
                "p50_ms": round(hb.p50_ms, 2),
                "one_room_p99_ms": round(one_hb.p99_ms, 1),
                "baseline_p50_ms": round(base_hb.p50_ms, 2),
            },
        ),
        _throughput_row(
            "8c",
            f"viewer tokens, {len(masters)} rooms (request i in room i % {len(masters)})",
            "tokens/s",
            tok,
            base_tok,
            min_ratio=0.4,
            min_rps=500,
            detail={
                "tokens": tok.as_dict(),
                "one_room": one_tok.as_dict(),
                "vs_one_room": _ratio(tok.rps, one_tok.rps),
                "baseline": base_tok.as_dict(),
                "p99_ms": round(tok.p99_ms, 1),
            },
        ),
    ]
    rows += _room_stats_rows(ctx, masters)
    return rows


def _room_stats_rows(ctx: Context, masters: list) -> list[Row]:  # type: ignore[type-arg]
    from django.core.wsgi import get_wsgi_application

    from bench import seed

    app = get_wsgi_application()
    seed.presence_clear()
    middle = masters[len(masters) // 2].room_id
    paths = {
        "room": f"/api/stats?roomId={middle}",
        "rooms": "/api/stats/rooms",
        "room_baseline": "/api/bench/baseline/stats-room",
        "rooms_baseline": "/api/bench/baseline/rooms",
    }
    empty = {name: _server_time(app, ctx.env.api_key, path) for name, path in paths.items()}
    now = time.time()
    for n, master in enumerate(masters):
        seed.viewers_write(master, [f"r{n:03d}-{i:05d}" for i in range(ROOM_VIEWERS)], at=now, with_sessions=False)
    full = {name: _server_time(app, ctx.env.api_key, path) for name, path in paths.items()}
    viewers = ROOM_VIEWERS * len(masters)
    rows = []
    for row_id, name, label, limit in (
        ("8d", "room", "GET /api/stats?roomId=", 5),
        ("8e", "rooms", "GET /api/stats/rooms", 20),
    ):
        t, base = full[name], full[f"{name}_baseline"]
        rows.append(
            Row(
                row_id,
                f"{label} at {len(masters)} rooms x {ROOM_VIEWERS:,} viewers: server time",
                t["median_ms"],
                "ms",
                f"< {limit} ms, independent of viewers",
                t["p99_ms"] < limit,
                baseline=base["median_ms"],
                ratio=_ratio(t["median_ms"], base["median_ms"], lower_is_better=True),
                detail={f"at_{viewers}": t, "at_0_viewers": empty[name], "baseline": base},
            )
        )
    return rows


def _server_time(app, api_key: str, path: str, count: int = 300) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """In-process time of the whole Django stack (middleware, view, rendering), no network."""
    for i in range(30):
        wsgi_call(app, api_key, path, i)
    times = []
    for i in range(count):
        started = time.perf_counter()
        status = wsgi_call(app, api_key, path, 100_000 + i)
        times.append((time.perf_counter() - started) * 1000)
        if not status.startswith("200"):
            raise RuntimeError(f"{path} answered {status}")
    times.sort()
    return {
        "median_ms": round(statistics.median(times), 3),
        "p99_ms": round(times[int(len(times) * 0.99) - 1], 3),
        "requests": count,
    }


def wsgi_call(app, api_key: str, path: str, i: int, *, method: str = "GET", body: bytes = b"") -> str:  # type: ignore[no-untyped-def]
    """One request through a WSGI app in this process, as viewer `i` behind the proxy; the status."""
    out: dict[str, str] = {}

    def start_response(status: str, headers: list, exc_info: object = None) -> None:
        out["status"] = status

    path, _, query = path.partition("?")
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "HTTP_HOST": "127.0.0.1",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_X_API_KEY": api_key,
        "HTTP_X_FORWARDED_FOR": load.client_ip(200_000 + i),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.url_scheme": "http",
    }
    if body:
        environ.update(CONTENT_TYPE="application/json", CONTENT_LENGTH=str(len(body)))
    b"".join(app(environ, start_response))
    return out["status"]


__all__ = [
    "ROOT",
    "Context",
    "Row",
    "correctness_row",
    "fanout_rows",
    "http_rows",
    "rooms_rows",
    "scale_rows",
    "wsgi_call",
]
