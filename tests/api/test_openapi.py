"""OpenAPI 3 at /api/schema/, Swagger UI at /api/docs/ served from local assets only."""

import re

import pytest
from django.core.management import call_command
from openapi_spec_validator import validate

pytestmark = pytest.mark.django_db

ASSET_RE = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")


@pytest.fixture
def schema(client):
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200, response.content
    return response.json()


def deref(schema, node):
    seen = 0
    while isinstance(node, dict) and "$ref" in node:
        target = schema
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
        seen += 1
        assert seen < 20, "reference loop"
    return node


def operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                yield path, method, operation


def test_schema_is_a_valid_openapi_3_document(schema):
    assert schema["openapi"].startswith("3.")
    validate(schema)


def test_schema_generation_has_no_warnings_and_validates(tmp_path):
    # drf-spectacular's own validation; --fail-on-warn catches views it cannot describe.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))


@pytest.mark.urls("tests.api.urls")
def test_schema_declares_the_api_key_scheme_for_authenticated_views(client):
    schema = client.get("/api/schema/?format=json").json()

    scheme = schema["components"]["securitySchemes"]["ApiKeyAuth"]
    assert scheme == {"type": "apiKey", "in": "header", "name": "x-api-key"}
    assert schema["paths"]["/api/test/ping"]["get"]["security"] == [{"ApiKeyAuth": []}]


def test_schema_is_versioned_like_the_api(schema):
    assert schema["info"]["version"] == "1.2.0"


def test_health_needs_no_key_in_the_schema(schema):
    health = schema["paths"]["/health"]["get"]

    assert {} in health.get("security", [{}]) or health.get("security") == []
    assert {"200", "503"} <= set(health["responses"])


# Paths that are not called with x-api-key: health checks and probes, and AWS EventBridge (its own secret).
WITHOUT_API_KEY = {"/health", "/livez", "/readyz", "/api/events/ivs"}


def test_eventbridge_endpoint_documents_its_own_secret(schema):
    operation = schema["paths"]["/api/events/ivs"]["post"]
    (secret,) = operation["parameters"]
    assert (secret["in"], secret["name"], secret["required"]) == ("header", "x-ivs-events-secret", True)
    assert operation.get("security", []) in ([], [{}])
    assert {"200", "400", "403"} <= set(operation["responses"])


def test_every_other_operation_requires_the_api_key(schema):
    for path, method, operation in operations(schema):
        if path in WITHOUT_API_KEY:
            continue
        assert {"ApiKeyAuth": []} in operation.get("security", []), (method, path)


def test_every_response_is_documented_as_the_envelope(schema):
    for path, method, operation in operations(schema):
        for status, response in operation["responses"].items():
            response = deref(schema, response)
            body = deref(schema, response["content"]["application/json"]["schema"])
            properties = body["properties"]
            assert "success" in properties and "timestamp" in properties, (method, path, status)
            if status.startswith("2"):
                assert "data" in properties, (method, path, status)
            else:
                assert "error" in properties, (method, path, status)
                error = deref(schema, properties["error"])
                assert {"code", "message"} <= set(error["properties"]), (method, path, status)


def test_every_operation_documents_auth_and_rate_limit_errors(schema):
    for path, method, operation in operations(schema):
        if path in WITHOUT_API_KEY:
            continue
        assert {"400", "401", "429", "500"} <= set(operation["responses"]), (method, path)


def test_docs_page_renders_without_any_network_asset(client):
    response = client.get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html
    assert not re.search(r"https?://", html), re.findall(r"https?://[^\s\"'<>]+", html)
    assets = ASSET_RE.findall(html)
    assert any(a.endswith(".js") for a in assets) and any(a.endswith(".css") for a in assets), assets


def test_docs_assets_are_served_locally(client):
    html = client.get("/api/docs/").content.decode()

    for asset in ASSET_RE.findall(html):
        assert asset.startswith("/static/"), asset
        response = client.get(asset)
        assert response.status_code == 200, asset
        assert b"".join(response.streaming_content if response.streaming else [response.content]), asset


def test_docs_point_at_the_local_schema(client):
    html = client.get("/api/docs/").content.decode()

    assert "/api/schema/" in html


def test_every_operation_a_client_key_is_refused_documents_the_403(schema):
    """A client key (API_CLIENT_KEYS) gets 403 FORBIDDEN off its allow-list: the document says so
    for every such operation, so a client generated from it expects the answer."""
    from django.urls import resolve

    from ivsproject.api.authentication import CLIENT_KEY_ROUTES

    refused = []
    for path, method, operation in operations(schema):
        if path in WITHOUT_API_KEY:
            continue
        sample = re.sub(r"\{[^}]+\}", "x", path)  # any value resolves to the route
        if resolve(sample).url_name in CLIENT_KEY_ROUTES:
            continue
        refused.append((method, path))
        assert "403" in operation["responses"], (method, path)
    assert ("get", "/api/reports/broadcasts") in refused  # the walk found the full-key operations
