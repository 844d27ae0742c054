"""The WebSocket handshake's Origin check (ivsproject.asgi.WebSocketOrigins, Channels'
OriginValidator) on its own, in front of a consumer that accepts everything."""

import contextlib

import pytest
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.testing import WebsocketCommunicator
from django.db import connections

from ivsproject.asgi import WebSocketOrigins

# Channels' consumers look after database connections around every message (in a worker thread).
pytestmark = pytest.mark.django_db


class Accepting(AsyncWebsocketConsumer):
    channel_layer_alias = "unconfigured"  # no channel layer: nothing to wait for on disconnect

    async def connect(self):
        await self.accept()


OPS = ["https://ops.example.com"]
HOST = "live.example.com"  # the Host every handshake is sent to, unless a case says otherwise
ALLOWED_HOSTS = [HOST, "localhost", "[::1]"]

CASES = [
    # (production, WS_ALLOWED_ORIGINS, Origin, accepted)
    (False, OPS, "https://anywhere.example.org", True),
    (False, OPS, None, True),
    (False, [], "https://anywhere.example.org", True),
    # Production with the list empty: any other site's page is refused (the probe's finding) ...
    (True, [], "https://anywhere.example.org", False),
    (True, [], "null", False),
    # ... the service's own pages are not, nor are clients without an Origin (not browsers).
    (True, [], f"https://{HOST}", True),
    (True, [], None, True),
    (True, ["*"], None, True),
    (True, [*OPS, "*"], "https://anywhere.example.org", True),
    (True, OPS, "https://ops.example.com", True),
    (True, OPS, "https://OPS.example.com:443", True),
    (True, OPS, "https://ops.example.com/", True),
    (True, OPS, None, True),
    (True, OPS, f"https://{HOST}", True),
    (True, OPS, f"https://{HOST}.evil.net", False),
    (True, OPS, f"https://evil.{HOST}", False),
    (True, OPS, "https://evil.example.net", False),
    (True, OPS, "https://sub.ops.example.com", False),
    (True, OPS, "http://ops.example.com", False),
    (True, OPS, "https://ops.example.com:8443", False),
    (True, OPS, "https://ops.example.com.evil.net", False),
    (True, OPS, "null", False),
    (True, [" HTTPS://Ops.Example.com/ "], "https://ops.example.com", True),
    (True, ["http://localhost:3000"], "http://localhost:3000", True),
    (True, ["http://localhost:3000"], "http://localhost:3001", False),
    (True, ["http://[::1]:8000"], "http://[::1]:8000", True),
    (True, ["wss://ops.example.com"], "wss://ops.example.com:443", True),
    # Entries OriginValidator alone would read more widely: they match only their own text.
    (True, [".example.com"], "https://a.example.com", False),
    (True, ["https://.example.com"], "https://a.example.com", False),
    (True, ["https://.example.com"], "https://example.com", False),
    (True, ["ops.example.com"], "https://ops.example.com", False),
    (True, ["null"], "null", True),
    (True, ["null"], "https://ops.example.com", False),
]


@pytest.fixture
async def handshake():
    """Connects through WebSocketOrigins and always disconnects afterwards."""
    opened: list[WebsocketCommunicator] = []
    app = WebSocketOrigins(Accepting.as_asgi())

    async def handshake_(origin: str | None, host: str | None = HOST) -> bool:
        headers = [(b"host", host.encode("latin-1"))] if host is not None else []
        if origin is not None:
            headers.append((b"origin", origin.encode("latin-1")))
        communicator = WebsocketCommunicator(app, "/ws", headers=headers)
        opened.append(communicator)
        connected, _ = await communicator.connect()
        return connected

    yield handshake_
    for communicator in opened:
        # A refused handshake's denier (Channels') waits on the channel layer until it is cancelled.
        with contextlib.suppress(Exception):
            await communicator.disconnect(timeout=0.1)
    await database_sync_to_async(connections.close_all)()  # the worker thread's, as tests/stats do


@pytest.mark.parametrize(("production", "allowed", "origin", "accepted"), CASES, ids=str)
async def test_origin_check(settings, handshake, production, allowed, origin, accepted):
    settings.IS_PRODUCTION = production
    settings.WS_ALLOWED_ORIGINS = allowed
    settings.ALLOWED_HOSTS = ALLOWED_HOSTS

    assert await handshake(origin) is accepted


async def test_the_list_is_read_at_each_handshake(settings, handshake):
    settings.IS_PRODUCTION = True

    settings.WS_ALLOWED_ORIGINS = ["https://other.example.com"]
    refused = await handshake("https://ops.example.com")
    settings.WS_ALLOWED_ORIGINS = OPS
    accepted = await handshake("https://ops.example.com")

    assert (refused, accepted) == (False, True)


SAME_HOST_CASES = [
    # (Host header, Origin, accepted): production, WS_ALLOWED_ORIGINS empty
    (HOST, f"https://{HOST}", True),
    (HOST, f"http://{HOST}", True),  # the Host carries no scheme: the host is what is compared
    (HOST.upper(), f"https://{HOST}", True),
    (HOST, f"https://{HOST}:8443", True),  # behind a proxy passing `$host`, the port is unknown
    (f"{HOST}:8000", f"http://{HOST}:8000", True),
    (f"{HOST}:8000", f"http://{HOST}:9000", False),
    (f"{HOST}:8000", f"https://{HOST}", False),  # 443 is not 8000
    (f"{HOST}:443", f"https://{HOST}", True),
    ("localhost:8000", "http://localhost:8000", True),
    ("[::1]:8000", "http://[::1]:8000", True),
    ("[::1]:8000", "http://[::2]:8000", False),
    (None, f"https://{HOST}", False),  # no Host to be the same as
    (HOST, f"https://{HOST}:notaport", False),
    # A name the attacker points at the service (DNS rebinding): its page is "same host" with
    # itself, but the service does not answer for that name.
    ("rebind.evil.net", "https://rebind.evil.net", False),
    ("127.0.0.1", "http://127.0.0.1", False),  # not in ALLOWED_HOSTS here
]


@pytest.mark.parametrize(("host", "origin", "accepted"), SAME_HOST_CASES, ids=str)
async def test_the_services_own_host_is_always_allowed(settings, handshake, host, origin, accepted):
    settings.IS_PRODUCTION = True
    settings.WS_ALLOWED_ORIGINS = []
    settings.ALLOWED_HOSTS = ALLOWED_HOSTS

    assert await handshake(origin, host=host) is accepted


async def test_the_same_host_with_a_list_too(settings, handshake):
    settings.IS_PRODUCTION = True
    settings.WS_ALLOWED_ORIGINS = OPS
    settings.ALLOWED_HOSTS = ALLOWED_HOSTS

    assert await handshake(f"https://{HOST}") is True
    assert await handshake("https://anywhere.example.org") is False
