"""The WSGI fast path (ivsproject/api/fastpath.py) through the production WSGI application: what it
answers must be what Django answers, and everything it cannot prove goes to Django."""

import json

import pytest
import redis
from django.test import RequestFactory
from prometheus_client import REGISTRY

from ivsproject import wsgi
from ivsproject.api.fastpath import FastAnswer, FastPathApplication, FastRoute
from stages import presence

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_ratelimit_clock")]

HEARTBEAT = "/api/viewer/heartbeat"
UNKNOWN_ARN = "arn:aws:ivs:ap-northeast-1:123456789012:stage/zzzzzzzzzzzz"
KEY = "test-key"


class Wsgi:
    """Calls a WSGI application in-process, the way the production web server does."""

    def __init__(self, app):
        self.app = app

    def post(self, path, body, *, raw=None, key=KEY, **headers):
        payload = raw if raw is not None else json.dumps(body)
        extra = {"HTTP_X_API_KEY": key} if key else {}
        environ = RequestFactory().post(path, payload, content_type="application/json", **extra, **headers).environ
        out = {}

        def start_response(status, response_headers, exc_info=None):
            out["status"], out["headers"] = status, response_headers

        content = b"".join(self.app(environ, start_response))
        return int(out["status"].split()[0]), out["headers"], content


@pytest.fixture(autouse=True)
def _keep_the_test_transaction(wsgi_app_called_directly):
    """The WSGI app is called directly here (tests/conftest.py says why this matters)."""


def fresh_app():
    """A new production app (nothing learned yet) with the production route table."""
    return Wsgi(FastPathApplication(wsgi.django_application, wsgi.FAST_ROUTES))


def served(outcome="served"):
    return (
        REGISTRY.get_sample_value("ivs_fast_path_requests_total", {"route": "api/viewer/heartbeat", "outcome": outcome})
        or 0.0
    )


def comparable(status, headers, content, volatile_data=()):
    """An answer without what differs per request (id, length, timestamp, and `volatile_data`)."""
    body = json.loads(content)
    body.pop("timestamp")
    for name in volatile_data:
        assert isinstance(body["data"].pop(name), str)
    kept = [(n, v) for n, v in headers if n.lower() not in ("x-request-id", "content-length")]
    return status, sorted(kept), body


@pytest.fixture
def keyed(settings):
    settings.API_SECRET_KEYS = [KEY]
    settings.RATE_LIMIT_PER_MINUTE = 0
    settings.API_FAST_PATH = True


def armed(stage):
    """A fresh app that has learned the heartbeat's shape, and the body of its joined viewer v1."""
    app = fresh_app()
    join(app, "v1")
    body = {"userId": "v1", "stageArn": stage.arn}
    app.post(HEARTBEAT, body)
    return app, body


def join(app, user):
    status, _, content = app.post("/api/token/viewer", {"userId": user})
    assert status == 200, content
    return json.loads(content)["data"]


@pytest.mark.usefixtures("keyed")
@pytest.mark.parametrize("language", ["", "en", "en-US,en;q=0.9", "zh-TW"])
def test_fast_answer_is_djangos_answer(master_stage, settings, language):
    app = fresh_app()
    join(app, "v1")
    headers = {"HTTP_ACCEPT_LANGUAGE": language} if language else {}
    body = {"userId": "v1", "stageArn": master_stage.arn}
    before = served()
    learned = app.post(HEARTBEAT, body, **headers)  # Django answers the first of its shape
    fast = app.post(HEARTBEAT, body, **headers)
    assert served() == before + 1
    settings.API_FAST_PATH = False
    django_only = app.post(HEARTBEAT, body, **headers)
    assert served() == before + 1
    assert fast[0] == 200
    assert comparable(*fast) == comparable(*learned) == comparable(*django_only)
    message = json.loads(fast[2])["message"]
    assert message == ("Heartbeat updated" if language.startswith("en") else "心跳更新成功")
    assert int(dict(fast[1])["Content-Length"]) == len(fast[2])


