"""Every time in the token, heartbeat, viewer list, stats and stage list answers is UTC with `Z`
and within a couple of seconds of the real clock: a local time labelled `Z` (hours off), a
shifted clock or a wrong unit fails here."""

import re
import time
from datetime import datetime
from urllib.parse import quote

import pytest

pytestmark = pytest.mark.django_db

ISO_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
TOLERANCE = 2.0
TIME_FIELDS = {"timestamp", "joinedAt", "lastHeartbeat", "createdAt", "updatedAt", "expiresAt"}


def epoch(text):
    assert ISO_Z.match(text), text
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def times_in(node, path="$"):
    """(path, value) of every time field in a JSON document."""
    if isinstance(node, dict):
        for name, value in node.items():
            if name in TIME_FIELDS and value is not None:
                yield f"{path}.{name}", value
            else:
                yield from times_in(value, f"{path}.{name}")
    elif isinstance(node, list):
        for n, value in enumerate(node):
            yield from times_in(value, f"{path}[{n}]")


def assert_times_now(response, *, expected_fields, started):
    body = response.json()
    assert response.status_code == 200, body
    found = dict(times_in(body))
    names = {path.rsplit(".", 1)[-1] for path in found}
    assert expected_fields <= names, (expected_fields, found)
    ended = time.time()
    data = body["data"]
    for path, text in found.items():
        at = epoch(text)
        if path.endswith(".expiresAt"):
            at -= data["expiresIn"]  # the token's lifetime starts now
        assert started - TOLERANCE <= at <= ended + TOLERANCE, (path, text, started, ended)


@pytest.fixture
def seated(api, master_stage):
    started = time.time()
    response = api.post("/api/token/viewer", {"userId": "viewer-1"})
    assert_times_now(response, expected_fields={"timestamp", "expiresAt"}, started=started)
    return response.json()["data"]["stageArn"]


def test_viewer_token(seated):
    assert seated


def test_publisher_token(api, master_stage):
    started = time.time()
    response = api.post("/api/token/publisher", {"userId": "host"})
    assert_times_now(response, expected_fields={"timestamp", "expiresAt"}, started=started)


def test_heartbeat(api, seated):
    started = time.time()
    response = api.post("/api/viewer/heartbeat", {"userId": "viewer-1", "stageArn": seated})
    assert_times_now(response, expected_fields={"timestamp"}, started=started)


def test_viewer_list(api, seated):
    started = time.time() - 1  # joinedAt was written by the token request just before
    api.post("/api/viewer/heartbeat", {"userId": "viewer-1", "stageArn": seated})
    response = api.get(f"/api/viewer/list/{quote(seated, safe='')}")
    assert_times_now(response, expected_fields={"timestamp", "joinedAt", "lastHeartbeat"}, started=started)


@pytest.mark.parametrize("path", ["/api/stats", "/api/stats/viewers", "/api/stats/publisher", "/api/stats/rooms"])
def test_stats(api, seated, path):
    started = time.time() - 5  # the master stage's createdAt is the fixture's
    response = api.get(path)
    expected = {"timestamp", "createdAt"} if path == "/api/stats" else {"timestamp"}
    assert_times_now(response, expected_fields=expected, started=started)


@pytest.mark.parametrize("path", ["/api/stage/list", "/api/stage/master/info"])
def test_stage_list(api, seated, path):
    started = time.time() - 5
    response = api.get(path)
    expected = {"timestamp", "createdAt"} if path == "/api/stage/list" else {"timestamp"}
    assert_times_now(response, expected_fields=expected, started=started)


def test_error_envelope_timestamp(api, master_stage):
    started = time.time()
    response = api.client.get("/api/stats", HTTP_X_API_KEY="wrong")
    assert response.status_code == 401
    at = epoch(response.json()["timestamp"])
    assert started - TOLERANCE <= at <= time.time() + TOLERANCE
