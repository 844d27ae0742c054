"""A WSGI front that answers the hottest requests — a tracked viewer's heartbeat, a viewer token —
without Django's request machinery, and hands everything else to Django unchanged.

Why (bench/): a 100,000-viewer event is ~3,400 heartbeats/s. Through Django (WSGIRequest, twelve
middleware, URL resolving, DRF's Request/negotiation/auth/throttle/render) a heartbeat cost several
times the work itself (JSON, API key, one Redis round trip), and the bench measured about 0.2x the
original Node/Express stack's throughput. No library offers "skip the framework for one
proven-good request", so this is written here; it is kept small and every decision in it errs
towards "let Django answer".

How it stays exactly the Django answer:
- A route handler (registered in ivsproject/wsgi.py) serves only the case it can prove is a
  success: right method and path, no query string, an API key that may call the route (checked
  before a byte of the body is read: a caller without one never has its body read), a body that is
  a JSON object in UTF-8 of the declared length, and whatever the handler itself checks. Any doubt,
  any exception: the request goes to Django with its body rewound, and Django answers as it always
  did (errors, 429s, re-registration, language, everything).
- The success response's headers are learned from Django, keyed on everything the middleware
  stack reads that can change them. Only a stack of middleware this module knows (`KNOWN_MIDDLEWARE`,
  each with what it reads) is served at all; for it, those inputs are the request's "shape": its
  language, scheme, Host, Accept and Content-Type, and its Origin when CORS allows that Origin (a
  request with any other Origin goes to Django, which leaves it without CORS headers). The first
  200 that Django gives for a route and shape is recorded, minus the per-request headers, and
  reused for that shape only; until then Django answers. So security headers, `Content-Language`,
  `Vary`, `Allow`, ... stay whatever the settings and middleware make them, and a Host Django
  refuses is refused every time.
  With any other middleware installed (one reading a header the shape leaves out, say)
  every request on the fast routes goes to Django, with a warning and a system check (ivs.W002):
  this module cannot know what that middleware reads.
  Why not the alternatives: building the headers here by hand would copy five middleware and their
  settings, and would still miss the header of a middleware added later; keying on every input a
  middleware could read (client address, User-Agent, Origin, cookies) would make nearly every
  request the first of its shape, and nothing would be answered fast.
- The body is the same envelope (`success_body`) rendered by DRF's own JSONRenderer; the request id
  and the request metrics are the middleware's (`X-Request-ID`, `ivs_http_requests_total`).

Side channels: what passes between a fast-path attempt and the Django request that follows it.
Each is one WSGI environ key or one request attribute, written in one place and read in one place:
- The hand-off (`HANDOFF_ENVIRON_KEY`, set from `HandOff`): a handler whose operation has side
  effects (a viewer token takes a seat) never lets Django run it again. When the operation fails,
  the handler raises `HandOff(error)`; the error rides in the environ to the route's Django view,
  whose first statement, `raise_handed_off`, raises it, so Django renders that same error.
- The pre-counted rate limit (`ivsproject.api.throttling.PRECOUNTED_ENVIRON_KEY`, from
  `FastRequest.precounted`): a handler that already counted the request against the client's
  rate limit (the heartbeat counts inside its Redis script) and then hands it to Django leaves the
  count in the environ; Django's throttle (`throttling.ticket_of`) enforces that count instead of
  counting again, so each request is counted exactly once.
- The deferred throttle (`throttling.DeferredClientRateThrottle` and `take_deferred`, on the two
  fast routes' Django views): for an authenticated POST, DRF's throttle step counts nothing and
  leaves the request's ticket on the DRF request; the view takes it and counts inside its own
  Redis round trip (or, when the ticket says the fast path counted already, only enforces it),
  settling it exactly once before any answer other than 429.

`API_FAST_PATH=false` turns it off. It is a WSGI wrapper (`ivsproject/wsgi.py`, the production web
server); the development server (daphne, ASGI) always goes through Django.
"""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from django.conf import settings
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.http import HttpRequest
from django.http.cookie import parse_cookie
from django.urls import resolve
from django.utils import translation
from prometheus_client import Counter
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request

from ivsproject.api import metrics
from ivsproject.api.authentication import api_client_of
from ivsproject.api.cors import allowed_origin
from ivsproject.api.envelope import success_body
from ivsproject.api.logging import request_id_var
from ivsproject.api.middleware import request_id_of
from ivsproject.api.throttling import PRECOUNTED_ENVIRON_KEY

logger = logging.getLogger(__name__)

