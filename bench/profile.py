"""In-process cost of one request per hot endpoint: the whole Django stack (middleware, view,
rendering) called as a WSGI app, no network, on the bench environment (PostgreSQL + Redis).

    python -m bench.profile                       # µs per request: baseline, heartbeat, viewer token
    python -m bench.profile --only token --profile   # and where the time goes (pyinstrument)
    python -m bench.profile --only token --cprofile  # or the functions by own time (cProfile)

It is the quick loop for the "profile, fix the cause, report before/after" part of the performance work: the
load rows of `python -m bench` are the numbers that count; this tells which line to change.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable

from bench.env import bench_env
from bench.rows import TOKEN_ENV, wsgi_call


def _caller(app, api_key: str) -> Callable[[str, bytes, int], str]:  # type: ignore[no-untyped-def]
    return lambda path, body, i: wsgi_call(app, api_key, path, i, method="POST", body=body)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--only", choices=("baseline", "heartbeat", "token"), action="append")
    parser.add_argument("--profile", action="store_true", help="print a pyinstrument profile per endpoint")
    parser.add_argument("--cprofile", action="store_true", help="print cProfile's top functions by own time")
    args = parser.parse_args(argv)
    with bench_env() as env:
        env.apply_to_this_process()
        os.environ.update(TOKEN_ENV)  # every token is a new viewer: seats never run out
        env.manage("migrate", "--noinput")
        env.manage("ensure_master_stage")
        import django

        django.setup()
        from bench import seed
        from ivsproject.wsgi import application as app  # the production web app (with its fast path)
        from stages.selectors import master_stage_or_404

        call = _caller(app, env.api_key)
        master = master_stage_or_404()
        seed.viewers_write(master, [f"hb-{i}" for i in range(args.requests)], at=time.time(), with_sessions=True)
        bodies: dict[str, tuple[str, Callable[[int], bytes]]] = {
            "baseline": ("/api/bench/baseline/heartbeat", lambda i: b"{}"),
            "heartbeat": (
                "/api/viewer/heartbeat",
                lambda i: json.dumps({"userId": f"hb-{i}", "stageArn": master.arn}).encode(),
            ),
            "token": ("/api/token/viewer", lambda i: json.dumps({"userId": f"tok-{time.time_ns()}-{i}"}).encode()),
        }
        results = {}
        for name in args.only or list(bodies):
            path, body = bodies[name]
            for i in range(50):  # warm up: connections, caches, imports
                call(path, body(i), i)
            profiler = None
            if args.profile:
                from pyinstrument import Profiler

                profiler = Profiler(interval=0.0002)
                profiler.start()
            cprofiler = None
            if args.cprofile:
                import cProfile

                cprofiler = cProfile.Profile(time.process_time)  # CPU, not waits on Redis/PostgreSQL
                cprofiler.enable()
            times = []
            cpu_started = time.process_time()
            for i in range(args.requests):
                started = time.perf_counter()
                status = call(path, body(i), 1000 + i)
                times.append((time.perf_counter() - started) * 1e6)
                if not status.startswith("200"):
                    raise SystemExit(f"{path} answered {status}")
            cpu = (time.process_time() - cpu_started) / args.requests * 1e6
            if cprofiler is not None:
                import pstats

                cprofiler.disable()
                pstats.Stats(cprofiler).sort_stats("tottime").print_stats(40)
            if profiler is not None:
                profiler.stop()
                print(profiler.output_text(unicode=True, color=False, show_all=False))
            results[name] = {"median_us": round(statistics.median(times)), "cpu_us": round(cpu)}
        for name, r in results.items():
            print(f"{name:10s} median {r['median_us']:6d} µs wall   {r['cpu_us']:6d} µs CPU in this process")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
