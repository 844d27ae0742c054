"""CORS (CORS_ALLOWED_ORIGINS, ivsproject/api/cors.py) through the production WSGI application with
its fast path: preflights answered without a key and outside the rate limit, and the allowed
Origin's header on every answer to it — the fast path's, Django's and the errors — never on an
answer to another Origin or to none."""

from __future__ import annotations

import json

import pytest
from django.test import RequestFactory
from prometheus_client import REGISTRY

from ivsproject import wsgi

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_ratelimit_clock")]

KEY = "test-key"
APP = "https://app.example.com"
ADMIN = "https://admin.example.com:8443"
OTHER = "https://evil.example.net"
ACAO = "access-control-allow-origin"


@pytest.fixture(autouse=True)
def _keep_the_test_transaction(wsgi_app_called_directly):
    """The WSGI app is called directly here (tests/conftest.py says why this matters)."""


@pytest.fixture
def cors(settings):
    settings.API_SECRET_KEYS = [KEY]
    settings.RATE_LIMIT_PER_MINUTE = 0
    settings.API_FAST_PATH = True
    settings.CORS_ALLOWED_ORIGINS = [APP, ADMIN]
    return settings


def call(method: str, path: str, body: dict | None = None, *, origin: str | None = None, key: str | None = KEY,
         **headers: str) -> tuple[int, dict[str, str], bytes]:  # fmt: skip
    """One request through the production WSGI app (`ivsproject.wsgi.application`), as granian calls it."""
    extra = dict(headers)
    if origin is not None:
        extra["HTTP_ORIGIN"] = origin
    if key is not None:
        extra["HTTP_X_API_KEY"] = key
    factory = RequestFactory()
    if body is not None:
        request = factory.generic(method, path, json.dumps(body), content_type="application/json", **extra)
    else:
        request = factory.generic(method, path, **extra)
    out: dict = {}

    def start_response(status, response_headers, exc_info=None):
        out["status"], out["headers"] = status, {name.lower(): value for name, value in response_headers}

    content = b"".join(wsgi.application(request.environ, start_response))
    return int(out["status"].split()[0]), out["headers"], content


def preflight(path: str, method: str, origin: str | None) -> tuple[int, dict[str, str], bytes]:
    return call("OPTIONS", path, origin=origin, key=None, HTTP_ACCESS_CONTROL_REQUEST_METHOD=method,
                HTTP_ACCESS_CONTROL_REQUEST_HEADERS="x-api-key, content-type")  # fmt: skip


def fast_served(route: str) -> float:
    sample = REGISTRY.get_sample_value("ivs_fast_path_requests_total", {"route": route, "outcome": "served"})
    return sample or 0.0


def listed(value: str) -> set[str]:
    return {item.strip().lower() for item in value.split(",")}


PREFLIGHTED = [
    ("/api/token/viewer", "POST"),
    ("/api/viewer/heartbeat", "POST"),
    ("/api/token/publisher", "POST"),
    ("/api/stats", "GET"),
    ("/api/stage/list", "GET"),
    ("/api/rooms/default", "DELETE"),
    ("/api/stage/arn%3Aaws%3Aivs%3Aap-northeast-1%3A123456789012%3Astage%2Fabcdabcdabcd", "DELETE"),
    ("/health", "GET"),
    ("/readyz", "GET"),
]


@pytest.mark.usefixtures("cors")
@pytest.mark.parametrize(("path", "method"), PREFLIGHTED)
def test_a_preflight_from_an_allowed_origin_is_answered_without_a_key(path, method):
    status, headers, content = preflight(path, method, APP)

    assert status in (200, 204), content
    assert headers[ACAO] == APP
    assert method.lower() in listed(headers["access-control-allow-methods"])
    assert {"x-api-key", "content-type"} <= listed(headers["access-control-allow-headers"])


