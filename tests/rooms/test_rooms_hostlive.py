"""Host-live per room: EventBridge events on one room's master stage flip that room's flag alone,
and the ListParticipants poll is spread over the rooms so it stays inside the stage-call budget
however many rooms there are."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from stages import hostlive, ivs, rooms
from stages import tasks as stage_tasks
from stages.ivs import emulator
from stages.models import Room, Stage
from stages.selectors import master_stage as master_of
from tests.factories import ivs_stage_event
from tokens.services import token_publisher_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_rooms(master_stage):
    for room_id in ("r1", "r2"):
        rooms.room_create(room_id=room_id)
    return {room_id: master_of(room_id) for room_id in (Room.DEFAULT, "r1", "r2")}


def flags() -> dict[str, bool]:
    return {room_id: hostlive.is_live(room_id=room_id) for room_id in (Room.DEFAULT, "r1", "r2")}


def test_an_event_on_one_rooms_master_flips_that_room_alone(api, ivs_events, two_rooms):
    r1 = two_rooms["r1"]

    response = ivs_events(ivs_stage_event(r1.arn, "Participant Published", event_id="p1"))

    assert response.json()["data"]["outcome"] == "applied"
    assert flags() == {Room.DEFAULT: False, "r1": True, "r2": False}
    assert ivs_events.pushes == ["publisher-live", "autoscale"]  # one push, one tick
    publisher = api.get("/api/stats/publisher", {"roomId": "r1"}).json()["data"]
    assert publisher == {"isPublisherLive": True, "roomId": "r1"}
    assert api.get("/api/stats/publisher", {"roomId": "r2"}).json()["data"]["isPublisherLive"] is False
    assert api.get("/api/stats/publisher").json()["data"]["isPublisherLive"] is False
    overview = api.get("/api/stats/rooms").json()["data"]
    assert overview["liveRooms"] == 1
    assert {r["roomId"]: r["isPublisherLive"] for r in overview["rooms"]} == flags()

    ivs_events(ivs_stage_event(r1.arn, "Participant Unpublished", event_id="u1", time="2026-11-27T10:05:00Z"))

    assert flags() == {Room.DEFAULT: False, "r1": False, "r2": False}
    assert ivs_events.pushes == ["publisher-live", "autoscale", "publisher-offline"]


def test_the_same_participant_id_in_two_rooms_is_two_hosts(ivs_events, two_rooms):
    """Each room keeps its own participants: an Unpublished on r2's master (later, same id) says
    nothing about r1's host."""
    ivs_events(ivs_stage_event(two_rooms["r1"].arn, event_id="a", participant="same-id"))
    ivs_events(
        ivs_stage_event(
            two_rooms["r2"].arn,
            "Participant Unpublished",
            event_id="b",
            time="2026-11-27T10:30:00Z",
            participant="same-id",
        )
    )
    assert flags() == {Room.DEFAULT: False, "r1": True, "r2": False}
    ivs_events(ivs_stage_event(two_rooms["r2"].arn, event_id="c", time="2026-11-27T10:31:00Z", participant="same-id"))
    assert flags() == {Room.DEFAULT: False, "r1": True, "r2": True}
    # One push and one tick per room that went live.
    assert (ivs_events.pushes.count("publisher-live"), ivs_events.pushes.count("autoscale")) == (2, 2)


def test_events_on_overflow_stages_and_on_deleted_rooms_are_ignored(api, ivs_events, two_rooms):
    extra = api.post("/api/stage", {"name": "extra", "roomId": "r1"}).json()["data"]["stage"]
    overflow = ivs_events(ivs_stage_event(extra["arn"], event_id="o"))
    assert overflow.json()["data"]["outcome"] == "ignored"

    old_r2_master = two_rooms["r2"].arn
    assert api.delete("/api/rooms/r2").status_code == 200
    gone = ivs_events(ivs_stage_event(old_r2_master, event_id="g"))

    assert gone.json()["data"]["outcome"] == "ignored"
    assert flags() == {Room.DEFAULT: False, "r1": False, "r2": False}
    assert "publisher-live" not in ivs_events.pushes


def test_a_room_deleted_while_live_is_announced_offline_once(api, ivs_events, two_rooms):
    ivs_events(ivs_stage_event(two_rooms["r2"].arn, event_id="live"))
    assert api.delete("/api/rooms/r2").status_code == 200
    assert not hostlive.is_live(room_id="r2")
    assert ivs_events.pushes.count("publisher-offline") == 1


# --- the poll, spread over the rooms --------------------------------------------------------------


def host_publishes(room_id: str, *, publish: bool = True) -> None:
    """The host joins the room's master stage (an active session) and, unless told not to, publishes."""
    master = master_of(room_id)
    token = token_publisher_create(user_id=f"host-{room_id}", room_id=room_id)
    participant = emulator.participant_join(stage_arn=master.arn, token=token.token)
    if publish:
        emulator.participant_publish(stage_arn=master.arn, participant_id=participant)


