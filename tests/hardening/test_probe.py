"""Findings of a security probe, each replayed against the production apps (the WSGI app with its
fast path, the ASGI app for /ws): every test fails if its finding comes back."""

from __future__ import annotations

import contextlib
import json
import re
import secrets
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from io import BytesIO
from unittest import mock
from urllib.parse import urlsplit

import pytest

from ivsproject import wsgi
from ivsproject.redis import get_redis
from tests.factories import IVS_EVENTS_SECRET as SECRET
from tests.factories import ivs_stage_event
from tests.hardening.helpers import envelope_error
from tests.hardening.test_security_events import snapshot

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_ratelimit_clock")]

KEY = "test-key"


def call(
    method: str, path: str, body: bytes | dict | None = None, *, remote: str = "10.0.0.1", app=None, **headers: str
):
    """One request through the production WSGI app (or `app`), the way the web server calls it;
    header names are given as WSGI keys (`HTTP_ACCEPT`)."""
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

    content = b"".join((app or wsgi.application)(environ, start_response))
    return int(out["status"].split()[0]), out["headers"], content


@pytest.fixture
def frozen_ratelimit_clock(monkeypatch):
    """The rate limits' windows are fixed 60 s slices: pinned, a burst never straddles two."""
    from ivsproject.api import throttling

    monkeypatch.setattr(throttling, "clock", lambda: 1_800_000_000.0)
    return 1_800_000_000.0


@pytest.fixture(autouse=True)
def _keep_the_test_transaction(wsgi_app_called_directly):
    """The WSGI app is called directly here (tests/conftest.py says why this matters)."""


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


# --- EventBridge events: none from the future ------------------------------------------------


@pytest.fixture
def events_on(settings, monkeypatch):
    settings.IVS_EVENTS_SECRET = SECRET
    monkeypatch.setattr("stats.tasks.stats_push_now", lambda reason: None)
    monkeypatch.setattr("autoscaling.tasks.request_autoscale", lambda: None)


@contextmanager
def freeze_moment(moment: datetime):
    with mock.patch("django.utils.timezone.now", return_value=moment):
        yield


def send_event(event: dict, *, secret: str = SECRET, remote: str = "10.0.0.1"):
    return call("POST", "/api/events/ivs", event, remote=remote, HTTP_X_IVS_EVENTS_SECRET=secret)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_an_event_from_the_future_is_refused_and_changes_nothing(events_on, master_stage):
    from stages import hostlive
    from stages.ivs import emulator
    from stats.selectors import is_publisher_live
    from tokens.services import token_publisher_create

    host = token_publisher_create(user_id="host")
    participant = emulator.participant_join(stage_arn=master_stage.arn, token=host.token)
    event = ivs_stage_event(master_stage.arn, event_id="future", time="9999-12-31T23:59:59Z", participant=participant)
    before = snapshot()

    status, _, content = send_event(event)

    assert (status, envelope_error(status, content)["code"]) == (400, "VALIDATION_ERROR")
    assert snapshot() == before and not is_publisher_live()

    # Clock skew is not an attack: an event a minute ahead is applied.
    soon = ivs_stage_event(
        master_stage.arn, event_id="soon", time=iso(datetime.now(UTC) + timedelta(minutes=1)), participant=participant
    )
    status, _, content = send_event(soon)
    assert status == 200 and json.loads(content)["data"]["outcome"] == "applied"
    assert is_publisher_live()

    # The refused event left nothing behind a poll cannot correct: the host never published, and
    # once the skewed event's time has passed the poll says so.
    with freeze_moment(datetime.now(UTC) + timedelta(minutes=2)):
        assert hostlive.refresh() is False
    assert not is_publisher_live()

    # Refused again on redelivery (its id was never remembered), still without effect.
    status, _, _ = send_event(event)
    assert status == 400 and not is_publisher_live()


# --- EventBridge events: guessing the secret is limited per address --------------------------


