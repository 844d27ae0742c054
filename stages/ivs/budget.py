"""AWS call budget: one shared Redis rate limiter per IVS operation group.

IVS rate quotas are account-wide and not adjustable (DESIGN.md): 5 TPS for each stage operation
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
from ivsproject.redis import key
from stages.ivs._redis import redis_client

STAGE_GROUP = "stage"
TOKEN_GROUP = "token"
_TOKEN_OPERATIONS = frozenset({"CreateParticipantToken"})

# Wall clock on purpose: windows must line up across processes, which a per-process monotonic
# clock cannot do. Module attributes so tests can swap in a fake clock.
clock: Callable[[], float] = time.time
sleep: Callable[[float], None] = time.sleep

# KEYS[1]: prefix of the group's window counters. ARGV: first window, limit, last window, ttl.
# Reads before it increments, so a caller that finds no room leaves every counter untouched.
_RESERVE = """
local limit = tonumber(ARGV[2])
for w = tonumber(ARGV[1]), tonumber(ARGV[3]) do
  local counter = KEYS[1] .. ':' .. w
  if tonumber(redis.call('GET', counter) or '0') < limit then
    redis.call('INCR', counter)
    redis.call('EXPIRE', counter, tonumber(ARGV[4]))
    return w
  end
end
return -1
"""


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
    # The hash tag keeps a group's counters in one cluster slot (the script builds their names).
    prefix = key("budget", settings.AWS_REGION, "{" + group + "}")
    reserve = redis_client().register_script(_RESERVE)  # EVALSHA: the script text is sent once
    window = int(reserve(keys=[prefix], args=[first, limit_of(group), last, last - first + 2]))  # type: ignore[arg-type]
    if window < 0:
        raise ServiceUnavailable(
            details={"reason": "aws call budget exhausted", "operation": operation, "maxWaitSeconds": max_wait}
        )
    wait = max(0.0, window - now)
    if wait > 0:
        sleep(wait)
    return wait
