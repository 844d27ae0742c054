"""One channel-layer member per daphne process for the stats push, fanned out in memory to the
WebSocket subscribers of that process.

Why: a `group_send` to a group of N consumers is N channel-layer messages — N msgpack encodings of
the payload in the sender, N list pushes and N pops in Redis, N JSON encodings in the daphne
processes — so the time from tick to last delivery grew with every subscriber (docs/performance.md,
the push row). Here the group has one member per daphne
process (its relay channel): a push is one message per process, encoded as a WebSocket frame once,
then written to each local subscriber. Channels has no process-local broadcast, hence this module.

A relay lives while its process (event loop) has subscribers: the first `add` joins the group and
starts reading; the last `discard` leaves the group and stops. Membership is renewed on pushes, as
channels-redis forgets group members after `group_expiry` (a day by default), and after a failed
read (a Redis that restarted empty has forgotten it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import weakref
from typing import Any, Protocol

from channels.layers import get_channel_layer

from stats.broadcast import EVENT_TYPE, GROUP

logger = logging.getLogger(__name__)

# Renew the relay's group membership at most this often (well inside channels-redis' one day).
GROUP_RENEW_SECONDS = 3600


class Subscriber(Protocol):
    async def send(
        self, text_data: str | None = None, bytes_data: bytes | None = None, close: bool = False
    ) -> None: ...


class Relay:
    def __init__(self) -> None:
        self.subscribers: set[Subscriber] = set()
        self.layer: Any = None
        self.channel: str | None = None
        self.reader: asyncio.Task | None = None
        self.renewed = 0.0
        self._lock = asyncio.Lock()

    async def add(self, subscriber: Subscriber) -> None:
        async with self._lock:
            if self.reader is None:
                # Raises when the channel layer is away: the subscriber is not kept, the next one retries.
                self.layer = get_channel_layer()
                self.channel = await self.layer.new_channel()
                await self.layer.group_add(GROUP, self.channel)
                self.renewed = time.monotonic()
                self.reader = asyncio.ensure_future(self._read(self.layer, self.channel))
            self.subscribers.add(subscriber)

    async def discard(self, subscriber: Subscriber) -> None:
        async with self._lock:
            self.subscribers.discard(subscriber)
            if self.subscribers or self.reader is None:
                return
            reader, channel, self.reader, self.channel = self.reader, self.channel, None, None
            reader.cancel()
            try:
                await self.layer.group_discard(GROUP, channel)
            except Exception:  # Redis away: the member expires; pushes to it are dropped at capacity
                logger.warning("could not leave the stats group", exc_info=True)

    async def _read(self, layer: Any, channel: str) -> None:
        failing = False
        while True:
            try:
                event = await layer.receive(channel)
            except asyncio.CancelledError:
                raise
            except Exception:  # Redis away: keep trying; subscribers get the next push that arrives
                if not failing:  # once per outage, not once a second
                    logger.warning("stats relay could not read the channel layer", exc_info=True)
                failing = True
                await asyncio.sleep(1)
                # A Redis that comes back empty has forgotten the group: join again before reading.
                with contextlib.suppress(Exception):
                    await layer.group_add(GROUP, channel)
                    self.renewed = time.monotonic()
                continue
            failing = False
            if event.get("type") == EVENT_TYPE:
                await self.deliver(event["data"])
            if time.monotonic() - self.renewed > GROUP_RENEW_SECONDS:
                self.renewed = time.monotonic()
                try:
                    await layer.group_add(GROUP, channel)
                except Exception:
                    logger.warning("could not renew the stats group membership", exc_info=True)

    async def deliver(self, data: dict[str, Any]) -> None:
        text = update_frame(data)
        for subscriber in list(self.subscribers):
            try:
                await subscriber.send(text_data=text)
            except Exception:  # one broken connection must not keep the push from the others
                logger.debug("stats push to one subscriber failed", exc_info=True)
                self.subscribers.discard(subscriber)


def frame_text(content: dict[str, Any]) -> str:
    """A server → client frame of `/ws` (compact JSON, UTF-8 as is)."""
    return json.dumps(content, ensure_ascii=False, separators=(",", ":"))


def update_frame(data: dict[str, Any]) -> str:
    """The `stats_update` frame: a subscriber's snapshot and every push."""
    return frame_text({"type": "stats_update", "data": data})


# One relay per event loop: a daphne process has one; tests open a loop per test.
_RELAYS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Relay] = weakref.WeakKeyDictionary()


def relay() -> Relay:
    loop = asyncio.get_running_loop()
    found = _RELAYS.get(loop)
    if found is None:
        found = _RELAYS[loop] = Relay()
    return found
