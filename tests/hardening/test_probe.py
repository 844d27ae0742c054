"""Findings of a security probe, each replayed against the production apps (the WSGI app with its
fast path, the ASGI app for /ws): every test fails if its finding comes back."""

from __future__ import annotations

import json
import re
import secrets
from io import BytesIO
from urllib.parse import urlsplit

import pytest

from ivsproject import wsgi
from tests.hardening.helpers import envelope_error

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_ratelimit_clock")]

KEY = "test-key"


def call(method: str, path: str, body: bytes | dict | None = None, *, remote: str = "10.0.0.1", **headers: str):
    """One request through the production WSGI app, the way the web server calls it; header names
    are given as WSGI keys (`HTTP_ACCEPT`)."""
    parts = urlsplit(path)
    payload = json.dumps(body).encode() if isinstance(body, dict) else (body or b"")
    environ = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": parts.path,
        "QUERY_STRING": parts.query,
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": remote,
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": BytesIO(payload),
        "wsgi.errors": BytesIO(),
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "CONTENT_LENGTH": str(len(payload)),
        **headers,
    }
    if payload:
        environ.setdefault("CONTENT_TYPE", "application/json")
    out: dict = {}

    def start_response(status, response_headers, exc_info=None):
        out["status"], out["headers"] = status, dict(response_headers)

    content = b"".join(wsgi.application(environ, start_response))
    return int(out["status"].split()[0]), out["headers"], content


@pytest.fixture
def frozen_ratelimit_clock(monkeypatch):
    """The rate limits' windows are fixed 60 s slices: pinned, a burst never straddles two."""
    from ivsproject.api import throttling

    monkeypatch.setattr(throttling, "clock", lambda: 1_800_000_000.0)
    return 1_800_000_000.0


@pytest.fixture(autouse=True)
def _keep_the_test_transaction():
    """As Django's test client does: Django's request signals must not close the test's
    connection (it is inside the test's transaction) while the app is called directly."""
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def keyed(settings):
    settings.API_SECRET_KEYS = [KEY]
    settings.RATE_LIMIT_PER_MINUTE = 0


# --- Content negotiation: whatever Accept says, the answer is the JSON envelope -----------------

ACCEPTS = ["text/html", "application/xml", "text/plain", "image/png;q=1, */*;q=0", "application/json; indent=x"]
ROUTES = [
    ("GET", "/health", None),
    ("GET", "/api/stats", None),
    ("GET", "/api/stage/list", None),
    ("GET", "/api/nope", None),
    ("POST", "/api/token/viewer", {"userId": "viewer-1"}),
    ("POST", "/api/viewer/heartbeat", {"userId": "viewer-1", "stageArn": "x"}),
    ("POST", "/api/events/ivs", {}),
]


@pytest.mark.parametrize("accept", ACCEPTS)
@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
@pytest.mark.parametrize("key", [KEY, None])
def test_any_accept_header_gets_the_json_envelope(keyed, master_stage, method, path, body, accept, key):
    headers = {"HTTP_ACCEPT": accept}
    if key:
        headers["HTTP_X_API_KEY"] = key
    status, response_headers, content = call(method, path, body, **headers)

    assert status != 500, content[:500]
    assert response_headers["Content-Type"].startswith("application/json")
    payload = json.loads(content)
    if status >= 400:
        envelope_error(status, content)
    else:
        assert payload["success"] is True and "data" in payload


@pytest.mark.parametrize("accept", ["text/html", "application/xml"])
def test_the_schema_still_negotiates_and_never_500s(accept):
    status, _, content = call("GET", "/api/schema/?format=json", HTTP_ACCEPT=accept)
    assert status == 200 and json.loads(content)["openapi"]
    status, _, _ = call("GET", "/api/schema/", HTTP_ACCEPT=accept)
    assert status == 200


# --- Metrics: a client's method never becomes a label value ----------------------------------


def method_labels() -> set[str]:
    status, _, content = call("GET", "/metrics")
    assert status == 200
    return set(re.findall(r'^ivs_http_request[a-z_]*\{[^}]*method="([^"]*)"', content.decode(), re.MULTILINE))


def test_custom_methods_add_no_label_values_but_other(keyed):
    method_labels()  # the scrape itself counts (GET)
    before = method_labels()
    for _ in range(30):
        method = "PROBE" + secrets.token_hex(6).upper()
        for path in ("/api/stats", "/health", "/api/nope", "/metrics"):
            status, _, _ = call(method, path, HTTP_X_API_KEY=KEY)
            assert status != 500

    added = method_labels() - before
    assert added <= {"other"}, sorted(added)
    assert "other" in method_labels()
    assert not any(label.startswith("PROBE") for label in method_labels())
