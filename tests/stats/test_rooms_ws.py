"""Live rooms on `/ws` through WebsocketCommunicator on the real ASGI app and the real channel layer
(Redis): per-room `stats_update` frames with `data.roomId`, the `rooms` channel, errors for unknown
and malformed rooms, and a push that stays one channel-layer message per process."""

import time

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.utils import translation

from ivsproject.redis import get_redis
from stages import hostlive, presence, rooms
from stages.models import Room
from stages.selectors import master_stage as master_of
from stats import relay
from stats.broadcast import stats_broadcast
from stats.selectors import rooms_stats
from stats.tasks import push_stats_now

pytestmark = pytest.mark.django_db(transaction=True)

V110_FIELDS = {"totalViewers", "activeStages", "isPublisherLive", "timestamp", "stages"}


def track_viewer(stage, user_id: str) -> None:
    now = time.time()
    presence.track(stage_id=stage.stage_id, user_id=user_id, at=now, participant_id=f"p-{user_id}", joined_at=now)


@pytest.fixture
def three_rooms(master_stage):
    """default (3 viewers), r1 (2) and r2 (1), each with its master stage."""
    for room_id in ("r1", "r2"):
        rooms.room_create(room_id=room_id, name=f"Room {room_id}")
    masters = {room_id: master_of(room_id) for room_id in (Room.DEFAULT, "r1", "r2")}
    for room_id, viewers in ((Room.DEFAULT, 3), ("r1", 2), ("r2", 1)):
        for n in range(viewers):
            track_viewer(masters[room_id], f"{room_id}-u{n}")
    return masters


async def send(communicator: WebsocketCommunicator, **frame) -> dict:
    await communicator.send_json_to(frame)
    return await communicator.receive_json_from(timeout=3)


async def subscribe(communicator: WebsocketCommunicator, channel: str = "stats", **fields) -> dict:
    message = await send(communicator, action="subscribe", channel=channel, **fields)
    assert message["type"] == ("rooms_update" if channel == "rooms" else "stats_update"), message
    return message


async def settled(communicator: WebsocketCommunicator) -> None:
    """Every frame sent before this has been handled once the ping is answered."""
    assert await send(communicator, action="ping") == {"type": "pong"}


async def push() -> dict:
    return await database_sync_to_async(stats_broadcast)(reason="test")


async def frames_until_quiet(communicator: WebsocketCommunicator) -> list[dict]:
    """The frames of one push: the first however late a loaded machine delivers it, then every
    other until none comes for 0.3 s (one push's frames are sent together)."""
    frames = [await communicator.receive_json_from(timeout=5)]
    while not await communicator.receive_nothing(timeout=0.3):
        frames.append(await communicator.receive_json_from())
    return frames


async def test_a_room_subscriber_gets_only_that_rooms_frames_with_its_room_id(three_rooms, connect):
    r1, r2 = await connect(), await connect()

    snapshot = (await subscribe(r1, roomId="r1"))["data"]
    assert (await subscribe(r2, roomId="r2"))["data"]["roomId"] == "r2"

    assert snapshot["roomId"] == "r1"
    assert (snapshot["totalViewers"], snapshot["activeStages"], snapshot["isPublisherLive"]) == (2, 1, False)
    assert snapshot["stages"] == [
        {
            "stageArn": three_rooms["r1"].arn,
            "stageName": three_rooms["r1"].name,
            "viewerCount": 2,
            "autoScaled": False,
            "roomId": "r1",
        }
    ]

    await push()

    [frame_r1] = await frames_until_quiet(r1)
    [frame_r2] = await frames_until_quiet(r2)
    assert frame_r1["type"] == frame_r2["type"] == "stats_update"
    assert set(frame_r1["data"]) == V110_FIELDS | {"roomId"}
    assert (frame_r1["data"]["roomId"], frame_r1["data"]["totalViewers"]) == ("r1", 2)
    assert (frame_r2["data"]["roomId"], frame_r2["data"]["totalViewers"]) == ("r2", 1)
    assert frame_r1["data"]["stages"] == snapshot["stages"]


async def test_without_a_room_id_the_frames_are_the_default_rooms_as_in_v110(three_rooms, connect):
    bare, named = await connect(), await connect()

    snapshot = (await subscribe(bare))["data"]
    named_snapshot = (await subscribe(named, roomId="default"))["data"]

    assert set(snapshot) == V110_FIELDS
    assert snapshot["totalViewers"] == 3
    assert named_snapshot["roomId"] == "default"
    assert {k: v for k, v in named_snapshot.items() if k not in ("roomId", "timestamp")} == {
        k: v for k, v in snapshot.items() if k != "timestamp"
    }

    await push()

    [frame] = await frames_until_quiet(bare)
    # Nothing of the other rooms rides along in the default room's frame.
    assert set(frame["data"]) == V110_FIELDS
    assert frame["data"]["totalViewers"] == 3
    assert frame["data"]["stages"] == [
        {
            "stageArn": three_rooms[Room.DEFAULT].arn,
            "stageName": three_rooms[Room.DEFAULT].name,
            "viewerCount": 3,
            "autoScaled": False,
            "roomId": Room.DEFAULT,
        }
    ]
    [named_frame] = await frames_until_quiet(named)
    assert named_frame["data"] == {**frame["data"], "roomId": "default"}


