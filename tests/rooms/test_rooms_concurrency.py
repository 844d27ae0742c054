"""Rooms across real server processes: 100 rooms, each with 10 viewers joining at once, through two
independent web processes. No stage is ever over-filled and no viewer is ever seated in another
room, although every room's viewers carry the same ten user ids."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from itertools import cycle

import pytest
import requests

from ivsproject.redis import get_redis
from stages import presence
from tests.processes import manage, process_env, scratch_database, wsgi_servers

pytestmark = pytest.mark.slow
HEADERS = {"x-api-key": "test-key"}
ROOMS = 100
VIEWERS = 10  # per room, the same ten user ids in every room
SEATS = 4  # STAGE_MAX_PARTICIPANTS: two stages a room seat 8 of the 10
ROOM_IDS = [f"room-{n:03d}" for n in range(ROOMS)]
USERS = [f"viewer-{n}" for n in range(VIEWERS)]


def call_all(urls, calls, *, workers):
    """(method, path, body) calls spread over the processes, `workers` in flight at a time.

    One connection per request: a kept-alive connection the server closes when idle races the next
    request sent on it, and a POST is not sent again."""
    session = requests.Session()
    session.mount("http://", requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=workers))
    headers = {**HEADERS, "Connection": "close"}

    def one(pair):
        url, (method, path, body) = pair
        return session.request(method, url + path, json=body, headers=headers, timeout=60)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, zip(cycle(urls), calls)))


def joins(urls):
    """Each room's ten viewers at once (consecutive, so they are in flight together and alternate
    between the processes), several rooms at a time: (room, user) → response."""
    pairs = [(room_id, user) for room_id in ROOM_IDS for user in USERS]
    bodies = [("POST", "/api/token/viewer", {"userId": user, "roomId": room_id}) for room_id, user in pairs]
    return dict(zip(pairs, call_all(urls, bodies, workers=64), strict=True))


def test_100_rooms_of_10_concurrent_joins_never_overfill_a_stage_nor_cross_rooms(tmp_path):
    started = time.monotonic()
    settings = {
        "STAGE_MAX_PARTICIPANTS": str(SEATS),
        "MAX_STAGES": "2",
        "MAX_ROOMS": str(ROOMS + 1),  # `default` counts
        "ACCOUNT_MAX_STAGES": str(2 * ROOMS + 1),
        "IVS_EMULATOR_MAX_STAGES": str(2 * ROOMS + 10),
        "IVS_STAGE_CALLS_PER_SECOND": "10000",
        "SCALE_UP_THRESHOLD": str(SEATS - 1),
        "SCALE_DOWN_THRESHOLD": "1",
    }
    with scratch_database(tmp_path) as database_url:
        env = process_env(database_url, **settings)
        manage(env, "migrate", "--noinput")
        manage(env, "ensure_master_stage")
        with wsgi_servers(2, env) as urls:
            # Rooms created concurrently through both processes, up to MAX_ROOMS and no further.
            created = call_all(urls, [("POST", "/api/rooms", {"roomId": r}) for r in ROOM_IDS], workers=16)
            assert {r.status_code for r in created} == {201}, [r.json() for r in created if r.status_code != 201][:3]
            refused = requests.post(
                urls[1] + "/api/rooms", json={"roomId": "one-too-many"}, headers=HEADERS, timeout=10
            )
            assert refused.json()["error"]["code"] == "ROOM_LIMIT_REACHED"
            extra = call_all(
                urls, [("POST", "/api/stage", {"name": f"{r}-b", "roomId": r}) for r in ROOM_IDS], workers=16
            )
            assert {r.status_code for r in extra} == {201}, [r.json() for r in extra if r.status_code != 201][:3]
            stages_of = {
                room_id: {
                    s["stageArn"]
                    for s in requests.get(
                        urls[0] + "/api/stage/list", params={"roomId": room_id}, headers=HEADERS, timeout=10
                    ).json()["data"]["stages"]
                }
                for room_id in ROOM_IDS
            }
            assert {len(arns) for arns in stages_of.values()} == {2}
            room_of = {arn: room_id for room_id, arns in stages_of.items() for arn in arns}

            first = joins(urls)
            second = joins(urls)  # everyone asks again: a refresh keeps the seat, in the same room

            granted: dict[str, set[str]] = defaultdict(set)  # stage → users
            for (room_id, user), response in first.items():
                if response.status_code == 200:
                    arn = response.json()["data"]["stageArn"]
                    assert room_of[arn] == room_id, (room_id, user, arn)
                    granted[arn].add(user)
                else:
                    assert response.json()["error"]["code"] == "STAGE_FULL", response.json()
            for (room_id, user), response in second.items():
                before = first[(room_id, user)]
                if before.status_code == 200:
                    assert response.status_code == 200
                    assert response.json()["data"]["stageArn"] == before.json()["data"]["stageArn"]
                else:
                    assert response.json()["error"]["code"] == "STAGE_FULL"
            per_room = Counter(room_id for (room_id, _), r in first.items() if r.status_code == 200)
            assert per_room == dict.fromkeys(ROOM_IDS, 2 * SEATS)  # every seat taken, none twice
            assert {len(users) for users in granted.values()} == {SEATS}

            # What every process reads agrees: presence per stage, each room's seats, the sessions.
            by_id = presence.counts(arn.rsplit("/", 1)[1] for arn in room_of)
            assert set(by_id.values()) == {SEATS}
            redis = get_redis()
            for room_id in ROOM_IDS:
                seats = redis.hgetall(presence.seats_key(room_id))
                assert len(seats) == 2 * SEATS
                for user, value in seats.items():
                    arn = next(a for a in stages_of[room_id] if a.endswith("/" + value.split("|", 1)[0]))
                    assert user in granted[arn]
            overview = requests.get(urls[1] + "/api/stats/rooms", headers=HEADERS, timeout=10).json()["data"]
            assert overview["totalViewers"] == ROOMS * 2 * SEATS
            listed = call_all(urls, [("GET", f"/api/viewer/list/{arn}?limit=100", None) for arn in room_of], workers=16)
            for arn, response in zip(room_of, listed, strict=True):
                assert {v["userId"] for v in response.json()["data"]["viewers"]} == granted[arn]
    assert time.monotonic() - started < 120  # bounded: it runs in `make test` on two cores
