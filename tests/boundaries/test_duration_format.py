"""Watch time formatting at the minute and hour edges, through GET /api/viewer/duration: the time
is the open session's age on the presence clock, so the clock is moved by exactly the seconds."""

import pytest

from viewers.selectors import format_duration

pytestmark = pytest.mark.django_db

CASES = [
    (0, "0分 0秒"),
    (1, "0分 1秒"),
    (59, "0分 59秒"),
    (60, "1分 0秒"),
    (61, "1分 1秒"),
    (3599, "59分 59秒"),
    (3600, "1小時 0分 0秒"),
    (3601, "1小時 0分 1秒"),
    (3660, "1小時 1分 0秒"),
    (7199, "1小時 59分 59秒"),
    (7200, "2小時 0分 0秒"),
    (36000, "10小時 0分 0秒"),
]


@pytest.mark.parametrize(("seconds", "formatted"), CASES)
def test_duration_through_the_api(api, master_stage, clock, seconds, formatted):
    arn = api.post("/api/token/viewer", {"userId": "watcher"}).json()["data"]["stageArn"]
    clock.advance(seconds)
    response = api.get("/api/viewer/duration", {"userId": "watcher", "stageArn": arn})
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["watchDurationSeconds"] == seconds
    assert data["watchDurationFormatted"] == formatted


@pytest.mark.parametrize(("seconds", "formatted"), CASES)
def test_format_duration(seconds, formatted):
    assert format_duration(seconds) == formatted


def test_the_formatted_duration_is_data_and_stays_zh_hant_in_english(api, master_stage, clock):
    arn = api.post("/api/token/viewer", {"userId": "watcher"}).json()["data"]["stageArn"]
    clock.advance(3600)
    response = api.get("/api/viewer/duration", {"userId": "watcher", "stageArn": arn}, HTTP_ACCEPT_LANGUAGE="en")
    data = response.json()["data"]
    assert (data["watchDurationSeconds"], data["watchDurationFormatted"]) == (3600, "1小時 0分 0秒")
