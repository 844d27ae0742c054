"""The autoscaler with several rooms: each room scales on its own by the v1.1.0 rules, MAX_STAGES is
per room, ACCOUNT_MAX_STAGES is shared out where viewers are refused, and scale-down, drain and host
replication never cross a room's border. Demand comes from viewer tokens over HTTP (a STAGE_FULL
records the refused viewer); ticks run through the beat task."""

from __future__ import annotations

import math

import pytest

from autoscaling.tasks import autoscale
from stages import hostlive, ivs, rooms, services
from stages.ivs import emulator
from stages.models import Room, Stage
from stages.selectors import live_stages
from stages.selectors import master_stage as master_of
from tokens.services import token_publisher_create

pytestmark = pytest.mark.django_db

SEATS = 4  # STAGE_MAX_PARTICIPANTS
HOT = 3  # SCALE_UP_THRESHOLD: a new stage offers this many seats before it is hot


@pytest.fixture(autouse=True)
def small_stages(settings):
    settings.STAGE_MAX_PARTICIPANTS = SEATS
    settings.SCALE_UP_THRESHOLD = HOT
    settings.SCALE_DOWN_THRESHOLD = 1
    settings.STAGE_WARMUP_SECONDS = 0
    settings.MAX_STAGES = 6
    settings.ACCOUNT_MAX_STAGES = 100


@pytest.fixture(autouse=True)
def ticks_asked(monkeypatch):
    """The token path asks for a tick at once; here each test runs its ticks itself."""
    asked: list[int] = []
    monkeypatch.setattr("autoscaling.tasks.request_autoscale", lambda: asked.append(1))
    return asked


@pytest.fixture
def three_rooms(master_stage):
    for room_id in ("r1", "r2", "r3"):
        rooms.room_create(room_id=room_id)
    return ["r1", "r2", "r3"]


def join(api, room_id: str, user: str, stage_arn: str | None = None):
    body = {"userId": user, "roomId": room_id}
    if stage_arn:
        body["stageArn"] = stage_arn
    return api.post("/api/token/viewer", body)


def crowd(api, room_id: str, count: int, prefix: str | None = None) -> tuple[list[str], list[str]]:
    """`count` new viewers ask for a token in the room: (stage ARNs seated on, users refused)."""
    seated, refused = [], []
    for n in range(count):
        user = f"{prefix or room_id}-v{n}"
        response = join(api, room_id, user)
        if response.status_code == 200:
            seated.append(response.json()["data"]["stageArn"])
        else:
            assert response.json()["error"]["code"] == "STAGE_FULL", response.json()
            refused.append(user)
    return seated, refused


def overflow_stage(room_id: str, name: str) -> Stage:
    return services.stage_create(
        name=name, role=Stage.Role.OVERFLOW, managed_by=Stage.ManagedBy.AUTO_SCALER, room_id=room_id
    )


def stages_of(room_id: str) -> list[Stage]:
    return list(live_stages(room_id).order_by("created_at", "id"))


def actions(decisions: list[str], action: str) -> list[str]:
    return [d for d in decisions if d.split()[0] == action]


def created_in(decisions: list[str]) -> list[str]:
    """The rooms of this tick's created stages, in the order they were created."""
    by_arn = {s.arn: s.room_id for s in Stage.objects.all()}
    return [by_arn[d.split()[1]] for d in actions(decisions, "create")]


def test_each_room_scales_on_its_own(api, three_rooms):
    crowd(api, "r1", HOT)  # every stage of r1 hot
    crowd(api, "r2", HOT - 1)  # r2 below the threshold

    decisions = autoscale()

    assert created_in(decisions) == ["r1"]
    [master, overflow] = stages_of("r1")
    assert master.is_master and overflow.role == Stage.Role.OVERFLOW and overflow.auto_scaled
    assert ivs.get_stage(arn=overflow.arn).tags["Room"] == "r1"
    assert [len(stages_of(r)) for r in (Room.DEFAULT, "r2", "r3")] == [1, 1, 1]
    # The next viewer of r1 takes the new, least-loaded stage; r1 is not hot any more.
    assert join(api, "r1", "late").json()["data"]["stageArn"] == overflow.arn
    assert autoscale() == []


