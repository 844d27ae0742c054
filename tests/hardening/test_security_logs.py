"""Keys, secrets and participant tokens never reach the logs, at any level, in either log format.

A realistic mix of traffic — good and bad keys, wrong internal/events secrets, tokens minted both
ways (self-signed and CreateParticipantToken through the emulator), heartbeats, refusals, an AWS
failure and an unexpected 500 — runs with logging at DEBUG, and every captured record is searched
for the secrets and for every token the API handed out:
- as LOG_LEVEL=DEBUG configures it (root at DEBUG, botocore kept at WARNING): the raw records;
- with *every* logger forced to DEBUG (botocore then logs whole response bodies, tokens included):
  the records as the configured console handler writes them (its redaction filter, each formatter).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from logging.config import DictConfigurator
from pathlib import Path

import pytest
from django.conf import settings as django_settings

pytestmark = pytest.mark.django_db

API_KEY = "live-key-5f2c9e1d7a"
OTHER_KEY = "rotated-key-0b8e4a"
INTERNAL_SECRET = "internal-4d1f0c99"
EVENTS_SECRET = "events-77aa0b1c"


def run_traffic(client, settings, master_stage, monkeypatch) -> tuple[list[str], dict[str, str]]:
    """The scenario; returns (tokens handed out, secrets by name)."""
    from stages import selectors
    from stages.ivs import emulator

    settings.API_SECRET_KEYS = [API_KEY, OTHER_KEY]
    settings.INTERNAL_SECRET = INTERNAL_SECRET
    settings.IVS_EVENTS_SECRET = EVENTS_SECRET
    settings.RATE_LIMIT_PER_MINUTE = 1000
    auth = {"HTTP_X_API_KEY": API_KEY}
    tokens: list[str] = []

    def post(path, body, **extra):
        response = client.post(path, json.dumps(body), content_type="application/json", **{**auth, **extra})
        data = response.json().get("data") or {}
        if "token" in data:
            tokens.append(data["token"])
        return response

    arn = master_stage.arn
    post("/api/token/publisher", {"userId": "host"})
    post("/api/token/viewer", {"userId": "viewer-1"})
    post("/api/token/mediaserver", {"serverId": "relay", "stageArn": arn}, HTTP_X_INTERNAL_SECRET=INTERNAL_SECRET)
    settings.IVS_TOKEN_SIGNING = "api"  # CreateParticipantToken through boto3 + the emulator
    post("/api/token/viewer", {"userId": "viewer-2"})
    post("/api/token/publisher", {"userId": "host"})
    emulator.inject_fault("CreateParticipantToken", "AccessDeniedException")
    post("/api/token/viewer", {"userId": "viewer-3"})
    settings.IVS_TOKEN_SIGNING = "self"
    post("/api/viewer/heartbeat", {"userId": "viewer-1", "stageArn": arn})
    post("/api/viewer/leave", {"userId": "viewer-1", "stageArn": arn})
    client.get("/api/stats", HTTP_X_API_KEY=OTHER_KEY)
    # Refusals: a key prefix, the internal secret sent as the key, wrong internal/events secrets.
    client.get("/api/stats", HTTP_X_API_KEY=API_KEY[:-1])
    client.get("/api/stats", HTTP_X_API_KEY=INTERNAL_SECRET)
    post("/api/token/mediaserver", {"serverId": "relay", "stageArn": arn}, HTTP_X_INTERNAL_SECRET=EVENTS_SECRET)
    post("/api/events/ivs", {"id": "x"}, HTTP_X_IVS_EVENTS_SECRET=INTERNAL_SECRET)
    # A token sent back where an id belongs, and an unexpected crash mid-request.
    post("/api/viewer/heartbeat", {"userId": tokens[0][:128], "stageArn": arn})
    monkeypatch.setattr(selectors, "master_stage_or_404", lambda: (_ for _ in ()).throw(RuntimeError("boom")))
    post("/api/token/publisher", {"userId": "host"})

    assert len(tokens) >= 5, "the scenario minted too few tokens to mean anything"
    secrets = {"API key": API_KEY, "rotated key": OTHER_KEY, "internal secret": INTERNAL_SECRET,
               "events secret": EVENTS_SECRET, "Django secret": str(settings.SECRET_KEY)}  # fmt: skip
    return tokens, secrets


def leaks(text: str, tokens: list[str], secrets: dict[str, str]) -> list[str]:
    found = [name for name, secret in secrets.items() if secret in text]
    for token in tokens:
        _header, payload, signature = token.split(".")  # either part is enough to read or replay it
        if payload in text or signature in text:
            found.append(f"token {token[:16]}…")
    return found


def raw_text(records) -> str:
    def traceback(record) -> str:
        return logging.Formatter().formatException(record.exc_info) if record.exc_info else ""

    return "\n".join(f"{r.getMessage()}\n{r.args!r}\n{r.exc_text or ''}\n{traceback(r)}" for r in records)


def test_no_secret_or_token_in_logs_at_log_level_debug(client, settings, master_stage, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)  # root at DEBUG; loggers the settings pin (botocore) stay pinned

    tokens, secrets = run_traffic(client, settings, master_stage, monkeypatch)

    assert any(r.levelno >= logging.ERROR for r in caplog.records), "the crash was not logged: the scan proves nothing"
    assert leaks(raw_text(caplog.records), tokens, secrets) == []


@pytest.fixture
def every_logger_at_debug(caplog):
    caplog.set_level(logging.DEBUG)
    loggers = [logging.getLogger(name) for name in list(logging.root.manager.loggerDict)]
    saved = [(lg, lg.level) for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
    yield caplog
    for lg, level in saved:
        lg.setLevel(level)


def as_written(records) -> str:
    """Each record through the console handler's configured filters, then through each formatter."""
    config = django_settings.LOGGING
    configurator = DictConfigurator(config)
    filters = [
        configurator.configure_filter(dict(config["filters"][n])) for n in config["handlers"]["console"]["filters"]
    ]
    formatters = [configurator.configure_formatter(dict(spec)) for spec in config["formatters"].values()]
    out = []
    for record in records:
        for f in filters:
            f.filter(record)
        out += [formatter.format(record) for formatter in formatters]
    return "\n".join(out)


