"""Schema-driven fuzzing (schemathesis) of every operation in `/api/schema/`, against the production
web server: granian from the Procfile serving `ivsproject.wsgi:application`, the fast path on.

What is asserted for every generated request, valid and invalid alike:
- the status code is one the operation documents, with the documented content type;
- the body conforms to the documented schema — success *and* error envelopes;
- invalid input (schemathesis' negative mode) is refused with a 4xx;
- no 5xx, except the two 503s the contract defines as normal answers (STAGE_FULL when every seat
  is taken, STAGE_LIMIT_REACHED when MAX_STAGES stages exist — the fuzzer creates stages until it
  reaches the cap). SERVICE_UNAVAILABLE, INTERNAL_ERROR and TOKEN_GENERATION_FAILED are failures:
  every dependency is healthy here.

Bounded and reproducible: 25 examples per operation and phase, derandomized (a fixed seed derived
from each test), no example database, rate limit off. The schema is read from the application in
process (so the operations are known when the tests are collected); every request goes over HTTP
to one granian process with its own scratch database and Redis, whose state builds up over the
whole run. In valid requests about half of the stage ARNs are swapped for stages that exist, so
requests reach the services instead of stopping at "404 stage not found".
"""

from __future__ import annotations

import itertools
import json

import pytest
import requests
import schemathesis
from django.core.wsgi import get_wsgi_application
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

API_KEY = "fuzz-key"
INTERNAL_SECRET = "fuzz-internal-secret"
EVENTS_SECRET = "fuzz-events-secret"
EXPECTED_503_CODES = {"STAGE_FULL", "STAGE_LIMIT_REACHED"}

CONFIG = SchemathesisConfig.from_dict(
    {
        "generation": {"max-examples": 25, "deterministic": True, "database": "none"},
        # The key goes where the schema's security scheme says; negative cases may drop it (→ 401).
        "auth": {"openapi": {"ApiKeyAuth": {"api_key": API_KEY}}},
    }
)
# The document only: the requests go to the server below, not to this process's application.
_document = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application(), config=CONFIG).raw_schema
schema = schemathesis.openapi.from_dict(_document, config=CONFIG)

CHECKS = [status_code_conformance, content_type_conformance, response_schema_conformance, negative_data_rejection]

_swap = itertools.count()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from ivsproject.devtools.embedded_redis import embedded_redis
    from tests.hardening.drills import granian, scratch
    from tests.processes import free_port

    tmp = tmp_path_factory.mktemp("fuzz")
    # Small caps, so the fuzzer also meets the two documented 503s (STAGE_LIMIT_REACHED, STAGE_FULL).
    env = {
        "API_SECRET_KEY": API_KEY,
        "INTERNAL_SECRET": INTERNAL_SECRET,
        "IVS_EVENTS_SECRET": EVENTS_SECRET,
        "MAX_STAGES": "5",
        "STAGE_MAX_PARTICIPANTS": "3",
        "SCALE_UP_THRESHOLD": "2",
        "SCALE_DOWN_THRESHOLD": "1",
    }
    # Its own Redis: the suite's is flushed between tests, and this server's state spans the run.
    with (
        embedded_redis(free_port()) as redis_server,
        scratch(tmp, REDIS_URL=redis_server.url, **env) as box,
        granian(box.env, tmp) as web,
    ):
        yield web.url


@pytest.fixture(scope="module")
def real_stage_arns(server):
    key = {"x-api-key": API_KEY}
    master = requests.get(server + "/api/stage/master/info", headers=key, timeout=10).json()["data"]["stage"]["arn"]
    extra = requests.post(server + "/api/stage", json={"name": "fuzz-extra"}, headers=key, timeout=10)
    assert extra.status_code == 201, extra.text
    return [master, extra.json()["data"]["stage"]["arn"]]


def _is_positive(case) -> bool:
    return case.meta is None or case.meta.generation.mode.value == "positive"


def _use_real_stages(case, arns: list[str]) -> None:
    """Swap every other generated stage ARN (body, query, path) for a stage that exists."""
    if not _is_positive(case):
        return
    containers = [c for c in (case.body, case.query, case.path_parameters) if isinstance(c, dict)]
    for container in containers:
        for name in ("stageArn", "stage_arn"):
            if name in container and next(_swap) % 2 == 0:
                container[name] = arns[next(_swap) % len(arns)]


def _assert_no_unexpected_server_error(case, response) -> None:
    if response.status_code < 500:
        return
    try:
        code = json.loads(response.content)["error"]["code"]
    except (ValueError, KeyError, TypeError):
        code = None
    assert response.status_code == 503 and code in EXPECTED_503_CODES, (
        f"{case.operation.label}: unexpected {response.status_code} {response.content[:500]!r}\n"
        f"reproduce: {case.as_curl_command()}"
    )


def fast_path_served(server: str) -> float:
    """What /metrics says the fast path answered itself, over every route."""
    text = requests.get(server + "/metrics", timeout=10).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("ivs_fast_path_requests_total{") and 'outcome="served"' in line
    )


@pytest.mark.slow
def test_the_fuzzed_server_answers_hot_routes_from_its_fast_path(server):
    """The server under fuzz is production's, fast path and all: its hot routes are answered by the
    fast path itself, not only by Django (collected before the fuzzing, which fills the stages)."""
    key = {"x-api-key": API_KEY}
    before = fast_path_served(server)
    token = requests.post(server + "/api/token/viewer", json={"userId": "fast"}, headers=key, timeout=10)
    assert token.status_code == 200, token.text
    beat = {"userId": "fast", "stageArn": token.json()["data"]["stageArn"]}
    for _ in range(3):  # the first answers teach the fast path the route's response
        answer = requests.post(server + "/api/viewer/heartbeat", json=beat, headers=key, timeout=10)
        assert answer.status_code == 200, answer.text
    assert fast_path_served(server) > before


@schema.parametrize()
@pytest.mark.slow
def test_every_operation_answers_its_documented_envelopes(case, server, real_stage_arns):
    _use_real_stages(case, real_stage_arns)
    headers = {}
    if _is_positive(case):
        headers = {"x-internal-secret": INTERNAL_SECRET, "x-ivs-events-secret": EVENTS_SECRET}
    response = case.call(base_url=server, headers=headers, timeout=30)
    _assert_no_unexpected_server_error(case, response)
    case.validate_response(response, checks=CHECKS, headers=headers)