@pytest.mark.usefixtures("cors")
@pytest.mark.parametrize("origin", [OTHER, None, "https://app.example.com.evil.net", "http://app.example.com"])
def test_a_preflight_from_any_other_origin_gets_no_cors_header(origin):
    _, headers, _ = preflight("/api/token/viewer", "POST", origin)

    assert ACAO not in headers
    assert "access-control-allow-headers" not in headers


def test_preflights_are_outside_the_rate_limit(cors, master_stage):
    cors.RATE_LIMIT_PER_MINUTE = 3
    for _ in range(10):
        assert preflight("/api/stats", "GET", APP)[0] in (200, 204)

    answers = [call("GET", "/api/stats", origin=APP) for _ in range(4)]

    # The three requests the limit allows were all left for the real calls: no preflight counted.
    assert [status for status, _, _ in answers] == [200, 200, 200, 429]
    assert all(headers[ACAO] == APP for _, headers, _ in answers)  # the 429 too: its envelope is readable
    assert json.loads(answers[-1][2])["error"]["code"] == "RATE_LIMIT_EXCEEDED"


def test_origins_interleaved_on_fast_path_and_django_routes(cors, master_stage):
    """Allowed, other and no Origin in turn, preflights and calls, on the two fast routes and on
    Django routes: each answer carries exactly its own allowed Origin, even once the fast path
    serves the route's shape."""
    origins = [APP, OTHER, None, ADMIN, APP, None, OTHER, ADMIN, APP, ADMIN, None, APP]
    tokens_before, beats_before = fast_served("api/token/viewer"), fast_served("api/viewer/heartbeat")
    seen = []
    for n, origin in enumerate(origins):
        for path, method in (("/api/token/viewer", "POST"), ("/api/stats", "GET")):
            status, headers, _ = preflight(path, method, origin)
            assert status in (200, 204)
            seen.append((origin, headers.get(ACAO)))
        status, headers, content = call("POST", "/api/token/viewer", {"userId": f"v{n}"}, origin=origin)
        assert status == 200, content
        seen.append((origin, headers.get(ACAO)))
        stage_arn = json.loads(content)["data"]["stageArn"]
        for _ in range(2):
            status, headers, content = call("POST", "/api/viewer/heartbeat", {"userId": f"v{n}", "stageArn": stage_arn},
                                            origin=origin)  # fmt: skip
            assert status == 200, content
            seen.append((origin, headers.get(ACAO)))
        for path in ("/api/stats", "/api/stage/list", "/health"):
            status, headers, content = call("GET", path, origin=origin)
            assert status == 200, content
            seen.append((origin, headers.get(ACAO)))

    expected = [(origin, origin if origin in (APP, ADMIN) else None) for origin, _ in seen]
    assert seen == expected
    # The fast path answered some of them itself (allowed Origins and none), with those headers.
    assert fast_served("api/token/viewer") > tokens_before
    assert fast_served("api/viewer/heartbeat") >= beats_before + 8


@pytest.mark.usefixtures("cors", "master_stage")
@pytest.mark.parametrize("origin", [APP, ADMIN, OTHER, None])
def test_errors_carry_the_header_for_an_allowed_origin_only(origin):
    wanted = origin if origin in (APP, ADMIN) else None
    answers = {
        401: call("POST", "/api/token/viewer", {"userId": "v1"}, origin=origin, key=None),
        404: call("GET", "/api/nope", origin=origin),
        400: call("POST", "/api/viewer/heartbeat", {"userId": ""}, origin=origin),
    }
    for status, (got, headers, content) in answers.items():
        assert got == status, content
        assert json.loads(content)["success"] is False
        assert headers.get(ACAO) == wanted, (status, headers)


def test_with_no_origins_configured_cors_is_off(cors, master_stage):
    cors.CORS_ALLOWED_ORIGINS = []

    _, headers, _ = preflight("/api/stats", "GET", APP)
    assert ACAO not in headers and "access-control-allow-methods" not in headers
    for _ in range(3):
        status, headers, _ = call("POST", "/api/token/viewer", {"userId": "v1"}, origin=APP)
        assert status == 200 and ACAO not in headers
        assert "origin" not in listed(headers.get("vary", ""))