@pytest.fixture
def polled(monkeypatch):
    """Every GetStage and ListParticipants the poll makes, by the room of the stage."""
    calls: dict[str, list[str]] = {"GetStage": [], "ListParticipants": []}
    room_of = {}

    def room(arn: str) -> str:
        if arn not in room_of:
            room_of[arn] = Stage.objects.get(arn=arn).room_id
        return room_of[arn]

    real_get, real_list = ivs.get_stage, ivs.list_participants

    def get_stage(*, arn):
        calls["GetStage"].append(room(arn))
        return real_get(arn=arn)

    def list_participants(*, stage_arn, **kwargs):
        calls["ListParticipants"].append(room(stage_arn))
        return real_list(stage_arn=stage_arn, **kwargs)

    monkeypatch.setattr(ivs, "get_stage", get_stage)
    monkeypatch.setattr(ivs, "list_participants", list_participants)
    return calls


@pytest.mark.parametrize(("room_count", "per_tick"), [(11, 3), (12, 4), (7, 2)])
def test_polls_are_spread_every_room_within_its_turn(master_stage, settings, polled, room_count, per_tick):
    settings.MAX_ROOMS = room_count
    settings.HOST_LIVE_POLL_ROOMS_PER_TICK = per_tick
    room_ids = [Room.DEFAULT] + [f"room-{n:02d}" for n in range(room_count - 1)]
    for room_id in room_ids[1:]:
        rooms.room_create(room_id=room_id)
    live = set(room_ids[::2])  # every other room's host publishes, default included
    for room_id in room_ids:
        host_publishes(room_id, publish=room_id in live)
    polled["GetStage"].clear()
    polled["ListParticipants"].clear()

    turn = math.ceil(room_count / per_tick)
    seen: set[str] = set()
    for _tick in range(turn):
        before = {op: len(c) for op, c in polled.items()}
        stage_tasks.poll_host_live()
        this_tick = {op: c[before[op] :] for op, c in polled.items()}
        assert len(this_tick["ListParticipants"]) == len(this_tick["GetStage"]) == per_tick
        assert len(set(this_tick["ListParticipants"])) == per_tick  # no room twice in one tick
        seen |= set(this_tick["ListParticipants"])

    assert seen == set(room_ids)  # every room within ceil(rooms / per tick) ticks
    assert {room_id for room_id in room_ids if hostlive.is_live(room_id=room_id)} == live

    for _tick in range(turn * 3):  # and fairly: over whole turns no room is polled twice as often
        stage_tasks.poll_host_live()
    per_room = Counter(polled["ListParticipants"])
    assert set(per_room) == set(room_ids)
    assert max(per_room.values()) - min(per_room.values()) <= 1


def test_with_few_rooms_every_room_is_polled_each_tick(two_rooms, settings, polled):
    settings.HOST_LIVE_POLL_ROOMS_PER_TICK = 3
    for room_id in two_rooms:
        host_publishes(room_id)
    polled["GetStage"].clear()
    polled["ListParticipants"].clear()

    assert stage_tasks.poll_host_live() is True  # the default room's answer

    assert sorted(polled["ListParticipants"]) == sorted(two_rooms)
    assert flags() == {Room.DEFAULT: True, "r1": True, "r2": True}


def test_a_poll_failing_for_one_room_keeps_the_others_polled(two_rooms, settings, polled):
    settings.HOST_LIVE_POLL_ROOMS_PER_TICK = 3
    for room_id in two_rooms:
        host_publishes(room_id)
    emulator.inject_fault("GetStage", "InternalServerException", times=3)  # the first room's poll fails for good

    stage_tasks.poll_host_live()

    # Rooms are polled in order: `default` failed and keeps its last answer (none yet).
    assert flags() == {Room.DEFAULT: False, "r1": True, "r2": True}


def test_a_room_without_a_flag_is_not_live_whatever_the_default_room_is(api, two_rooms):
    """A room whose host never went live (or whose flag decayed) has no flag in Redis at all: it is
    not live, even while the default room's host is — and reading it costs no extra round trip."""
    hostlive.set_live(live=True)  # the default room's host; r1 and r2 never had a flag

    overview = api.get("/api/stats/rooms").json()["data"]
    r1 = api.get("/api/stats", {"roomId": "r1"}).json()["data"]
    room = api.get("/api/rooms/r1").json()["data"]["room"]

    assert {r["roomId"]: r["isPublisherLive"] for r in overview["rooms"]} == {
        Room.DEFAULT: True,
        "r1": False,
        "r2": False,
    }
    assert overview["liveRooms"] == 1
    assert r1["isPublisherLive"] is False and room["isPublisherLive"] is False
    assert api.get("/api/stats").json()["data"]["isPublisherLive"] is True


def test_reading_every_rooms_flag_is_one_redis_round_trip(api, master_stage, settings, monkeypatch):
    """The rooms' flags come in the same pipeline as the counts; a missing flag must not be read
    again one by one (that made /api/stats/rooms cost a round trip per room)."""
    from redis.client import Redis

    settings.MAX_ROOMS = 12
    for n in range(10):
        rooms.room_create(room_id=f"room-{n}")
    api.get("/api/stats/rooms")  # the registry copy is loaded
    calls = []
    real = Redis.execute_command

    def counting(self, *args, **kwargs):
        calls.append(args[0])
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Redis, "execute_command", counting)
    assert api.get("/api/stats/rooms").status_code == 200
    assert "GET" not in calls, calls
