"""One channel-layer member per daphne process for the stats push, fanned out in memory to the
WebSocket subscribers of that process.

Why: a `group_send` to a group of N consumers is N channel-layer messages — N msgpack encodings of
the payload in the sender, N list pushes and N pops in Redis, N JSON encodings in the daphne
processes — so the time from tick to last delivery grew with every subscriber (docs/performance.md,
the push row). Here the group has one member per daphne
process (its relay channel): a push is one message per process, encoded as a WebSocket frame once,
then written to each local subscriber. Channels has no process-local broadcast, hence this module.

Subscribers follow topics: the room `default` as v1.1.0 sends it (`stats`), one room's stats with its
`roomId` (`stats:<roomId>`), the rooms overview (`rooms`). A push carries every topic's data
(stats/broadcast.py `push_data`); the relay encodes each topic that has subscribers in this process
once per push and writes that one text to each of them, so neither the channel layer nor the
encoding grows with the subscribers, and a room nobody here follows costs nothing.

A relay lives while its process (event loop) has subscribers: the first `add` joins the group and
starts reading; the last `discard` (of the last topic anyone follows) leaves the group and stops.
Membership is renewed on pushes, as channels-redis forgets group members after `group_expiry` (a
day by default), and after a failed read (a Redis that restarted empty has forgotten it).
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

from stats.broadcast import EVENT_TYPE, GROUP, push_parts

logger = logging.getLogger(__name__)

# Renew the relay's group membership at most this often (well inside channels-redis' one day).
GROUP_RENEW_SECONDS = 3600

STATS_TOPIC = "stats"  # the room default without roomId: v1.1.0's frames, byte for byte
ROOMS_TOPIC = "rooms"


def stats_topic(room_id: str | None) -> str:
    """The topic of a `stats` subscription: `roomId` as the client gave it (None: not given)."""
    return STATS_TOPIC if room_id is None else f"{STATS_TOPIC}:{room_id}"


class Subscriber(Protocol):
    async def send(
        self, text_data: str | None = None, bytes_data: bytes | None = None, close: bool = False
    ) -> None: ...


class Relay:
    def __init__(self) -> None:
        self.topics: dict[str, set[Subscriber]] = {}
        self.layer: Any = None
        self.channel: str | None = None
        self.reader: asyncio.Task | None = None
        self.renewed = 0.0
        self._lock = asyncio.Lock()

    async def add(self, subscriber: Subscriber, topic: str = STATS_TOPIC) -> None:
        async with self._lock:
            if self.reader is None:
                # Raises when the channel layer is away: the subscriber is not kept, the next one retries.
                self.layer = get_channel_layer()
                self.channel = await self.layer.new_channel()
                await self.layer.group_add(GROUP, self.channel)
                self.renewed = time.monotonic()
                self.reader = asyncio.ensure_future(self._read(self.layer, self.channel))
            self.topics.setdefault(topic, set()).add(subscriber)

    async def discard(self, subscriber: Subscriber, topic: str | None = None) -> None:
        """Stop sending `topic` (every topic when None) to the subscriber."""
        async with self._lock:
            self._forget(subscriber, topic)
            if self.topics or self.reader is None:
                return
            reader, channel, self.reader, self.channel = self.reader, self.channel, None, None
            reader.cancel()
            try:
                await self.layer.group_discard(GROUP, channel)
            except Exception:  # Redis away: the member expires; pushes to it are dropped at capacity
                logger.warning("could not leave the stats group", exc_info=True)

    def _forget(self, subscriber: Subscriber, topic: str | None) -> None:
        for name in [topic] if topic is not None else list(self.topics):
            followers = self.topics.get(name)
            if followers is None:
                continue
            followers.discard(subscriber)
            if not followers:
                del self.topics[name]

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
        frames = PushFrames(data)
        for topic, followers in list(self.topics.items()):
            text = frames.text(topic)
            if text is None:  # a room this push does not have (deleted, or newer than the push)
                continue
            for subscriber in list(followers):
                try:
                    await subscriber.send(text_data=text)
                except Exception:  # one broken connection must not keep the push from the others
                    logger.debug("stats push to one subscriber failed", exc_info=True)
                    self._forget(subscriber, None)


class PushFrames:
    """The frames of one push by topic, each encoded when first asked for."""

    def __init__(self, data: dict[str, Any]):
        self.default, self.rooms, self.overview = push_parts(data)
        self.encoded: dict[str, str | None] = {}

    def text(self, topic: str) -> str | None:
        if topic not in self.encoded:
            self.encoded[topic] = self._encode(topic)
        return self.encoded[topic]

    def _encode(self, topic: str) -> str | None:
        if topic == STATS_TOPIC:
            return update_frame(self.default)
        if topic == ROOMS_TOPIC:
            return rooms_frame(self.overview) if self.overview is not None else None
        room = self.rooms.get(topic.removeprefix(f"{STATS_TOPIC}:"))
        return update_frame(room) if room is not None else None


def frame_text(content: dict[str, Any]) -> str:
    """A server → client frame of `/ws` (compact JSON, UTF-8 as is)."""
    return json.dumps(content, ensure_ascii=False, separators=(",", ":"))


def update_frame(data: dict[str, Any]) -> str:
    """The `stats_update` frame: a subscriber's snapshot and every push."""
    return frame_text({"type": "stats_update", "data": data})


def rooms_frame(data: dict[str, Any]) -> str:
    """The `rooms_update` frame of the `rooms` channel."""
    return frame_text({"type": "rooms_update", "data": data})


# One relay per event loop: a daphne process has one; tests open a loop per test.
_RELAYS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Relay] = weakref.WeakKeyDictionary()


def relay() -> Relay:
    loop = asyncio.get_running_loop()
    found = _RELAYS.get(loop)
    if found is None:
        found = _RELAYS[loop] = Relay()
    return found
