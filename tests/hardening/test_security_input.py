"""Hostile input on the real endpoints: oversized and deeply nested bodies, control characters,
unicode ids, path tricks in ARNs, repeated headers — always an envelope, never a 500."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import quote

import pytest
from asgiref.testing import ApplicationCommunicator

from stages.models import Stage
from tests.hardening.helpers import envelope_error, http_request, raw_http

pytestmark = pytest.mark.django_db

POST_ENDPOINTS = [
    "/api/token/publisher",
    "/api/token/viewer",
    "/api/token/mediaserver",
    "/api/stage",
    "/api/viewer/heartbeat",
    "/api/viewer/leave",
]


def post_raw(api, path, body: str | bytes, **extra):
    return api.client.post(path, body, content_type="application/json", **{**api.headers, **extra})


def assert_envelope(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    error = envelope_error(response.status_code, response.content)
    assert error["code"] == code, error
    return error


# --- bodies -------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", POST_ENDPOINTS)
@pytest.mark.parametrize("opening,closing", [("[", "]"), ('{"a":', "}")])
def test_ten_thousand_levels_of_json_nesting_is_400_not_a_recursion_error(
    api, master_stage, settings, path, opening, closing
):
    settings.INTERNAL_SECRET = "s"
    # Found by this test: json's scanner raised RecursionError, which escaped as 500 INTERNAL_ERROR.
    body = opening * 10_000 + "1" + closing * 10_000
    assert len(body) < 64 * 1024  # within the body cap: the parser itself must cope

    error = assert_envelope(post_raw(api, path, body, HTTP_X_INTERNAL_SECRET="s"), 400, "VALIDATION_ERROR")

    assert error["message"] == "請求內容不是有效的 JSON"


def test_deep_nesting_inside_a_field_is_a_validation_error(api, master_stage):
    body = '{"userId": ' + "[" * 500 + "]" * 500 + "}"

    assert_envelope(post_raw(api, "/api/token/viewer", body), 400, "VALIDATION_ERROR")


def test_oversized_body_is_refused_before_the_body_is_read(api, master_stage):
    class Unreadable:
        def read(self, *args):
            raise AssertionError("the body was read")

        readline = read

    response = api.client.post(
        "/api/token/viewer",
        b"",
        content_type="application/json",
        CONTENT_LENGTH=str(512 * 1024 * 1024),
        **{"wsgi.input": Unreadable()},
        **api.headers,
    )

    error = assert_envelope(response, 400, "VALIDATION_ERROR")
    assert error["message"] == "請求內容過大"


# --- the ASGI path (daphne): refused before Django's handler spools the body -----------------------
async def asgi_call(scope_extra: dict, messages, *, timeout: float = 10) -> tuple[int, dict, bytes, int]:
    """Run one HTTP request through `ivsproject.asgi.application`; returns (status, headers, body,
    number of body messages the application pulled)."""
    from ivsproject.asgi import application

    pulled = 0
    pending = list(messages)

    async def receive():
        nonlocal pulled
        if not pending:
            await asyncio.sleep(3600)  # the client sends nothing more (until it is cancelled)
        pulled += 1
        return pending.pop(0)

    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/token/viewer",
        "raw_path": b"/api/token/viewer",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), (b"content-type", b"application/json")],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 80),
        **scope_extra,
    }
    await asyncio.wait_for(application(scope, receive, send), timeout)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    return start["status"], headers, body, pulled


async def test_asgi_refuses_a_declared_oversized_body_without_reading_it():
    scope = {
        "headers": [(b"host", b"testserver"), (b"content-length", str(10**9).encode()), (b"accept-language", b"en")]
    }

    status, headers, body, pulled = await asgi_call(scope, [])

    assert pulled == 0, "the body was read"
    error = envelope_error(status, body)
    assert (status, error["code"], error["message"]) == (400, "VALIDATION_ERROR", "Request body is too large")
    assert headers["x-request-id"]


async def test_asgi_refuses_a_chunked_body_as_soon_as_it_passes_the_cap(settings):
    chunk = b"x" * 16 * 1024
    endless = [{"type": "http.request", "body": chunk, "more_body": True}] * 1000  # 16 MB on offer

    status, _headers, body, pulled = await asgi_call({}, endless)

    assert envelope_error(status, body)["code"] == "VALIDATION_ERROR"
    assert pulled == settings.API_MAX_BODY_BYTES // len(chunk) + 1  # stopped at the first chunk over


@pytest.mark.django_db(transaction=True)
async def test_asgi_body_within_the_cap_reaches_the_view_intact(settings):
    from asgiref.sync import sync_to_async

    from stages.services import stage_ensure_master

    await sync_to_async(stage_ensure_master)()
    settings.API_SECRET_KEYS = ["k"]
    settings.RATE_LIMIT_PER_MINUTE = 0
    payload = json.dumps({"userId": "觀眾-asgi", "padding": "x" * 30_000}).encode()
    halves = [payload[:20_000], payload[20_000:]]
    messages = [
        {"type": "http.request", "body": halves[0], "more_body": True},
        {"type": "http.request", "body": halves[1], "more_body": False},
    ]
    scope = {"headers": [(b"host", b"testserver"), (b"content-type", b"application/json"), (b"x-api-key", b"k")]}

    status, _headers, body, _pulled = await asgi_call(scope, messages)

    assert status == 200, body
    assert json.loads(body)["data"]["userId"] == "觀眾-asgi"


async def test_asgi_non_api_path_gets_a_plain_413():
    scope = {"path": "/admin/login/", "headers": [(b"host", b"testserver"), (b"content-length", b"99999999")]}

    status, headers, _body, pulled = await asgi_call(scope, [])

    assert (status, pulled) == (413, 0)
    assert headers["content-type"].startswith("text/plain")


def test_asgi_websocket_scopes_pass_through():
    from ivsproject.asgi import application

    async def run():
        communicator = ApplicationCommunicator(application, {"type": "websocket", "path": "/nope", "headers": []})
        await communicator.send_input({"type": "websocket.connect"})
        return await communicator.receive_output(5)

    # Whatever the router decides for an unknown path, it is the router's answer, not a body limit's.
    assert asyncio.run(run())["type"].startswith("websocket.")


# --- ids: control characters and unicode ----------------------------------------------------------
@pytest.mark.parametrize("bad", ["\x00", "a\x1b[31m", "line\nbreak", "\x7f", "\x85", "tab\t"])
@pytest.mark.parametrize("path", ["/api/token/viewer", "/api/token/publisher"])
def test_control_characters_in_user_id_are_400(api, master_stage, path, bad):
    assert_envelope(api.post(path, {"userId": bad}), 400, "VALIDATION_ERROR")


@pytest.mark.parametrize("surrogate", ['"\\ud800"', '"a\\udfff"'])
def test_lone_surrogates_in_user_id_are_400_not_a_redis_encoding_error(api, master_stage, surrogate):
    response = post_raw(api, "/api/token/viewer", f'{{"userId": {surrogate}}}')

    assert_envelope(response, 400, "VALIDATION_ERROR")


@pytest.mark.parametrize(
    "user_id",
    # Ids with format characters (a joiner, a BOM) are refused instead: tests/hardening/test_probe.py.
    ["觀眾一號", "🙂🎬", "مشاهد", "e\u0301\u0301\u0301", "x" * 128, "字" * 128, "a b", "<script>"],
)
def test_unicode_user_ids_round_trip_through_token_heartbeat_list_and_duration(api, master_stage, user_id):
    token = api.post("/api/token/viewer", {"userId": user_id})
    assert token.status_code == 200, token.content
    arn = token.json()["data"]["stageArn"]
    assert token.json()["data"]["userId"] == user_id

    beat = api.post("/api/viewer/heartbeat", {"userId": user_id, "stageArn": arn})
    listed = api.get(f"/api/viewer/list/{arn}")
    duration = api.get("/api/viewer/duration", {"userId": user_id, "stageArn": arn})

    assert beat.status_code == 200, beat.content
    assert [v["userId"] for v in listed.json()["data"]["viewers"]] == [user_id]
    assert duration.status_code == 200 and duration.json()["data"]["userId"] == user_id


def test_user_id_one_character_too_long_is_400(api, master_stage):
    assert_envelope(api.post("/api/token/viewer", {"userId": "字" * 129}), 400, "VALIDATION_ERROR")


# --- path tricks in ARNs ------------------------------------------------------------------------
def path_tricks(arn: str, other: str) -> list[str]:
    stage_id = arn.rsplit("/", 1)[1]
    return [
        "..",
        "../../admin/",
        "%2e%2e/%2e%2e/admin/",
        f"{arn}/../{other.rsplit('/', 1)[1]}",
        f"{arn.rsplit('/', 1)[0]}/./{stage_id}",
        f"{arn}%2F..%2F..%2Fhealth",
        arn.replace("/", "%252F"),  # double-encoded slash
        f"{arn}%00",
        f"%00{arn}",
        f"{arn}/",
        f"{arn}?x=1#frag",
        f"{arn};param",
        arn.upper(),
        "arn:aws:ivs:ap-northeast-1:123456789012:stage/" + "A" * 5000,
        "%ff%fe",
        "\u202earn",
    ]


@pytest.fixture
def other_stage(db):
    from stages.services import stage_create

    return stage_create(name="path-trick-target")


def test_path_tricks_in_stage_delete_never_500_and_never_delete_another_stage(api, master_stage, other_stage):
    for trick in path_tricks(master_stage.arn, other_stage.arn):
        response = api.delete("/api/stage/" + trick)
        assert response.status_code in (400, 403, 404), (trick, response.status_code, response.content)
        envelope_error(response.status_code, response.content)
    assert not Stage.objects.filter(status=Stage.Status.DELETED).exists()


def test_path_tricks_in_viewer_list_never_500(api, master_stage, other_stage):
    for trick in path_tricks(master_stage.arn, other_stage.arn):
        response = api.get("/api/viewer/list/" + trick)
        if response.status_code == 200:  # `?x=1#frag` is a query string and a fragment: the ARN is intact
            assert response.json()["data"]["stageArn"] == master_stage.arn, trick
            continue
        assert response.status_code in (400, 404), (trick, response.status_code, response.content)
        envelope_error(response.status_code, response.content)


def test_an_encoded_arn_in_the_path_is_the_same_stage(api, master_stage):
    # URL-encoded (slash included) and raw: both mean the master, which cannot be deleted.
    for form in (master_stage.arn, quote(master_stage.arn, safe=""), master_stage.arn.replace("/", "%2F")):
        assert_envelope(api.delete("/api/stage/" + form), 403, "FORBIDDEN")


# --- through a real server: raw bytes on the wire -----------------------------------------------
@pytest.fixture(scope="module")
def live_server_port(tmp_path_factory, django_db_blocker):
    from tests.processes import manage, process_env, scratch_database, wsgi_servers

    with django_db_blocker.unblock(), scratch_database(tmp_path_factory.mktemp("input")) as database_url:
        env = process_env(database_url, INTERNAL_SECRET="wire-secret")
        manage(env, "migrate", "--noinput")
        manage(env, "ensure_master_stage")
        with wsgi_servers(1, env, threads=4) as urls:
            yield int(urls[0].rsplit(":", 1)[1])


def master_arn(port: int) -> str:
    status, _h, body = raw_http(port, http_request("GET", "/api/stage/master/info", [("x-api-key", "test-key")]))
    assert status == 200, body
    return json.loads(body)["data"]["stage"]["arn"]


@pytest.mark.slow
def test_repeated_headers_on_the_wire_get_envelopes(live_server_port):
    port = live_server_port
    body = json.dumps({"userId": "wire"}).encode()
    json_type = ("Content-Type", "application/json")

    def send(headers, payload=body, path="/api/token/viewer"):
        return raw_http(port, http_request("POST", path, headers, payload))

    # Two keys (even two good ones) arrive joined as "a,b": never a key.
    for keys in (["test-key", "test-key"], ["wrong", "test-key"], ["test-key", "wrong"]):
        status, _h, answer = send([json_type] + [("x-api-key", k) for k in keys])
        assert (status, envelope_error(status, answer)["code"]) == (401, "UNAUTHORIZED"), keys

    status, headers, answer = send([json_type, ("x-api-key", "test-key"), ("X-Request-ID", "a"), ("X-Request-ID", "b")])
    assert status == 200, answer
    assert headers["x-request-id"] not in ("a", "b", "a,b")  # not a sane id: a fresh one

    secret = ("x-internal-secret", "wire-secret")
    status, _h, answer = send([json_type, ("x-api-key", "test-key"), secret, secret],
                              json.dumps({"serverId": "m", "stageArn": master_arn(port)}).encode(),
                              "/api/token/mediaserver")  # fmt: skip
    assert (status, envelope_error(status, answer)["code"]) == (403, "FORBIDDEN")

    # Two different Content-Lengths (a request-smuggling shape): the server (granian) refuses the
    # request itself with a plain 400 before anything reaches Django — refused, never a 500.
    lengths = [("Content-Length", "16"), ("Content-Length", "17")]
    status, _h, answer = send([("x-api-key", "test-key"), *lengths, json_type])
    assert (status, answer) == (400, b""), (status, answer)
    # Two Content-Types arrive joined ("application/json,application/json"): read as JSON, never a 500.
    status, _h, answer = send([("x-api-key", "test-key"), json_type, json_type])
    assert status in (200, 400), (status, answer)


@pytest.mark.slow
def test_raw_path_tricks_on_the_wire_never_500(live_server_port):
    port = live_server_port
    arn = master_arn(port)
    for path in (
        f"/api/stage/{arn}%00",
        f"/api/stage/{arn}/../../../health",
        "/api/stage/..%2F..%2Fhealth",
        f"/api/stage/{quote(arn, safe='')}",
        f"/api/viewer/list/{arn}%2F..%2Fx",
        "/api/viewer/list/%c0%ae%c0%ae/",  # overlong UTF-8 dots
    ):
        status, _h, answer = raw_http(port, http_request("DELETE" if "/stage/" in path else "GET", path,
                                                         [("x-api-key", "test-key")]))  # fmt: skip
        assert status in (400, 403, 404), (path, status, answer)
        envelope_error(status, answer)
    # The master survived every attempt.
    assert master_arn(port) == arn