@pytest.mark.usefixtures("keyed")
def test_fast_heartbeat_refreshes_presence(master_stage, monkeypatch):
    app, body = armed(master_stage)
    monkeypatch.setattr(presence, "now", lambda: 2_000_000_000.0)
    before = served()
    status, _, _ = app.post(HEARTBEAT, body)
    assert status == 200 and served() == before + 1
    assert presence.get_entry(stage_id=master_stage.stage_id, user_id="v1").last_heartbeat == 2_000_000_000.0


@pytest.mark.usefixtures("keyed")
def test_request_id_and_metrics_as_the_middleware_gives_them(master_stage):
    app, body = armed(master_stage)
    labels = {"method": "POST", "route": "api/viewer/heartbeat", "status": "200"}
    counted = REGISTRY.get_sample_value("ivs_http_requests_total", labels) or 0.0
    status, headers, _ = app.post(HEARTBEAT, body, HTTP_X_REQUEST_ID="trace-123")
    assert status == 200 and dict(headers)["X-Request-ID"] == "trace-123"
    assert REGISTRY.get_sample_value("ivs_http_requests_total", labels) == counted + 1
    _, headers, _ = app.post(HEARTBEAT, body, HTTP_X_REQUEST_ID="bad id with spaces")
    assert len(dict(headers)["X-Request-ID"]) == 32


@pytest.mark.usefixtures("keyed")
def test_what_the_fast_path_cannot_prove_gets_djangos_answer(master_stage, settings):
    app = fresh_app()
    join(app, "v1")
    ok = {"userId": "v1", "stageArn": master_stage.arn}
    app.post(HEARTBEAT, ok)  # learned: from here on, a provable request would be served fast
    before = served()
    cases = [
        (app.post(HEARTBEAT, ok, key="wrong"), 401, "UNAUTHORIZED"),
        (app.post(HEARTBEAT, ok, key=None), 401, "UNAUTHORIZED"),
        (app.post(HEARTBEAT, None, raw="{not json"), 400, "VALIDATION_ERROR"),
        (app.post(HEARTBEAT, None, raw='["v1"]'), 400, "VALIDATION_ERROR"),
        (app.post(HEARTBEAT, None, raw='{"userId": NaN, "stageArn": "x"}'), 400, "VALIDATION_ERROR"),
        (app.post(HEARTBEAT, {"userId": "v1"}), 400, "VALIDATION_ERROR"),
        (app.post(HEARTBEAT, {"userId": "v1\x00", "stageArn": master_stage.arn}), 400, "VALIDATION_ERROR"),
        (app.post(HEARTBEAT, {"userId": 7, "stageArn": master_stage.arn}), 400, "VALIDATION_ERROR"),
        (app.post(HEARTBEAT, {"userId": "v1", "stageArn": UNKNOWN_ARN}), 404, "NOT_FOUND"),
    ]
    for (status, _, content), expected_status, code in cases:
        assert status == expected_status, content
        assert json.loads(content)["error"]["code"] == code
    assert served() == before
    # A query string or an Accept with parameters (DRF would indent) is Django's to answer.
    status, _, content = app.post(f"{HEARTBEAT}?format=json", ok)
    assert status == 200 and served() == before
    status, _, content = app.post(HEARTBEAT, ok, HTTP_ACCEPT="application/json; indent=4")
    assert status == 200 and b"\n" in content and served() == before


@pytest.mark.usefixtures("keyed")
def test_trimmed_fields_are_left_to_the_serializer(master_stage):
    app = fresh_app()
    join(app, "v1")
    app.post(HEARTBEAT, {"userId": "v1", "stageArn": master_stage.arn})
    before = served()
    status, _, content = app.post(HEARTBEAT, {"userId": " v1 ", "stageArn": master_stage.arn})
    assert status == 200 and json.loads(content)["data"]["userId"] == "v1"
    assert served() == before


