"""Atomicity across real server processes."""

import contextlib
from concurrent.futures import ThreadPoolExecutor
from itertools import cycle

import pytest
import requests

from stages import presence
from tests.processes import manage, process_env, scratch_database, wsgi_servers

pytestmark = pytest.mark.slow
HEADERS = {"x-api-key": "test-key"}


def _post_all(urls, path, bodies):
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=64)
    session.mount("http://", adapter)

    def call(pair):
        url, body = pair
        # A connection each (as the rooms' race test does): a kept-alive connection that the server
        # closes just as a request is sent fails that request, a race of the client's, not the app's.
        return session.post(url + path, json=body, headers={**HEADERS, "Connection": "close"}, timeout=60)

    with ThreadPoolExecutor(max_workers=64) as pool:
        return list(pool.map(call, zip(cycle(urls), bodies)))


@contextlib.contextmanager
def two_servers(tmp_path, **settings):
    """Two granian processes on one scratch database with a master stage, sharing the test Redis."""
    with scratch_database(tmp_path) as database_url:
        env = process_env(database_url, **settings)
        manage(env, "migrate", "--noinput")
        manage(env, "ensure_master_stage")
        with wsgi_servers(2, env) as urls:
            yield urls


def test_200_concurrent_viewer_tokens_from_two_processes_fill_exactly_one_stage(tmp_path):
    with two_servers(tmp_path, STAGE_MAX_PARTICIPANTS="50", MAX_STAGES="1") as urls:
        responses = _post_all(urls, "/api/token/viewer", [{"userId": f"viewer-{n}"} for n in range(200)])
        codes = [r.status_code for r in responses]
        assert codes.count(200) == 50, codes
        full = [r.json() for r in responses if r.status_code == 503]
        assert len(full) == 150
        assert {b["error"]["code"] for b in full} == {"STAGE_FULL"}
        assert {b["error"]["message"] for b in full} == {"Stage 已滿，請稍後再試"}
        stage = requests.get(urls[0] + "/api/stage/list", headers=HEADERS, timeout=10).json()["data"]["stages"][0]
        assert stage["viewerCount"] == 50
        listed = requests.get(
            urls[1] + f"/api/viewer/list/{stage['stageArn']}", headers=HEADERS, params={"limit": 1000}, timeout=10
        ).json()["data"]
        granted = {r.json()["data"]["userId"] for r in responses if r.status_code == 200}
        assert {v["userId"] for v in listed["viewers"]} == granted
        assert presence.counts([stage["stageArn"].rsplit("/", 1)[1]]) == {stage["stageArn"].rsplit("/", 1)[1]: 50}


def test_30_concurrent_stage_creates_from_two_processes_stop_at_max_stages(tmp_path):
    with two_servers(tmp_path, MAX_STAGES="20", IVS_STAGE_CALLS_PER_SECOND="200") as urls:
        responses = _post_all(urls, "/api/stage", [{"name": f"c-{n}"} for n in range(30)])
        codes = [r.status_code for r in responses]
        assert codes.count(201) == 19, codes
        assert codes.count(503) == 11
        assert {r.json()["error"]["code"] for r in responses if r.status_code == 503} == {"STAGE_LIMIT_REACHED"}
        listing = requests.get(urls[0] + "/api/stage/list", headers=HEADERS, timeout=10).json()["data"]
        assert listing["totalStages"] == 20
