"""Load generation: wrk (Debian package) with a Lua request generator, or — when wrk is missing —
an asyncio HTTP/1.1 keep-alive generator with the same request stream and the same report.

Every run targets 127.0.0.1, lasts a fixed time and stops by itself. Requests carry the API key and
an `X-Forwarded-For` address per simulated viewer (the app trusts one proxy hop in the bench, as
behind deploy/nginx.conf), so the production rate limit (100/min per client) is on and never trips.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

# BENCH_LOAD_GENERATOR=python forces the fallback (to check it, or where wrk misbehaves).
WRK = None if os.environ.get("BENCH_LOAD_GENERATOR") == "python" else shutil.which("wrk")


@dataclass(frozen=True)
class Stream:
    """What each request looks like. `viewers` > 0 cycles through that many simulated viewers
    (heartbeats); 0 makes every request a new viewer (token requests)."""

    method: str
    path: str
    api_key: str
    user_prefix: str = "hb-"
    viewers: int = 0
    stage_arn: str = ""
    # Several rooms: request i names arns[i % len] as its stageArn (the viewer's stage, seeded so)
    # and rooms[i % len] as its roomId.
    arns: tuple[str, ...] = ()
    rooms: tuple[str, ...] = ()

    def slice(self, n: int) -> Stream:
        """The stream for the n-th slice of an interleaved run: token streams get viewers of their own
        (every request stays a new viewer); heartbeat streams stay on the same tracked viewers."""
        return self if self.viewers else replace(self, user_prefix=f"{self.user_prefix}s{n}-")

    def index(self, counter: int) -> int:
        return counter % self.viewers if self.viewers else counter

    def body(self, i: int) -> bytes | None:
        if self.method != "POST":
            return None
        data = {"userId": f"{self.user_prefix}{i}"}
        arn = self.arns[i % len(self.arns)] if self.arns else self.stage_arn
        if arn:
            data["stageArn"] = arn
        if self.rooms:
            data["roomId"] = self.rooms[i % len(self.rooms)]
        return json.dumps(data, separators=(",", ":")).encode()


def client_ip(i: int) -> str:
    return f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"


@dataclass
class LoadResult:
    generator: str
    connections: int
    seconds: float
    requests: int
    errors: int
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    # Latency (ms) at each 0.1% step from 0.1% to 100%: what merges slices of a run into one
    # distribution (not written out).
    grid: list[float] = field(default_factory=list, repr=False)

    def as_dict(self) -> dict:
        return {k: round(v, 3) if isinstance(v, float) else v for k, v in asdict(self).items() if k != "grid"}


_LUA = r"""
local counter = 0
local n = __VIEWERS__
local method, path, key, prefix, arn = "__METHOD__", "__PATH__", "__KEY__", "__PREFIX__", "__ARN__"
local arns, rooms = {__ARNS__}, {__ROOMS__}
local function ip(i)
  return "10." .. (math.floor(i / 65536) % 256) .. "." .. (math.floor(i / 256) % 256) .. "." .. (i % 256)
end
request = function()
  local i = counter
  counter = counter + 1
  if n > 0 then i = i % n end
  local headers = {["x-api-key"] = key, ["X-Forwarded-For"] = ip(i)}
  local body = nil
  if method == "POST" then
    headers["Content-Type"] = "application/json"
    local stage = arn
    if #arns > 0 then stage = arns[(i % #arns) + 1] end
    body = '{"userId":"' .. prefix .. i .. '"'
    if stage ~= "" then body = body .. ',"stageArn":"' .. stage .. '"' end
    if #rooms > 0 then body = body .. ',"roomId":"' .. rooms[(i % #rooms) + 1] .. '"' end
    body = body .. '}'
  end
  return wrk.format(method, path, headers, body)