def test_wrong_secrets_are_limited_per_address_and_never_the_right_one(events_on, master_stage, settings):
    settings.RATE_LIMIT_PER_MINUTE = 5  # the API's limit plays no part here
    settings.IVS_EVENTS_MAX_FAILURES = 10
    event = ivs_stage_event(master_stage.arn, event_id="guess", time="2026-01-01T00:00:00Z")
    for attempt in range(10):
        status, _, content = send_event(event, secret=f"guess-{attempt}", remote="203.0.113.7")
        assert (status, envelope_error(status, content)["code"]) == (403, "FORBIDDEN"), attempt

    for secret in ("guess-10", SECRET):  # locked: not even the right secret is compared
        status, headers, content = send_event(event, secret=secret, remote="203.0.113.7")
        assert (status, envelope_error(status, content)["code"]) == (429, "RATE_LIMIT_EXCEEDED")
        assert int(headers["Retry-After"]) >= 1

    # EventBridge, from another address, in a burst well over both limits: never refused.
    for n in range(40):
        burst = ivs_stage_event(master_stage.arn, event_id=f"burst-{n}", time="2026-01-01T00:00:00Z")
        status, _, content = send_event(burst, remote="198.51.100.20")
        assert status == 200, content


@pytest.mark.django_db(transaction=True)
def test_a_burst_of_guesses_is_told_at_most_the_limit_and_right_secrets_are_never_refused(
    events_on, master_stage, settings, monkeypatch
):
    """30 guesses sent at once from one address: only the limit's worth are told "wrong" (403), and
    once the limit is reached not even the right secret is told "right". Each comparison is slowed
    as a loaded server would be: reading the count before comparing and adding to it after, every
    guess of the burst would read "under the limit" and be answered 403. Right secrets from an
    address that did not guess, sent at once in a burst over the limit, are all served."""
    import time

    from stats import apis
    from tests.concurrency import at_once

    settings.IVS_EVENTS_MAX_FAILURES = 5
    real_match = apis.match_secret

    def slow_match(given, secrets):
        time.sleep(0.05)
        return real_match(given, secrets)

    monkeypatch.setattr(apis, "match_secret", slow_match)
    event = ivs_stage_event(master_stage.arn, event_id="race", time="2026-01-01T00:00:00Z")

    outcomes = at_once(lambda: send_event(event, secret="guess", remote="203.0.113.8")[0], 30)

    assert sorted(outcomes) == [403] * 5 + [429] * 25
    assert send_event(event, remote="203.0.113.8")[0] == 429  # the right secret, locked out

    # EventBridge: right secrets at once, three times the limit, twice over: none refused, none counted.
    for _ in range(2):
        burst = at_once(lambda: send_event(event, remote="198.51.100.21")[0], 15)
        assert burst == [200] * 15, burst
    statuses = [send_event(event, secret=f"g{n}", remote="198.51.100.21")[0] for n in range(6)]
    assert statuses == [403] * 5 + [429]


# --- /ws: the flood guard closes cleanly and leaves nothing in the relay ---------------------


def daphne_sends_close(code: int) -> None:
    """What daphne's WebSocket library does with a consumer's close code: raises if it refuses it
    (and daphne then ends the connection with 1011, the consumer crashed)."""
    from daphne.ws_protocol import WebSocketProtocol  # daphne's own protocol, on autobahn's Twisted one

    protocol = WebSocketProtocol()
    protocol.state = WebSocketProtocol.STATE_OPEN
    protocol.sendCloseFrame = lambda **kwargs: None
    protocol.serverClose(code=code)


@pytest.mark.django_db(transaction=True)
async def test_a_flooded_connection_closes_cleanly_and_leaves_no_subscriber(settings, master_stage):
    from channels.testing import WebsocketCommunicator

    from ivsproject.asgi import application
    from stats.relay import relay

    settings.WS_MAX_FRAMES_PER_SECOND = 5
    communicator = WebsocketCommunicator(application, "/ws")
    try:
        connected, _ = await communicator.connect()
        assert connected
        await communicator.send_json_to({"action": "subscribe", "channel": "stats"})
        assert (await communicator.receive_json_from(timeout=3))["type"] == "stats_update"
        assert relay().topics  # subscribed
        for _ in range(50):
            await communicator.send_json_to({"action": "ping"})

        close_code = None
        for _ in range(60):
            output = await communicator.receive_output(timeout=3)
            if output["type"] == "websocket.close":
                close_code = output.get("code")
                break

        assert close_code is not None
        daphne_sends_close(close_code)  # raises for a code daphne cannot send
        # Left the relay without waiting for the server to report the close back.
        assert relay().topics == {} and relay().reader is None
    finally:
        await communicator.disconnect(timeout=2)
    assert relay().topics == {}


