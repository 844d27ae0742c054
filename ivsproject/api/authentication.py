"""API-key authentication (`x-api-key`) and the internal-secret permission."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from ivsproject.api.exceptions import Forbidden


@dataclass(frozen=True)
class ApiClient:
    """The authenticated caller. API keys identify an application, not a person."""

    key_index: int | None

    is_authenticated = True


def match_secret(candidate: str, secrets: list[str]) -> int | None:
    """Index of the matching secret, comparing against *every* one in constant time, so timing
    reveals neither the key nor its slot (several keys exist during a rotation)."""
    given = candidate.encode()
    match = None
    for index, secret in enumerate(secrets):
        if hmac.compare_digest(given, secret.encode()) and match is None:
            match = index
    return match


def api_client_of(meta: Mapping[str, Any]) -> ApiClient | None:
    """The caller a request's META (a WSGI environ) authenticates as, or None."""
    if settings.SKIP_AUTH and not settings.IS_PRODUCTION:
        return ApiClient(key_index=None)
    # Two `x-api-key` headers arrive joined as "a,b" and so never match a key.
    given = meta.get("HTTP_X_API_KEY")
    index = match_secret(given, settings.API_SECRET_KEYS) if isinstance(given, str) and given else None
    return None if index is None else ApiClient(key_index=index)


class ApiKeyAuthentication(BaseAuthentication):
    keyword = "ApiKey"

    def authenticate(self, request: Request):  # type: ignore[no-untyped-def]
        client = api_client_of(request.META)
        return None if client is None else (client, None)

    def authenticate_header(self, request: Request) -> str:
        return 'ApiKey header="x-api-key"'


class HasApiKey(BasePermission):
    def has_permission(self, request: Request, view: object) -> bool:
        if isinstance(request.user, ApiClient):
            return True
        # DRF throttles only after the permission check, so refused requests would never count:
        # key guessing (or a misconfigured client hammering us) must end in 429 like anything else.
        check_throttles = getattr(view, "check_throttles", None)
        if check_throttles is not None:
            check_throttles(request)
        return False


class HasInternalSecret(BasePermission):
    """`x-internal-secret` for internal endpoints; disabled (403) when no secret is configured."""

    def has_permission(self, request: Request, view: object) -> bool:
        secret = settings.INTERNAL_SECRET
        given = request.META.get("HTTP_X_INTERNAL_SECRET", "")
        if not secret or not given or match_secret(given, [secret]) is None:
            raise Forbidden()
        return True
