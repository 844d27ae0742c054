"""`make bench` → `python -m bench`: the issue-7 suite, bounded in time (~6 min on 2 cores).

    python -m bench                    # every row, 10 s per load run
    python -m bench --rows 1,3 --seconds 5
    python -m bench --no-gunicorn --no-peer

Prints a table and writes bench/results/latest.json. Targets 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

from bench.env import ROOT, bench_env

RESULTS = ROOT / "bench" / "results"
GROUPS = ("1", "2", "3", "4", "5", "6", "7", "8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default=",".join(GROUPS), help="row groups to run, e.g. 1,3 (default: all)")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per load run (default 10)")
    parser.add_argument("--no-gunicorn", action="store_true", help="skip the gunicorn comparison row (1d)")
    parser.add_argument("--no-peer", action="store_true", help="skip the Node/Express peer (1c)")
    parser.add_argument("--output", type=Path, default=RESULTS / "latest.json")
    args = parser.parse_args(argv)
    wanted = {g.strip() for g in args.rows.split(",") if g.strip()}
    if args.seconds <= 0 or args.seconds > 60:
        parser.error("--seconds must be in (0, 60]: every run is bounded")

    started = time.monotonic()
    rows = []
    errors: dict[str, str] = {}
    with bench_env() as env:
        env.apply_to_this_process()
        env.manage("migrate", "--noinput")
        env.manage("ensure_master_stage")
        import django

        django.setup()
        from bench import rows as bench_rows

        ctx = bench_rows.Context(env=env, seconds=args.seconds)
        plan = [
            ("1", lambda: bench_rows.http_rows(ctx, compare_gunicorn=not args.no_gunicorn, peer=not args.no_peer)),
            ("3", lambda: [bench_rows.correctness_row(ctx)]),
            ("4", lambda: bench_rows.fanout_rows(ctx)),
            ("5", lambda: bench_rows.scale_rows(ctx)),
            ("8", lambda: bench_rows.rooms_rows(ctx)),
        ]
        # Row groups measured together: 2 and 7a/b come with 1 (same server run); 6 and 7c with 5.
        for key, run in plan:
            covers = {"1": {"1", "2", "7"}, "3": {"3"}, "4": {"4"}, "5": {"5", "6", "7"}, "8": {"8"}}[key]
            if not covers & wanted:
                continue
            print(f"bench: row group {key} ({time.monotonic() - started:.0f} s) ...", flush=True)
            try:
                rows += run()
            except Exception as exc:  # one broken row must not hide the others
                errors[key] = "".join(traceback.format_exception(exc))[-4000:]
                print(f"bench: row group {key} failed: {exc}", file=sys.stderr, flush=True)
        notes = list(env.notes)
        extra = ctx.results
    elapsed = time.monotonic() - started
    result = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "elapsed_seconds": round(elapsed, 1),
        "machine": _machine(),
        "notes": notes,
        "rows": [r.as_dict() for r in rows],
        "errors": errors,
        **extra,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(render(result))
    print(f"\nwrote {args.output.relative_to(ROOT) if args.output.is_relative_to(ROOT) else args.output}"
          f" in {elapsed:.0f} s")  # fmt: skip
    return 1 if errors else 0


def _version(cmd: list[str]) -> str:
    if not shutil.which(cmd[0]):
        return "missing"
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr) else "?"


def _machine() -> dict:
    import psutil

    from bench import load

    return {
        "cpus": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "load_generator": "wrk"
        if load.WRK
        else "python-asyncio (" + ("forced" if os.environ.get("BENCH_LOAD_GENERATOR") else "wrk not installed") + ")",
        "wrk": _version(["wrk", "-v"]),
        "node": _version(["node", "--version"]),
        "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
    }


def _fmt(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def render(result: dict) -> str:
    header = ("row", "measure", "value", "unit", "baseline", "ratio", "target", "met")
    lines = [
        [
            r["id"],
            r["name"],
            _fmt(r["value"]),
            r["unit"],
            _fmt(r["baseline"]),
            _fmt(r["ratio"]),
            r["target"],
            {True: "yes", False: "NO", None: "pending" if r["detail"].get("pending") else "—"}[r["met"]],
        ]
        for r in result["rows"]
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *lines, strict=True)]
    out = [" | ".join(str(h).ljust(w) for h, w in zip(header, widths, strict=True))]
    out.append("-+-".join("-" * w for w in widths))
    out += [" | ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)) for line in lines]
    out.append("ratio = speed relative to the bare DRF baseline of the same run (1.0 = as fast as the bare view)")
    foreign = [r.get("foreign_cpu_cores", 0) for r in result.get("load_runs", [])]
    if foreign and max(foreign) > 0.2:
        out.append(f"warning: other processes used up to {max(foreign)} cores during load runs — numbers are low")
    for note in result.get("notes", []):
        out.append(f"note: {note}")
    for key, error in result.get("errors", {}).items():
        out.append(f"row group {key} FAILED: {error.strip().splitlines()[-1]}")
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