@pytest.mark.usefixtures("keyed")
def test_untracked_viewer_is_re_registered_by_django(master_stage, client, settings):
    app, body = armed(master_stage)
    presence.release(stage_id=master_stage.stage_id, user_id="v1")
    status, _, content = app.post(HEARTBEAT, body)
    assert status == 200, content
    assert presence.get_entry(stage_id=master_stage.stage_id, user_id="v1") is not None


@pytest.mark.usefixtures("keyed")
def test_rate_limit_counts_each_request_once(master_stage, settings):
    app = fresh_app()
    join(app, "v1")
    body = {"userId": "v1", "stageArn": master_stage.arn}
    app.post(HEARTBEAT, body)  # (limits off while the shape is learned and the viewer joins)
    settings.RATE_LIMIT_PER_MINUTE = 3
    before = served()
    answers = [app.post(HEARTBEAT, body, REMOTE_ADDR="10.9.9.9")[0] for _ in range(4)]
    assert answers == [200, 200, 200, 429]
    assert served() == before + 3
    status, headers, content = app.post(HEARTBEAT, body, REMOTE_ADDR="10.9.9.9")
    assert status == 429 and json.loads(content)["error"]["code"] == "RATE_LIMIT_EXCEEDED"
    assert "Retry-After" in dict(headers)
    # An untracked viewer is counted by the fast path and handed over: still one count each.
    presence.release(stage_id=master_stage.stage_id, user_id="v1")
    answers = [app.post(HEARTBEAT, body, REMOTE_ADDR="10.8.8.8")[0] for _ in range(4)]
    assert answers == [200, 200, 200, 429]


@pytest.mark.usefixtures("keyed")
def test_redis_failure_gets_djangos_error_answer(master_stage, monkeypatch, settings):
    app, body = armed(master_stage)

    def down(**kwargs):
        raise redis.ConnectionError("Redis is down")

    monkeypatch.setattr(presence, "heartbeat", down)
    monkeypatch.setattr(presence, "heartbeat_counted", down)
    status, _, content = app.post(HEARTBEAT, body)
    settings.API_FAST_PATH = False
    assert (status, json.loads(content)["error"]) == (lambda a: (a[0], json.loads(a[2])["error"]))(
        app.post(HEARTBEAT, body)
    )
    assert status == 503


@pytest.mark.usefixtures("keyed")
def test_off_switch(master_stage, settings):
    settings.API_FAST_PATH = False
    app = fresh_app()
    join(app, "v1")
    body = {"userId": "v1", "stageArn": master_stage.arn}
    before = served()
    assert [app.post(HEARTBEAT, body)[0] for _ in range(3)] == [200, 200, 200]
    assert served() == before


# --- headers: only what Django gives this request's shape -----------------------------------------


