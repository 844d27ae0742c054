"""How a broadcast's summary scales with its audience: `python -m bench.reports_summary`.

One broadcast with N viewer sessions (a mix of sessions inside, across and outside its window, some
open), on the bench's scratch PostgreSQL (bench/env.py). Timed, in the same run and interleaved:
- `aggregate`: the summary as the API computes it (one aggregate query: distinct users, watch time
  cut to the window), while the broadcast can still change;
- `python baseline`: the same figures from every overlapping session fetched into Python (the
  shape the aggregate replaces);
- `kept`: the summary of a finished broadcast, read from its row.
Each result is checked against the baseline's figures before anything is timed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.env import bench_env


def _setup(database_url: str, redis_url: str) -> None:
    os.environ.update(DATABASE_URL=database_url, REDIS_URL=redis_url, LOG_LEVEL="WARNING")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ivsproject.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _seed(sessions: int) -> tuple[Any, datetime]:
    from reports.models import Broadcast
    from stages.services import stage_ensure_master
    from viewers.models import ViewerSession

    stage, _ = stage_ensure_master()
    start = datetime(2026, 1, 1, 20, 0, tzinfo=UTC)
    end = start + timedelta(hours=2)
    broadcast = Broadcast.objects.create(room_id="default", started_at=start, ended_at=end, last_live_at=end)
    rows = []
    for n in range(sessions):
        joined = start + timedelta(seconds=(n * 7919) % 9000 - 900)  # some before the show, some after
        length = timedelta(seconds=60 + (n * 104729) % 3600)
        left = None if n % 50 == 0 else joined + length
        rows.append(
            ViewerSession(
                # A quarter come back (fewer unique users); an open session's user has no other open one.
                user_id=f"open-{n}" if left is None else f"u{n % (sessions * 3 // 4 or 1)}",
                stage=stage,
                joined_at=joined,
                last_heartbeat=left or joined,
                left_at=left,
                watched_seconds=length.total_seconds() if left else 0,
            )
        )
    ViewerSession.objects.bulk_create(rows, batch_size=5000)
    return broadcast, end + timedelta(hours=1)


def _python_baseline(broadcast, at):  # type: ignore[no-untyped-def]
    from django.db.models import Q

    from viewers.models import ViewerSession

    start, end = broadcast.started_at, broadcast.ended_at or at
    users, seconds = set(), 0.0
    overlapping = ViewerSession.objects.filter(stage__room_id=broadcast.room_id, joined_at__lt=end).filter(
        Q(left_at__isnull=True) | Q(left_at__gt=start)
    )
    for user_id, joined, left in overlapping.values_list("user_id", "joined_at", "left_at").iterator(chunk_size=5000):
        users.add(user_id)
        seconds += max((min(left or at, end) - max(joined, start)).total_seconds(), 0.0)
    return len(users), int(seconds)


def _time(fn, repeat: int) -> list[float]:  # type: ignore[no-untyped-def]
    fn()
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return samples


def _measure(count: int, repeat: int) -> str | None:
    """One audience size: the row of the table, or None when a result disagrees with the baseline."""
    from reports import selectors
    from reports.models import Broadcast
    from viewers.models import ViewerSession

    ViewerSession.objects.all().delete()
    Broadcast.objects.all().delete()
    broadcast, at = _seed(count)
    expected = _python_baseline(broadcast, at)
    live = Broadcast.objects.get(pk=broadcast.pk)

    def aggregate() -> dict:
        live.final_unique_viewers = live.final_watch_seconds = None  # never kept: recomputed each time
        return selectors.summary(live, at - timedelta(hours=10))  # before the end: still changeable

    got = selectors.summary(Broadcast.objects.get(pk=broadcast.pk), at)
    if (got["uniqueViewers"], got["totalWatchSeconds"]) != expected:
        print(f"MISMATCH at {count}: {got} against the baseline's {expected}", file=sys.stderr)
        return None
    agg: list[float] = []
    base: list[float] = []
    for _ in range(repeat):  # interleaved, so both see the same spells of a shared machine
        agg += _time(aggregate, 1)
        base += _time(lambda: _python_baseline(broadcast, at), 1)
    # After the show the cleanup closes the sessions still open; then the figures are final and the
    # first read keeps them on the row.
    ViewerSession.objects.filter(left_at__isnull=True).update(left_at=at, last_heartbeat=at)
    selectors.summary(Broadcast.objects.get(pk=broadcast.pk), at)
    kept_row = Broadcast.objects.get(pk=broadcast.pk)
    if kept_row.final_unique_viewers is None:
        print("MISMATCH: a finished broadcast's figures were not kept", file=sys.stderr)
        return None
    kept = _time(lambda: selectors.summary(kept_row, at), repeat)
    a, b = statistics.median(agg), statistics.median(base)
    return f"{count:>9,}  {a:>12.1f}  {b:>18.1f}  {b / a:>5.1f}x  {statistics.median(kept):>8.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    with bench_env() as env:
        for note in env.notes:
            print(f"note: {note}")
        _setup(env.database_url, env.redis_url)
        print(f"{'sessions':>9}  {'aggregate ms':>12}  {'python baseline ms':>18}  {'ratio':>6}  {'kept ms':>8}")
        for count in args.sessions:
            row = _measure(count, args.repeat)
            if row is None:
                return 1
            print(row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
