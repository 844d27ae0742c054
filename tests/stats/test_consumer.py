"""`/ws` through WebsocketCommunicator on the real ASGI app and the real channel layer (Redis)."""

import asyncio
import json
import time

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.utils import translation

from ivsproject.redis import get_redis, key
from stages import presence
from stats.broadcast import stats_broadcast
from stats.tasks import push_stats

pytestmark = pytest.mark.django_db(transaction=True)


async def subscribe(communicator: WebsocketCommunicator) -> dict:
    await communicator.send_json_to({"action": "subscribe", "channel": "stats"})
    message = await communicator.receive_json_from(timeout=3)
    assert message["type"] == "stats_update"
    return message


def stats_group_key() -> str:
    """channels-redis' sorted set of the "stats" group's members."""
    return f"{settings.CHANNEL_LAYERS['default']['CONFIG']['prefix']}:group:stats"


def track_viewer(stage, user_id: str) -> None:
    now = time.time()
    presence.track(stage_id=stage.stage_id, user_id=user_id, at=now, participant_id=f"p-{user_id}", joined_at=now)


async def test_subscribe_sends_a_snapshot_at_once(master_stage, connect):
    await database_sync_to_async(track_viewer)(master_stage, "u1")
    await database_sync_to_async(track_viewer)(master_stage, "u2")
    communicator = await connect()

    message = await subscribe(communicator)

    data = message["data"]
    assert data["totalViewers"] == 2
    assert data["activeStages"] == 1
    assert data["isPublisherLive"] is False
    assert data["timestamp"].endswith("Z") and len(data["timestamp"]) == len("2025-10-21T10:30:00.000Z")
    assert data["stages"] == [
        {
            "stageArn": master_stage.arn,
            "stageName": master_stage.name,
            "viewerCount": 2,
            "autoScaled": False,
            "roomId": "default",
        }
    ]


async def test_a_broadcast_reaches_every_subscriber(master_stage, connect):
    first, second = await connect(), await connect()
    await subscribe(first)
    await subscribe(second)
    await database_sync_to_async(track_viewer)(master_stage, "u1")

    await database_sync_to_async(stats_broadcast)(reason="test")

    for communicator in (first, second):
        message = await communicator.receive_json_from(timeout=3)
        assert message["type"] == "stats_update"
        assert message["data"]["totalViewers"] == 1


async def test_the_ticker_pushes_once_per_interval(master_stage, settings, connect):
    settings.STATS_PUSH_INTERVAL_SECONDS = 5
    communicator = await connect()
    await subscribe(communicator)

    pushed = [await database_sync_to_async(push_stats)() for _ in range(3)]

    assert pushed == [True, False, False]
    assert (await communicator.receive_json_from(timeout=3))["type"] == "stats_update"
    assert await communicator.receive_nothing(timeout=0.3)

    get_redis().delete(key("stats", "push-gate"))  # the interval has passed (real waiting: test_broadcast)
    assert await database_sync_to_async(push_stats)() is True
    assert (await communicator.receive_json_from(timeout=3))["type"] == "stats_update"


async def test_unsubscribe_stops_pushes(master_stage, connect):
    communicator = await connect()
    await subscribe(communicator)
    await communicator.send_json_to({"action": "unsubscribe", "channel": "stats"})
    # A ping answered means the unsubscribe before it has been handled.
    await communicator.send_json_to({"action": "ping"})
    assert await communicator.receive_json_from(timeout=3) == {"type": "pong"}

    await database_sync_to_async(stats_broadcast)(reason="test")

    assert await communicator.receive_nothing(timeout=0.5)


async def test_ping_gets_pong(connect):
    communicator = await connect()
    await communicator.send_json_to({"action": "ping"})
    assert await communicator.receive_json_from(timeout=3) == {"type": "pong"}


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param({"text_data": "not json"}, id="not-json"),
        pytest.param({"text_data": "[1, 2]"}, id="not-an-object"),
        pytest.param({"text_data": '"subscribe"'}, id="a-string"),
        pytest.param({"text_data": json.dumps({"action": "dance"})}, id="unknown-action"),
        pytest.param({"text_data": json.dumps({"channel": "stats"})}, id="no-action"),
        pytest.param({"text_data": json.dumps({"action": "subscribe", "channel": "chat"})}, id="unknown-channel"),
        pytest.param({"text_data": json.dumps({"action": "subscribe"})}, id="no-channel"),
        pytest.param({"text_data": json.dumps({"action": "subscribe", "channel": ["stats"]})}, id="channel-list"),
        pytest.param({"bytes_data": b'{"action":"ping"}'}, id="binary"),
        pytest.param({"text_data": json.dumps({"action": "ping", "pad": "x" * 5000})}, id="oversized"),
    ],
)
async def test_bad_frames_get_an_error_and_the_connection_stays_open(frame, connect):
    communicator = await connect()
    await communicator.send_to(**frame)

    message = await communicator.receive_json_from(timeout=3)

    assert message["type"] == "error"
    assert message["error"]["code"] == "VALIDATION_ERROR"
    assert message["error"]["message"]
    await communicator.send_json_to({"action": "ping"})
    assert await communicator.receive_json_from(timeout=3) == {"type": "pong"}