@pytest.mark.parametrize("given", ["", None])
async def test_an_empty_or_null_room_id_is_the_default_room_as_in_v110(three_rooms, connect, given):
    communicator = await connect()

    snapshot = (await subscribe(communicator, roomId=given))["data"]

    assert set(snapshot) == V110_FIELDS and snapshot["totalViewers"] == 3


async def test_one_connection_follows_several_rooms_and_unsubscribes_one_of_them(three_rooms, connect):
    communicator = await connect()
    await subscribe(communicator, roomId="r1")
    await subscribe(communicator, roomId="r2")
    await subscribe(communicator)

    await push()

    frames = await frames_until_quiet(communicator)
    assert sorted(f["data"].get("roomId", "(none)") for f in frames) == ["(none)", "r1", "r2"]

    await communicator.send_json_to({"action": "unsubscribe", "channel": "stats", "roomId": "r1"})
    await settled(communicator)
    await push()

    frames = await frames_until_quiet(communicator)
    assert sorted(f["data"].get("roomId", "(none)") for f in frames) == ["(none)", "r2"]

    # Without roomId, unsubscribe leaves the default room's v1.1.0 frames and nothing else.
    await communicator.send_json_to({"action": "unsubscribe", "channel": "stats"})
    await settled(communicator)
    await push()

    assert [f["data"]["roomId"] for f in await frames_until_quiet(communicator)] == ["r2"]


async def test_subscribing_to_a_room_twice_sends_its_frames_once(three_rooms, connect):
    communicator = await connect()
    await subscribe(communicator, roomId="r1")
    await subscribe(communicator, roomId="r1")  # a second snapshot, no second subscription

    await push()

    assert [f["data"]["roomId"] for f in await frames_until_quiet(communicator)] == ["r1"]


async def test_the_rooms_channel_sends_every_rooms_overview_on_each_push(three_rooms, connect):
    communicator = await connect()

    snapshot = (await subscribe(communicator, "rooms"))["data"]

    listed = await database_sync_to_async(rooms_stats)()  # GET /api/stats/rooms
    assert {k: v for k, v in snapshot.items() if k != "timestamp"} == listed
    assert snapshot["timestamp"].endswith("Z")
    assert snapshot["totalViewers"] == 6 and snapshot["liveRooms"] == 0
    assert [(r["roomId"], r["name"], r["totalViewers"], r["activeStages"]) for r in snapshot["rooms"]] == [
        (Room.DEFAULT, Room.DEFAULT, 3, 1),
        ("r1", "Room r1", 2, 1),
        ("r2", "Room r2", 1, 1),
    ]

    await database_sync_to_async(hostlive.set_live)(live=True, room_id="r2")
    await push()

    [frame] = await frames_until_quiet(communicator)  # the overview only: no stats_update
    assert frame["type"] == "rooms_update"
    assert set(frame["data"]) == {"totalViewers", "liveRooms", "rooms", "timestamp"}
    assert frame["data"]["liveRooms"] == 1
    assert {r["roomId"]: r["isPublisherLive"] for r in frame["data"]["rooms"]} == {
        Room.DEFAULT: False,
        "r1": False,
        "r2": True,
    }

    await communicator.send_json_to({"action": "unsubscribe", "channel": "rooms"})
    await settled(communicator)
    await push()
    assert await communicator.receive_nothing(timeout=0.5)


async def test_a_host_going_live_in_one_room_is_pushed_to_that_rooms_subscribers(three_rooms, connect):
    r1, default = await connect(), await connect()
    await subscribe(r1, roomId="r1")
    await subscribe(default)

    await database_sync_to_async(hostlive.set_live)(live=True, room_id="r1")
    assert await database_sync_to_async(push_stats_now)(reason="publisher-live") is True

    [frame] = await frames_until_quiet(r1)
    assert frame["data"]["roomId"] == "r1" and frame["data"]["isPublisherLive"] is True
    [frame] = await frames_until_quiet(default)
    assert frame["data"]["isPublisherLive"] is False


async def test_an_unknown_room_is_not_found_and_the_connection_stays(three_rooms, connect):
    communicator = await connect()

    message = await send(communicator, action="subscribe", channel="stats", roomId="nowhere")

    assert message == {"type": "error", "error": {"code": "NOT_FOUND", "message": "直播間不存在"}}
    await settled(communicator)
    await push()
    assert await communicator.receive_nothing(timeout=0.5)  # not subscribed to anything
    assert (await subscribe(communicator, roomId="r1"))["data"]["roomId"] == "r1"  # and may go on


