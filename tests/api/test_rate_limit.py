"""Per-client rate limit: RATE_LIMIT_PER_MINUTE requests per 60 s, then 429 with Retry-After."""

import pytest

from tests.api.helpers import AUTH, assert_error, assert_success

pytestmark = [
    pytest.mark.urls("tests.api.urls"),
    pytest.mark.django_db,
    pytest.mark.usefixtures("frozen_ratelimit_clock"),
]

PING = "/api/test/ping"


def burst(client, count, **extra):
    return [client.get(PING, **{**AUTH, **extra}) for _ in range(count)]


def test_the_101st_request_in_a_minute_is_429(client, settings):
    settings.RATE_LIMIT_PER_MINUTE = 100

    responses = burst(client, 101)

    assert [r.status_code for r in responses[:100]] == [200] * 100
    error = assert_error(responses[100], 429, "RATE_LIMIT_EXCEEDED")
    assert error["message"] == "請求過於頻繁，請稍後再試"
    retry_after = int(responses[100]["Retry-After"])
    assert 1 <= retry_after <= 60


def test_requests_without_a_valid_key_count_too(client, settings):
    settings.RATE_LIMIT_PER_MINUTE = 3

    statuses = [client.get(PING, HTTP_X_API_KEY=f"guess-{n}").status_code for n in range(4)]

    assert statuses == [401, 401, 401, 429]
    assert_error(client.get(PING, **AUTH), 429, "RATE_LIMIT_EXCEEDED")


def test_the_limit_counts_every_endpoint_together(client, settings):
    settings.RATE_LIMIT_PER_MINUTE = 2

    client.get(PING, **AUTH)
    client.post("/api/test/echo", {"userId": "u-1"}, content_type="application/json", **AUTH)

    assert_error(client.get(PING, **AUTH), 429, "RATE_LIMIT_EXCEEDED")


def test_another_client_address_is_not_limited(client, settings):
    settings.RATE_LIMIT_PER_MINUTE = 3
    burst(client, 4, REMOTE_ADDR="10.0.0.1")

    assert_success(client.get(PING, REMOTE_ADDR="10.0.0.2", **AUTH))
    assert_error(client.get(PING, REMOTE_ADDR="10.0.0.1", **AUTH), 429, "RATE_LIMIT_EXCEEDED")


def test_zero_turns_the_limit_off(client, settings):
    settings.RATE_LIMIT_PER_MINUTE = 0

    assert {r.status_code for r in burst(client, 150)} == {200}


def test_health_is_never_limited(client, settings):
    settings.RATE_LIMIT_PER_MINUTE = 1

    assert {client.get("/health").status_code for _ in range(3)} == {200}


def test_forwarded_for_is_ignored_without_trusted_proxies(client, settings):
    settings.RATE_LIMIT_PER_MINUTE = 3
    settings.TRUSTED_PROXY_COUNT = 0

    statuses = [
        client.get(PING, REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}", **AUTH).status_code
        for n in range(4)
    ]

    assert statuses == [200, 200, 200, 429]


def test_forwarded_for_is_honoured_through_one_trusted_proxy(client, settings):
    settings.RATE_LIMIT_PER_MINUTE = 3
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = {"REMOTE_ADDR": "10.0.0.1"}

    burst(client, 4, HTTP_X_FORWARDED_FOR="192.0.2.1", **proxy)

    # A different client behind the same proxy has its own budget ...
    assert_success(client.get(PING, HTTP_X_FORWARDED_FOR="192.0.2.2", **proxy, **AUTH))
    # ... and the limited client cannot escape by prepending a made-up address: the proxy appends
    # the real peer, and only the right-most (trusted) entry counts.
    spoofed = client.get(PING, HTTP_X_FORWARDED_FOR="203.0.113.9, 192.0.2.1", **proxy, **AUTH)
    assert_error(spoofed, 429, "RATE_LIMIT_EXCEEDED")


def test_two_trusted_proxies_use_the_second_address_from_the_right(client, settings):
    settings.RATE_LIMIT_PER_MINUTE = 1
    settings.TRUSTED_PROXY_COUNT = 2
    proxy = {"REMOTE_ADDR": "10.0.0.1"}

    assert_success(client.get(PING, HTTP_X_FORWARDED_FOR="spoof-1, 192.0.2.1, 10.0.0.7", **proxy, **AUTH))
    limited = client.get(PING, HTTP_X_FORWARDED_FOR="spoof-2, 192.0.2.1, 10.0.0.8", **proxy, **AUTH)

    assert_error(limited, 429, "RATE_LIMIT_EXCEEDED")


# Window ends for a few clients at a few moments: the windows (and so the Redis counter keys) that
# django-ratelimit computed when it counted these limits, which ours must go on giving.
CLIENTS = ("10.0.0.1", "203.0.113.7", "2001:db8::1", "é")
WINDOW_ENDS = {
    1_800_000_000: (1_800_000_047, 1_800_000_014, 1_800_000_054, 1_800_000_026),
    1_800_000_019: (1_800_000_047, 1_800_000_074, 1_800_000_054, 1_800_000_026),
    1_800_000_059: (1_800_000_107, 1_800_000_074, 1_800_000_114, 1_800_000_086),
    1_800_000_060: (1_800_000_107, 1_800_000_074, 1_800_000_114, 1_800_000_086),
}


@pytest.mark.parametrize("now", sorted(WINDOW_ENDS))
def test_windows_are_fixed_slices_with_a_stable_per_client_offset(monkeypatch, now):
    from ivsproject.api import throttling

    monkeypatch.setattr(throttling, "clock", lambda: now + 0.5)

    assert tuple(throttling.window_end(client, 60) for client in CLIENTS) == WINDOW_ENDS[now]
    assert throttling.window_end("10.0.0.1", 300) == 1_800_000_107
    assert throttling.window_end("x", 1) == now  # one-second windows are the seconds themselves


def test_retry_after_is_the_rest_of_the_clients_window(client, settings, monkeypatch):
    from ivsproject.api import throttling

    settings.RATE_LIMIT_PER_MINUTE = 1
    monkeypatch.setattr(throttling, "clock", lambda: 1_800_000_000.5)
    burst(client, 1, REMOTE_ADDR="10.0.0.1")

    limited = client.get(PING, REMOTE_ADDR="10.0.0.1", **AUTH)

    assert_error(limited, 429, "RATE_LIMIT_EXCEEDED")
    assert limited["Retry-After"] == "47"  # the window of 10.0.0.1 ends at 1_800_000_047
