"""The spec's response envelope, defined once for success and error bodies."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rest_framework.metadata import SimpleMetadata
from rest_framework.request import Request
from rest_framework.response import Response


def iso(dt: datetime | None) -> str | None:
    """ISO 8601 UTC with milliseconds and `Z`, as the spec writes every time."""
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def iso_from_epoch(seconds: float | None) -> str | None:
    return None if seconds is None else iso(datetime.fromtimestamp(seconds, tz=UTC))


def now_iso() -> str:
    return iso(datetime.now(UTC))  # type: ignore[return-value]


def success_body(data: Any, message: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"success": True, "data": data, "timestamp": now_iso()}
    if message is not None:
        body["message"] = str(message)
    return body


def error_body(code: str, message: Any, details: dict | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": str(message)}
    if details:
        error["details"] = details
    return {"success": False, "error": error, "timestamp": now_iso()}


def ok(data: Any, message: Any = None, status: int = 200) -> Response:
    return Response(success_body(data, message), status=status)


class EnvelopeMetadata(SimpleMetadata):
    """OPTIONS answers in the envelope too (DRF's default is a bare metadata object)."""

    def determine_metadata(self, request: Request, view: Any) -> dict[str, Any]:
        return success_body(super().determine_metadata(request, view))
