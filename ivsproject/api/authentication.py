"""API-key authentication (`x-api-key`), what each kind of key may call, and the internal-secret
permission.

Two kinds of key. A full key (`API_SECRET_KEY`) may call everything; it belongs on the product's
backend. A client key (`API_CLIENT_KEYS`) is meant to be embedded in viewer apps, where anyone can
read it, so it may call only what a viewer app needs (`CLIENT_KEY_ROUTES`); everywhere else it gets
403 `FORBIDDEN`. The rule is by route and is an allow-list: a route added later is full-key-only
until it is listed here.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from ivsproject.api.exceptions import Forbidden

# The routes (Django view names) a client key may call: what a viewer app does (take a viewer
# token, send heartbeats, leave) and the read-only figures it may show (stats, watch time). Not the
# viewer list: it names every other viewer, which is more than a figure. Publisher and media-server
# tokens, stage and room management, reports and every other route need the full key.
CLIENT_KEY_ROUTES = frozenset(
    {
        "token-viewer",
        "viewer-heartbeat",
        "viewer-leave",
        "viewer-duration",
        "stats",
        "stats-viewers",
        "stats-publisher",
        "stats-rooms",
    }
)
CLIENT_KEY_REFUSED = _("此 API 金鑰僅供用戶端使用，無權執行此操作")


@dataclass(frozen=True)
class ApiClient:
    """The authenticated caller. API keys identify an application, not a person."""

    key_index: int | None
    # False for a client key (API_CLIENT_KEYS): only CLIENT_KEY_ROUTES.
    full: bool = True

    is_authenticated = True

    def may_call(self, route: str | None) -> bool:
        """Whether this caller may call the route of that view name (None: a view without one)."""
        return self.full or route in CLIENT_KEY_ROUTES


def match_secret(candidate: str, secrets: list[str]) -> int | None:
    """Index of the matching secret, comparing against *every* one in constant time, so timing
    reveals neither the key nor its slot (several keys exist during a rotation)."""
    given = candidate.encode()
    match = None
    for index, secret in enumerate(secrets):
        if hmac.compare_digest(given, secret.encode()) and match is None:
            match = index
    return match


# Where a request's caller is kept once known: the body guard, the fast path and DRF all ask, and
# the keys are compared once per request. Not an `HTTP_` name, so no request header can set it.
_CALLER = "ivsproject.api_client"


def api_client_of(meta: Mapping[str, Any]) -> ApiClient | None:
    """The caller a request's META (a WSGI environ) authenticates as, or None."""
    if _CALLER in meta:
        return meta[_CALLER]
    client = _authenticate(meta)
    if isinstance(meta, dict):
        meta[_CALLER] = client
    return client


def _authenticate(meta: Mapping[str, Any]) -> ApiClient | None:
    if settings.SKIP_AUTH and not settings.IS_PRODUCTION:
        return ApiClient(key_index=None)
    # Two `x-api-key` headers arrive joined as "a,b" and so never match a key.
    given = meta.get("HTTP_X_API_KEY")
    if not isinstance(given, str) or not given:
        return None
    # Both lists are compared in full whatever matches, so timing does not tell which kind of key
    # (or slot) was sent. A key on both lists is a full key.
    index = match_secret(given, settings.API_SECRET_KEYS)
    client_index = match_secret(given, settings.API_CLIENT_KEYS)
    if index is None and client_index is not None:
        return ApiClient(key_index=client_index, full=False)
    return None if index is None else ApiClient(key_index=index)


def route_of(request: Any) -> str | None:
    """The view name of the route a request resolved to (None when it resolved to none)."""
    match = getattr(request, "resolver_match", None)
    return None if match is None else match.view_name


class ApiKeyAuthentication(BaseAuthentication):
    keyword = "ApiKey"

    def authenticate(self, request: Request):  # type: ignore[no-untyped-def]
        client = api_client_of(request.META)
        return None if client is None else (client, None)

    def authenticate_header(self, request: Request) -> str:
        return 'ApiKey header="x-api-key"'


class HasApiKey(BasePermission):
    def has_permission(self, request: Request, view: object) -> bool:
        client = request.user
        if isinstance(client, ApiClient) and client.may_call(route_of(request)):
            return True
        # DRF throttles only after the permission check, so refused requests would never count:
        # key guessing (or a misconfigured client hammering us) must end in 429 like anything else.
        check_throttles = getattr(view, "check_throttles", None)
        if check_throttles is not None:
            check_throttles(request)
        if isinstance(client, ApiClient):  # a client key on a full-key route
            raise Forbidden(CLIENT_KEY_REFUSED)
        return False


class HasInternalSecret(BasePermission):
    """`x-internal-secret` for internal endpoints; disabled (403) when no secret is configured."""

    def has_permission(self, request: Request, view: object) -> bool:
        secret = settings.INTERNAL_SECRET
        given = request.META.get("HTTP_X_INTERNAL_SECRET", "")
        if not secret or not given or match_secret(given, [secret]) is None:
            raise Forbidden()
        return True
