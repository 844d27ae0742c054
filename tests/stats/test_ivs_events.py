"""POST /api/events/ivs: EventBridge "IVS Stage Update" events, duplicated and out of order."""

import copy

import pytest

from stages import hostlive
from stages.ivs import emulator
from stats.selectors import is_publisher_live
from tests.factories import ivs_stage_event
from tokens.services import token_publisher_create

pytestmark = pytest.mark.django_db


def test_published_then_unpublished_flips_host_live(ivs_events, master_stage):
    response = ivs_events(
        ivs_stage_event(master_stage.arn, "Participant Published", event_id="e1", time="2026-11-27T10:00:00Z")
    )
    assert response.status_code == 200
    assert response.json()["data"] == {"eventId": "e1", "outcome": "applied"}
    assert is_publisher_live()
    assert ivs_events.pushes == ["publisher-live", "autoscale"]
    ivs_events(ivs_stage_event(master_stage.arn, "Participant Unpublished", event_id="e2", time="2026-11-27T10:05:00Z"))
    assert not is_publisher_live()
    assert ivs_events.pushes[-1] == "publisher-offline"


def test_duplicate_delivery_is_applied_once(ivs_events, master_stage):
    event = ivs_stage_event(master_stage.arn, "Participant Published", event_id="dup", time="2026-11-27T10:00:00Z")
    assert ivs_events(event).json()["data"]["outcome"] == "applied"
    assert ivs_events(copy.deepcopy(event)).json()["data"]["outcome"] == "duplicate"
    assert ivs_events.pushes.count("publisher-live") == 1


def test_out_of_order_events_keep_the_newest_state(ivs_events, master_stage):
    unpublished = ivs_stage_event(
        master_stage.arn, "Participant Unpublished", event_id="u", time="2026-11-27T10:05:00.000Z"
    )
    published = ivs_stage_event(
        master_stage.arn, "Participant Published", event_id="p", time="2026-11-27T10:00:00.000Z"
    )
    assert ivs_events(unpublished).json()["data"]["outcome"] == "applied"
    assert ivs_events(published).json()["data"]["outcome"] == "stale"  # older than what it would overwrite
    assert not is_publisher_live()


def test_any_published_participant_keeps_the_host_live(ivs_events, master_stage):
    ivs_events(
        ivs_stage_event(
            master_stage.arn, "Participant Published", event_id="a", time="2026-11-27T10:00:00Z", participant="host-a"
        )
    )
    ivs_events(
        ivs_stage_event(
            master_stage.arn, "Participant Published", event_id="b", time="2026-11-27T10:01:00Z", participant="relay-b"
        )
    )
    ivs_events(
        ivs_stage_event(
            master_stage.arn, "Participant Unpublished", event_id="c", time="2026-11-27T10:02:00Z", participant="host-a"
        )
    )
    assert is_publisher_live()


def test_other_stages_and_event_kinds_are_ignored(ivs_events, master_stage):
    other = "arn:aws:ivs:ap-northeast-1:123456789012:stage/zzzzzzzzzzzz"
    assert (
        ivs_events(ivs_stage_event(other, "Participant Published", event_id="o", time="2026-11-27T10:00:00Z")).json()[
            "data"
        ]["outcome"]
        == "ignored"
    )
    replication = ivs_stage_event(
        master_stage.arn, "Participant Replication Started", event_id="r", time="2026-11-27T10:00:00Z"
    )
    assert ivs_events(replication).json()["data"]["outcome"] == "ignored"
    assert not is_publisher_live()


def test_wrong_or_missing_secret_is_forbidden_without_side_effects(ivs_events, master_stage, settings):
    event = ivs_stage_event(master_stage.arn, "Participant Published", event_id="s", time="2026-11-27T10:00:00Z")
    assert ivs_events(event, secret="nope").status_code == 403
    assert ivs_events(event, secret="").status_code == 403
    settings.IVS_EVENTS_SECRET = ""
    assert ivs_events(event, secret="").status_code == 403  # endpoint off without a configured secret
    assert not is_publisher_live()


@pytest.mark.parametrize(
    "mutate",
    [
        lambda e: e.pop("id"),
        lambda e: e.pop("detail"),
        lambda e: e.update(time="yesterday"),
        lambda e: e.update(time="2026-11-27T10:00:00"),  # no timezone
        lambda e: e.update(resources="not-a-list"),
        lambda e: e.update(resources=["not-an-arn"]),
        lambda e: e["detail"].update(event_name=42),
        lambda e: e.update(id=["x"]),
    ],
)
def test_malformed_events_are_400_without_side_effects(ivs_events, master_stage, mutate):
    event = ivs_stage_event(master_stage.arn, "Participant Published", event_id="m", time="2026-11-27T10:00:00Z")
    mutate(event)
    response = ivs_events(event)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert not is_publisher_live()
    assert ivs_events.pushes == []


def test_poll_reconciles_a_lost_unpublished_event(ivs_events, master_stage):
    host = token_publisher_create(user_id="host")
    participant = emulator.participant_join(stage_arn=master_stage.arn, token=host.token)
    emulator.participant_publish(stage_arn=master_stage.arn, participant_id=participant)
    assert hostlive.refresh() is True
    emulator.participant_leave(stage_arn=master_stage.arn, participant_id=participant)  # the event got lost
    assert hostlive.refresh() is False
    assert not is_publisher_live()


def test_the_host_state_outlives_a_whole_poll_rotation(ivs_events, master_stage, settings):
    """With many rooms each is polled once per rotation: the live flag must not expire in between,
    or a live host would read offline (and be announced live again) between its polls."""
    import math

    from ivsproject.redis import get_redis

    settings.MAX_ROOMS, settings.HOST_LIVE_POLL_ROOMS_PER_TICK, settings.STATS_PUSH_INTERVAL_SECONDS = 50, 2, 5
    ivs_events(ivs_stage_event(master_stage.arn, "Participant Published", event_id="e1"))

    rotation = math.ceil(50 / 2) * 5
    assert get_redis().ttl(hostlive.live_key()) >= rotation
