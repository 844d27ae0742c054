"""Shared assertions and raw-HTTP helpers of the hardening tests."""

from __future__ import annotations

import json
import re
import socket
from typing import Any

TIMESTAMP_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def envelope_error(status: int, body: bytes | str) -> dict[str, Any]:
    """The error envelope's `error` (asserting the spec's shape), for any HTTP client's answer."""
    payload = json.loads(body)
    assert set(payload) == {"success", "error", "timestamp"}, payload
    assert payload["success"] is False, payload
    assert TIMESTAMP_RE.match(payload["timestamp"]), payload
    assert status >= 400, (status, payload)
    error = payload["error"]
    assert set(error) <= {"code", "message", "details"} and error["code"] and error["message"], error
    return error


def raw_http(port: int, request: bytes, *, timeout: float = 5.0) -> tuple[int, dict[str, str], bytes]:
    """Send bytes exactly as given (repeated headers, raw `%00` in the path, …); read one answer.

    Header names come back lower-cased; a repeated response header keeps its last value.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        data = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            data += chunk
            head, sep, rest = data.partition(b"\r\n\r\n")
            if sep:
                length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
                if length and len(rest) >= int(length.group(1)):
                    break
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body


def http_request(method: str, path: str, headers: list[tuple[str, str]], body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers]
    if body and not any(name.lower() in ("content-length", "transfer-encoding") for name, _ in headers):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + body