def test_refused_viewers_get_enough_stages_in_one_tick_in_their_own_room(api, three_rooms):
    _seated, refused_r1 = crowd(api, "r1", SEATS + 7)
    _seated, refused_r2 = crowd(api, "r2", SEATS + 2)
    assert (len(refused_r1), len(refused_r2)) == (7, 2)

    decisions = autoscale()

    assert sorted(created_in(decisions)) == ["r1"] * math.ceil(7 / HOT) + ["r2"]
    for room_id, refused in (("r1", refused_r1), ("r2", refused_r2)):
        own = {s.arn for s in stages_of(room_id)}
        for user in refused:  # the refused retry and are seated, each in its own room
            response = join(api, room_id, user)
            assert response.status_code == 200 and response.json()["data"]["stageArn"] in own
    assert len(stages_of("r3")) == 1


def test_max_stages_is_each_rooms_own_cap(api, three_rooms, settings):
    settings.MAX_STAGES = 2
    crowd(api, "r1", SEATS + 10)
    crowd(api, "r2", SEATS + 1)

    decisions = autoscale()

    assert sorted(created_in(decisions)) == ["r1", "r2"]
    assert actions(decisions, "blocked") == [
        f"blocked      -  — room r1: MAX_STAGES (2) reached; {math.ceil(10 / HOT) - 1} stage(s) short"
    ]
    # r1 at its cap: its viewers get STAGE_FULL, and ticks only say so; r2 is unaffected.
    _seated, still_refused = crowd(api, "r1", 10, prefix="again")
    assert len(still_refused) == 10 - SEATS
    assert crowd(api, "r2", HOT - 1, prefix="more")[1] == []  # r2 still not hot
    again = autoscale()
    assert actions(again, "create") == [] and len(actions(again, "blocked")) == 1
    assert len(stages_of("r1")) == 2


def test_the_account_cap_goes_first_where_most_viewers_are_refused(api, three_rooms, settings):
    crowd(api, "r1", SEATS + 1)  # 1 refused
    crowd(api, "r2", SEATS + 9)  # 9 refused: wants 3
    crowd(api, "r3", SEATS + 4)  # 4 refused: wants 2
    settings.ACCOUNT_MAX_STAGES = live_stages().count() + 1

    decisions = autoscale()

    assert created_in(decisions) == ["r2"]
    assert sorted(actions(decisions, "blocked")) == [
        "blocked      -  — room r1: ACCOUNT_MAX_STAGES (5) reached; 1 stage(s) short",
        "blocked      -  — room r2: ACCOUNT_MAX_STAGES (5) reached; 2 stage(s) short",
        "blocked      -  — room r3: ACCOUNT_MAX_STAGES (5) reached; 2 stage(s) short",
    ]


def test_a_big_crowd_never_takes_every_last_stage_from_rooms_refusing_fewer(api, three_rooms, settings):
    crowd(api, "r1", SEATS + 1)  # 1 refused
    crowd(api, "r2", SEATS + 30)  # a flash crowd: 30 refused, wants 10
    crowd(api, "r3", SEATS + 4)  # 4 refused: wants 2
    settings.ACCOUNT_MAX_STAGES = live_stages().count() + 4

    decisions = autoscale()

    # One per refusing room per round, the most waiting first in each round.
    assert created_in(decisions) == ["r2", "r3", "r1", "r2"]


def test_a_flash_crowd_never_takes_the_last_stage_a_room_refusing_viewers_needs(api, three_rooms, settings):
    """r2's crowd made every stage of it hot, but r2 seated everyone; r1 already refuses viewers.
    The account's last stages go to r1 — all that r1 needs — before r2 gets any."""
    crowd(api, "r1", SEATS + 5)  # 5 refused: wants 2
    crowd(api, "r2", HOT)  # hot, nobody refused: wants 1
    settings.ACCOUNT_MAX_STAGES = live_stages().count() + 2

    decisions = autoscale()

    assert created_in(decisions) == ["r1", "r1"]
    assert actions(decisions, "blocked") == [
        "blocked      -  — room r2: ACCOUNT_MAX_STAGES (6) reached; 1 stage(s) short"
    ]
    _seated, refused = crowd(api, "r1", 5)  # r1's refused viewers come back: all seated
    assert refused == []


