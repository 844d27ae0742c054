"""Middleware: request ids, Prometheus request metrics, and the envelope for everything that
never reaches a DRF view (unknown routes, oversized bodies, Django-level errors)."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _

from ivsproject.api import metrics
from ivsproject.api.exceptions import (
    ApiError,
    Forbidden,
    InternalError,
    MethodNotAllowed,
    NotFound,
    ValidationFailed,
    error_json_response,
    to_api_error,
    unexpected_error,
)
from ivsproject.api.logging import request_id_var

REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

Handler = Callable[[HttpRequest], HttpResponse]


def request_id_of(meta: Mapping[str, Any]) -> str:
    """The caller's `X-Request-ID` when sane, else a new one."""
    given = meta.get("HTTP_X_REQUEST_ID", "")
    return given if isinstance(given, str) and REQUEST_ID_RE.match(given) else uuid.uuid4().hex


class RequestIdMiddleware:
    """`X-Request-ID` on every response: the caller's (when sane) or a new one; also in logs."""

    def __init__(self, get_response: Handler):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request_id_of(request.META)
        request.request_id = request_id  # type: ignore[attr-defined]
        token = request_id_var.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response["X-Request-ID"] = request_id
        return response


class MetricsMiddleware:
    def __init__(self, get_response: Handler):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        # The route pattern, not the raw path: ARNs in paths would explode label cardinality.
        route = match.route if match is not None else "unmatched"
        metrics.observe_request(request.method or "-", route, response.status_code, time.perf_counter() - started)
        return response


def is_api_path(path: str) -> bool:
    return (path.startswith("/api/") and not path.startswith(("/api/docs", "/api/schema"))) or path in (
        "/health",
        "/api",
    )


_STATUS_ERRORS: dict[int, type[ApiError]] = {
    400: ValidationFailed,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    413: ValidationFailed,
    500: InternalError,
}


class ApiEnvelopeMiddleware:
    """Guarantees the envelope on /api/* and /health whatever happens before or after DRF."""

    def __init__(self, get_response: Handler):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        from django.conf import settings

        if not is_api_path(request.path):
            return self.get_response(request)
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > settings.API_MAX_BODY_BYTES:
            # Refuse from the header alone: the body is never read into memory.
            return error_json_response(
                ValidationFailed(
                    _("請求內容過大"),
                    details={"maxBodyBytes": settings.API_MAX_BODY_BYTES, "contentLength": length},
                )
            )
        response = self.get_response(request)
        content_type = response.get("Content-Type", "")
        if response.status_code >= 400 and not content_type.startswith("application/json"):
            error_class = _STATUS_ERRORS.get(response.status_code, InternalError)
            replacement = error_json_response(error_class())
            if response.has_header("Allow"):
                replacement["Allow"] = response["Allow"]
            return replacement
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_api_path(request.path):
            return None
        return error_json_response(to_api_error(exception) or unexpected_error(exception))