def test_no_secret_or_token_is_written_even_with_every_library_at_debug(
    client, settings, master_stage, monkeypatch, every_logger_at_debug
):
    tokens, secrets = run_traffic(client, settings, master_stage, monkeypatch)
    records = every_logger_at_debug.records

    # botocore now logs CreateParticipantToken's response bodies, tokens included. The console
    # handler's filter rewrites each record in place before any handler writes it, so even the
    # records captured here come out redacted…
    botocore_bodies = [
        r.getMessage() for r in records if r.name.startswith("botocore") and "Response body" in r.getMessage()
    ]
    assert any("[token redacted]" in body for body in botocore_bodies), "botocore logged no token: proves nothing"
    assert leaks(raw_text(records), tokens, secrets) == []
    # …and so is everything as written, in both formats.
    assert leaks(as_written(records), tokens, secrets) == []


@pytest.mark.slow
def test_log_level_debug_keeps_aws_libraries_quiet(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "DJANGO_SETTINGS"))}
    env.update(LOG_LEVEL="DEBUG", DJANGO_SETTINGS_MODULE="ivsproject.settings", DATABASE_URL=f"sqlite:///{tmp_path}/x")
    code = "import django, logging; django.setup(); print(logging.getLogger('botocore').getEffectiveLevel())"

    result = subprocess.run([sys.executable, "-c", code], env=env, cwd=Path(__file__).resolve().parents[2],
                            capture_output=True, text=True, timeout=60)  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert int(result.stdout.strip().splitlines()[-1]) == logging.WARNING


def test_redaction_masks_tokens_and_configured_secrets(settings):
    from ivsproject.api.logging import redact

    settings.API_SECRET_KEYS = ["abcdef-key", "k"]
    jwt = "eyJhbGciOiJFUzM4NCJ9.eyJqdGkiOiJhYmMifQ.c2lnbmF0dXJlLWJ5dGVz"

    assert redact(f"key=abcdef-key token={jwt} k") == "key=[secret redacted] token=[token redacted] k"