class OriginHeaderMiddleware:
    """A middleware whose header depends on an input outside the fast path's shape: the request's
    Origin, as a CORS middleware's does."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response["X-Seen-Origin"] = request.headers.get("Origin", "(none)")
        return response


@pytest.fixture
def origin_middleware(settings):
    """OriginHeaderMiddleware installed last in the production Django handler (which loads its
    middleware once, when it is created: it loads them again here, and again after)."""
    stack = settings.MIDDLEWARE
    settings.MIDDLEWARE = [*stack, f"{__name__}.OriginHeaderMiddleware"]
    wsgi.django_application.load_middleware()
    yield
    settings.MIDDLEWARE = stack
    wsgi.django_application.load_middleware()


@pytest.mark.usefixtures("keyed")
def test_a_header_from_another_input_is_each_requests_own(master_stage, request):
    app = Wsgi(wsgi.application)  # the production WSGI application, fast path and all
    join(app, "v1")
    body = {"userId": "v1", "stageArn": master_stage.arn}
    app.post(HEARTBEAT, body, HTTP_ORIGIN="https://a.example")
    before = served()
    assert app.post(HEARTBEAT, body, HTTP_ORIGIN="https://b.example")[0] == 200
    assert served() == before + 1  # the shape is learned: from here on it was answered fast

    request.getfixturevalue("origin_middleware")
    origins = ["https://a.example", "https://b.example", "https://a.example", None, "https://b.example"]
    answers = [app.post(HEARTBEAT, body, **({"HTTP_ORIGIN": o} if o else {})) for o in origins]

    assert [(status, dict(headers).get("X-Seen-Origin")) for status, headers, _ in answers] == [
        (200, origin or "(none)") for origin in origins
    ]


@pytest.mark.usefixtures("keyed")
def test_unknown_middleware_turns_the_fast_routes_over_to_django(master_stage, origin_middleware):
    from ivsproject.api.fastpath import unknown_middleware

    assert unknown_middleware() == [f"{__name__}.OriginHeaderMiddleware"]
    app, body = armed(master_stage)
    before = served()
    assert [app.post(HEARTBEAT, body)[0] for _ in range(3)] == [200, 200, 200]
    assert served() == before


@pytest.mark.usefixtures("keyed")
def test_a_host_django_refuses_is_refused_every_time(master_stage, settings):
    app = fresh_app()
    join(app, "v1")
    settings.ALLOWED_HOSTS = ["api.example.com"]
    body = {"userId": "v1", "stageArn": master_stage.arn}
    app.post(HEARTBEAT, body, HTTP_HOST="api.example.com")
    before = served()
    assert app.post(HEARTBEAT, body, HTTP_HOST="api.example.com")[0] == 200 and served() == before + 1

    assert [app.post(HEARTBEAT, body, HTTP_HOST="evil.example")[0] for _ in range(3)] == [400, 400, 400]
    assert served() == before + 1


# --- the viewer token: an operation with side effects ------------------------------------------

TOKEN = "/api/token/viewer"


def token_served(outcome="served"):
    return (
        REGISTRY.get_sample_value("ivs_fast_path_requests_total", {"route": "api/token/viewer", "outcome": outcome})
        or 0.0
    )


def token_comparable(*answer):
    return comparable(*answer, volatile_data=("token", "participantId", "expiresAt", "userId"))


@pytest.mark.usefixtures("keyed")
@pytest.mark.parametrize("language", ["", "en"])
def test_fast_token_is_djangos_token(master_stage, settings, language):
    app = fresh_app()
    headers = {"HTTP_ACCEPT_LANGUAGE": language} if language else {}
    before = token_served()
    learned = app.post(TOKEN, {"userId": "t1"}, **headers)
    fast = app.post(TOKEN, {"userId": "t2"}, **headers)
    assert token_served() == before + 1
    settings.API_FAST_PATH = False
    django_only = app.post(TOKEN, {"userId": "t3", "stageArn": ""}, **headers)
    assert token_served() == before + 1
    assert fast[0] == 200
    learned_view, fast_view, django_view = (token_comparable(*a) for a in (learned, fast, django_only))
    # currentViewers counts up by one per new viewer; everything else is the same answer.
    assert [v[2]["data"].pop("currentViewers") for v in (learned_view, fast_view, django_view)] == [1, 2, 3]
    assert learned_view == fast_view == django_view
    assert json.loads(fast[2])["data"]["userId"] == "t2"
    # The fast token is a real seat and a real session.
    from viewers.models import ViewerSession

    assert ViewerSession.objects.filter(user_id="t2", left_at__isnull=True).count() == 1
    assert presence.get_entry(stage_id=master_stage.stage_id, user_id="t2") is not None


@pytest.mark.usefixtures("keyed")
def test_a_failed_fast_token_is_answered_by_django_without_running_again(master_stage, monkeypatch):
    from stages.ivs import participant_token

    app = fresh_app()
    app.post(TOKEN, {"userId": "t1"})
    calls = []
    real = participant_token.mint_token

    def failing(**kwargs):
        calls.append(kwargs["user_id"])
        raise RuntimeError("signing device unavailable")

    monkeypatch.setattr(participant_token, "mint_token", failing)
    before = token_served("django")
    status, _, content = app.post(TOKEN, {"userId": "t2"})
    assert status == 500 and json.loads(content)["error"]["code"] == "TOKEN_GENERATION_FAILED"
    assert calls == ["t2"]  # minted once: Django raised the fast path's error, it did not retry
    assert token_served("django") == before + 1
    assert presence.get_entry(stage_id=master_stage.stage_id, user_id="t2") is None  # seat given back
    monkeypatch.setattr(participant_token, "mint_token", real)
    assert app.post(TOKEN, {"userId": "t2"})[0] == 200


@pytest.mark.usefixtures("keyed")
def test_fast_token_errors_are_djangos(master_stage, settings):
    app = fresh_app()
    app.post(TOKEN, {"userId": "t1"})
    settings.STAGE_MAX_PARTICIPANTS = 1
    status, _, content = app.post(TOKEN, {"userId": "t2"})
    assert status == 503 and json.loads(content)["error"]["code"] == "STAGE_FULL"
    status, _, content = app.post(TOKEN, {"userId": "t2", "stageArn": UNKNOWN_ARN})
    assert status == 404
    status, _, content = app.post(TOKEN, {"userId": ""})
    assert status == 400 and json.loads(content)["error"]["code"] == "VALIDATION_ERROR"


@pytest.mark.usefixtures("keyed")
def test_fast_token_rate_limit_counts_each_request_once(master_stage, settings):
    app = fresh_app()
    app.post(TOKEN, {"userId": "t0"})
    settings.RATE_LIMIT_PER_MINUTE = 3
    before = token_served()
    answers = [app.post(TOKEN, {"userId": f"t{i}"}, REMOTE_ADDR="10.7.7.7")[0] for i in range(1, 5)]
    assert answers == [200, 200, 200, 429]
    assert token_served() == before + 3


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("keyed")
def test_fast_token_reconnects_when_the_database_dropped_its_connection(master_stage):
    """The fast path skips Django's per-request `SELECT 1`; the session INSERT reconnects itself."""
    from django.db import connection

    from viewers.models import ViewerSession

    if connection.vendor != "postgresql":
        pytest.skip("needs a database server that can end a connection (PostgreSQL)")
    import psycopg

    app = fresh_app()
    assert app.post(TOKEN, {"userId": "t1"})[0] == 200  # learned
    before = token_served()
    assert app.post(TOKEN, {"userId": "t2"})[0] == 200
    assert token_served() == before + 1
    pid = connection.connection.info.backend_pid
    with psycopg.connect(**connection.get_connection_params(), autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])
    status, _, content = app.post(TOKEN, {"userId": "t3"})
    assert status == 200, content
    assert token_served() == before + 2
    assert ViewerSession.objects.filter(user_id="t3", left_at__isnull=True).count() == 1


