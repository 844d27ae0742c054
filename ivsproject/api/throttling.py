"""Per-client rate limit: RATE_LIMIT_PER_MINUTE requests per fixed 60 s window, counted in Redis.

The limit is per client address, not per API key: the spec's clients embed the key in browsers,
so a per-key limit would lock out a whole audience at once.
"""

from __future__ import annotations

import hashlib
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from ivsproject.api.authentication import ApiClient
from ivsproject.api.exceptions import RateLimitExceeded
from ivsproject.redis import get_redis, slot_key

PERIOD_SECONDS = 60
# A counter outlives its window by a few seconds, so a request that arrives just as the window ends
# still finds the count (the margin django-ratelimit gave its counters, kept when this replaced it).
EXPIRY_MARGIN_SECONDS = 5
_EXPIRY_SECONDS = PERIOD_SECONDS + EXPIRY_MARGIN_SECONDS


def clock() -> float:
    """Now, in seconds since the epoch: every rate-limit window is read off this clock.

    A module function, looked up at each call, so tests can pin it: windows are fixed, and a burst
    that happened to straddle a window's end would see its count start again half-way.
    """
    return time.time()


def window_end(client: str, period: int) -> int:
    """The end (epoch second) of the fixed `period`-second window `client` is counted in now.

    Windows are fixed slices of the epoch, each client's shifted by a stable jitter (CRC-32 of the
    client modulo the period) so that not every client's window turns over in the same second. The
    end names the window in counter keys. These are the windows django-ratelimit computed, so the
    counters kept their keys and their answers when this replaced it.
    """
    now = int(clock())
    if period == 1:
        return now
    end = now - now % period + zlib.crc32(client.encode("utf-8")) % period
    return end if end >= now else end + period


def client_ip(request: HttpRequest) -> str:
    """The peer address; `X-Forwarded-For` only through TRUSTED_PROXY_COUNT proxies we run.

    With N trusted proxies, the client is the N-th address from the right of X-Forwarded-For
    (each proxy appends the address it received from); anything left of it is client-supplied.
    """
    return client_ip_of(request.META)


def client_ip_of(meta: Mapping[str, Any]) -> str:
    """`client_ip` from a request's META (a WSGI environ)."""
    return client_address(meta.get("REMOTE_ADDR", ""), meta.get("HTTP_X_FORWARDED_FOR", ""))


def client_address(peer: str, forwarded_for: str) -> str:
    """The client address of a connection from `peer` carrying `X-Forwarded-For: forwarded_for`
    (repeated headers joined with ","): the one rule of every process, WSGI requests and daphne's
    WebSocket handshakes alike (ivsproject/asgi.py), so no server trusts a header another ignores."""
    remote = peer or "unknown"
    hops = settings.TRUSTED_PROXY_COUNT
    if hops <= 0:
        return remote
    forwarded = [p.strip() for p in forwarded_for.split(",") if p.strip()]
    if len(forwarded) >= hops:
        return forwarded[-hops]
    return forwarded[0] if forwarded else remote


def _counter_key(client: str, window: int) -> str:
    # The client part comes from a header; keep keys short and free of odd bytes whatever it holds.
    if len(client) > 64 or not client.isascii():
        client = hashlib.sha256(client.encode("utf-8", "surrogatepass")).hexdigest()
    # Counted inside the seat and heartbeat scripts, so it shares their keys' slot.
    return slot_key("seats", "ratelimit", window, client)


# Where the WSGI fast path (ivsproject.api.fastpath) leaves the count it already made for a
# request it then hands to Django: the throttle enforces that count instead of counting again.
PRECOUNTED_ENVIRON_KEY = "ivs.rate_limit.precounted"


@dataclass(frozen=True)
class RateTicket:
    """The count one request owes to its client's window (`counted`: already paid, this count)."""

    key: str
    window: int
    limit: int
    ttl: int = _EXPIRY_SECONDS
    counted: int | None = None


def ticket_for(request: HttpRequest | Request) -> RateTicket | None:
    """The request's counter (None when limiting is off): the client's current fixed 60 s window
    (`window_end`)."""
    return ticket_of(request.META)


def ticket_of(meta: Mapping[str, Any]) -> RateTicket | None:
    """`ticket_for` from a request's META (a WSGI environ)."""
    limit = settings.RATE_LIMIT_PER_MINUTE
    if limit <= 0:
        return None
    client = client_ip_of(meta)
    window = window_end(client, PERIOD_SECONDS)
    counted = meta.get(PRECOUNTED_ENVIRON_KEY)
    return RateTicket(key=_counter_key(client, window), window=window, limit=limit, counted=counted)


