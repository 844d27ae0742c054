"""Sentry (optional, SENTRY_DSN): events leave the process with the logs' redaction. A custom
transport keeps the envelopes in memory, so nothing goes to the network."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

import pytest
import sentry_sdk
from sentry_sdk.transport import Transport

from ivsproject.api.sentry import init_sentry
from tests.processes import ROOT

pytestmark = pytest.mark.django_db

KEY = "sk-live-7d3b9a1c5e2f4086"
JWT = "eyJhbGciOiJFUzM4NCJ9.eyJzdWIiOiJ2aWV3ZXItMSJ9.c2lnbmF0dXJlLWJ5dGVzLWhlcmU"


class CapturingTransport(Transport):
    envelopes: list = []

    def capture_envelope(self, envelope):
        CapturingTransport.envelopes.append(envelope)


@pytest.fixture
def captured(settings):
    settings.API_SECRET_KEYS = [KEY]
    settings.ALLOWED_HOSTS = ["testserver"]
    CapturingTransport.envelopes = []
    init_sentry("https://public@sentry.example.invalid/1", environment="production", release="test",
                transport=CapturingTransport)  # fmt: skip

    def events():
        sentry_sdk.flush(timeout=5)
        found = []
        for envelope in CapturingTransport.envelopes:
            for item in envelope.items:
                if item.type in ("event", "transaction"):
                    found.append(json.loads(item.get_bytes()))
        return found

    yield events
    sentry_sdk.get_client().close()
    sentry_sdk.get_global_scope().set_client(None)  # the SDK off again for the tests that follow


def test_an_error_log_record_becomes_an_event_without_the_secrets(captured):
    logging.getLogger("ivsproject.test").error("token refused for key %s: %s", KEY, JWT, extra={"api_key": KEY})

    (event,) = captured()
    text = json.dumps(event)
    assert KEY not in text and JWT not in text
    assert "[secret redacted]" in text and "[token redacted]" in text


def test_an_exception_with_secrets_in_locals_and_the_request_is_scrubbed(captured, client):
    # A request whose Host ALLOWED_HOSTS refuses is logged at ERROR with its value and the request.
    response = client.get("/api/stats", HTTP_HOST=f"{KEY}.example.com", HTTP_X_API_KEY=KEY,
                          HTTP_COOKIE=f"sessionid={KEY}")  # fmt: skip
    assert response.status_code == 400

    def fails(api_key: str, participant_token: str) -> None:
        secret_note = f"key={api_key}"  # noqa: F841 - a local variable Sentry reports with the frame
        raise RuntimeError(f"cannot use {participant_token}")

    try:
        fails(KEY, JWT)
    except RuntimeError:
        sentry_sdk.capture_exception()

    events = captured()
    assert len(events) == 2
    text = json.dumps(events)
    assert KEY not in text and JWT not in text
    frames = events[1]["exception"]["values"][0]["stacktrace"]["frames"]
    local_vars = frames[-1]["vars"]
    assert local_vars["api_key"] == "[Filtered]" or "[secret redacted]" in local_vars["api_key"]
    assert "[secret redacted]" in local_vars["secret_note"] or local_vars["secret_note"] == "[Filtered]"


@pytest.mark.parametrize(("dsn", "active"), [("", False), ("https://public@sentry.example.invalid/1", True)])
def test_the_settings_start_sentry_only_with_a_dsn(dsn, active):
    code = "import django; django.setup(); import sentry_sdk; print(sentry_sdk.get_client().is_active())"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update(SENTRY_DSN=dsn, DJANGO_SETTINGS_MODULE="ivsproject.settings")
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60,
                            cwd=ROOT)  # fmt: skip
    assert result.stdout.strip().splitlines()[-1] == str(active), result.stderr
