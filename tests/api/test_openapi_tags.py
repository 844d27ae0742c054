"""The OpenAPI document groups its operations by what they work on (tokens, stages, viewers, stats,
rooms, reports, ...), by one rule on the URL, instead of one "api" heap."""

import pytest

pytestmark = pytest.mark.django_db

EXPECTED = {
    ("post", "/api/token/publisher"): "tokens",
    ("post", "/api/token/viewer"): "tokens",
    ("post", "/api/token/mediaserver"): "tokens",
    ("get", "/api/stage/list"): "stages",
    ("get", "/api/stage/master/info"): "stages",
    ("post", "/api/stage"): "stages",
    ("delete", "/api/stage/{stage_arn}"): "stages",
    ("post", "/api/viewer/heartbeat"): "viewers",
    ("post", "/api/viewer/leave"): "viewers",
    ("get", "/api/viewer/list/{stage_arn}"): "viewers",
    ("get", "/api/viewer/duration"): "viewers",
    ("get", "/api/stats"): "stats",
    ("get", "/api/stats/viewers"): "stats",
    ("get", "/api/stats/publisher"): "stats",
    ("get", "/api/stats/rooms"): "stats",
    # served by the stages app, grouped as rooms
    ("get", "/api/rooms"): "rooms",
    ("post", "/api/rooms"): "rooms",
    ("get", "/api/rooms/{room_id}"): "rooms",
    ("delete", "/api/rooms/{room_id}"): "rooms",
    ("post", "/api/events/ivs"): "events",
    ("get", "/health"): "health",
}


@pytest.fixture
def schema(client):
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200, response.content
    return response.json()


def operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                yield path, method, operation


def test_each_operation_is_in_its_group(schema):
    tags = {(method, path): operation.get("tags") for path, method, operation in operations(schema)}

    for (method, path), tag in EXPECTED.items():
        assert tags[(method, path)] == [tag], (method, path)


def test_no_operation_is_left_in_a_generic_heap_and_every_group_is_declared(schema):
    declared = [tag["name"] for tag in schema["tags"]]
    used = {tag for _path, _method, operation in operations(schema) for tag in operation["tags"]}

    assert "api" not in used
    assert used <= set(declared), used - set(declared)
    assert declared[:5] == ["tokens", "stages", "viewers", "stats", "rooms"]


def test_the_probes_outside_api_are_one_health_group(schema):
    probes = {p: item for p, item in schema["paths"].items() if not p.startswith("/api/")}

    assert "/health" in probes
    assert {tag for item in probes.values() for op in item.values() for tag in op["tags"]} == {"health"}


def test_reports_are_their_own_group_when_the_reports_app_serves_them(schema):
    reports = [(m, p) for p, m, _op in operations(schema) if p.startswith("/api/reports/")]
    if not reports:
        pytest.skip("no reports endpoints in this tree")
    tags = {(m, p): op["tags"] for p, m, op in operations(schema)}

    assert all(tags[key] == ["reports"] for key in reports)