def enforce(ticket: RateTicket, count: int) -> None:
    """429 with Retry-After once the window's count is over the limit."""
    if count > ticket.limit:
        time_left = ticket.window - int(clock())
        raise RateLimitExceeded(headers={"Retry-After": str(max(time_left, 1))})


def count(ticket: RateTicket) -> int:
    """One more in the ticket's window (one INCR on the shared Redis): its number, 1 for the first."""
    client = get_redis()
    number = int(client.incr(ticket.key))
    if number == 1:
        # Only the window's first request sets the expiry (Redis's INCR rate-limiter pattern), so
        # every other request costs one command. A process dying in between leaves one small key
        # without expiry; it names a window that never comes back, so it limits no one.
        client.expire(ticket.key, ticket.ttl)
    return number


def settle(ticket: RateTicket | None) -> None:
    """Count the request now (one INCR on the shared Redis) and enforce the limit."""
    if ticket is None:
        return
    if ticket.counted is not None:
        enforce(ticket, ticket.counted)
        return
    enforce(ticket, count(ticket))


class ClientRateThrottle(BaseThrottle):
    """Same windows and answers as django-ratelimit's `get_usage` (which this replaced).

    Why (bench/): django-ratelimit counts through the Django cache — `add` (SET NX), then
    `incr` (EXISTS + INCR): three round trips per request. Here it is one INCR (plus an EXPIRE once
    per client and window), and the heartbeat folds even that into its presence script.
    """

    def allow_request(self, request: Request, view: object) -> bool:
        settle(ticket_for(request))
        return True


_DEFERRED = "_ivs_rate_ticket"


class DeferredClientRateThrottle(ClientRateThrottle):
    """For a hot view that counts the request inside its own Redis round trip (the heartbeat).

    Only an authenticated POST — whose handler is certain to run next — is deferred: the handler
    must `take_deferred` the ticket and settle it exactly once, before any answer other than 429
    (so a limited client still gets 429 whatever else is wrong with its request, as before).
    Everything else (a refused key, another method) is counted right here like everywhere.
    """

    def allow_request(self, request: Request, view: object) -> bool:
        if request.method == "POST" and isinstance(request.user, ApiClient):
            setattr(request, _DEFERRED, ticket_for(request))
            return True
        return super().allow_request(request, view)


def take_deferred(request: Request) -> RateTicket | None:
    """The ticket DeferredClientRateThrottle left for the handler (None: nothing owed)."""
    ticket = getattr(request, _DEFERRED, None)
    setattr(request, _DEFERRED, None)
    return ticket


class RateBill:
    """One request's rate-limit count, paid exactly once — the one place that rule lives.

    The hot paths count a request inside the Redis script that does their work (the heartbeat's
    refresh, the seat script), so the count cannot be made up front like everywhere else. Use:

        with RateBill(ticket) as bill:      # any error inside: counted first (429 wins over it)
            ...validate, look up...
            owed = bill.owed()              # the ticket for the script to count in, or None
            count = run_script(..., owed)
            bill.counted(count)             # the script's count, enforced (429 over the limit)

    `owed()` settles here what needs no script: limiting off, or a count already made (by the
    fast path, which handed the request to Django with its count). Once the ticket is handed to a
    script it is paid: an error after that never counts the request again. Nesting `with` on one
    bill is safe (the fast path's service call and Django's view share the rule).
    """

    __slots__ = ("_paid", "ticket")

    def __init__(self, ticket: RateTicket | None) -> None:
        self.ticket = ticket
        self._paid = ticket is None

    def __enter__(self) -> RateBill:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is not None:
            self.settle()  # a limited client gets 429, not the error

    def settle(self) -> None:
        """Count now (one INCR) and enforce, unless paid already."""
        if not self._paid:
            self._paid = True
            settle(self.ticket)

    def owed(self) -> RateTicket | None:
        if self._paid:
            return None
        assert self.ticket is not None
        if self.ticket.counted is not None:
            self.settle()  # counted by the fast path already: only enforced here
            return None
        self._paid = True
        return self.ticket

    def counted(self, count: int | None) -> None:
        if count is not None and self.ticket is not None:
            enforce(self.ticket, count)
