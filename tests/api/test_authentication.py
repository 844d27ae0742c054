"""`x-api-key` on every API request; the public endpoints need none."""

import pytest

from tests.api.helpers import API_KEY, assert_error, assert_success

pytestmark = [pytest.mark.urls("tests.api.urls"), pytest.mark.django_db]

PING = "/api/test/ping"


def test_valid_key_is_accepted(client):
    assert_success(client.get(PING, HTTP_X_API_KEY=API_KEY))


def test_missing_key_is_401_with_www_authenticate(client):
    response = client.get(PING)

    error = assert_error(response, 401, "UNAUTHORIZED")
    assert error["message"] == "未授權：缺少或無效的 API 金鑰"
    assert response["WWW-Authenticate"] == 'ApiKey header="x-api-key"'


def test_missing_key_on_a_post_is_401_before_the_body_is_looked_at(client):
    response = client.post("/api/test/echo", "{not json", content_type="application/json")

    assert_error(response, 401, "UNAUTHORIZED")


def test_wrong_key_is_401(client):
    response = client.get(PING, HTTP_X_API_KEY="not-the-key")

    assert_error(response, 401, "UNAUTHORIZED")
    assert "WWW-Authenticate" in response


def test_empty_key_is_401(client):
    assert_error(client.get(PING, HTTP_X_API_KEY=""), 401, "UNAUTHORIZED")


def test_key_with_different_case_is_401(client):
    assert_error(client.get(PING, HTTP_X_API_KEY=API_KEY.upper()), 401, "UNAUTHORIZED")


def test_key_with_surrounding_whitespace_is_401(client):
    assert_error(client.get(PING, HTTP_X_API_KEY=f" {API_KEY}x"), 401, "UNAUTHORIZED")


def test_two_key_headers_are_401(client):
    # Servers deliver a repeated header as one comma-joined value.
    assert_error(client.get(PING, HTTP_X_API_KEY=f"{API_KEY},{API_KEY}"), 401, "UNAUTHORIZED")


def test_key_as_bearer_token_is_not_accepted(client):
    assert_error(client.get(PING, HTTP_AUTHORIZATION=f"Bearer {API_KEY}"), 401, "UNAUTHORIZED")


def test_every_configured_key_is_accepted_during_rotation(client, settings):
    settings.API_SECRET_KEYS = ["old-key-1234", "new-key-5678"]

    assert_success(client.get(PING, HTTP_X_API_KEY="old-key-1234"))
    assert_success(client.get(PING, HTTP_X_API_KEY="new-key-5678"))
    assert_error(client.get(PING, HTTP_X_API_KEY=API_KEY), 401, "UNAUTHORIZED")
    assert_error(client.get(PING, HTTP_X_API_KEY="old-key-1234,new-key-5678"), 401, "UNAUTHORIZED")


def test_skip_auth_in_development_lets_requests_through(client, settings):
    settings.SKIP_AUTH = True
    settings.IS_PRODUCTION = False

    assert_success(client.get(PING))


def test_skip_auth_is_ignored_in_production(client, settings):
    settings.SKIP_AUTH = True
    settings.IS_PRODUCTION = True
    settings.ENVIRONMENT = "production"

    assert_error(client.get(PING), 401, "UNAUTHORIZED")


def test_no_configured_key_accepts_nothing(client, settings):
    settings.API_SECRET_KEYS = []

    assert_error(client.get(PING, HTTP_X_API_KEY=""), 401, "UNAUTHORIZED")
    assert_error(client.get(PING, HTTP_X_API_KEY="anything"), 401, "UNAUTHORIZED")


@pytest.mark.parametrize("path", ["/health", "/metrics", "/api/docs/", "/api/schema/"])
def test_public_endpoints_need_no_key(client, path):
    assert client.get(path).status_code == 200


def test_admin_login_needs_no_key(client):
    assert client.get("/admin/login/").status_code == 200


# --- Client keys (API_CLIENT_KEYS): only what a viewer app needs ----------------------------

CLIENT_KEY = "client-key-1234"


@pytest.fixture
def client_keys(settings):
    settings.API_CLIENT_KEYS = [CLIENT_KEY]


@pytest.mark.usefixtures("client_keys")
def test_a_client_key_reads_the_stats(client):
    assert_success(client.get("/api/stats/viewers", HTTP_X_API_KEY=CLIENT_KEY))


@pytest.mark.usefixtures("client_keys")
def test_a_client_key_is_refused_a_route_off_its_list_with_403(client):
    error = assert_error(client.get(PING, HTTP_X_API_KEY=CLIENT_KEY), 403, "FORBIDDEN")

    assert error["message"] == "此 API 金鑰僅供用戶端使用，無權執行此操作"
    assert_success(client.get(PING, HTTP_X_API_KEY=API_KEY))  # the full key still may


@pytest.mark.usefixtures("client_keys")
def test_a_client_key_is_refused_before_the_body_is_looked_at(client):
    response = client.post("/api/test/echo", "{not json", content_type="application/json", HTTP_X_API_KEY=CLIENT_KEY)

    assert_error(response, 403, "FORBIDDEN")


def test_a_key_on_both_lists_is_a_full_key(client, settings):
    settings.API_CLIENT_KEYS = [API_KEY]

    assert_success(client.get(PING, HTTP_X_API_KEY=API_KEY))


def test_a_full_key_is_not_a_client_key_and_a_client_key_not_a_full_one(client, settings):
    settings.API_SECRET_KEYS = ["full-key-1234"]
    settings.API_CLIENT_KEYS = ["client-key-1234", "client-key-5678"]

    assert_error(client.get(PING, HTTP_X_API_KEY="client-key-5678"), 403, "FORBIDDEN")  # the second slot too
    assert_success(client.get("/api/stats/viewers", HTTP_X_API_KEY="client-key-5678"))
    assert_error(client.get(PING, HTTP_X_API_KEY="full-key-123"), 401, "UNAUTHORIZED")
    assert_error(client.get(PING, HTTP_X_API_KEY="client-key-12345"), 401, "UNAUTHORIZED")


def test_no_client_keys_configured_accepts_none(client, settings):
    settings.API_CLIENT_KEYS = []

    assert_error(client.get("/api/stats/viewers", HTTP_X_API_KEY=CLIENT_KEY), 401, "UNAUTHORIZED")