async def test_a_room_lookup_while_the_stores_are_away_answers_unavailable_and_keeps_the_connection(
    three_rooms, connect, monkeypatch
):
    import redis

    from stats import consumers

    def away(room_id):
        raise redis.ConnectionError("redis is away")

    communicator = await connect()
    real_lookup = consumers.room_id_or_404
    monkeypatch.setattr(consumers, "room_id_or_404", away)

    message = await send(communicator, action="subscribe", channel="stats", roomId="r1")

    assert message == {"type": "error", "error": {"code": "SERVICE_UNAVAILABLE", "message": "服務不可用"}}
    await settled(communicator)
    monkeypatch.setattr(consumers, "room_id_or_404", real_lookup)  # back: subscribing again works
    assert (await subscribe(communicator, roomId="r1"))["data"]["roomId"] == "r1"


@pytest.mark.parametrize(
    "room_id",
    ["R1", "-r1", "r_1", "r" * 64, "直播", 5, ["r1"], {"roomId": "r1"}],
    ids=["upper", "leading-dash", "underscore", "too-long", "not-ascii", "number", "list", "object"],
)
@pytest.mark.parametrize("action", ["subscribe", "unsubscribe"])
async def test_a_malformed_room_id_is_a_validation_error_and_the_connection_stays(connect, action, room_id):
    communicator = await connect()

    message = await send(communicator, action=action, channel="stats", roomId=room_id)

    assert message == {"type": "error", "error": {"code": "VALIDATION_ERROR", "message": "roomId 格式無效"}}
    await settled(communicator)
    await push()
    assert await communicator.receive_nothing(timeout=0.3)


async def test_room_errors_follow_the_handshake_accept_language(three_rooms, connect):
    english = await connect(headers=[(b"accept-language", b"en-US,en;q=0.9")])

    not_found = await send(english, action="subscribe", channel="stats", roomId="nowhere")
    malformed = await send(english, action="subscribe", channel="stats", roomId="R1")

    with translation.override("en"):
        assert not_found["error"]["message"] == translation.gettext("直播間不存在")
        assert malformed["error"]["message"] == translation.gettext("roomId 格式無效")


async def test_a_deleted_rooms_subscribers_get_no_more_frames_and_may_still_unsubscribe(three_rooms, connect):
    await database_sync_to_async(rooms.room_create)(room_id="r3")  # no viewers: it may be deleted
    gone, staying = await connect(), await connect()
    await subscribe(gone, roomId="r3")
    await subscribe(staying, roomId="r1")

    await database_sync_to_async(rooms.room_delete)(room_id="r3")
    await push()

    assert await gone.receive_nothing(timeout=0.5)
    assert [f["data"]["roomId"] for f in await frames_until_quiet(staying)] == ["r1"]
    await gone.send_json_to({"action": "unsubscribe", "channel": "stats", "roomId": "r3"})
    await settled(gone)  # no error before the pong
    message = await send(gone, action="subscribe", channel="stats", roomId="r3")
    assert message["error"]["code"] == "NOT_FOUND"


async def test_an_unknown_channel_error_names_both_channels(connect):
    communicator = await connect()

    message = await send(communicator, action="subscribe", channel="chat", roomId="r1")

    assert message == {
        "type": "error",
        "error": {"code": "VALIDATION_ERROR", "message": "不支援的 channel，可用：stats, rooms"},
    }


async def test_a_push_with_many_rooms_and_subscribers_is_one_channel_layer_message_per_process(
    three_rooms, connect, monkeypatch
):
    """However many rooms and subscribers: one group member (the relay), one group_send, one message
    read by the relay, and each topic's frame encoded once for all of its subscribers."""
    await database_sync_to_async(rooms.room_create)(room_id="r3")
    layer = get_channel_layer()
    real_group_send, real_receive = layer.group_send, layer.receive
    sent, received, encoded = [], [], []

    async def counting_group_send(group, message):
        sent.append(group)
        await real_group_send(group, message)

    async def counting_receive(channel):
        event = await real_receive(channel)
        received.append(event["type"])
        return event

    monkeypatch.setattr(layer, "group_send", counting_group_send)
    monkeypatch.setattr(layer, "receive", counting_receive)  # before the relay starts reading

    topics = [{"roomId": "r1"}, {"roomId": "r2"}, {"roomId": "r3"}, {}, {"channel": "rooms"}]
    followers = {}
    for n, topic in enumerate(topics):
        followers[n] = [await connect() for _ in range(4)]
        for communicator in followers[n]:
            await subscribe(communicator, **{"channel": "stats", **topic})
    group_key = f"{settings.CHANNEL_LAYERS['default']['CONFIG']['prefix']}:group:stats"
    assert get_redis().zcard(group_key) == 1

    real_frame_text = relay.frame_text

    def counting_frame_text(content):
        encoded.append(content["type"])
        return real_frame_text(content)

    monkeypatch.setattr(relay, "frame_text", counting_frame_text)
    await push()

    for n, topic in enumerate(topics):
        for communicator in followers[n]:
            [frame] = await frames_until_quiet(communicator)
            if topic.get("channel") == "rooms":
                assert frame["type"] == "rooms_update" and len(frame["data"]["rooms"]) == 4
            else:
                assert frame["data"].get("roomId") == topic.get("roomId")
    assert sent == ["stats"]
    assert received == ["stats.update"]
    assert sorted(encoded) == ["rooms_update"] + ["stats_update"] * 4  # 5 topics, 20 subscribers
