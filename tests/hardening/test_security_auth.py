"""Authentication hardening: SKIP_AUTH cannot be used in production, every secret is compared in
constant time (against every configured key), and production errors carry no `details` beyond the
two fields the contract shows."""

from __future__ import annotations

import ast
import hmac
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ivsproject.api import authentication
from ivsproject.api.checks import check_configuration
from tests.hardening.helpers import envelope_error

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
APP_DIRS = ["ivsproject", "stages", "viewers", "tokens", "stats"]


# --- SKIP_AUTH ----------------------------------------------------------------------------------
def test_skip_auth_is_ignored_by_authentication_in_production(client, settings, master_stage):
    settings.IS_PRODUCTION = True
    settings.ENVIRONMENT = "production"
    settings.SKIP_AUTH = True

    response = client.get("/api/stage/master/info")

    assert response.status_code == 401
    assert envelope_error(401, response.content)["code"] == "UNAUTHORIZED"


def test_skip_auth_still_works_in_development(client, settings, master_stage):
    settings.SKIP_AUTH = True

    assert client.get("/api/stage/master/info").status_code == 200


def test_skip_auth_in_production_is_a_startup_error(settings):
    settings.IS_PRODUCTION = True
    settings.ENVIRONMENT = "production"
    settings.SKIP_AUTH = True
    settings.SECRET_KEY = "a-real-production-secret-key-of-some-length"
    settings.API_SECRET_KEYS = ["k"]

    assert "ivs.E004" in {e.id for e in check_configuration()}


@pytest.mark.slow
@pytest.mark.parametrize("entry", ["ivsproject.wsgi", "ivsproject.asgi"])
def test_a_server_process_refuses_to_start_with_skip_auth_in_production(entry, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "DJANGO_SETTINGS"))}
    env.update(
        ENVIRONMENT="production",
        SKIP_AUTH="true",
        DJANGO_SECRET_KEY="x" * 50,
        API_SECRET_KEY="prod-key",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
    )

    result = subprocess.run(
        [sys.executable, "-c", f"import {entry}"], env=env, cwd=ROOT, capture_output=True, timeout=60
    )

    assert result.returncode != 0
    assert b"ivs.E004" in result.stderr and b"SKIP_AUTH" in result.stderr


# --- constant-time comparisons -------------------------------------------------------------------
@pytest.fixture
def counted_compare(monkeypatch):
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def counting(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(authentication.hmac, "compare_digest", counting)
    return calls


@pytest.mark.parametrize("given", ["key-one", "key-three", "wrong", "key-one,key-two", "k" * 5000])
def test_an_api_key_is_compared_in_constant_time_against_every_configured_key(
    client, settings, master_stage, counted_compare, given
):
    settings.API_SECRET_KEYS = ["key-one", "key-two", "key-three"]
    settings.RATE_LIMIT_PER_MINUTE = 0

    response = client.get("/api/stage/master/info", HTTP_X_API_KEY=given)

    assert response.status_code == (200 if given in ("key-one", "key-three") else 401)
    # Every slot compared, whichever matched (or none): timing reveals neither key nor slot.
    assert [b for _a, b in counted_compare] == [b"key-one", b"key-two", b"key-three"]


def test_the_internal_secret_is_compared_in_constant_time(api, settings, master_stage, counted_compare):
    settings.INTERNAL_SECRET = "internal-s3cret"
    body = {"serverId": "relay-1", "stageArn": master_stage.arn}

    wrong = api.post("/api/token/mediaserver", body, HTTP_X_INTERNAL_SECRET="internal-s3cres")
    right = api.post("/api/token/mediaserver", body, HTTP_X_INTERNAL_SECRET="internal-s3cret")

    assert (wrong.status_code, right.status_code) == (403, 200)
    secrets_compared = [b for _a, b in counted_compare if b == b"internal-s3cret"]
    assert len(secrets_compared) == 2


def test_the_ivs_events_secret_is_compared_in_constant_time(api, settings, counted_compare):
    settings.IVS_EVENTS_SECRET = "events-s3cret"

    response = api.post("/api/events/ivs", {}, HTTP_X_IVS_EVENTS_SECRET="events-wrong")

    assert response.status_code == 403
    assert (b"events-wrong", b"events-s3cret") in counted_compare


SECRET_NAMES = {"API_SECRET_KEYS", "INTERNAL_SECRET", "IVS_EVENTS_SECRET", "SECRET_KEY", "IVS_PRIVATE_KEY"}
SECRET_HEADERS = {"HTTP_X_API_KEY", "HTTP_X_INTERNAL_SECRET", "HTTP_X_IVS_EVENTS_SECRET"}


def _mentions_secret(node: ast.AST) -> bool:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Attribute) and sub.attr in SECRET_NAMES:
            return True
        if isinstance(sub, ast.Constant) and sub.value in SECRET_HEADERS:
            return True
    return False