FAST_PATH = Counter(
    "ivs_fast_path_requests_total",
    "Requests on a fast-path route: answered by the fast path, or handed to Django (and why)",
    ["route", "outcome"],
)

# Headers that belong to one response, never to the learned template.
_PER_RESPONSE = {"x-request-id", "content-length", "date", "set-cookie"}
# A bound on learned shapes per route (languages x schemes x hosts x Accept x Content-Type seen).
_MAX_SHAPES = 256
_MAX_BODY = 4096
_renderer = JSONRenderer()

# The middleware whose headers on a fast route's 200 depend on nothing but the request's shape
# (`FastPathApplication._shape`), each with what it reads. Any other installed middleware turns
# the fast routes over to Django (see the module docstring): add one here only with what it reads
# in the shape.
KNOWN_MIDDLEWARE = {
    "ivsproject.api.middleware.RequestIdMiddleware": "X-Request-ID: the request's own, built per request",
    "ivsproject.api.middleware.MetricsMiddleware": "no headers",
    "ivsproject.api.cors.CorsMiddleware": "Vary and Access-Control-* from settings (Origin, when allowed)",
    "django.middleware.security.SecurityMiddleware": "HSTS on HTTPS (scheme); the rest from settings",
    "whitenoise.middleware.WhiteNoiseMiddleware": "static files only",
    "django.middleware.locale.LocaleMiddleware": "Content-Language and Vary (language)",
    "ivsproject.api.middleware.ApiEnvelopeMiddleware": "error answers only",
    "django.contrib.sessions.middleware.SessionMiddleware": "a cookie and Vary only when the session is used",
    "django.middleware.common.CommonMiddleware": "Host (ALLOWED_HOSTS); User-Agent with DISALLOWED_USER_AGENTS",
    "django.middleware.csrf.CsrfViewMiddleware": "a cookie only when a token was asked for",
    "django.contrib.auth.middleware.AuthenticationMiddleware": "no headers",
    "django.contrib.messages.middleware.MessageMiddleware": "a cookie only when there are messages",
    "django.middleware.clickjacking.XFrameOptionsMiddleware": "X-Frame-Options from settings",
}


def unknown_middleware() -> list[str]:
    """Installed middleware the fast path does not know (with any, it answers nothing itself)."""
    return [name for name in settings.MIDDLEWARE if name not in KNOWN_MIDDLEWARE]


@dataclass
class FastRequest:
    """What a handler sees: the parsed JSON object and the raw environ (read-only)."""

    environ: dict[str, Any]
    data: dict[str, Any]
    # Set by a handler that already counted the request against the client's rate limit before
    # deciding to hand it to Django; Django's throttle then enforces this count instead of
    # counting again (throttling.PRECOUNTED_ENVIRON_KEY).
    precounted: int | None = None


@dataclass(frozen=True)
class FastAnswer:
    data: Any
    message: Any = None


class HandOff(Exception):
    """Raised by a handler whose operation already ran (it has side effects) and failed: Django
    answers the request by raising `error` in the route's view (`raise_handed_off`) — the same
    answer as if the view had run the operation, and the operation never runs twice."""

    def __init__(self, error: BaseException):
        super().__init__(error)
        self.error = error


def raise_handed_off(request: HttpRequest | Request) -> None:
    """First thing in the Django view of a fast route with side effects: re-raise the error the
    fast path's run of the operation ended in, if it did."""
    error = request.META.pop(HANDOFF_ENVIRON_KEY, None)
    if error is not None:
        raise error


HANDOFF_ENVIRON_KEY = "ivs.fast_path.handed_off"


Handler = Callable[[FastRequest], FastAnswer | None]


@dataclass(frozen=True)
class FastRoute:
    handler: Handler
    # The handler uses the database: its connections are looked after as in a Django request.
    database: bool = False


