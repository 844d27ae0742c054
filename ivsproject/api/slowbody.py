"""A WSGI guard against request bodies that stop arriving (granian has no body read timeout).

Why: granian (the production web server) times out a request's *headers*
(`--http1-header-read-timeout`) but not its *body*: a thread that reads `wsgi.input` waits until
the declared Content-Length has arrived or the client goes away, and its maintainers leave body
timeouts to the proxy in front. Production has one (deploy/nginx.conf buffers every body within
`client_body_timeout` before granian sees a byte). Without this guard a granian port reached
directly is taken down by as many stalled bodies as it has threads (2 workers x 8 threads: sixteen
half-sent POSTs, no key needed).

What it does: a body is read before the application runs (bodies are capped at
API_MAX_BODY_BYTES, so holding one is cheap) and handed on from memory, and at most
READERS_PER_WORKER threads of a worker read a body at the same time. A request that finds every
reader slot taken waits for one at most SLOT_WAIT_SECONDS, then answers 503 SERVICE_UNAVAILABLE
(the envelope on /api and /health, plain text elsewhere) and its thread serves the next request.
A legitimate body has arrived with its headers, so its read takes microseconds and a slot is
almost always free; stalled bodies hold at most READERS_PER_WORKER threads per worker, and the
others keep serving: every request without a body (/health, GETs) as usual, requests with one
refused quickly while the slots stay held. The slots come back when those clients send the rest
or disconnect.

Why not a timeout on the read itself: nothing in Python can interrupt granian's read, and handing
the read to a helper thread that outlives the request jams the whole worker (granian cannot
finish a response while another thread still reads its body).

Bodies without a Content-Length (chunked) and over the cap are passed on untouched: Django reads
no chunked body, and refuses an oversized one from its Content-Length without reading it. So is an
API request without a credential (no valid `x-api-key`, nor the events secret on the events route):
the API refuses it from its headers (401) and never reads its body, so a caller without a key cannot
make the server wait for a body at all, nor hold a reader slot.
"""

from __future__ import annotations

import io
import threading
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils import translation

from ivsproject.api.authentication import api_client_of, match_secret
from ivsproject.api.exceptions import ServiceUnavailable, error_json_response
from ivsproject.api.middleware import is_api_path

# Threads of one worker (of the Procfile's 8) that may be inside a body read at the same time:
# what stalled bodies can hold at most.
READERS_PER_WORKER = 2
# How long a request waits for a reader slot before it is refused. Slots are held for microseconds
# by legitimate bodies; a wait this long means they are held by bodies that are not coming.
SLOT_WAIT_SECONDS = 1.0

StartResponse = Callable[..., Any]


class SlowBodyGuard:
    def __init__(
        self,
        app: Callable[[dict[str, Any], StartResponse], Iterable[bytes]],
        *,
        readers: int = READERS_PER_WORKER,
        slot_wait_seconds: float = SLOT_WAIT_SECONDS,
    ):
        self.app = app
        self.slot_wait_seconds = slot_wait_seconds
        self._slots = threading.BoundedSemaphore(readers)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if not 0 < length <= settings.API_MAX_BODY_BYTES or not _credentialed(environ):
            return self.app(environ, start_response)
        if not self._slots.acquire(timeout=self.slot_wait_seconds):
            return _refuse(environ, start_response)
        try:
            body = environ["wsgi.input"].read(length)
        finally:
            self._slots.release()
        environ["wsgi.input"] = io.BytesIO(body)
        return self.app(environ, start_response)


def _credentialed(environ: dict[str, Any]) -> bool:
    """Whether the application may read this request's body: any page outside the API (the admin's
    login form has a body and no key), or an API request that carries a credential it will accept."""
    if not is_api_path(environ.get("PATH_INFO", "")):
        return True
    if api_client_of(environ) is not None:
        return True
    secret, given = settings.IVS_EVENTS_SECRET, environ.get("HTTP_X_IVS_EVENTS_SECRET")
    return bool(secret) and isinstance(given, str) and match_secret(given, [secret]) is not None


def _refuse(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    if is_api_path(environ.get("PATH_INFO", "")):
        request = HttpRequest()
        request.META["HTTP_ACCEPT_LANGUAGE"] = environ.get("HTTP_ACCEPT_LANGUAGE", "")
        with translation.override(translation.get_language_from_request(request)):
            response = error_json_response(ServiceUnavailable())
        content, headers = response.content, list(response.items())
    else:
        content, headers = b"Service unavailable\n", [("Content-Type", "text/plain; charset=utf-8")]
    # The unread body stays unread: the connection is not reused.
    headers += [("Content-Length", str(len(content))), ("X-Request-ID", uuid.uuid4().hex), ("Connection", "close")]
    start_response("503 Service Unavailable", headers)
    return [content]