def test_no_code_compares_a_secret_with_a_plain_operator():
    """`==`, `!=` and `in` stop at the first differing byte; secrets go through hmac.compare_digest
    (`match_secret`). A static guard over every app module, so a new endpoint cannot slip."""
    offenders = []
    for directory in APP_DIRS:
        for path in (ROOT / directory).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            tree = ast.parse(path.read_text(), str(path))
            for node in ast.walk(tree):
                if not isinstance(node, ast.Compare):
                    continue
                if not any(isinstance(op, ast.Eq | ast.NotEq | ast.In | ast.NotIn) for op in node.ops):
                    continue
                operands = [node.left, *node.comparators]
                # Comparing a secret with a fixed dev default (e.g. "is the key still the dev one?")
                # is a configuration check, not a check of what a caller sent.
                if any(_mentions_secret(o) for o in operands) and not any(
                    isinstance(o, ast.Attribute) and o.attr.startswith("DEV_") for o in operands
                ):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")
    assert not offenders, offenders


# --- error.details in production ----------------------------------------------------------------
@pytest.fixture
def production(settings):
    settings.IS_PRODUCTION = True
    settings.ENVIRONMENT = "production"
    return settings


def details_of(response) -> dict | None:
    return envelope_error(response.status_code, response.content).get("details")


def test_production_errors_have_no_details_beyond_the_contract(api, production, master_stage, monkeypatch):
    unknown = "arn:aws:ivs:ap-northeast-1:123456789012:stage/AAAAAAAAAAAA"
    cases = {
        "bad arn": api.delete("/api/stage/not-an-arn"),
        "unknown stage": api.delete(f"/api/stage/{unknown}"),
        "bad field": api.post("/api/token/viewer", {"userId": 5}),
        "bad json": api.client.post("/api/token/viewer", "{", content_type="application/json", **api.headers),
        "bad token": api.get("/api/stage/list", {"nextToken": "forged"}),
        "never watched": api.get("/api/viewer/duration", {"userId": "nobody", "stageArn": master_stage.arn}),
        "unknown route": api.get("/api/nothing/here"),
        "wrong method": api.client.put("/api/token/viewer", **api.headers),
    }
    for name, response in cases.items():
        assert 400 <= response.status_code < 500, (name, response.content)
        assert details_of(response) is None, (name, response.content)


def test_production_500_and_503_have_no_details(api, production, master_stage, monkeypatch):
    import redis

    from stages import selectors

    monkeypatch.setattr(selectors, "master_stage_or_404", lambda: 1 / 0)
    crashed = api.post("/api/token/publisher", {"userId": "host"})
    monkeypatch.undo()
    down = lambda: (_ for _ in ()).throw(redis.ConnectionError("down"))  # noqa: E731
    monkeypatch.setattr("stages.presence.get_redis", down)
    monkeypatch.setattr("ivsproject.redis.get_redis", down)  # the seat script's runner
    unavailable = api.post("/api/token/viewer", {"userId": "v"})

    assert crashed.status_code == 500 and details_of(crashed) is None
    assert unavailable.status_code == 503 and details_of(unavailable) is None


def test_production_keeps_the_details_the_contract_shows(api, production, master_stage, settings):
    from stages.services import stage_create

    missing = api.post("/api/token/viewer", {})
    settings.STAGE_MAX_PARTICIPANTS = 5
    stage = stage_create(name="busy")
    api.post("/api/token/viewer", {"userId": "w", "stageArn": stage.arn})
    busy = api.delete(f"/api/stage/{stage.arn}")

    assert details_of(missing) == {"missingFields": ["userId"]}
    assert details_of(busy) == {"viewerCount": 1}
