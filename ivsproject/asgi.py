"""ASGI entry points (daphne): `websocket_application` for production, `application` for development.

- `websocket_application` (the Procfile's `ws` processes): the `/ws` WebSocket only. Every HTTP
  request answers 404 in the API envelope without touching Django: production HTTP is served by
  granian behind nginx (docs/operations.md "Production front"), so a daphne port reached directly
  offers no second door to the API, the admin or their rate limits and lockouts. In production
  (`ENVIRONMENT=production`) `application` is this one too, whatever name a process is given.
- `application` in development (`make run`, `runserver`, the tests' daphne): HTTP (Django) and
  `/ws` on one port.

Four wrappers around the applications (tests/hardening): `BodyLimit` refuses oversized request
bodies before Django reads them, `ForwardedClient` puts the client address in the scope by the
rule of every process (`TRUSTED_PROXY_COUNT`, ivsproject.api.throttling.client_address) — daphne
runs without `--proxy-headers`, which would trust the first `X-Forwarded-For` entry whatever the
proxy count says — `WebSocketOrigins` checks a WebSocket handshake's Origin (Channels'
OriginValidator), and `GracefulShutdown` makes SIGTERM under daphne drain instead of cut off
(in-flight requests finish, WebSockets get a close frame).
"""

import asyncio
import logging
import os
import signal
import sys
import uuid
from typing import Any
from urllib.parse import urlsplit

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ivsproject.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import OriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402
from django.http import HttpRequest, HttpResponse  # noqa: E402
from django.http.request import split_domain_port, validate_host  # noqa: E402
from django.utils import translation  # noqa: E402
from django.utils.translation import gettext_lazy as _  # noqa: E402

from ivsproject.api.checks import run_startup_checks  # noqa: E402
from ivsproject.api.exceptions import NotFound, ValidationFailed, error_json_response  # noqa: E402
from ivsproject.api.middleware import is_api_path  # noqa: E402
from ivsproject.api.throttling import client_address  # noqa: E402
from stats.routing import websocket_urlpatterns  # noqa: E402

run_startup_checks()

logger = logging.getLogger(__name__)
# 1001 (going away) would say it best, but daphne's WebSocket library (autobahn) lets an application
# send only 1000 or 3000-4999; clients reconnect with back-off on any close (spec), so 1000.
CLOSE_CODE = 1000


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers") or []:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def _joined_header(scope: dict[str, Any], name: bytes) -> str:
    """Every value of a repeated header joined with "," (what a WSGI environ holds)."""
    return ",".join(bytes(value).decode("latin-1") for key, value in scope.get("headers") or [] if key == name)


def _translated(scope: dict[str, Any], make: Any) -> Any:
    """`make()` in the language the request's Accept-Language asks for (as LocaleMiddleware picks it)."""
    request = HttpRequest()
    request.META["HTTP_ACCEPT_LANGUAGE"] = _header(scope, b"accept-language") or ""
    with translation.override(translation.get_language_from_request(request)):
        return make()


def _response_headers(response: Any) -> list[tuple[bytes, bytes]]:
    headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response.items()]
    length = str(len(response.content)).encode()
    return [*headers, (b"content-length", length), (b"x-request-id", uuid.uuid4().hex.encode())]


class ForwardedClient:
    """Put the client address in the scope by the rule of every process.

    `scope["client"]` becomes `client_address(peer, X-Forwarded-For)`: the peer itself unless
    TRUSTED_PROXY_COUNT proxies are trusted, then the address the outermost trusted proxy saw.
    daphne's own `--proxy-headers` takes the *leftmost* `X-Forwarded-For` entry, which any client
    writes itself (nginx appends to what it received), so it is not used.
    """

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        peer, port = [*(scope.get("client") or []), "", 0][:2]
        address = client_address(str(peer or ""), _joined_header(scope, b"x-forwarded-for"))
        # A forwarded address comes without the client's port; the peer's would be the proxy's.
        scope = {**scope, "client": [address, port if address == peer else 0]}
        await self.app(scope, receive, send)