async def test_a_bad_subscribe_does_not_subscribe(master_stage, connect):
    communicator = await connect()
    await communicator.send_json_to({"action": "subscribe", "channel": "chat"})
    assert (await communicator.receive_json_from(timeout=3))["type"] == "error"

    await database_sync_to_async(stats_broadcast)(reason="test")

    assert await communicator.receive_nothing(timeout=0.5)


@pytest.fixture
def frame_clock(monkeypatch):
    """The frame budget's clock, pinned and advanced by hand."""
    from stats import consumers
    from tests.conftest import PinnedClock

    return PinnedClock(1_000.0).pin(monkeypatch, consumers, "clock")


async def test_a_flood_of_frames_is_closed_with_policy_violation(settings, connect, frame_clock):
    settings.WS_MAX_FRAMES_PER_SECOND = 20
    communicator = await connect()
    for _ in range(100):  # all within one instant
        await communicator.send_json_to({"action": "ping"})

    pongs, close_code = 0, None
    for _ in range(100):
        output = await communicator.receive_output(timeout=3)
        if output["type"] == "websocket.close":
            close_code = output.get("code")
            break
        pongs += 1

    assert pongs == 40  # the burst (twice the rate), then the close
    assert close_code == 4008  # the policy violation, in the application range daphne accepts
    # Whatever was still in flight behind the close gets no answer and no second close.
    assert await communicator.receive_nothing(timeout=0.3)


async def test_a_steady_client_is_not_mistaken_for_a_flood(settings, connect, frame_clock):
    settings.WS_MAX_FRAMES_PER_SECOND = 20
    communicator = await connect()
    for _ in range(200):  # 10 s at exactly the sustained rate: five times the burst
        frame_clock.advance(0.05)
        await communicator.send_json_to({"action": "ping"})
        assert await communicator.receive_json_from(timeout=3) == {"type": "pong"}


async def test_origin_is_refused_in_production_when_not_allowed(settings, connect, ws):
    settings.IS_PRODUCTION = True
    settings.WS_ALLOWED_ORIGINS = ["https://ops.example.com"]

    refused = ws(headers=[(b"origin", b"https://evil.example.net")])
    connected, _ = await refused.connect()
    assert not connected

    allowed = await connect(headers=[(b"origin", b"https://OPS.example.com:443")])
    await allowed.send_json_to({"action": "ping"})
    assert await allowed.receive_json_from(timeout=3) == {"type": "pong"}
    await connect()  # no Origin: not a browser, accepted


async def test_origin_is_refused_in_production_without_a_list(settings, connect, ws):
    settings.IS_PRODUCTION = True
    settings.WS_ALLOWED_ORIGINS = []
    settings.ALLOWED_HOSTS = ["live.example.com"]

    refused = ws(headers=[(b"host", b"live.example.com"), (b"origin", b"https://anywhere.example.org")])
    connected, _ = await refused.connect()
    assert not connected

    own = await connect(headers=[(b"host", b"live.example.com"), (b"origin", b"https://live.example.com")])
    await own.send_json_to({"action": "ping"})
    assert await own.receive_json_from(timeout=3) == {"type": "pong"}


@pytest.mark.parametrize(
    ("production", "allowed"), [(False, ["https://ops.example.com"]), (False, []), (True, ["*"])], ids=str
)
async def test_origin_is_open_in_development_or_with_a_star(settings, production, allowed, connect):
    settings.IS_PRODUCTION = production
    settings.WS_ALLOWED_ORIGINS = allowed
    await connect(headers=[(b"origin", b"https://anywhere.example.org")])  # accepted


async def test_other_paths_are_refused(ws):
    communicator = ws("/not-ws")
    connected, _ = await communicator.connect()
    assert not connected


async def test_error_messages_follow_the_handshake_accept_language(connect):
    chinese = await connect()
    english = await connect(headers=[(b"accept-language", b"en-US,en;q=0.9")])

    for communicator in (chinese, english):
        await communicator.send_to(text_data="not json")
    zh_message = (await chinese.receive_json_from(timeout=3))["error"]["message"]
    en_message = (await english.receive_json_from(timeout=3))["error"]["message"]

    assert zh_message == "訊息必須是 JSON"
    with translation.override("en"):
        assert en_message == translation.gettext("訊息必須是 JSON")  # English once the catalogue has it