# --- Look-alike ids: ASCII-only ARNs ---------------------------------------------------------


def fast_path_served(route: str) -> float:
    from prometheus_client import REGISTRY

    labels = {"route": route, "outcome": "served"}
    return REGISTRY.get_sample_value("ivs_fast_path_requests_total", labels) or 0.0


def teach_the_fast_path(user_id: str) -> dict:
    """Ordinary requests until the viewer-token and heartbeat routes are answered by the fast path
    itself (it learns a route's response shape from Django's first answers): the heartbeat body."""
    for _ in range(3):
        status, _, content = call("POST", "/api/token/viewer", {"userId": user_id}, HTTP_X_API_KEY=KEY)
        assert status == 200, content
    heartbeat = {"userId": user_id, "stageArn": json.loads(content)["data"]["stageArn"]}
    for _ in range(2):
        call("POST", "/api/viewer/heartbeat", heartbeat, HTTP_X_API_KEY=KEY)
    before = fast_path_served("api/viewer/heartbeat")
    status, _, content = call("POST", "/api/viewer/heartbeat", heartbeat, HTTP_X_API_KEY=KEY)
    assert status == 200, content
    assert fast_path_served("api/viewer/heartbeat") == before + 1
    return heartbeat


@pytest.mark.usefixtures("keyed")
def test_ordinary_ids_are_still_served_by_the_fast_path(master_stage):
    for user_id in ("viewer-1", "觀眾-1"):
        teach_the_fast_path(user_id)


@pytest.mark.parametrize("digits", ["١٢٣٤٥٦٧٨٩٠١٢", "１２３４５６７８９０１２", "१२३४५६७८९०१२"])
def test_stage_arns_take_ascii_digits_only(keyed, master_stage, digits):
    from stages.ivs import is_valid_stage_arn

    arn = f"arn:aws:ivs:ap-northeast-1:{digits}:stage/abcdefABCDEF"
    assert not is_valid_stage_arn(arn)
    status, _, content = call("POST", "/api/viewer/heartbeat", {"userId": "v", "stageArn": arn}, HTTP_X_API_KEY=KEY)
    assert (status, envelope_error(status, content)["code"]) == (400, "VALIDATION_ERROR")
    event = ivs_stage_event(arn)
    assert is_valid_stage_arn(event["resources"][0].replace(digits, "123456789012"))


# --- Look-alike ids: no invisible format characters in ids ------------------------------------


@pytest.mark.parametrize(
    "user_id",
    ["admin\u202egnp.exe", "adm\u200bin", "\ufeffadmin", "ad\u2028min", "ad\u200dmin", "ad\u2066min"],
)
def test_ids_with_invisible_characters_are_refused_on_every_path(keyed, master_stage, user_id):
    """On the fast path too: its routes have learned their answers first, so a check missing
    there would show as a 200 it served."""
    from stages.presence import seats_key

    teach_the_fast_path("viewer-ordinary")
    served = {route: fast_path_served(route) for route in ("api/token/viewer", "api/viewer/heartbeat")}
    token = call("POST", "/api/token/viewer", {"userId": user_id}, HTTP_X_API_KEY=KEY)
    heartbeat = call(
        "POST", "/api/viewer/heartbeat", {"userId": user_id, "stageArn": master_stage.arn}, HTTP_X_API_KEY=KEY
    )
    publisher = call("POST", "/api/token/publisher", {"userId": user_id}, HTTP_X_API_KEY=KEY)

    for status, _, content in (token, heartbeat, publisher):
        assert (status, envelope_error(status, content)["code"]) == (400, "VALIDATION_ERROR")
    assert not get_redis().hexists(seats_key("default"), user_id)  # nothing was seated
    assert {route: fast_path_served(route) for route in served} == served


