"""One exception hierarchy with stable codes, and the one handler that renders every error.

Services raise `ApiError` subclasses; `api_exception_handler` (DRF) and the envelope middleware
(everything that never reaches DRF) both render through `error_response`, so the wire shape is
defined once. Codes never change; messages are the spec's zh-Hant strings, translated to English
with `Accept-Language: en` (Zulip `JsonableError` + `ErrorCode` pattern).
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response

from ivsproject.api.envelope import error_body

logger = logging.getLogger(__name__)


class ApiError(Exception):
    code = "INTERNAL_ERROR"
    status = 500
    default_message: Any = _("伺服器內部錯誤")
    # Keys of `details` that the contract shows to every client (not only in development).
    public_detail_keys: frozenset[str] = frozenset()

    def __init__(self, message: Any = None, *, details: dict | None = None, headers: dict | None = None):
        self.message = message if message is not None else self.default_message
        self.details = details or {}
        self.headers = headers or {}
        super().__init__(str(self.message))


class ValidationFailed(ApiError):
    code = "VALIDATION_ERROR"
    status = 400
    default_message = _("請求參數無效")
    public_detail_keys = frozenset({"missingFields", "viewerCount"})


class MissingFields(ValidationFailed):
    def __init__(self, fields: list[str]):
        message = _("缺少 %(field)s") % {"field": fields[0]} if len(fields) == 1 else _("缺少必要參數")
        super().__init__(message, details={"missingFields": fields})


class Unauthorized(ApiError):
    code = "UNAUTHORIZED"
    status = 401
    default_message = _("未授權：缺少或無效的 API 金鑰")


class Forbidden(ApiError):
    code = "FORBIDDEN"
    status = 403
    default_message = _("沒有權限執行此操作")


class NotFound(ApiError):
    code = "NOT_FOUND"
    status = 404
    default_message = _("資源不存在")


class MethodNotAllowed(ApiError):
    # Not in the spec's table (the original is silent on wrong methods); documented in README.
    code = "METHOD_NOT_ALLOWED"
    status = 405
    default_message = _("不支援此 HTTP 方法")


class RateLimitExceeded(ApiError):
    code = "RATE_LIMIT_EXCEEDED"
    status = 429
    default_message = _("請求過於頻繁，請稍後再試")


class StageFull(ApiError):
    code = "STAGE_FULL"
    status = 503
    default_message = _("Stage 已滿，請稍後再試")


class StageLimitReached(ApiError):
    code = "STAGE_LIMIT_REACHED"
    status = 503

    def __init__(self, limit: int | None = None, **kwargs: Any):
        limit = settings.MAX_STAGES if limit is None else limit
        super().__init__(_("已達到 Stage 數量上限 (%(limit)s)") % {"limit": limit}, **kwargs)


class RoomLimitReached(ApiError):
    code = "ROOM_LIMIT_REACHED"
    status = 503

    def __init__(self, limit: int | None = None, **kwargs: Any):
        limit = settings.MAX_ROOMS if limit is None else limit
        super().__init__(_("已達到直播間數量上限 (%(limit)s)") % {"limit": limit}, **kwargs)


class Conflict(ApiError):
    code = "CONFLICT"
    status = 409


class TokenGenerationFailed(ApiError):
    code = "TOKEN_GENERATION_FAILED"
    status = 500
    default_message = _("Token 生成失敗")


class InternalError(ApiError):
    pass


class ServiceUnavailable(ApiError):
    code = "SERVICE_UNAVAILABLE"
    status = 503
    default_message = _("服務不可用")


def _error_payload(exc: ApiError) -> dict[str, Any]:
    details = exc.details
    if settings.IS_PRODUCTION:
        details = {k: v for k, v in details.items() if k in exc.public_detail_keys}
    return error_body(exc.code, exc.message, details or None)


def error_response(exc: ApiError) -> Response:
    """The error envelope as a DRF response (inside DRF views)."""
    response = Response(_error_payload(exc), status=exc.status)
    for name, value in exc.headers.items():
        response[name] = value
    return response


def error_json_response(exc: ApiError) -> JsonResponse:
    """The same envelope as a plain Django response (middleware, handler404/500)."""
    response = JsonResponse(_error_payload(exc), status=exc.status, json_dumps_params={"ensure_ascii": False})
    for name, value in exc.headers.items():
        response[name] = value
    return response


def _validation_error(detail: Any) -> ApiError:
    """Turn DRF's nested validation errors into VALIDATION_ERROR with `missingFields`."""
    if not isinstance(detail, dict):
        return ValidationFailed(details={"errors": _plain(detail)})
    missing = [
        field
        for field, errors in detail.items()
        if isinstance(errors, list) and any(getattr(e, "code", None) in ("required", "null", "blank") for e in errors)
    ]
    if missing:
        exc: ApiError = MissingFields(missing)
    else:
        exc = ValidationFailed()
    exc.details.setdefault("fields", _plain(detail))
    return exc


def _plain(detail: Any) -> Any:
    if isinstance(detail, dict):
        return {k: _plain(v) for k, v in detail.items()}
    if isinstance(detail, list):
        return [_plain(v) for v in detail]
    return str(detail)


def to_api_error(exc: BaseException) -> ApiError | None:
    """Map any exception we know to an ApiError; None for 'unexpected' (becomes INTERNAL_ERROR)."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, drf_exceptions.ValidationError):
        return _validation_error(exc.detail)
    if isinstance(exc, drf_exceptions.ParseError):
        return ValidationFailed(_("請求內容不是有效的 JSON"), details={"reason": str(exc.detail)})
    if isinstance(exc, drf_exceptions.UnsupportedMediaType):
        return ValidationFailed(_("請求內容必須是 JSON (Content-Type: application/json)"))
    if isinstance(exc, drf_exceptions.NotAuthenticated | drf_exceptions.AuthenticationFailed):
        return Unauthorized(headers={"WWW-Authenticate": 'ApiKey header="x-api-key"'})
    if isinstance(exc, drf_exceptions.PermissionDenied | PermissionDenied):
        return Forbidden()
    if isinstance(exc, drf_exceptions.NotFound | Http404):
        return NotFound()
    if isinstance(exc, drf_exceptions.MethodNotAllowed):
        return MethodNotAllowed()
    if isinstance(exc, RequestDataTooBig):
        return ValidationFailed(_("請求內容過大"))
    if isinstance(exc, SuspiciousOperation):
        return ValidationFailed()
    if isinstance(exc, redis.RedisError):
        logger.warning("redis unavailable: %s", exc)
        return ServiceUnavailable(details={"reason": "redis", "error": str(exc)})
    if isinstance(exc, OperationalError | InterfaceError):
        logger.warning("database unavailable: %s", exc)
        return ServiceUnavailable(details={"reason": "database", "error": str(exc)})
    if isinstance(exc, DatabaseError):
        return None
    return None


def unexpected_error(exc: BaseException) -> ApiError:
    logger.error("unhandled exception", exc_info=exc)
    return InternalError(details={"exception": f"{type(exc).__name__}: {exc}"})


def api_exception_handler(exc: Exception, context: dict) -> Response:
    api_error = to_api_error(exc) or unexpected_error(exc)
    if isinstance(exc, drf_exceptions.MethodNotAllowed):
        view = context.get("view")
        response = error_response(api_error)
        if view is not None:
            response["Allow"] = ", ".join(view.allowed_methods)
        return response
    return error_response(api_error)