@pytest.mark.usefixtures("keyed")
def test_scripts_reload_after_redis_forgot_them(master_stage):
    """The hot paths call their Redis scripts by SHA; a Redis that restarted (no scripts) still
    answers them: the call falls back to redis-py's load-and-retry."""
    from ivsproject.redis import get_redis

    app, body = armed(master_stage)
    get_redis().script_flush()
    before = served()
    status, _, content = app.post(HEARTBEAT, body)
    assert status == 200, content
    assert served() == before + 1
    get_redis().script_flush()
    status, _, content = app.post(TOKEN, {"userId": "t9"})
    assert status == 200, content


ODD_HEARTBEAT_BODIES = [
    '{"userId": "v1", "stageArn": "%(arn)s", "extra": {"nested": [1, 2]}}',
    '{"userId": "v1", "userId": "v1", "stageArn": "%(arn)s"}',
    '{"userId": "v1\\u2028", "stageArn": "%(arn)s"}',
    '{"userId": "\\u4e2d\\u6587\\ud83d\\ude00", "stageArn": "%(arn)s"}',
    '{"userId": "\\ud800", "stageArn": "%(arn)s"}',
    '{"userId": "' + "x" * 128 + '", "stageArn": "%(arn)s"}',
    '{"userId": "' + "x" * 129 + '", "stageArn": "%(arn)s"}',
    '{"userId": "v1\\t", "stageArn": "%(arn)s"}',
    '{"userId": "", "stageArn": "%(arn)s"}',
    '{"userId": null, "stageArn": "%(arn)s"}',
    '{"userId": ["v1"], "stageArn": "%(arn)s"}',
    '{"userId": "v1", "stageArn": "%(arn)s "}',
    '{"userId": "v1", "stageArn": "%(arn)s/.."}',
    '{"userId": "v1", "stageArn": "%(arn)s"} trailing',
    '\ufeff{"userId": "v1", "stageArn": "%(arn)s"}',
    '{"userId": "v1", "stageArn": "%(arn)s", "n": Infinity}',
    "{}",
    "",
]