def test_names_may_still_carry_a_joiner(keyed, master_stage):
    """Only ids refuse format characters: a room's display name may hold an emoji sequence."""
    status, _, content = call(
        "POST", "/api/rooms", {"roomId": "family", "name": "家庭 👨\u200d👩\u200d👧"}, HTTP_X_API_KEY=KEY
    )
    assert status == 201, content


# --- Scoped keys: the key embedded in viewer apps cannot run the show -------------------------

CLIENT_KEY = "client-key-7f3a"
CLIENT_KEY_REFUSED = "此 API 金鑰僅供用戶端使用，無權執行此操作"


@pytest.fixture
def scoped(settings):
    settings.API_SECRET_KEYS = [KEY]
    settings.API_CLIENT_KEYS = [CLIENT_KEY]
    settings.RATE_LIMIT_PER_MINUTE = 0
    settings.INTERNAL_SECRET = "internal-secret"


def fast_path_count(route: str, outcome: str) -> float:
    from prometheus_client import REGISTRY

    labels = {"route": route, "outcome": outcome}
    return REGISTRY.get_sample_value("ivs_fast_path_requests_total", labels) or 0.0


def test_a_client_key_does_what_a_viewer_app_does(scoped, master_stage):
    def client(method, path, body=None):
        status, _, content = call(method, path, body, HTTP_X_API_KEY=CLIENT_KEY)
        assert status == 200, (path, content)
        return json.loads(content)["data"]

    viewer = {"userId": "viewer-1", "stageArn": master_stage.arn}
    assert client("POST", "/api/token/viewer", {"userId": "viewer-1"})["stageArn"] == master_stage.arn
    assert client("POST", "/api/viewer/heartbeat", viewer)["heartbeatUpdated"] is True
    assert client("GET", "/api/stats")["totalViewers"] == 1
    assert client("GET", "/api/stats/viewers")["totalViewers"] == 1
    assert client("GET", "/api/stats/publisher")["isPublisherLive"] is False
    assert [room["roomId"] for room in client("GET", "/api/stats/rooms")["rooms"]] == ["default"]
    duration = client("GET", f"/api/viewer/duration?userId=viewer-1&stageArn={master_stage.arn}")
    assert duration["watchDurationSeconds"] >= 0
    assert client("POST", "/api/viewer/leave", viewer)["viewerLeft"] is True
    assert client("GET", "/api/stats")["totalViewers"] == 0


def test_the_fast_path_serves_a_client_key(scoped, master_stage):
    viewer = {"userId": "viewer-1", "stageArn": master_stage.arn}
    for path, body, route in (
        ("/api/token/viewer", {"userId": "viewer-1"}, "api/token/viewer"),
        ("/api/viewer/heartbeat", viewer, "api/viewer/heartbeat"),
    ):
        call("POST", path, body, HTTP_X_API_KEY=CLIENT_KEY)  # the first of its shape: Django learns it
        before = fast_path_count(route, "served")
        status, _, content = call("POST", path, body, HTTP_X_API_KEY=CLIENT_KEY)
        assert status == 200, content
        assert fast_path_count(route, "served") == before + 1, path


def assert_refused(status: int, content: bytes) -> None:
    error = envelope_error(status, content)
    assert (status, error["code"], error["message"]) == (403, "FORBIDDEN", CLIENT_KEY_REFUSED), content


