"""POST /api/events/ivs (EventBridge): a wrong secret or a malformed event is refused with an
envelope and changes nothing — no Redis key, no database row, no push."""

from __future__ import annotations

import json

import pytest

from ivsproject.redis import get_redis
from stats.selectors import is_publisher_live
from tests.factories import IVS_EVENTS_SECRET as SECRET
from tests.factories import ivs_stage_event
from tests.hardening.helpers import envelope_error

pytestmark = pytest.mark.django_db


def snapshot() -> dict[str, object]:
    """Every key in the (per-test, flushed) Redis database with its value."""
    client = get_redis()
    readers = {
        "string": client.get,
        "hash": client.hgetall,
        "set": client.smembers,
        "zset": lambda k: client.zrange(k, 0, -1, withscores=True),
        "list": lambda k: client.lrange(k, 0, -1),
    }
    return {name: readers.get(client.type(name), client.type)(name) for name in client.scan_iter(count=1000)}


def test_wrong_or_missing_secret_is_403_without_side_effects(ivs_events, master_stage):
    before = snapshot()
    for headers in ({}, {"HTTP_X_IVS_EVENTS_SECRET": "nope"}, {"HTTP_X_IVS_EVENTS_SECRET": SECRET[:-1]},
                    {"HTTP_X_IVS_EVENTS_SECRET": SECRET + SECRET}, {"HTTP_X_API_KEY": SECRET}):  # fmt: skip
        response = ivs_events(ivs_stage_event(master_stage.arn), secret=None, **headers)
        assert (response.status_code, envelope_error(403, response.content)["code"]) == (403, "FORBIDDEN"), headers

    # Only the per-address count of refused secrets (the limit on guessing) may have been written.
    after = {k: v for k, v in snapshot().items() if ":ivs-events:failures:" not in k}
    assert after == before
    assert not is_publisher_live() and ivs_events.pushes == []


def test_the_endpoint_is_off_without_a_configured_secret(ivs_events, settings, master_stage):
    settings.IVS_EVENTS_SECRET = ""

    assert ivs_events(ivs_stage_event(master_stage.arn), secret="").status_code == 403


def test_malformed_events_are_400_without_side_effects(ivs_events, master_stage):
    arn = master_stage.arn
    malformed = [
        "{",
        "[]",
        '"event"',
        "[" * 10_000 + "]" * 10_000,
        {},
        ivs_stage_event(arn, detail=None),
        ivs_stage_event(arn, detail="x"),
        ivs_stage_event(arn, detail={"event_name": 5}),
        ivs_stage_event(arn, resources="not-a-list"),
        ivs_stage_event(arn, resources=[]),
        ivs_stage_event(arn, time="yesterday"),
        ivs_stage_event(arn, id=None),
        ivs_stage_event(arn, id={"a": 1}),
    ]
    before = snapshot()
    for body in malformed:
        response = ivs_events(body)
        assert response.status_code == 400, (
            body if isinstance(body, str) else json.dumps(body)[:200],
            response.content,
        )
        assert envelope_error(400, response.content)["code"] == "VALIDATION_ERROR"

    assert snapshot() == before
    assert not is_publisher_live() and ivs_events.pushes == []


def test_events_that_are_not_ours_are_ignored_without_effect(ivs_events, master_stage):
    from stages.services import stage_create

    other = stage_create(name="not-the-master")
    ivs_events.pushes.clear()  # creating the stage pushed; the events must not
    ignorable = [
        ivs_stage_event(master_stage.arn, **{"detail-type": 7}),
        ivs_stage_event(master_stage.arn, **{"detail-type": "IVS Composition State Change"}),
        ivs_stage_event(other.arn, id="evt-other"),
        ivs_stage_event(
            master_stage.arn,
            id="evt-join",
            detail={**ivs_stage_event("x")["detail"], "event_name": "Participant Joined"},
        ),
    ]
    for body in ignorable:
        response = ivs_events(body)
        assert response.status_code == 200, (body, response.content)
        assert response.json()["data"]["outcome"] != "applied", body

    assert not is_publisher_live() and ivs_events.pushes == []
