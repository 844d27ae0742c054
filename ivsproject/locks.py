"""One-run-at-a-time across the deployment for periodic jobs (cleanup, autoscale, ticker).

A Redis lock with a TTL: if the holder is killed (SIGKILL) the lock expires and the next run
proceeds; jobs are written to be safe to re-run, so nothing is counted twice.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from ivsproject.redis import get_redis, key


@contextlib.contextmanager
def single_run(name: str, *, ttl_seconds: int) -> Iterator[bool]:
    lock = get_redis().lock(key("lock", name), timeout=ttl_seconds, blocking=False)
    acquired = lock.acquire()
    try:
        yield acquired
    finally:
        if acquired:
            with contextlib.suppress(Exception):  # expired while we ran: someone else may hold it now
                lock.release()