def test_a_client_key_is_refused_everything_else_and_nothing_happens(scoped, master_stage):
    from stages.models import Room, Stage
    from stages.services import stage_create

    overflow = stage_create(name="overflow-1")
    stages_before = set(Stage.objects.values_list("arn", "status"))
    rooms_before = set(Room.objects.values_list("room_id", flat=True))
    refused = [
        ("POST", "/api/token/publisher", {"userId": "host"}, {}),
        (
            "POST",
            "/api/token/mediaserver",
            {"userId": "m", "stageArn": master_stage.arn, "serverId": "s"},
            {"HTTP_X_INTERNAL_SECRET": "internal-secret"},
        ),
        ("GET", "/api/stage/list", None, {}),
        ("GET", "/api/stage/master/info", None, {}),
        ("POST", "/api/stage", {"name": "by-a-viewer-app"}, {}),
        ("DELETE", f"/api/stage/{overflow.arn}", None, {}),
        ("GET", f"/api/viewer/list/{master_stage.arn}", None, {}),
        ("POST", "/api/rooms", {"roomId": "hijack", "name": "x"}, {}),
        ("GET", "/api/rooms", None, {}),
        ("GET", "/api/rooms/default", None, {}),
        ("DELETE", "/api/rooms/default", None, {}),
    ]
    for method, path, body, headers in refused:
        status, _, content = call(method, path, body, HTTP_X_API_KEY=CLIENT_KEY, **headers)
        assert_refused(status, content)

    assert set(Stage.objects.values_list("arn", "status")) == stages_before
    assert set(Room.objects.values_list("room_id", flat=True)) == rooms_before


def test_the_message_has_its_english_translation(scoped):
    status, _, content = call("GET", "/api/stage/list", HTTP_X_API_KEY=CLIENT_KEY, HTTP_ACCEPT_LANGUAGE="en")
    error = envelope_error(status, content)
    assert (status, error["code"]) == (403, "FORBIDDEN")
    assert error["message"] == "This API key is for client apps only and may not perform this operation"


def keyed_api_routes() -> list[tuple[str, str, str]]:
    """(view name, method, path) of every route whose view needs an API key, read from the URLconf,
    with sample values in its path parameters: routes added later are covered without listing them."""
    from django.urls import URLPattern, URLResolver, get_resolver
    from rest_framework.views import APIView

    from ivsproject.api.authentication import HasApiKey

    found = []

    def walk(patterns, prefix: str) -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
                continue
            assert isinstance(pattern, URLPattern)
            view = getattr(pattern.callback, "view_class", None)
            if view is None or not issubclass(view, APIView) or HasApiKey not in view.permission_classes:
                continue
            path = "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: "sample-" + m.group(1).replace("_", "-"), route)
            for method in ("get", "post", "delete", "put", "patch"):
                if hasattr(view, method):
                    found.append((pattern.name or "", method.upper(), path))

    walk(get_resolver().url_patterns, "")
    return found


def test_every_route_outside_the_allow_list_refuses_a_client_key(scoped, master_stage):
    from ivsproject.api.authentication import CLIENT_KEY_ROUTES

    routes = keyed_api_routes()
    names = {name for name, _, _ in routes}
    # The allow-list names routes that exist, and the walk finds the API (a broken walk tests nothing).
    assert names >= CLIENT_KEY_ROUTES, CLIENT_KEY_ROUTES - names
    assert {"token-publisher", "stage-create", "rooms", "room"} <= names
    for name, method, path in routes:
        if name in CLIENT_KEY_ROUTES:
            continue
        status, _, content = call(
            method, path, {} if method in ("POST", "PUT", "PATCH") else None, HTTP_X_API_KEY=CLIENT_KEY
        )
        assert_refused(status, content)


