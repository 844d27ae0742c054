"""/metrics in Prometheus text, and an X-Request-ID on every response."""

import re

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.api.helpers import AUTH

pytestmark = [pytest.mark.urls("tests.api.urls"), pytest.mark.django_db]


def sample_value(client, name, **labels):
    text = client.get("/metrics").content.decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


def test_metrics_is_prometheus_text_without_a_key(client):
    response = client.get("/metrics")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert list(text_string_to_metric_families(response.content.decode()))


def test_requests_are_counted_by_route_method_and_status(client):
    labels = {"method": "GET", "route": "api/test/ping", "status": "200"}
    before = sample_value(client, "ivs_http_requests_total", **labels)

    client.get("/api/test/ping", **AUTH)

    assert sample_value(client, "ivs_http_requests_total", **labels) == before + 1


def test_errors_are_counted_with_their_status(client):
    labels = {"method": "GET", "route": "api/test/ping", "status": "401"}
    before = sample_value(client, "ivs_http_requests_total", **labels)

    client.get("/api/test/ping")

    assert sample_value(client, "ivs_http_requests_total", **labels) == before + 1


def test_unknown_paths_share_one_label(client):
    client.get("/api/random/abc123")

    text = client.get("/metrics").content.decode()
    assert 'route="unmatched"' in text
    assert "abc123" not in text


def test_latency_histogram_is_exported(client):
    client.get("/api/test/ping", **AUTH)

    count = sample_value(client, "ivs_http_request_duration_seconds_count", method="GET", route="api/test/ping")
    assert count >= 1


@pytest.mark.parametrize(
    "request_path",
    ["/api/test/ping", "/api/test/boom", "/api/nope", "/health", "/metrics", "/api/docs/", "/admin/login/"],
)
def test_every_response_has_a_request_id(client, request_path):
    response = client.get(request_path, **AUTH)

    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])


def test_request_ids_differ_between_requests(client):
    first = client.get("/health")["X-Request-ID"]
    second = client.get("/health")["X-Request-ID"]

    assert first != second


def test_a_sane_request_id_is_echoed(client):
    response = client.get("/api/test/ping", HTTP_X_REQUEST_ID="req-2025.10.21:abc_123", **AUTH)

    assert response["X-Request-ID"] == "req-2025.10.21:abc_123"


def test_oversized_body_response_carries_the_request_id_too(client):
    response = client.post(
        "/api/test/echo", "x" * 100_000, content_type="application/json", HTTP_X_REQUEST_ID="big-1", **AUTH
    )

    assert response.status_code == 400
    assert response["X-Request-ID"] == "big-1"


@pytest.mark.parametrize("garbage", ["", "has space", "x" * 129, "new\nline", "<script>", "ünïcode"])
def test_a_garbage_request_id_is_replaced(client, garbage):
    response = client.get("/health", HTTP_X_REQUEST_ID=garbage)

    assert response["X-Request-ID"] != garbage
    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])


def test_request_id_is_in_the_log_records(client, caplog):
    client.get("/api/test/boom", HTTP_X_REQUEST_ID="trace-me-42", **AUTH)

    assert any(getattr(record, "request_id", None) == "trace-me-42" for record in caplog.records)
