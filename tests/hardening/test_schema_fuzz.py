"""Schema-driven fuzzing (schemathesis) of every operation in `/api/schema/`, in process (WSGI).

What is asserted for every generated request, valid and invalid alike:
- the status code is one the operation documents, with the documented content type;
- the body conforms to the documented schema — success *and* error envelopes;
- invalid input (schemathesis' negative mode) is refused with a 4xx;
- no 5xx, except the two 503s the contract defines as normal answers (STAGE_FULL when every seat
  is taken, STAGE_LIMIT_REACHED when MAX_STAGES stages exist — the fuzzer creates stages until it
  reaches the cap). SERVICE_UNAVAILABLE, INTERNAL_ERROR and TOKEN_GENERATION_FAILED are failures:
  every dependency is healthy here.

Bounded and reproducible: 25 examples per operation and phase, derandomized (a fixed seed derived
from each test), no example database, rate limit off; the whole run takes ~10 s. In valid requests
about half of the stage ARNs are swapped for stages that exist, so requests reach the services
instead of stopping at "404 stage not found".
"""

from __future__ import annotations

import itertools
import json

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
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
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application(), config=CONFIG)

CHECKS = [status_code_conformance, content_type_conformance, response_schema_conformance, negative_data_rejection]

_swap = itertools.count()


@pytest.fixture(autouse=True)
def _fuzz_settings(settings):
    settings.API_SECRET_KEYS = [API_KEY]
    settings.RATE_LIMIT_PER_MINUTE = 0
    settings.INTERNAL_SECRET = INTERNAL_SECRET
    settings.IVS_EVENTS_SECRET = EVENTS_SECRET
    # Small caps, so the fuzzer also meets the two documented 503s (STAGE_LIMIT_REACHED, STAGE_FULL).
    settings.MAX_STAGES = 5
    settings.STAGE_MAX_PARTICIPANTS = 3
    settings.SCALE_UP_THRESHOLD = 2


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    """What Django's test client does: the real WSGI handler closes "old" connections when a request
    starts and ends, which on PostgreSQL closes the test transaction's connection under the test."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def real_stage_arns(master_stage):
    from stages.services import stage_create

    extra = stage_create(name="fuzz-extra")
    return [master_stage.arn, extra.arn]


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


@schema.parametrize()
# The stages fixture is shared by an operation's examples on purpose: state builds up between them.
@hypothesis_settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@pytest.mark.django_db
def test_every_operation_answers_its_documented_envelopes(case, real_stage_arns):
    _use_real_stages(case, real_stage_arns)
    headers = {}
    if _is_positive(case):
        headers = {"x-internal-secret": INTERNAL_SECRET, "x-ivs-events-secret": EVENTS_SECRET}
    response = case.call(headers=headers)
    _assert_no_unexpected_server_error(case, response)
    case.validate_response(response, checks=CHECKS, headers=headers)