def test_the_full_key_still_does_everything(scoped, master_stage):
    """v1.1.0 unchanged: the full key runs the show (and a client key configured beside it changes
    nothing for it)."""

    def full(method, path, body=None, expected=200, **headers):
        status, _, content = call(method, path, body, HTTP_X_API_KEY=KEY, **headers)
        assert status == expected, (path, content)
        return json.loads(content)["data"]

    assert full("POST", "/api/token/publisher", {"userId": "host"})["stageArn"] == master_stage.arn
    media = {"userId": "m", "stageArn": master_stage.arn, "serverId": "s"}
    assert full("POST", "/api/token/mediaserver", media, HTTP_X_INTERNAL_SECRET="internal-secret")["token"]
    assert full("GET", "/api/stage/master/info")["stage"]["arn"] == master_stage.arn
    created = full("POST", "/api/stage", {"name": "overflow-1"}, expected=201)["stage"]
    assert len(full("GET", "/api/stage/list")["stages"]) == 2
    full("DELETE", f"/api/stage/{created['arn']}")
    full("POST", "/api/rooms", {"roomId": "second", "name": "Second"}, expected=201)
    assert full("GET", "/api/rooms/second")["room"]["roomId"] == "second"
    full("DELETE", "/api/rooms/second")
    assert full("POST", "/api/token/viewer", {"userId": "viewer-1"})["stageArn"] == master_stage.arn
    assert full("GET", f"/api/viewer/list/{master_stage.arn}")["totalViewers"] == 1


@pytest.mark.parametrize(
    "given",
    [
        CLIENT_KEY[:-1],
        CLIENT_KEY + "x",
        "x" + CLIENT_KEY,
        CLIENT_KEY.upper(),
        f"{CLIENT_KEY},{CLIENT_KEY}",
        "old-client-key",
    ],
    ids=["prefix", "plus-one", "one-before", "case", "twice", "rotated-out"],
)
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [("POST", "/api/token/viewer", {"userId": "viewer-1"}), ("GET", "/api/stats", None)],
    ids=["fast-path", "django"],
)
def test_near_misses_and_a_rotated_out_client_key_are_refused(
    scoped, settings, master_stage, given, method, path, body
):
    settings.API_CLIENT_KEYS = ["new-client-key", CLIENT_KEY]  # "old-client-key" was rotated out
    for _ in range(2):  # the second of its shape is the fast path's on the token route
        status, _, content = call(method, path, body, HTTP_X_API_KEY=given)
        assert (status, envelope_error(status, content)["code"]) == (401, "UNAUTHORIZED")
    for key in ("new-client-key", CLIENT_KEY):  # every key of the rotation still works
        status, _, content = call(method, path, body, HTTP_X_API_KEY=key)
        assert status == 200, content


class UnreadableBody(BytesIO):
    """A request body whose reading is recorded (and never answered)."""

    def __init__(self, payload: bytes):
        super().__init__(payload)
        self.reads = 0

    def read(self, *args, **kwargs):
        self.reads += 1
        raise AssertionError("the body was read")

    readline = read


@pytest.mark.parametrize("armed", [True, False], ids=["armed", "learning"])
@pytest.mark.parametrize("given", [None, "wrong-key", CLIENT_KEY + "x"])
@pytest.mark.parametrize("path", ["/api/token/viewer", "/api/viewer/heartbeat"])
def test_the_fast_path_answers_a_wrong_key_without_reading_the_body(scoped, master_stage, path, given, armed):
    """The fast path as the production app composes it (wsgi.FAST_ROUTES in front of Django), on its
    own: the production app's body guard in front of it (ivsproject/api/slowbody.py) reads every
    small body itself, by design, before any application runs."""
    from ivsproject.api.fastpath import FastPathApplication

    app = FastPathApplication(wsgi.django_application, wsgi.FAST_ROUTES)
    body = {"userId": "viewer-1", "stageArn": master_stage.arn}
    if armed:  # the route's shape is learned: the fast path itself would answer
        call("POST", "/api/token/viewer", {"userId": "viewer-1"}, HTTP_X_API_KEY=KEY, app=app)
        call("POST", path, body, HTTP_X_API_KEY=KEY, app=app)
    payload = json.dumps(body).encode()
    environ_input = UnreadableBody(payload)
    headers = {"HTTP_X_API_KEY": given} if given else {}
    outcome = "django" if armed else "learning"
    before = fast_path_count(path.removeprefix("/"), outcome)

    status, _, content = call("POST", path, payload, app=app, **headers, **{"wsgi.input": environ_input})

    assert (status, envelope_error(status, content)["code"]) == (401, "UNAUTHORIZED")
    assert environ_input.reads == 0
    assert fast_path_count(path.removeprefix("/"), outcome) == before + 1  # it came by the fast path


