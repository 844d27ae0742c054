"""Startup checks: refuse to run with configuration that would be unsafe or nonsensical.

They run for every manage.py command (so `migrate`, `runserver`, daphne via `check`) and, for the
servers, from `ivsproject/asgi.py` / `wsgi.py` through `run_startup_checks()`.
"""

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured

DEPLOY_SETTINGS_HINT = "Set it in the environment; see the configuration table in README.md."


def _secret_key() -> str:
    # Django raises ImproperlyConfigured on reading an empty SECRET_KEY; we want our clear message.
    try:
        return str(settings.SECRET_KEY)
    except ImproperlyConfigured:
        return ""


@register(Tags.security, deploy=False)
def check_configuration(app_configs=None, **kwargs):  # type: ignore[no-untyped-def]
    errors: list = []
    for name, raw in settings.INVALID_SETTINGS.items():
        errors.append(Error(f"{name}={raw!r} is not a whole number.", hint=DEPLOY_SETTINGS_HINT, id="ivs.E001"))
    for name, minimum in settings.NUMERIC_SETTINGS_MIN.items():
        value = getattr(settings, name)
        if value < minimum:
            errors.append(
                Error(f"{name}={value} must be at least {minimum}.", hint=DEPLOY_SETTINGS_HINT, id="ivs.E002")
            )
    if settings.ENVIRONMENT not in ("development", "production"):
        errors.append(
            Error(
                f"ENVIRONMENT={settings.ENVIRONMENT!r} must be 'development' or 'production'.",
                id="ivs.E003",
            )
        )
    if settings.IS_PRODUCTION:
        if settings.SKIP_AUTH:
            errors.append(
                Error(
                    "SKIP_AUTH=true is refused in production: every API request would be unauthenticated.",
                    hint="Unset SKIP_AUTH (it is for development only).",
                    id="ivs.E004",
                )
            )
        if not settings.API_SECRET_KEYS:
            errors.append(Error("API_SECRET_KEY is required in production.", hint=DEPLOY_SETTINGS_HINT, id="ivs.E005"))
        if not _secret_key() or _secret_key() == settings.DEV_SECRET_KEY:
            errors.append(
                Error("DJANGO_SECRET_KEY is required in production.", hint=DEPLOY_SETTINGS_HINT, id="ivs.E006")
            )
        if settings.DEBUG:
            errors.append(Error("DEBUG=true is refused in production.", id="ivs.E007"))
        if not settings.WS_ALLOWED_ORIGINS:
            # Not an error: the service's own pages (the admin's dashboard) still connect, and a
            # deployment without dashboards elsewhere needs no list.
            errors.append(
                Warning(
                    "WS_ALLOWED_ORIGINS is empty in production: /ws refuses browser pages of every other "
                    "origin than the service's own host.",
                    hint="List the dashboards' origins (e.g. https://ops.example.com), comma-separated, "
                    "or '*' to allow any site.",
                    id="ivs.W003",
                )
            )
    shared = set(settings.API_SECRET_KEYS) & set(settings.API_CLIENT_KEYS)
    if shared:
        errors.append(
            Warning(
                f"{len(shared)} key(s) in API_CLIENT_KEYS are also in API_SECRET_KEY: they keep full access, "
                "though client keys are embedded in apps.",
                hint="Give client apps keys of their own.",
                id="ivs.W004",
            )
        )
    if settings.SCALE_UP_THRESHOLD >= settings.STAGE_MAX_PARTICIPANTS:
        errors.append(
            Error(
                f"SCALE_UP_THRESHOLD ({settings.SCALE_UP_THRESHOLD}) must be below "
                f"STAGE_MAX_PARTICIPANTS ({settings.STAGE_MAX_PARTICIPANTS}), or no stage is ever added in time.",
                id="ivs.E008",
            )
        )
    if settings.SCALE_DOWN_THRESHOLD >= settings.SCALE_UP_THRESHOLD:
        errors.append(
            Error(
                f"SCALE_DOWN_THRESHOLD ({settings.SCALE_DOWN_THRESHOLD}) must be below "
                f"SCALE_UP_THRESHOLD ({settings.SCALE_UP_THRESHOLD}), or stages flap.",
                id="ivs.E009",
            )
        )
    if settings.IVS_BACKEND not in ("emulator", "aws"):
        errors.append(Error(f"IVS_BACKEND={settings.IVS_BACKEND!r} must be 'emulator' or 'aws'.", id="ivs.E010"))
    if settings.IVS_TOKEN_SIGNING not in ("self", "api"):
        errors.append(
            Error(f"IVS_TOKEN_SIGNING={settings.IVS_TOKEN_SIGNING!r} must be 'self' or 'api'.", id="ivs.E011")
        )
    needs_key = settings.IVS_BACKEND == "aws" and settings.IVS_TOKEN_SIGNING == "self"
    if needs_key and not (settings.IVS_PUBLIC_KEY_ARN and settings.IVS_PRIVATE_KEY):
        errors.append(
            Error(
                "IVS_TOKEN_SIGNING=self with IVS_BACKEND=aws needs IVS_PUBLIC_KEY_ARN and IVS_PRIVATE_KEY.",
                hint="Run `manage.py ivs_keys create` and copy the printed lines, or set IVS_TOKEN_SIGNING=api.",
                id="ivs.E012",
            )
        )
    if (
        settings.HEARTBEAT_TIMEOUT_SECONDS <= 0
        or settings.CLEANUP_INTERVAL_SECONDS > settings.HEARTBEAT_TIMEOUT_SECONDS
    ):
        errors.append(
            Warning(
                "CLEANUP_INTERVAL_SECONDS is longer than HEARTBEAT_TIMEOUT_SECONDS: silent viewers linger.",
                id="ivs.W001",
            )
        )
    if settings.API_FAST_PATH:
        from ivsproject.api.fastpath import unknown_middleware  # not while the apps load

        unknown = unknown_middleware()
        if unknown:
            errors.append(
                Warning(
                    f"API_FAST_PATH is on, but MIDDLEWARE has {', '.join(unknown)}, whose headers the fast path "
                    "cannot know: Django answers the fast routes.",
                    hint="Add it to ivsproject.api.fastpath.KNOWN_MIDDLEWARE with what it reads, or turn "
                    "API_FAST_PATH off.",
                    id="ivs.W002",
                )
            )
    return errors


def run_startup_checks() -> None:
    """Run the system checks and stop the process on errors (for servers that skip `check`)."""
    from django.core import checks
    from django.core.management.base import SystemCheckError

    failures = [m for m in checks.run_checks(tags=[Tags.security]) if m.is_serious()]
    if failures:
        lines = "\n".join(f"  {m.id}: {m.msg}" + (f" ({m.hint})" if m.hint else "") for m in failures)
        raise SystemCheckError(f"Refusing to start, configuration errors:\n{lines}")