end
done = function(summary, latency, requests)
  local e = summary.errors
  local grid = {}
  for k = 1, 1000 do grid[k] = string.format("%d", latency:percentile(k / 10)) end
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"errors":%d,"p50":%d,"p90":%d,"p99":%d,"max":%d,"grid":[%s]}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, table.concat(grid, ",")))
end
"""


def _lua(stream: Stream) -> str:
    script = _LUA
    for name, value in {
        "__VIEWERS__": str(stream.viewers),
        "__METHOD__": stream.method,
        "__PATH__": stream.path,
        "__KEY__": stream.api_key,
        "__PREFIX__": stream.user_prefix,
        "__ARN__": stream.stage_arn,
    }.items():
        if '"' in value or "\\" in value:
            raise ValueError(f"unsafe value for the Lua template: {value!r}")
        script = script.replace(name, value)
    for name, values in (("__ARNS__", stream.arns), ("__ROOMS__", stream.rooms)):
        if any('"' in v or "\\" in v for v in values):
            raise ValueError(f"unsafe value for the Lua template: {values!r}")
        script = script.replace(name, ",".join(f'"{v}"' for v in values))
    return script


def _check_local(base_url: str) -> None:
    host = urlsplit(base_url).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError(f"load tests target this machine only, not {host}")


def run(base_url: str, stream: Stream, *, connections: int, seconds: float, warmup: float = 2.0) -> LoadResult:
    """Warm up (not recorded), then measure for `seconds`."""
    if warmup > 0:
        warm(base_url, stream, connections=connections, seconds=warmup)
    return run_once(base_url, stream, connections=connections, seconds=seconds)


def warm(base_url: str, stream: Stream, *, connections: int, seconds: float = 2.0) -> None:
    """A run that is not recorded. Heartbeats warm up on the same (tracked) viewers; token streams
    on viewers of their own, so the measured run still gets a new viewer per request."""
    run_once(base_url, stream if stream.viewers else replace(stream, user_prefix=stream.user_prefix + "w"),
             connections=connections, seconds=seconds)  # fmt: skip


def merged(parts: list[LoadResult]) -> LoadResult:
    """One result from the slices of an interleaved run: requests and time add up; the percentiles
    are those of the slices' latency distributions pooled (each slice weighted by its requests)."""
    if len(parts) == 1:
        return parts[0]
    requests = sum(p.requests for p in parts)
    seconds = sum(p.seconds for p in parts)
    pooled = sorted((ms, p.requests / len(p.grid)) for p in parts if p.grid for ms in p.grid)
    total = sum(weight for _, weight in pooled)

    def pct(q: float) -> float:
        seen = 0.0
        for ms, weight in pooled:
            seen += weight
            if seen >= q * total - 1e-9:
                return ms
        return pooled[-1][0] if pooled else 0.0

    return LoadResult(
        generator=parts[0].generator,
        connections=parts[0].connections,
        seconds=seconds,
        requests=requests,
        errors=sum(p.errors for p in parts),
        rps=requests / seconds if seconds else 0.0,
        p50_ms=pct(0.50),
        p90_ms=pct(0.90),
        p99_ms=pct(0.99),
        max_ms=max(p.max_ms for p in parts),
        grid=[pct(k / 1000) for k in range(1, 1001)],
    )


def run_once(base_url: str, stream: Stream, *, connections: int, seconds: float) -> LoadResult:
    _check_local(base_url)
    if WRK:
        return _run_wrk(base_url, stream, connections=connections, seconds=seconds)
    return asyncio.run(_run_python(base_url, stream, connections=connections, seconds=seconds))


def _run_wrk(base_url: str, stream: Stream, *, connections: int, seconds: float) -> LoadResult:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(_lua(stream))
        script = handle.name
    try:
        # One wrk thread, as in the reference measurements; --timeout bounds every request.
        cmd = [WRK or "wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s"]
        out = subprocess.run(
            [*cmd, "-s", script, base_url], capture_output=True, text=True, timeout=seconds + 60, check=False
        )
    finally:
        Path(script).unlink(missing_ok=True)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("BENCHJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk produced no result:\n{out.stdout}\n{out.stderr}")
    data = json.loads(line.removeprefix("BENCHJSON "))
    elapsed = data["duration_us"] / 1e6
    return LoadResult(
        generator="wrk",
        connections=connections,
        seconds=elapsed,
        requests=data["requests"],
        errors=data["errors"],
        rps=data["requests"] / elapsed if elapsed else 0.0,
        p50_ms=data["p50"] / 1000,
        p90_ms=data["p90"] / 1000,
        p99_ms=data["p99"] / 1000,
        max_ms=data["max"] / 1000,
        grid=[us / 1000 for us in data["grid"]],
    )


# --- the Python fallback ------------------------------------------------------------------------


def _request_bytes(host: str, stream: Stream, i: int) -> bytes:
    body = stream.body(i)
    lines = [
        f"{stream.method} {stream.path} HTTP/1.1",
        f"Host: {host}",
        f"x-api-key: {stream.api_key}",
        f"X-Forwarded-For: {client_ip(i)}",
    ]
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    body = await reader.readexactly(length) if length else b""
    return status, body


async def _run_python(base_url: str, stream: Stream, *, connections: int, seconds: float) -> LoadResult:
    parts = urlsplit(base_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    latencies: list[float] = []
    errors = 0
    counter = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal errors, counter
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while time.perf_counter() < deadline:
                i = stream.index(counter)
                counter += 1
                started = time.perf_counter()
                writer.write(_request_bytes(f"{host}:{port}", stream, i))
                try:
                    status, _ = await asyncio.wait_for(read_response(reader), 10)
                except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
                    errors += 1
                    return
                latencies.append(time.perf_counter() - started)
                if status >= 400:
                    errors += 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)), return_exceptions=True)
    elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1000 if latencies else 0.0

    return LoadResult(
        generator="python-asyncio",
        connections=connections,
        seconds=elapsed,
        requests=len(latencies),
        errors=errors,
        rps=len(latencies) / elapsed if elapsed else 0.0,
        p50_ms=pct(0.50),
        p90_ms=pct(0.90),
        p99_ms=pct(0.99),
        max_ms=latencies[-1] * 1000 if latencies else 0.0,
        grid=[pct(k / 1000) for k in range(1, 1001)],
    )
