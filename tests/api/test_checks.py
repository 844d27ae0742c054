"""Startup system checks refuse unsafe or nonsensical configuration with a clear message."""

import os
import subprocess
import sys

import pytest
from django.conf import settings as django_settings
from django.core.checks import run_checks
from django.core.management.base import SystemCheckError

from ivsproject.api.checks import run_startup_checks


def error_ids(**kwargs):
    return {m.id for m in run_checks(**kwargs) if m.is_serious()}


def messages_of(check_id):
    return [m for m in run_checks() if m.id == check_id]


@pytest.fixture
def production(settings):
    """A valid production configuration; each test breaks one thing."""
    settings.ENVIRONMENT = "production"
    settings.IS_PRODUCTION = True
    settings.SKIP_AUTH = False
    settings.DEBUG = False
    settings.SECRET_KEY = "a-real-production-secret-key-of-sufficient-length-0123456789"
    settings.API_SECRET_KEYS = ["production-key"]
    return settings


def test_the_default_development_configuration_passes():
    assert not {i for i in error_ids() if i.startswith("ivs.")}


def test_a_valid_production_configuration_passes(production):
    assert not {i for i in error_ids() if i.startswith("ivs.")}


def test_production_with_skip_auth_is_refused(production):
    production.SKIP_AUTH = True

    [message] = messages_of("ivs.E004")
    assert message.is_serious()
    assert "SKIP_AUTH" in message.msg and "production" in message.msg


def test_skip_auth_in_development_is_allowed(settings):
    settings.SKIP_AUTH = True

    assert "ivs.E004" not in error_ids()


def test_production_without_api_key_is_refused(production):
    production.API_SECRET_KEYS = []

    [message] = messages_of("ivs.E005")
    assert "API_SECRET_KEY" in message.msg


@pytest.mark.parametrize("secret", ["", django_settings.DEV_SECRET_KEY])
def test_production_without_django_secret_key_is_refused(production, secret):
    production.SECRET_KEY = secret

    [message] = messages_of("ivs.E006")
    assert "DJANGO_SECRET_KEY" in message.msg


def test_production_with_debug_is_refused(production):
    production.DEBUG = True

    assert "ivs.E007" in error_ids()


@pytest.mark.parametrize(
    "name", ["RATE_LIMIT_PER_MINUTE", "STAGE_MAX_PARTICIPANTS", "MAX_STAGES", "TRUSTED_PROXY_COUNT"]
)
def test_negative_limits_are_refused(settings, name):
    setattr(settings, name, -1)

    messages = messages_of("ivs.E002")
    assert any(m.msg.startswith(f"{name}=-1") for m in messages), [m.msg for m in messages]


def test_non_numeric_limits_are_refused(settings):
    settings.INVALID_SETTINGS = {"MAX_STAGES": "twenty"}

    [message] = messages_of("ivs.E001")
    assert "MAX_STAGES" in message.msg and "twenty" in message.msg


def test_scale_up_threshold_at_or_above_the_stage_cap_is_refused(settings):
    settings.STAGE_MAX_PARTICIPANTS = 50
    settings.SCALE_UP_THRESHOLD = 50

    [message] = messages_of("ivs.E008")
    assert "SCALE_UP_THRESHOLD" in message.msg and "STAGE_MAX_PARTICIPANTS" in message.msg


def test_scale_down_threshold_at_or_above_scale_up_is_refused(settings):
    settings.SCALE_DOWN_THRESHOLD = settings.SCALE_UP_THRESHOLD

    assert "ivs.E009" in error_ids()


def test_unknown_environment_is_refused(settings):
    settings.ENVIRONMENT = "staging"

    assert "ivs.E003" in error_ids()


def test_unknown_ivs_backend_and_signing_mode_are_refused(settings):
    settings.IVS_BACKEND = "moto"
    settings.IVS_TOKEN_SIGNING = "magic"

    assert {"ivs.E010", "ivs.E011"} <= error_ids()


def test_self_signed_tokens_against_aws_need_a_key_pair(settings):
    settings.IVS_BACKEND = "aws"
    settings.IVS_TOKEN_SIGNING = "self"
    settings.IVS_PUBLIC_KEY_ARN = ""

    assert "ivs.E012" in error_ids()


def test_server_startup_raises_on_configuration_errors(production):
    production.SKIP_AUTH = True

    with pytest.raises(SystemCheckError, match="SKIP_AUTH"):
        run_startup_checks()


def run_in_production(*args, **overrides):
    env = {
        **os.environ,
        "ENVIRONMENT": "production",
        "SKIP_AUTH": "true",
        "DJANGO_SECRET_KEY": "x" * 60,
        "API_SECRET_KEY": "y",
        "DEBUG": "false",
        **overrides,
    }
    env = {name: value for name, value in env.items() if value is not None}
    return subprocess.run(
        [sys.executable, *args],
        cwd=django_settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_manage_py_refuses_production_with_skip_auth():
    result = run_in_production("manage.py", "check", "--deploy")

    assert result.returncode != 0
    assert "ivs.E004" in result.stderr
    assert "SKIP_AUTH=true is refused in production" in result.stderr


@pytest.mark.parametrize("module", ["ivsproject.wsgi", "ivsproject.asgi"])
def test_servers_refuse_to_start_in_production_with_skip_auth(module):
    result = run_in_production("-c", f"import {module}")

    assert result.returncode != 0
    assert "SKIP_AUTH=true is refused in production" in result.stderr


def test_production_without_secrets_gets_the_clear_message_not_a_traceback():
    result = run_in_production("manage.py", "check", SKIP_AUTH=None, DJANGO_SECRET_KEY=None, API_SECRET_KEY=None)

    assert result.returncode != 0
    assert "ivs.E005" in result.stderr and "ivs.E006" in result.stderr
    assert "Traceback" not in result.stderr


def test_non_numeric_limit_in_the_environment_gets_the_clear_message():
    result = run_in_production("manage.py", "check", ENVIRONMENT="development", SKIP_AUTH=None, MAX_STAGES="twenty")

    assert result.returncode != 0
    assert "MAX_STAGES='twenty' is not a whole number" in result.stderr


def test_middleware_the_fast_path_does_not_know_is_reported(settings):
    settings.API_FAST_PATH = True
    assert messages_of("ivs.W002") == []
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "corsheaders.middleware.CorsMiddleware"]

    [message] = messages_of("ivs.W002")
    assert not message.is_serious()
    assert "corsheaders.middleware.CorsMiddleware" in message.msg

    settings.API_FAST_PATH = False
    assert messages_of("ivs.W002") == []


def test_production_with_an_empty_websocket_origin_list_is_warned_about(production):
    production.WS_ALLOWED_ORIGINS = []

    [message] = messages_of("ivs.W003")
    assert not message.is_serious()
    assert "WS_ALLOWED_ORIGINS" in message.msg
    production.WS_ALLOWED_ORIGINS = ["https://ops.example.com"]
    assert messages_of("ivs.W003") == []
    production.WS_ALLOWED_ORIGINS = []
    production.IS_PRODUCTION = False
    production.ENVIRONMENT = "development"
    assert messages_of("ivs.W003") == []


def test_a_client_key_that_is_also_a_full_key_is_warned_about(settings):
    settings.API_SECRET_KEYS = ["full-key", "shared-key"]
    settings.API_CLIENT_KEYS = ["client-key"]
    assert messages_of("ivs.W004") == []
    settings.API_CLIENT_KEYS = ["client-key", "shared-key"]

    [message] = messages_of("ivs.W004")
    assert not message.is_serious()
    assert "shared-key" not in message.msg  # a secret is never printed
