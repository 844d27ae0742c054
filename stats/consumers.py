"""`/ws`: live stats for dashboards (spec "WebSocket"; no auth).

Client → server: `{"action":"subscribe"|"unsubscribe","channel":"stats","roomId"?}`,
`{"action":"subscribe"|"unsubscribe","channel":"rooms"}` and `{"action":"ping"}`.
Server → client: `stats_update` (a snapshot on subscribe, then every push; with `data.roomId` when
the subscribe named the room, without it — v1.1.0 — when it did not), `rooms_update` for the
`rooms` channel (a snapshot, then every push), `pong`, and `error` for a bad frame, an unknown room
(`NOT_FOUND`) or a malformed roomId — the connection stays open. One connection may follow several
rooms. A client flooding frames is closed with 4008.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.http import HttpRequest
from django.utils import translation
from django.utils.translation import gettext as _

from ivsproject.api.exceptions import ApiError
from stages.selectors import room_id_or_404, validate_room_id
from stats.broadcast import room_stats_payload, rooms_payload, stats_payload
from stats.relay import ROOMS_TOPIC, STATS_TOPIC, frame_text, relay, rooms_frame, stats_topic, update_frame

logger = logging.getLogger(__name__)

CHANNELS = ("stats", "rooms")
MAX_FRAME_BYTES = 4096
# The flood guard's close code: policy violation. Not 1008 itself: daphne's WebSocket library lets a
# server close only with 1000 or 3000-4999, refused 1008 by raising, and the consumer crashed into a
# 1011 close instead; 4000-4999 are the application's own codes, and 4008 keeps 1008's meaning.
CLOSE_POLICY_VIOLATION = 4008


def handshake_language(scope: dict[str, Any]) -> str:
    """The handshake's Accept-Language picks the language of error messages, as on the REST API
    (zh-Hant by default; browsers send the header on the WebSocket handshake too)."""
    request = HttpRequest()
    for name, value in scope.get("headers") or []:
        if name == b"accept-language":
            request.META["HTTP_ACCEPT_LANGUAGE"] = value.decode("latin-1")
    return translation.get_language_from_request(request)


# The frame budget's clock, a module attribute so tests can pin it: whether a client floods is a
# matter of frames per second, which a loaded test machine's own pace would otherwise decide.
clock = time.monotonic


class FrameBudget:
    """Token bucket: bursts up to `burst` frames, `rate` frames/s sustained."""

    def __init__(self, *, rate: float, burst: float):
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.updated = clock()

    def take(self) -> bool:
        now = clock()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class StatsConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        # The browser's Origin was checked before the handshake reached here (ivsproject/asgi.py).
        rate = float(getattr(settings, "WS_MAX_FRAMES_PER_SECOND", 20))
        self.budget = FrameBudget(rate=rate, burst=rate * 2)
        self.subscribed: set[str] = set()
        self.closing = False
        self.language = handshake_language(self.scope)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if getattr(self, "subscribed", None):
            self.subscribed.clear()
            await relay().discard(self)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        with translation.override(self.language):
            await self.handle_frame(text_data, bytes_data)

    async def handle_frame(self, text_data: str | None, bytes_data: bytes | None) -> None:
        if self.closing:  # frames already in flight behind our close
            return
        if not self.budget.take():
            logger.info("ws client flooding frames; closing %s", self.channel_name)
            self.closing = True
            # Leave the relay now rather than in disconnect(): the server may never report the
            # close back (a client that stops reading), and a subscriber left behind is written
            # every push for as long as the process lives.
            await self.disconnect(CLOSE_POLICY_VIOLATION)
            await self.close(code=CLOSE_POLICY_VIOLATION)
            return
        if text_data is None:
            await self.send_error(_("不支援二進位訊息，請傳送 JSON 文字"))
            return
        if len(text_data.encode("utf-8")) > MAX_FRAME_BYTES:
            await self.send_error(_("訊息過大（上限 %(limit)s 位元組）") % {"limit": MAX_FRAME_BYTES})
            return
        try:
            message = json.loads(text_data)
        except ValueError:
            await self.send_error(_("訊息必須是 JSON"))
            return
        if not isinstance(message, dict):
            await self.send_error(_("訊息必須是 JSON 物件"))
            return
        action = message.get("action")
        if action == "ping":
            await self.send_json({"type": "pong"})
        elif action in ("subscribe", "unsubscribe"):
            channel = message.get("channel")
            if not isinstance(channel, str) or channel not in CHANNELS:
                await self.send_error(_("不支援的 channel，可用：%(channels)s") % {"channels": ", ".join(CHANNELS)})
                return
            # An unsubscribe needs no existing room: the room may have been deleted since.
            subscription = await self.subscription(channel, message, must_exist=action == "subscribe")
            if subscription is None:
                return
            topic, snapshot = subscription
            if action == "subscribe":
                await self.subscribe(topic, snapshot)
            else:
                await self.unsubscribe(topic)
        else:
            await self.send_error(_("不支援的 action，可用：subscribe、unsubscribe、ping"))

    async def subscription(
        self, channel: str, message: dict[str, Any], *, must_exist: bool
    ) -> tuple[str, Callable[[], str]] | None:
        """The relay topic a (un)subscribe names and how to build its snapshot frame, or None after
        answering with an error (malformed roomId, unknown room, stores away)."""
        if channel == "rooms":  # every room: a roomId, if any, names nothing more
            return ROOMS_TOPIC, lambda: rooms_frame(rooms_payload())
        given = message.get("roomId")
        if given in ("", None):  # absent, empty or null: v1.1.0's room default, frames without roomId
            return STATS_TOPIC, lambda: update_frame(stats_payload())
        try:
            room_id = validate_room_id(given)
            if must_exist:
                # This process's registry copy; a query only when the copy is old or lacks the room.
                room_id = await database_sync_to_async(room_id_or_404)(room_id)
        except ApiError as error:
            await self.send_error(str(error.message), code=error.code)
            return None
        except Exception:
            logger.warning("room lookup for a stats subscribe failed", exc_info=True)
            await self.send_unavailable()
            return None
        return stats_topic(room_id), lambda: update_frame(room_stats_payload(room_id))

    async def subscribe(self, topic: str, snapshot: Callable[[], str]) -> None:
        # Pushes come through this process's relay (stats/relay.py), not a group membership each.
        if topic not in self.subscribed:
            try:
                await relay().add(self, topic)
            except Exception:
                # The channel layer is away: not subscribed; the connection stays and may try again.
                logger.warning("stats subscribe failed", exc_info=True)
                await self.send_unavailable()
                return
            self.subscribed.add(topic)
        try:
            text = await database_sync_to_async(snapshot)()
        except Exception:
            # Subscribed all the same: the next push brings the numbers once the store is back.
            logger.warning("stats snapshot failed", exc_info=True)
            await self.send_unavailable()
            return
        await self.send(text_data=text)

    async def unsubscribe(self, topic: str) -> None:
        if topic in self.subscribed:
            self.subscribed.discard(topic)
            await relay().discard(self, topic)

    async def send_json(self, content: dict[str, Any]) -> None:
        await self.send(text_data=frame_text(content))

    async def send_unavailable(self) -> None:
        await self.send_json({"type": "error", "error": {"code": "SERVICE_UNAVAILABLE", "message": _("服務不可用")}})

    async def send_error(self, message: str, *, code: str = "VALIDATION_ERROR") -> None:
        await self.send_json({"type": "error", "error": {"code": code, "message": message}})


class NotFoundConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        await self.close()