@pytest.mark.usefixtures("keyed")
@pytest.mark.parametrize("template", ODD_HEARTBEAT_BODIES)
@pytest.mark.parametrize("path", [HEARTBEAT, TOKEN])
def test_odd_bodies_get_the_same_answer_with_and_without_the_fast_path(master_stage, settings, template, path):
    """Whatever the body, the fast path either answers exactly as Django would or lets Django
    answer — never a 500, never a different status or error."""
    app, _ = armed(master_stage)
    app.post(TOKEN, {"userId": "t0"})  # the token route learned too
    raw = template % {"arn": master_stage.arn}
    fast = app.post(path, None, raw=raw)
    settings.API_FAST_PATH = False
    slow = app.post(path, None, raw=raw)
    assert fast[0] < 500 or fast[0] == slow[0] == 503, fast[2]

    def essence(answer):
        body = json.loads(answer[2])
        if body["success"]:
            return answer[0], {k: v for k, v in body["data"].items() if k in ("userId", "stageArn", "heartbeatUpdated")}
        return answer[0], body["error"]["code"], body["error"]["message"]

    assert essence(fast) == essence(slow)


@pytest.mark.usefixtures("keyed")
def test_a_client_key_is_never_served_on_a_full_key_route(master_stage, settings):
    """The fast path asks what a key may call, as Django does: on a fast route whose view needs the
    full key (the publisher token here), a client key gets Django's 403 and the handler never runs."""
    settings.API_CLIENT_KEYS = ["client-key"]
    ran = []

    def handler(request):
        ran.append(request.data)
        return FastAnswer({"served": "by the fast path"})

    app = Wsgi(FastPathApplication(wsgi.django_application, {("POST", "/api/token/publisher"): FastRoute(handler)}))
    body = {"userId": "host"}
    assert app.post("/api/token/publisher", body)[0] == 200  # Django's answer: the shape is learned
    status, _, content = app.post("/api/token/publisher", body)
    assert (status, json.loads(content)["data"], len(ran)) == (200, {"served": "by the fast path"}, 1)

    status, _, content = app.post("/api/token/publisher", body, key="client-key")

    assert status == 403 and json.loads(content)["error"]["code"] == "FORBIDDEN"
    assert len(ran) == 1


@pytest.mark.usefixtures("keyed")
def test_a_null_optional_field_is_absent_on_the_production_app_too(master_stage):
    """`roomId: null`, `stageArn: null`: the default room and a stage picked for the viewer, on a
    production app that has already learned the viewer-token route (and a null for the required
    userId is still `缺少 userId`)."""
    app = fresh_app()
    for user in ("v1", "v2", "v3"):
        join(app, user)

    labels = {"route": "api/token/viewer", "outcome": "served"}
    before = REGISTRY.get_sample_value("ivs_fast_path_requests_total", labels) or 0.0
    status, _, content = app.post("/api/token/viewer", {"userId": "v4", "roomId": None, "stageArn": None})

    assert status == 200, content
    assert json.loads(content)["data"]["stageArn"] == master_stage.arn
    assert REGISTRY.get_sample_value("ivs_fast_path_requests_total", labels) == before + 1  # served fast
    status, _, content = app.post("/api/token/viewer", {"userId": None, "roomId": None})
    assert status == 400
    assert json.loads(content)["error"]["message"] == "缺少 userId"
