"""Assertions on the spec's envelope, shared by the API plumbing tests."""

import re
from typing import Any

from django.http import HttpResponse

TIMESTAMP_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
API_KEY = "dev-api-key"  # the development default (settings.DEV_API_KEY)
AUTH = {"HTTP_X_API_KEY": API_KEY}


def json_body(response: HttpResponse) -> dict[str, Any]:
    assert response["Content-Type"].startswith("application/json"), (response["Content-Type"], response.content)
    body = response.json()
    assert isinstance(body, dict)
    return body


def assert_success(response: HttpResponse, status: int = 200) -> dict[str, Any]:
    """The success envelope; returns `data`."""
    assert response.status_code == status, response.content
    body = json_body(response)
    assert set(body) <= {"success", "data", "timestamp", "message"}, body
    assert body["success"] is True
    assert TIMESTAMP_RE.match(body["timestamp"]), body["timestamp"]
    assert "data" in body
    return body["data"]


def assert_error(response: HttpResponse, status: int, code: str) -> dict[str, Any]:
    """The error envelope with the given HTTP status and code; returns `error`."""
    assert response.status_code == status, response.content
    body = json_body(response)
    assert set(body) == {"success", "error", "timestamp"}, body
    assert body["success"] is False
    assert TIMESTAMP_RE.match(body["timestamp"]), body["timestamp"]
    error = body["error"]
    assert set(error) <= {"code", "message", "details"}, error
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"], error
    return error