async def http_not_found(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The whole HTTP side of `websocket_application`: 404 NOT_FOUND in the envelope, body unread."""
    response = _translated(scope, lambda: error_json_response(NotFound()))
    headers = [*_response_headers(response), (b"connection", b"close")]
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": response.content, "more_body": False})


class BodyLimit:
    """Refuse request bodies over API_MAX_BODY_BYTES before Django reads them.

    Why: Django's ASGIHandler reads the whole body (spooling it to disk) before any middleware runs,
    so the envelope middleware's Content-Length check (enough under WSGI, where nothing is read
    until asked) came only after every byte had been received and stored. Here a declared
    Content-Length over the cap is answered at once without reading a byte; a body without one
    (chunked) is counted as it streams and refused as soon as it passes the cap. Only a body within
    the cap reaches Django, replayed from a buffer of at most API_MAX_BODY_BYTES. The answer is the
    envelope the WSGI path gives (400 VALIDATION_ERROR `請求內容過大`) on /api and /health, a plain
    413 elsewhere.
    """

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = int(settings.API_MAX_BODY_BYTES)
        declared = _header(scope, b"content-length")
        try:
            length = int(declared) if declared is not None else None
        except ValueError:
            length = None
        if length is not None and length > limit:
            await self._refuse(scope, send, length)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # http.disconnect: the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self._refuse(scope, send, size)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if length is None and body:
            # A chunked body: its length is known now. Without a Content-Length DRF reads no body
            # at all (it takes the header as the length), so pass it on.
            scope = {**scope, "headers": [*scope.get("headers", []), (b"content-length", str(len(body)).encode())]}
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # later calls: Django listening for the client's disconnect

        await self.app(scope, replay, send)

    async def _refuse(self, scope: dict[str, Any], send: Any, length: int) -> None:
        limit = int(settings.API_MAX_BODY_BYTES)
        if is_api_path(scope.get("path", "")):
            response = _translated(
                scope,
                lambda: error_json_response(
                    ValidationFailed(_("請求內容過大"), details={"maxBodyBytes": limit, "contentLength": length})
                ),
            )
        else:
            response = HttpResponse(b"Request body too large\n", status=413, content_type="text/plain; charset=utf-8")
        status, content, headers = response.status_code, response.content, _response_headers(response)
        # The unread body stays unread: the server closes the connection after this response.
        headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content, "more_body": False})


class WebSocketOrigins:
    """The WebSocket handshake's Origin check (WS_ALLOWED_ORIGINS): Channels' OriginValidator, given
    the allow-list as the settings have it at each handshake.

    Open in development. In production a browser page may open /ws when it comes from the host the
    handshake was sent to (`_same_host`: the dashboard at /admin/dashboard/, any page the service
    itself serves) or from an origin on the list, compared by scheme, host and port
    (case-insensitive, default ports implied); "*" on the list allows any. Every other origin is
    refused, also while the list is empty: a browser sends the Origin of the page that opens the
    socket, so without this any site's page could read the stats (a system check warns about an
    empty list, ivs.W003). A handshake without Origin is allowed: browsers always send one, so it is
    a non-browser client, which could claim any Origin anyway. A refused handshake is closed before
    it is accepted (HTTP 403).

    OriginValidator reads two kinds of entry more widely than this allow-list ever did: a host
    starting with "." (every subdomain) and an entry without a scheme (any scheme). Those are not
    given to it; such an entry has only ever matched an Origin of the same text (the one a browser
    sends is `null`, an opaque origin, which OriginValidator never matches), and that stays so.
    """

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        entries = [entry.strip() for entry in settings.WS_ALLOWED_ORIGINS or []]
        origin = _header(scope, b"origin")
        if (
            not settings.IS_PRODUCTION
            or "*" in entries
            or origin is None
            or _same_host(origin, _header(scope, b"host"))
        ):
            patterns = ["*"]
        else:
            patterns = [entry for entry in entries if _is_url_origin(entry)]
            literal = {_as_text(entry) for entry in entries if not _is_url_origin(entry)}
            if not _is_url_origin(origin.strip()) and _as_text(origin) in literal:
                patterns = ["*"]
        await _LoggedOriginValidator(self.app, patterns)(scope, receive, send)


_DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443}


def _same_host(origin: str, host: str | None) -> bool:
    """Whether the Origin names the host the handshake was sent to: the same host name as the Host
    header, and the same port when the Host header carries one (a proxy passing nginx's `$host`
    drops it). The Host must also be one the service answers for (ALLOWED_HOSTS, as Django checks
    it for HTTP): otherwise a page on a name the attacker points at the service (DNS rebinding)
    would be "same host" with itself."""
    if not host:
        return False
    domain, port = split_domain_port(host)
    parts = urlsplit(origin.strip())
    try:
        origin_port = parts.port or _DEFAULT_PORTS.get(parts.scheme.lower())
    except ValueError:  # a port that is not a number
        return False
    return (
        bool(domain and parts.hostname)
        and validate_host(domain, settings.ALLOWED_HOSTS)
        and parts.hostname == domain.strip("[]")
        and (not port or origin_port == int(port))
    )


class _LoggedOriginValidator(OriginValidator):
    # One instance per handshake (WebSocketOrigins builds it per call): the scope is this one's.
    scope: dict[str, Any] = {}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        self.scope = scope
        return await super().__call__(scope, receive, send)

    def valid_origin(self, parsed_origin: Any) -> bool:
        valid = bool(super().valid_origin(parsed_origin))
        if not valid:
            client = (self.scope.get("client") or ["unknown"])[0]
            logger.info("ws handshake refused for origin %r from %s", parsed_origin and parsed_origin.geturl(), client)
        return valid


def _is_url_origin(value: str) -> bool:
    """Whether OriginValidator reads `value` as exactly one scheme, host and port."""
    parts = urlsplit(value)
    return bool(parts.scheme and parts.hostname) and not (parts.hostname or "").startswith(".")


def _as_text(value: str) -> str:
    return value.strip().lower().rstrip("/")


class GracefulShutdown:
    """SIGTERM under daphne: stop accepting, finish what is in flight, close WebSockets, then stop.

    Why: daphne's own SIGTERM handling (daphne 4.2, checked by tests/hardening/test_drill_shutdown.py)
    cancels every application instance at once. In-flight HTTP requests are cut off (the client
    sees the connection drop), WebSocket clients get no close frame (just a dropped TCP connection),
    and a sync view caught mid-request leaves its worker thread waiting forever on the stopped
    event loop, so the process never exits and needs a SIGKILL. Here, on SIGTERM: the listening
    sockets close, every WebSocket gets a close frame (1000, CLOSE_CODE; clients reconnect with
    back-off, to another process), in-flight HTTP requests run to completion — all within
    SHUTDOWN_GRACE_SECONDS — and then the reactor stops the way daphne stops it. A second SIGTERM
    stops at once. Only installed when a Twisted reactor actually runs (daphne); gunicorn and
    tests are untouched.
    """

    POLL_SECONDS = 0.05
    WEBSOCKET_CLOSE_SECONDS = 3.0

    def __init__(self) -> None:
        self.websockets: dict[object, Any] = {}  # open connection -> daphne's `send`
        self.http_in_flight = 0
        self.http_abandoned = 0  # cancelled mid-request: their sync threads may never return
        self.stopping = False
        self.closing: set[asyncio.Future] = set()

    def http(self, app: Any) -> Any:
        async def counted(scope: dict[str, Any], receive: Any, send: Any) -> None:
            self.http_in_flight += 1
            try:
                await app(scope, receive, send)
            except asyncio.CancelledError:
                self.http_abandoned += 1
                raise
            finally:
                self.http_in_flight -= 1

        return counted

    def websocket(self, app: Any) -> Any:
        async def tracked(scope: dict[str, Any], receive: Any, send: Any) -> None:
            connection = object()

            async def tracking_send(message: dict[str, Any]) -> None:
                if message["type"] == "websocket.accept":
                    self.websockets[connection] = send
                await send(message)

            try:
                await app(scope, receive, tracking_send)
            finally:
                self.websockets.pop(connection, None)

        return tracked

    def install(self) -> None:
        if "twisted.internet.reactor" not in sys.modules:
            return
        reactor = _reactor()

        # Twisted installs its signal handlers while starting up, before "when running" callbacks:
        # installed from one, ours replaces its SIGTERM handler (tests/api/test_third_party_contracts.py).
        def take_over_sigterm() -> None:
            signal.signal(signal.SIGTERM, lambda signum, frame: reactor.callFromThread(self.begin))
            reactor.addSystemEventTrigger("after", "shutdown", self.exit_if_threads_are_stuck)

        reactor.callWhenRunning(take_over_sigterm)

    def begin(self) -> None:
        reactor = _reactor()
        if self.stopping:
            reactor.stop()
            return
        self.stopping = True
        self._stop_listening(reactor)
        for send in list(self.websockets.values()):
            task = asyncio.ensure_future(send({"type": "websocket.close", "code": CLOSE_CODE}))
            self.closing.add(task)  # keep a reference until done (the loop holds only weak ones)
            task.add_done_callback(self.closing.discard)
        logger.info(
            "SIGTERM: draining %d HTTP request(s) and %d WebSocket(s)", self.http_in_flight, len(self.websockets)
        )
        grace = float(settings.SHUTDOWN_GRACE_SECONDS)
        deadline = reactor.seconds() + grace
        # A client that never answers the close frame must not hold the process for the whole grace.
        websocket_deadline = reactor.seconds() + min(grace, self.WEBSOCKET_CLOSE_SECONDS)

        def wait() -> None:
            now = reactor.seconds()
            busy = self.http_in_flight or (self.websockets and now < websocket_deadline)
            if busy and now < deadline:
                reactor.callLater(self.POLL_SECONDS, wait)
                return
            if self.http_in_flight:
                logger.warning("shutdown grace over: %d request(s) cut off", self.http_in_flight)
            reactor.stop()

        wait()

    @staticmethod
    def _stop_listening(reactor: Any) -> None:
        # daphne keeps its listening ports to itself; the reactor's readers include them, and a
        # listening port is whatever provides IListeningPort (TCP, UNIX socket, adopted descriptor).
        from twisted.internet.interfaces import IListeningPort

        for reader in list(reactor.getReaders()):
            if IListeningPort.providedBy(reader):
                reader.stopListening()

    def exit_if_threads_are_stuck(self) -> None:
        if self.http_abandoned:
            # A cancelled sync view's thread waits on the stopped loop forever and the interpreter
            # would wait for it at exit: leave now, after flushing the logs.
            logger.warning("%d request(s) were cut off; exiting without waiting for their threads", self.http_abandoned)
            logging.shutdown()
            os._exit(0)


def _reactor() -> Any:
    # Any: zope-interface typing of the reactor module confuses mypy.
    from twisted.internet import reactor

    return reactor


shutdown = GracefulShutdown()
shutdown.install()

_websockets = shutdown.websocket(ForwardedClient(WebSocketOrigins(URLRouter(websocket_urlpatterns))))

websocket_application = ProtocolTypeRouter({"http": http_not_found, "websocket": _websockets})

application = (
    websocket_application
    if settings.IS_PRODUCTION
    # Django applies the client-address rule to its own requests (ivsproject.api.throttling).
    else ProtocolTypeRouter({"http": shutdown.http(BodyLimit(django_asgi_app)), "websocket": _websockets})
)