@dataclass
class _Route:
    handler: Handler
    database: bool
    label: str  # the Django route pattern, as MetricsMiddleware labels it
    method: str
    name: str  # the Django view name, which says what kind of API key may call it
    templates: dict[tuple, tuple[str, list[tuple[str, str]]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # The labelled series, looked up once (`.labels()` costs more than the increment).
        self.count = {o: FAST_PATH.labels(self.label, o).inc for o in ("served", "django", "learning", "not-eligible")}
        self.observe = metrics.request_observer(self.method, self.label, 200)


def is_enabled() -> bool:
    return bool(settings.API_FAST_PATH)


class FastPathApplication:
    """WSGI app: fast routes first, Django for everything else (see the module docstring)."""

    def __init__(self, django_app: Callable[..., Iterable[bytes]], routes: Mapping[tuple[str, str], FastRoute]):
        self.django_app = django_app
        self.routes = {key: _route(key, route) for key, route in routes.items()}
        self._languages: dict[tuple[str | None, str], str] = {}
        self._middleware: object = None  # the MIDDLEWARE setting last looked at, and its verdict
        self._middleware_known = False

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        route = self.routes.get((environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", "")))
        if route is None or not is_enabled():
            return self.django_app(environ, start_response)
        started = time.perf_counter()
        shape = self._shape(environ) if self._knows_middleware() else None
        if shape is None:
            route.count["not-eligible"]()
            return self.django_app(environ, start_response)
        template = route.templates.get(shape)
        if template is None:
            route.count["learning"]()
            return self._learn(route, shape, environ, start_response)
        client = api_client_of(environ)
        if client is None or not client.may_call(route.name):  # Django answers 401 or 403, the body unread
            route.count["django"]()
            return self.django_app(environ, start_response)
        body = self._read_body(environ)
        if body is None:
            route.count["not-eligible"]()
            return self.django_app(environ, start_response)
        request = self._request(environ, body)
        answer = None
        if request is not None:
            request_id = request_id_of(environ)
            token = request_id_var.set(request_id)
            try:
                # As LocaleMiddleware: the request's language stays active in this thread.
                if translation.get_language() != shape[0]:
                    translation.activate(shape[0])
                if route.database:
                    _request_started()
                answer = route.handler(request)
                if answer is not None:
                    payload = _renderer.render(success_body(answer.data, answer.message))
            except HandOff as handoff:
                environ[HANDOFF_ENVIRON_KEY] = handoff.error
                answer = None
            except Exception:  # Django answers (and logs) whatever went wrong, as it always did
                logger.debug("fast path handed a request to Django", exc_info=True)
                answer = None
            finally:
                if route.database:
                    _request_finished()
                request_id_var.reset(token)
            if request.precounted is not None:
                environ[PRECOUNTED_ENVIRON_KEY] = request.precounted
        if answer is None:
            route.count["django"]()
            return self.django_app(environ, start_response)
        status, headers = template
        start_response(status, [*headers, ("Content-Length", str(len(payload))), ("X-Request-ID", request_id)])
        route.observe(time.perf_counter() - started)
        route.count["served"]()
        return [payload]

    # --- eligibility -----------------------------------------------------------------------------

    def _knows_middleware(self) -> bool:
        """Whether every installed middleware is one the shape accounts for (KNOWN_MIDDLEWARE).

        Decided again, and every learned template dropped, whenever the setting is another object
        (settings overridden, as tests do): templates learned under one stack say nothing about
        another's headers.
        """
        middleware = settings.MIDDLEWARE
        if middleware is not self._middleware:
            for route in self.routes.values():
                route.templates.clear()
            unknown = unknown_middleware()
            if unknown:
                logger.warning("fast path off: middleware %s may set headers it cannot know; Django answers", unknown)
            self._middleware, self._middleware_known = middleware, not unknown
        return self._middleware_known

    def _shape(self, environ: dict[str, Any]) -> tuple | None:
        """Everything the known middleware and the view read that can change the headers (or the
        status) of a success, or None: not for the fast path."""
        if environ.get("QUERY_STRING"):
            return None
        accept = environ.get("HTTP_ACCEPT", "")
        if ";" in accept:  # media-type parameters (e.g. indent=4) change DRF's rendering
            return None
        if settings.DISALLOWED_USER_AGENTS:  # CommonMiddleware would read the User-Agent too
            return None
        origin = environ.get("HTTP_ORIGIN")
        if not settings.CORS_ALLOWED_ORIGINS:
            origin = "cors-off"  # the Origin changes nothing
        elif origin is not None and not allowed_origin(origin):  # Django's answer: no CORS headers
            return None
        secure, host = self._is_secure(environ), self._host(environ)
        return (self._language(environ), secure, host, accept, environ.get("CONTENT_TYPE", ""), origin)

    def _language(self, environ: dict[str, Any]) -> str:
        """LocaleMiddleware's choice (language cookie, then Accept-Language), memoised per input."""
        cookie = environ.get("HTTP_COOKIE")
        chosen = parse_cookie(cookie).get(settings.LANGUAGE_COOKIE_NAME) if cookie else None
        accept = environ.get("HTTP_ACCEPT_LANGUAGE", "")
        memo = (chosen, accept)
        language = self._languages.get(memo)
        if language is None:
            shim = SimpleNamespace(COOKIES={} if chosen is None else {settings.LANGUAGE_COOKIE_NAME: chosen})
            shim.META = {"HTTP_ACCEPT_LANGUAGE": accept}
            language = translation.get_language_from_request(shim)  # type: ignore[arg-type]
            if len(self._languages) >= 1024:
                self._languages.clear()
            self._languages[memo] = language
        return language

    @staticmethod
    def _host(environ: dict[str, Any]) -> str:
        """What HttpRequest.get_host() reads (it is not validated here: Django refuses a Host that
        ALLOWED_HOSTS does not list with a 400, and only a 200 is ever learned for a shape)."""
        if settings.USE_X_FORWARDED_HOST and "HTTP_X_FORWARDED_HOST" in environ:
            return "forwarded:" + environ["HTTP_X_FORWARDED_HOST"]
        if "HTTP_HOST" in environ:
            return environ["HTTP_HOST"]
        return f"server:{environ.get('SERVER_NAME', '')}:{environ.get('SERVER_PORT', '')}"

    @staticmethod
    def _is_secure(environ: dict[str, Any]) -> bool:
        """HttpRequest.is_secure() from the environ."""
        if settings.SECURE_PROXY_SSL_HEADER:
            header, secure_value = settings.SECURE_PROXY_SSL_HEADER
            value = environ.get(header)
            if value is not None:
                return value.split(",", 1)[0].strip() == secure_value
        return environ.get("wsgi.url_scheme") == "https"

    @staticmethod
    def _read_body(environ: dict[str, Any]) -> bytes | None:
        """The whole body when its length is declared and small; the environ keeps a rewound copy."""
        try:
            length = int(environ.get("CONTENT_LENGTH") or "")
        except ValueError:
            return None
        if not 0 < length <= min(_MAX_BODY, settings.API_MAX_BODY_BYTES):
            return None
        body = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(body)
        return body if len(body) == length else None

    @staticmethod
    def _request(environ: dict[str, Any], body: bytes) -> FastRequest | None:
        try:
            data = json.loads(body.decode("utf-8"), parse_constant=_refuse)
        except (ValueError, RecursionError):
            return None
        return FastRequest(environ, data) if type(data) is dict else None

    # --- learning --------------------------------------------------------------------------------

    def _learn(
        self, route: _Route, shape: tuple, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        """Django answers; a 200 without cookies becomes the template for this shape."""

        def learning_start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if status.startswith("200 ") and not any(name.lower() == "set-cookie" for name, _ in headers):
                if len(route.templates) >= _MAX_SHAPES:
                    route.templates.clear()
                route.templates[shape] = (status, [(n, v) for n, v in headers if n.lower() not in _PER_RESPONSE])
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        return self.django_app(environ, learning_start_response)


def _route(key: tuple[str, str], route: FastRoute) -> _Route:
    match = resolve(key[1])
    return _Route(route.handler, route.database, match.route, key[0], match.view_name)


def _request_started() -> None:
    """Django's request_started for database connections (drop one that is too old or that failed
    and no longer works), minus the per-request health check.

    Why (bench/): with CONN_HEALTH_CHECKS each request's first query is preceded by a `SELECT 1`
    round trip, about a tenth of a viewer token's cost (client and server). The fast routes' one
    common write reconnects and retries once itself when its connection is dead
    (`viewers.sessions`); a rarer statement on a dead connection fails this one request (its error
    answered by Django) and the connection is dropped at its end, as Django does without health
    checks. Django's own requests keep their health checks.
    """
    for conn in connections.all(initialized_only=True):
        if conn.in_atomic_block:
            continue  # see _request_finished
        conn.close_if_unusable_or_obsolete()
        skip_health_check(conn)


def skip_health_check(conn: BaseDatabaseWrapper) -> None:
    """Count an open connection as health-checked for this request (Django then runs no `SELECT 1`
    before its first query).

    Django has no public switch for one request's health check, only `health_check_done`, the
    flag its own check sets once it has run (and `close_if_unusable_or_obsolete` clears at every
    request boundary). It is the one Django internal here: Django is pinned to a minor range in
    requirements.in, and tests/api/test_third_party_contracts.py fails if the flag stops meaning
    "no check before the next query".
    """
    if conn.connection is not None:
        conn.health_check_done = True  # type: ignore[attr-defined]


def _request_finished() -> None:
    """Django's request_finished for database connections (`close_old_connections`), except for a
    connection inside a transaction: that is a test's (Django's test client disconnects the same
    handler), or Django's next request drops it."""
    for conn in connections.all(initialized_only=True):
        if not conn.in_atomic_block:
            conn.close_if_unusable_or_obsolete()


def _refuse(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")  # as DRF's STRICT_JSON
