"""`x-api-key` is accepted only when it equals a configured key exactly: near misses are refused
with the 401 envelope, and a key removed from API_SECRET_KEYS stops working at once."""

import pytest

pytestmark = pytest.mark.django_db

KEY = "k3y-rotation-2026-Ab"
PATH = "/api/stats/viewers"


def call(client, key):
    return client.get(PATH, HTTP_X_API_KEY=key)


def assert_refused(response):
    assert response.status_code == 401
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == "UNAUTHORIZED"
    assert body["timestamp"].endswith("Z")
    assert "data" not in body


@pytest.fixture
def keys(settings):
    settings.API_SECRET_KEYS = [KEY]
    settings.RATE_LIMIT_PER_MINUTE = 0
    return settings


def test_the_exact_key_is_accepted(client, keys):
    response = call(client, KEY)
    assert response.status_code == 200
    assert response.json()["success"] is True


@pytest.mark.parametrize(
    "near_miss",
    [
        pytest.param(KEY[:-1], id="prefix-one-short"),
        pytest.param(KEY[:1], id="prefix-one-char"),
        pytest.param(KEY[: len(KEY) // 2], id="prefix-half"),
        pytest.param(KEY + "x", id="key-plus-one-char"),
        pytest.param(KEY + KEY, id="key-twice"),
        pytest.param(KEY[:-1] + "B", id="last-char-differs"),
        pytest.param("X" + KEY[1:], id="first-char-differs"),
        pytest.param(KEY.upper(), id="other-case"),
        pytest.param(f" {KEY}", id="leading-space"),
        pytest.param(f"{KEY},{KEY}", id="header-sent-twice"),
    ],
)
def test_near_misses_are_refused(client, keys, near_miss):
    assert_refused(call(client, near_miss))


def test_no_key_and_an_empty_key_are_refused(client, keys):
    assert_refused(client.get(PATH))
    assert_refused(call(client, ""))


def test_every_key_of_a_rotation_is_accepted_and_a_rotated_out_key_is_refused(client, settings):
    settings.RATE_LIMIT_PER_MINUTE = 0
    settings.API_SECRET_KEYS = ["old-key-0001", KEY]
    assert call(client, "old-key-0001").status_code == 200
    assert call(client, KEY).status_code == 200  # the second slot counts as much as the first
    settings.API_SECRET_KEYS = [KEY]
    assert_refused(call(client, "old-key-0001"))
    assert call(client, KEY).status_code == 200


def test_a_key_that_is_a_prefix_of_a_configured_key_is_refused_for_every_slot(client, settings):
    settings.RATE_LIMIT_PER_MINUTE = 0
    settings.API_SECRET_KEYS = ["first-key-aaaa", "second-key-bbbb"]
    for candidate in ("first-key-aaa", "second-key-bbb", "second-key-bbbbb", "first-key-aaab"):
        assert_refused(call(client, candidate))