def test_a_room_at_the_account_cap_is_refused_but_another_room_keeps_its_seats(api, three_rooms, settings):
    settings.ACCOUNT_MAX_STAGES = live_stages().count()
    assert len(crowd(api, "r1", SEATS + 3)[1]) == 3
    decisions = autoscale()
    assert actions(decisions, "create") == []
    assert actions(decisions, "blocked") == [
        "blocked      -  — room r1: ACCOUNT_MAX_STAGES (4) reached; 1 stage(s) short"
    ]
    assert crowd(api, "r2", SEATS)[1] == []  # r2's own master still seats its viewers


def test_scale_down_is_per_room_and_never_the_master(api, three_rooms):
    r1_overflow = overflow_stage("r1", "autoscale-stage-1")
    r2_overflow = [overflow_stage("r2", f"autoscale-stage-{n}") for n in (2, 3)]
    r1_master = master_of("r1")
    for n in range(HOT - 1):
        join(api, "r1", f"m{n}", r1_master.arn)
    join(api, "r1", "o1", r1_overflow.arn)
    # r1: 2 + 1 viewers cannot sit below the threshold on the master alone, so r1's quiet overflow
    # stays, whatever room r2 and r3 have to spare. r2 is empty: both its overflow stages drain,
    # and being empty they are deleted in the same tick, in IVS too.

    decisions = autoscale()

    r2_arns = sorted(s.arn for s in r2_overflow)
    assert sorted(d.split()[1] for d in actions(decisions, "drain")) == r2_arns
    assert sorted(d.split()[1] for d in actions(decisions, "delete")) == r2_arns
    assert not {s.arn for s in ivs.list_stages()} & set(r2_arns)
    assert [s.role for s in stages_of("r2")] == [Stage.Role.MASTER]
    assert [s.status for s in stages_of("r1")] == [Stage.Status.ACTIVE] * 2
    assert {s.status for s in Stage.objects.filter(role=Stage.Role.MASTER)} == {Stage.Status.ACTIVE}

    api.post("/api/viewer/leave", {"userId": "o1", "stageArn": r1_overflow.arn})
    decisions = autoscale()  # r1's overflow is empty now and the master holds the rest
    assert [d.split()[1] for d in actions(decisions, "drain")] == [r1_overflow.arn]
    assert [s.role for s in stages_of("r1")] == [Stage.Role.MASTER]
    assert autoscale() == []  # a room with its master alone: nothing to do, even empty


def test_a_draining_stage_comes_back_only_for_its_own_room(api, three_rooms):
    r1_draining = overflow_stage("r1", "autoscale-stage-1")
    join(api, "r1", "keeps-it-busy", r1_draining.arn)
    Stage.objects.filter(pk=r1_draining.pk).update(status=Stage.Status.DRAINING)
    crowd(api, "r2", HOT)  # r2 is hot: it gets a stage of its own, not r1's draining one

    decisions = autoscale()

    assert actions(decisions, "reactivate") == [] and created_in(decisions) == ["r2"]
    assert Stage.objects.get(pk=r1_draining.pk).status == Stage.Status.DRAINING

    crowd(api, "r1", HOT)  # now r1 is hot: its own draining stage returns instead of a new one
    decisions = autoscale()

    assert [d.split()[1] for d in actions(decisions, "reactivate")] == [r1_draining.arn]
    assert actions(decisions, "create") == []
    assert Stage.objects.get(pk=r1_draining.pk).status == Stage.Status.ACTIVE


def host_goes_live(room_id: str, user: str) -> str:
    master = master_of(room_id)
    token = token_publisher_create(user_id=user, room_id=room_id)
    participant = emulator.participant_join(stage_arn=master.arn, token=token.token)
    emulator.participant_publish(stage_arn=master.arn, participant_id=participant)
    hostlive.set_live(live=True, room_id=room_id)
    return participant


def overflow(room_id: str, count: int) -> list[Stage]:
    return [overflow_stage(room_id, f"{room_id}-extra-{n}") for n in range(count)]


