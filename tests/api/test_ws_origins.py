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

CASES = [
    # (production, WS_ALLOWED_ORIGINS, Origin, accepted)
    (False, OPS, "https://anywhere.example.org", True),
    (False, OPS, None, True),
    (True, [], "https://anywhere.example.org", True),
    (True, ["*"], None, True),
    (True, [*OPS, "*"], "https://anywhere.example.org", True),
    (True, OPS, "https://ops.example.com", True),
    (True, OPS, "https://OPS.example.com:443", True),
    (True, OPS, "https://ops.example.com/", True),
    (True, OPS, None, False),
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

    async def handshake_(origin: str | None) -> bool:
        headers = [(b"origin", origin.encode("latin-1"))] if origin is not None else []
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

    assert await handshake(origin) is accepted


async def test_the_list_is_read_at_each_handshake(settings, handshake):
    settings.IS_PRODUCTION = True

    settings.WS_ALLOWED_ORIGINS = ["https://other.example.com"]
    refused = await handshake("https://ops.example.com")
    settings.WS_ALLOWED_ORIGINS = OPS
    accepted = await handshake("https://ops.example.com")

    assert (refused, accepted) == (False, True)
