"""AWS call budget: one shared Redis rate limiter per IVS operation group.

IVS rate quotas are account-wide and not adjustable (IVS service quotas): 5 TPS for each stage operation
and 50 TPS for CreateParticipantToken. Every process (web, worker, beat) shares the budget through
Redis, so the sum of our calls stays under the quota no matter how many processes run.

We spend the stage budget as one group (IVS_STAGE_CALLS_PER_SECOND shared by CreateStage,
GetStage, ListStages, ...) rather than 5 TPS per operation: simpler, and it can only err on the safe side.

Fixed 1-second windows, but a caller over the limit *reserves* a slot in the first window with
room instead of retrying: it then sleeps until that window opens. Callers are served in arrival
order without a thundering herd, nothing is dropped, and a slot is only taken when it is
reachable within `max_wait` — otherwise ServiceUnavailable (never a sleep longer than promised).

One slot per wrapper call: botocore's own retries (throttles, 5xx) are not charged again. They
are rare, bounded (3 attempts, jittered backoff, a client-side retry quota) and a throttle means
AWS is already pushing back.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from django.conf import settings

from ivsproject.api.exceptions import ServiceUnavailable
from ivsproject.redis import LuaScript, slot_key

STAGE_GROUP = "stage"
TOKEN_GROUP = "token"
_TOKEN_OPERATIONS = frozenset({"CreateParticipantToken"})

# Wall clock on purpose: windows must line up across processes, which a per-process monotonic
# clock cannot do. Module attributes so tests can swap in a fake clock.
clock: Callable[[], float] = time.time
sleep: Callable[[float], None] = time.sleep

# KEYS: the counters of the windows a caller may wait for, earliest first.
# ARGV: limit, ttl. Returns the position (0-based) of the first window with room, whose counter it
# increments, or -1. Reads before it increments, so a caller that finds no room changes nothing.
_RESERVE = LuaScript(
    """
local limit = tonumber(ARGV[1])
for i, counter in ipairs(KEYS) do
  if tonumber(redis.call('GET', counter) or '0') < limit then
    redis.call('INCR', counter)
    redis.call('EXPIRE', counter, tonumber(ARGV[2]))
    return i - 1
  end
end
return -1
"""
)


def window_key(group: str, window: int) -> str:
    """The call counter of one group's one-second window. A group's windows share a hash tag: one
    reservation reads several of them (in Redis Cluster, one slot)."""
    return slot_key(f"budget:{group}", settings.AWS_REGION, window)


def group_of(operation: str) -> str:
    return TOKEN_GROUP if operation in _TOKEN_OPERATIONS else STAGE_GROUP


def limit_of(group: str) -> int:
    if group == TOKEN_GROUP:
        return int(settings.IVS_TOKEN_CALLS_PER_SECOND)
    return int(settings.IVS_STAGE_CALLS_PER_SECOND)


def acquire(operation: str, *, max_wait: float = 5.0) -> float:
    """Take one call slot for `operation`; sleep until it is due. Returns the seconds waited."""
    group = group_of(operation)
    now = clock()
    first, last = math.floor(now), math.floor(now + max_wait)
    windows = range(first, last + 1)
    found = int(_RESERVE(keys=[window_key(group, w) for w in windows], args=[limit_of(group), last - first + 2]))
    if found < 0:
        raise ServiceUnavailable(
            details={"reason": "aws call budget exhausted", "operation": operation, "maxWaitSeconds": max_wait}
        )
    wait = max(0.0, windows[found] - now)
    if wait > 0:
        sleep(wait)
    return wait