def test_each_rooms_host_is_replicated_into_its_own_overflow_stages_only(three_rooms, settings):
    settings.MAX_STAGES = 8
    settings.STAGE_WARMUP_SECONDS = 300  # the empty new stages stay
    r1_host = host_goes_live("r1", "host-1")
    r2_host = host_goes_live("r2", "host-2")
    r1_stages, r2_stages, r3_stages = overflow("r1", 6), overflow("r2", 2), overflow("r3", 1)
    default_stages = overflow(Room.DEFAULT, 1)  # the default room's host is not live

    decisions = autoscale()

    replicas_r1 = ivs.list_participant_replicas(source_stage_arn=master_of("r1").arn, participant_id=r1_host)
    replicas_r2 = ivs.list_participant_replicas(source_stage_arn=master_of("r2").arn, participant_id=r2_host)
    # IVS allows 5 replications per participant: per room's host, so r1's sixth needs a relay
    # while r2's host still goes into both of r2's stages.
    assert sorted(replicas_r1) == sorted(s.arn for s in r1_stages[:5])
    assert sorted(replicas_r2) == sorted(s.arn for s in r2_stages)
    assert Stage.objects.get(pk=r1_stages[5].pk).relay_needed
    replicated = {d.split()[1] for d in actions(decisions, "replicate")}
    assert replicated == set(replicas_r1) | set(replicas_r2)
    untouched = r3_stages + default_stages
    assert not Stage.objects.filter(pk__in=[s.pk for s in untouched]).exclude(replicated_participant_id="").exists()
    assert not Stage.objects.filter(pk__in=[s.pk for s in untouched + r2_stages], relay_needed=True).exists()
    assert {s.replicated_participant_id for s in Stage.objects.filter(pk__in=[s.pk for s in r2_stages])} == {r2_host}
    assert autoscale() == []  # idempotent


def test_a_room_created_without_its_master_gets_one_from_the_next_tick(api, master_stage):
    # What a process that died inside room_create, before CreateStage, leaves behind: the row alone.
    Room.objects.create(room_id="cut-short", name="cut-short")
    response = join(api, "cut-short", "early")
    assert (response.status_code, response.json()["error"]["message"]) == (404, "主播直播不存在")

    decisions = autoscale()

    master = master_of("cut-short")
    assert master is not None and master.name == "cut-short-master"
    assert decisions == [f"{'recreate':<12} {master.arn}  — room cut-short had no master stage"]
    assert ivs.get_stage(arn=master.arn).tags["Room"] == "cut-short"
    assert join(api, "cut-short", "early").json()["data"]["stageArn"] == master.arn
    assert autoscale() == []  # once
    assert master_of().arn == master_stage.arn  # the default room keeps its own


def test_a_stage_freed_by_one_room_goes_to_a_refusing_room_in_the_same_tick(api, three_rooms, settings):
    """The account is full; r1's crowd has left its drained stage empty, and r2 refuses viewers. The
    tick deletes the empty stage first and gives the freed place to r2 at once, rather than
    saying the account is full and making r2's viewers wait for the next tick."""
    drained = overflow_stage("r1", "autoscale-stage-1")
    Stage.objects.filter(pk=drained.pk).update(status=Stage.Status.DRAINING)
    settings.ACCOUNT_MAX_STAGES = live_stages().count()
    crowd(api, "r2", SEATS + 2)

    decisions = autoscale()

    assert [d.split()[1] for d in actions(decisions, "delete")] == [drained.arn]
    assert created_in(decisions) == ["r2"] and actions(decisions, "blocked") == []
    assert live_stages().count() == settings.ACCOUNT_MAX_STAGES


def test_demand_left_by_a_deleted_room_creates_nothing(api, three_rooms):
    from autoscaling import demand

    assert api.delete("/api/rooms/r3").status_code == 200
    demand.demand_record("late-1", "late-2", room_id="r3")  # refused just before the deletion

    assert autoscale() == []
    assert not live_stages("r3").exists()
    assert not [s for s in ivs.list_stages() if s.tags.get("Room") == "r3"]


def test_a_dry_run_over_several_rooms_says_what_it_would_do_and_does_nothing(api, three_rooms, settings):
    from autoscaling.autoscaler import autoscale_tick

    crowd(api, "r1", SEATS + 5)
    crowd(api, "r2", HOT)
    settings.ACCOUNT_MAX_STAGES = live_stages().count() + 2
    before = sorted(s.arn for s in ivs.list_stages())

    planned = [str(d) for d in autoscale_tick(dry_run=True)]

    assert [d.split(" — ")[1] for d in actions(planned, "create")] == ["room r1: 5 viewer(s) found no seat"] * 2
    assert len(actions(planned, "blocked")) == 1
    assert sorted(s.arn for s in ivs.list_stages()) == before
    # The demand is still there for the real tick, which does what the dry run said.
    assert [d.split(" — ")[1] for d in actions(autoscale(), "create")] == ["room r1: 5 viewer(s) found no seat"] * 2