@pytest.mark.parametrize("given", [None, "wrong-key", CLIENT_KEY + "x"])
@pytest.mark.parametrize("path", ["/api/token/viewer", "/api/viewer/heartbeat", "/api/stage", "/api/events/ivs"])
def test_the_production_app_never_reads_the_body_of_a_caller_without_a_key(scoped, settings, master_stage, path, given):
    """The whole production app (body guard, fast path, Django): a caller without a credential gets
    its 401 from its headers; its body is never read, so it can neither stall a thread on a body
    that never comes nor hold one of the guard's reader slots."""
    settings.IVS_EVENTS_SECRET = "events-secret"
    environ_input = UnreadableBody(b'{"userId": "viewer-1"}')
    headers = {"HTTP_X_API_KEY": given} if given else {}

    status, _, content = call("POST", path, b'{"userId": "viewer-1"}', **headers, **{"wsgi.input": environ_input})

    # The events route's credential is its own secret header, refused with 403 (its contract).
    refused = (403, "FORBIDDEN") if path == "/api/events/ivs" else (401, "UNAUTHORIZED")
    assert (status, envelope_error(status, content)["code"]) == refused
    assert environ_input.reads == 0


def test_the_production_app_reads_a_keyed_callers_body(scoped, settings, master_stage):
    from tests.factories import ivs_stage_event

    status, _, content = call("POST", "/api/token/viewer", {"userId": "viewer-1"}, HTTP_X_API_KEY=KEY)
    assert status == 200, content
    settings.IVS_EVENTS_SECRET = "events-secret"
    event = ivs_stage_event(master_stage.arn)
    status, _, content = call("POST", "/api/events/ivs", event, HTTP_X_IVS_EVENTS_SECRET="events-secret")
    assert status == 200, content


def test_refusals_of_a_client_key_count_against_the_address(scoped, settings, master_stage):
    settings.RATE_LIMIT_PER_MINUTE = 3
    for _ in range(3):
        status, _, content = call("POST", "/api/stage", {}, HTTP_X_API_KEY=CLIENT_KEY, remote="203.0.113.9")
        assert_refused(status, content)
    status, _, content = call("GET", "/api/stats", HTTP_X_API_KEY=CLIENT_KEY, remote="203.0.113.9")
    assert (status, envelope_error(status, content)["code"]) == (429, "RATE_LIMIT_EXCEEDED")
    # Per address: another viewer with the same embedded key is served.
    status, _, content = call("GET", "/api/stats", HTTP_X_API_KEY=CLIENT_KEY, remote="203.0.113.10")
    assert status == 200, content


# --- /ws in production: another site's page cannot read the stats ----------------------------


@pytest.mark.django_db(transaction=True)
async def test_another_sites_page_cannot_open_ws_in_production(settings, master_stage):
    from channels.testing import WebsocketCommunicator

    from ivsproject.asgi import application

    settings.IS_PRODUCTION = True
    settings.WS_ALLOWED_ORIGINS = []  # nothing listed: the probe's set-up
    settings.ALLOWED_HOSTS = ["live.example.com"]

    async def opens(origin: str | None) -> WebsocketCommunicator | None:
        headers = [(b"host", b"live.example.com")] + ([(b"origin", origin.encode())] if origin else [])
        communicator = WebsocketCommunicator(application, "/ws", headers=headers)
        connected, _ = await communicator.connect()
        if not connected:
            with contextlib.suppress(Exception):
                await communicator.disconnect(timeout=0.1)
            return None
        return communicator

    assert await opens("https://attacker.example.net") is None
    # The service's own pages (the admin's dashboard) and non-browser clients still read the stats.
    for origin in ("https://live.example.com", None):
        communicator = await opens(origin)
        assert communicator is not None, origin
        try:
            await communicator.send_json_to({"action": "subscribe", "channel": "stats"})
            assert (await communicator.receive_json_from(timeout=3))["type"] == "stats_update"
        finally:
            await communicator.disconnect(timeout=2)
