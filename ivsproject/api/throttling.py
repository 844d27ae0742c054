"""Per-client rate limit (django-ratelimit on the shared Redis cache).

The limit is per client address, not per API key: the spec's clients embed the key in browsers,
so a per-key limit would lock out a whole audience at once.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django_ratelimit.core import get_usage
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from ivsproject.api.exceptions import RateLimitExceeded


def client_ip(request: HttpRequest) -> str:
    """The peer address; `X-Forwarded-For` only through TRUSTED_PROXY_COUNT proxies we run.

    With N trusted proxies, the client is the N-th address from the right of X-Forwarded-For
    (each proxy appends the address it received from); anything left of it is client-supplied.
    """
    remote = request.META.get("REMOTE_ADDR", "") or "unknown"
    hops = settings.TRUSTED_PROXY_COUNT
    if hops <= 0:
        return remote
    forwarded = [p.strip() for p in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if p.strip()]
    if len(forwarded) >= hops:
        return forwarded[-hops]
    return forwarded[0] if forwarded else remote


def _client_key(group: str, request: HttpRequest) -> str:
    return client_ip(request)


class ClientRateThrottle(BaseThrottle):
    def allow_request(self, request: Request, view: object) -> bool:
        limit = settings.RATE_LIMIT_PER_MINUTE
        if limit <= 0:
            return True
        usage = get_usage(request._request, group="api", key=_client_key, rate=f"{limit}/m", increment=True)
        if usage and usage["should_limit"]:
            raise RateLimitExceeded(headers={"Retry-After": str(max(int(usage["time_left"]), 1))})
        return True
