"""Rate limit and stage capacity exactly at and one past their limits, on the paths that count in
Django (settle) and inside the Redis scripts (heartbeat, viewer token)."""

import pytest

from ivsproject.api import throttling

pytestmark = pytest.mark.django_db

LIMIT = 3


@pytest.fixture
def limited(api, settings, monkeypatch):
    monkeypatch.setattr(throttling, "clock", lambda: 1_800_000_000.0)  # one fixed 60 s window
    settings.RATE_LIMIT_PER_MINUTE = LIMIT
    return api


def codes(responses):
    return [r.status_code for r in responses]


def test_the_limit_th_request_passes_and_the_next_is_429(limited):
    responses = [limited.get("/api/stats/viewers") for _ in range(LIMIT + 1)]
    assert codes(responses) == [200] * LIMIT + [429]
    assert responses[-1].json()["error"]["code"] == "RATE_LIMIT_EXCEEDED"


def test_heartbeats_count_to_the_limit_inclusive(limited, master_stage, settings):
    settings.RATE_LIMIT_PER_MINUTE = 0
    arn = limited.post("/api/token/viewer", {"userId": "u"}).json()["data"]["stageArn"]
    settings.RATE_LIMIT_PER_MINUTE = LIMIT
    responses = [limited.post("/api/viewer/heartbeat", {"userId": "u", "stageArn": arn}) for _ in range(LIMIT + 1)]
    assert codes(responses) == [200] * LIMIT + [429]


def test_viewer_tokens_count_to_the_limit_inclusive(limited, master_stage):
    responses = [limited.post("/api/token/viewer", {"userId": f"u{n}"}) for n in range(LIMIT + 1)]
    assert codes(responses) == [200] * LIMIT + [429]


def test_a_stage_takes_exactly_its_capacity(api, master_stage, settings, monkeypatch):
    monkeypatch.setattr("autoscaling.tasks.request_autoscale", lambda: None)
    settings.STAGE_MAX_PARTICIPANTS = 2
    first, second, third = (api.post("/api/token/viewer", {"userId": u}) for u in ("a", "b", "c"))
    assert [first.status_code, second.status_code] == [200, 200]
    assert [first.json()["data"]["currentViewers"], second.json()["data"]["currentViewers"]] == [1, 2]
    assert third.status_code == 503 and third.json()["error"]["code"] == "STAGE_FULL"
    assert api.get("/api/stats/viewers").json()["data"]["totalViewers"] == 2
