"""CORS for browser apps on other origins: django-cors-headers, switched by CORS_ALLOWED_ORIGINS.

With origins configured, django-cors-headers answers a preflight (OPTIONS with
Access-Control-Request-Method) on the API routes itself, before authentication and the rate limit
(a preflight carries no API key, and a browser sends one before each kind of call), and adds
`Access-Control-Allow-Origin` to every answer for an allowed Origin, errors included, so a page can
read the error envelope. With none configured, the API behaves as if the middleware were absent:
no preflight answered, no `Vary: Origin`.

The WSGI fast path serves its routes with the headers Django gave the first request of the same
shape; the allowed Origin is part of that shape (`fastpath.cors_origin`), and a request with any
other Origin is left to Django.
"""

from __future__ import annotations

from collections.abc import Callable

from corsheaders.middleware import CorsMiddleware as _CorsHeadersMiddleware
from django.conf import settings
from django.http import HttpRequest
from django.http.response import HttpResponseBase

Handler = Callable[[HttpRequest], HttpResponseBase]


class CorsMiddleware:
    def __init__(self, get_response: Handler):
        self.get_response = get_response
        self.cors = _CorsHeadersMiddleware(get_response)

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if not settings.CORS_ALLOWED_ORIGINS:
            return self.get_response(request)
        return self.cors(request)  # type: ignore[return-value]


def allowed_origin(origin: str | None) -> bool:
    """Whether `origin` is exactly one of CORS_ALLOWED_ORIGINS (django-cors-headers then allows it)."""
    return bool(origin) and origin in settings.CORS_ALLOWED_ORIGINS
