"""POST /api/events/ivs (EventBridge): a wrong secret or a malformed event is refused with an
envelope and changes nothing — no Redis key, no database row, no push."""

from __future__ import annotations

import json

import pytest

from ivsproject.redis import get_redis
from stats.selectors import is_publisher_live
from tests.hardening.helpers import envelope_error

pytestmark = pytest.mark.django_db
SECRET = "events-secret-9c1e"


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


def published(stage_arn: str, **overrides) -> dict:
    event = {
        "version": "0", "id": "evt-1", "detail-type": "IVS Stage Update", "source": "aws.ivs",
        "account": "123456789012", "time": "2026-11-27T10:00:00Z", "region": "ap-northeast-1",
        "resources": [stage_arn],
        "detail": {"session_id": "st-1", "event_name": "Participant Published", "user_id": "host",
                   "participant_id": "p1"},
    }  # fmt: skip
    event.update(overrides)
    return event


@pytest.fixture
def post(client, settings, monkeypatch):
    settings.IVS_EVENTS_SECRET = SECRET
    pushes = []
    monkeypatch.setattr("stats.broadcast.stats_push_now", lambda reason: pushes.append(reason))
    monkeypatch.setattr("stages.tasks.request_autoscale", lambda: pushes.append("autoscale"))

    def send(body, **headers):
        payload = body if isinstance(body, str) else json.dumps(body)
        return client.post("/api/events/ivs", payload, content_type="application/json", **headers)

    send.pushes = pushes
    return send


def test_wrong_or_missing_secret_is_403_without_side_effects(post, master_stage):
    before = snapshot()
    for headers in ({}, {"HTTP_X_IVS_EVENTS_SECRET": "nope"}, {"HTTP_X_IVS_EVENTS_SECRET": SECRET[:-1]},
                    {"HTTP_X_IVS_EVENTS_SECRET": SECRET + SECRET}, {"HTTP_X_API_KEY": SECRET}):  # fmt: skip
        response = post(published(master_stage.arn), **headers)
        assert (response.status_code, envelope_error(403, response.content)["code"]) == (403, "FORBIDDEN"), headers

    assert snapshot() == before
    assert not is_publisher_live() and post.pushes == []


def test_the_endpoint_is_off_without_a_configured_secret(post, settings, master_stage):
    settings.IVS_EVENTS_SECRET = ""

    assert post(published(master_stage.arn), HTTP_X_IVS_EVENTS_SECRET="").status_code == 403


def test_malformed_events_are_400_without_side_effects(post, master_stage):
    arn = master_stage.arn
    malformed = [
        "{",
        "[]",
        '"event"',
        "[" * 10_000 + "]" * 10_000,
        {},
        published(arn, detail=None),
        published(arn, detail="x"),
        published(arn, detail={"event_name": 5}),
        published(arn, resources="not-a-list"),
        published(arn, resources=[]),
        published(arn, time="yesterday"),
        published(arn, id=None),
        published(arn, id={"a": 1}),
    ]
    before = snapshot()
    for body in malformed:
        response = post(body, HTTP_X_IVS_EVENTS_SECRET=SECRET)
        assert response.status_code == 400, (
            body if isinstance(body, str) else json.dumps(body)[:200],
            response.content,
        )
        assert envelope_error(400, response.content)["code"] == "VALIDATION_ERROR"

    assert snapshot() == before
    assert not is_publisher_live() and post.pushes == []


def test_events_that_are_not_ours_are_ignored_without_effect(post, master_stage):
    from stages.services import stage_create

    other = stage_create(name="not-the-master")
    post.pushes.clear()  # creating the stage pushed; the events must not
    ignorable = [
        published(master_stage.arn, **{"detail-type": 7}),
        published(master_stage.arn, **{"detail-type": "IVS Composition State Change"}),
        published(other.arn, id="evt-other"),
        published(
            master_stage.arn, id="evt-join", detail={**published("x")["detail"], "event_name": "Participant Joined"}
        ),
    ]
    for body in ignorable:
        response = post(body, HTTP_X_IVS_EVENTS_SECRET=SECRET)
        assert response.status_code == 200, (body, response.content)
        assert response.json()["data"]["outcome"] != "applied", body

    assert not is_publisher_live() and post.pushes == []