async def test_long_lived_subscribers_renew_their_group_membership(master_stage, connect, monkeypatch):
    from stats import relay

    communicator = await connect()
    await subscribe(communicator)
    group_key = stats_group_key()
    client = get_redis()
    [(member, joined)] = client.zrange(group_key, 0, -1, withscores=True)

    monkeypatch.setattr(relay, "GROUP_RENEW_SECONDS", -1)  # as if an hour had passed
    await database_sync_to_async(stats_broadcast)(reason="test")
    assert (await communicator.receive_json_from(timeout=3))["type"] == "stats_update"
    await communicator.send_json_to({"action": "ping"})  # the handler has finished once this answers
    assert await communicator.receive_json_from(timeout=3) == {"type": "pong"}

    [(member_after, renewed)] = client.zrange(group_key, 0, -1, withscores=True)
    assert member_after == member and renewed > joined


async def test_a_process_is_one_group_member_however_many_subscribe(master_stage, connect):
    """Pushes reach a process once (its relay) and are fanned out there: 2,000 dashboards cost the
    channel layer one message per process, not one per dashboard."""
    group_key = stats_group_key()
    client = get_redis()
    communicators = [await connect() for _ in range(5)]
    for communicator in communicators:
        await subscribe(communicator)
    assert client.zcard(group_key) == 1

    await database_sync_to_async(stats_broadcast)(reason="test")
    for communicator in communicators:
        assert (await communicator.receive_json_from(timeout=3))["type"] == "stats_update"

    # Leaving one by one: the member stays while anyone listens, and goes with the last one.
    for communicator in communicators[:-1]:
        await communicator.disconnect()
    assert client.zcard(group_key) == 1
    await communicators[-1].send_json_to({"action": "unsubscribe", "channel": "stats"})
    await communicators[-1].send_json_to({"action": "ping"})
    assert await communicators[-1].receive_json_from(timeout=3) == {"type": "pong"}
    assert client.zcard(group_key) == 0


async def test_subscribing_again_after_everyone_left_gets_pushes_again(master_stage, connect):
    first = await connect()
    await subscribe(first)
    await first.disconnect()

    second = await connect()
    await subscribe(second)
    await database_sync_to_async(stats_broadcast)(reason="test")
    assert (await second.receive_json_from(timeout=3))["type"] == "stats_update"
    assert await second.receive_nothing(timeout=0.3)  # exactly one copy of the push


async def test_a_subscriber_that_went_away_does_not_stop_the_push_to_the_others(master_stage, connect):
    gone, staying = await connect(), await connect()
    await subscribe(gone)
    await subscribe(staying)
    await gone.disconnect()

    await database_sync_to_async(stats_broadcast)(reason="test")

    assert (await staying.receive_json_from(timeout=3))["type"] == "stats_update"


async def test_subscribing_while_the_channel_layer_is_away_answers_unavailable_and_keeps_the_connection(
    master_stage, connect, monkeypatch
):
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    real_group_add = layer.group_add

    async def away(group, channel):
        raise ConnectionError("redis is away")

    monkeypatch.setattr(layer, "group_add", away)
    communicator = await connect()
    await communicator.send_json_to({"action": "subscribe", "channel": "stats"})
    error = await communicator.receive_json_from(timeout=3)
    assert error["type"] == "error" and error["error"]["code"] == "SERVICE_UNAVAILABLE"
    await communicator.send_json_to({"action": "ping"})
    assert await communicator.receive_json_from(timeout=3) == {"type": "pong"}

    monkeypatch.setattr(layer, "group_add", real_group_add)  # back: subscribing again works
    await subscribe(communicator)
    await database_sync_to_async(stats_broadcast)(reason="test")
    assert (await communicator.receive_json_from(timeout=3))["type"] == "stats_update"


async def test_the_relay_joins_again_after_redis_came_back_empty(master_stage, connect, monkeypatch):
    """Redis restarted without its data: the group forgot this process. The relay's failed read
    makes it join again, so pushes resume without the dashboards reconnecting."""
    from channels.layers import get_channel_layer

    communicator = await connect()
    await subscribe(communicator)
    group_key = stats_group_key()
    client = get_redis()
    assert client.zcard(group_key) == 1

    layer = get_channel_layer()
    real_receive = layer.receive
    failed = asyncio.Event()

    async def drops_once(channel):
        if not failed.is_set():
            client.delete(group_key)  # the restart lost the membership...
            failed.set()
            raise ConnectionError("connection reset by peer")  # ...and broke the blocking read
        return await real_receive(channel)

    monkeypatch.setattr(layer, "receive", drops_once)
    await database_sync_to_async(stats_broadcast)(reason="wake the reader")  # its pending read ends
    await asyncio.wait_for(failed.wait(), 5)
    for _ in range(50):  # the relay waits a second after a failed read, then joins again
        if client.zcard(group_key) == 1:
            break
        await asyncio.sleep(0.1)
    assert client.zcard(group_key) == 1

    while not await communicator.receive_nothing(timeout=0.2):  # the push that woke the reader
        await communicator.receive_json_from()
    await database_sync_to_async(track_viewer)(master_stage, "after-restart")
    await database_sync_to_async(stats_broadcast)(reason="test")
    message = await communicator.receive_json_from(timeout=3)
    assert message["type"] == "stats_update" and message["data"]["totalViewers"] == 1
