"""Error reporting to Sentry (optional: only when SENTRY_DSN is set), with the logs' redaction.

Every event and transaction passes through `scrub_event` before it leaves the process: values under
keys that name a credential (the `x-api-key` header, cookies, secrets, tokens, passwords) are
replaced, and every other string is redacted as log lines are (ivsproject.api.logging.redact:
participant tokens and the configured keys and secrets), wherever it sits — message, exception,
breadcrumbs, request data, a stack frame's local variables. The SDK's own default of sending no
personal data (client addresses, cookies, user) is kept.
"""

from __future__ import annotations

import re
from typing import Any

from ivsproject.api.logging import redact

FILTERED = "[Filtered]"
_CREDENTIAL_KEY = re.compile(
    r"api[-_]?key|secret|token|passw|authorization|cookie|session|csrf|private[-_]?key|signature|dsn", re.I
)


def scrub(value: Any, key: str | None = None) -> Any:
    if key is not None and _CREDENTIAL_KEY.search(key) and isinstance(value, str | bytes | int | float):
        return FILTERED
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: scrub(v, k if isinstance(k, str) else None) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(item) for item in value]
    return value


def scrub_event(event: dict[str, Any], hint: dict[str, Any] | None = None) -> dict[str, Any]:
    """Sentry's before_send / before_send_transaction."""
    scrubbed: dict[str, Any] = scrub(event)
    return scrubbed


def init_sentry(dsn: str, *, environment: str, release: str, traces_sample_rate: float = 0.0,
                transport: Any = None) -> None:  # fmt: skip
    """Start the SDK (Django, Celery, Redis and logging integrations are enabled automatically:
    errors and ERROR log records become events). `transport` is for tests (an in-memory one)."""
    import sentry_sdk

    options: dict[str, Any] = {
        "dsn": dsn,
        "environment": environment,
        "release": release,
        "traces_sample_rate": traces_sample_rate,
        "before_send": scrub_event,
        "before_send_transaction": scrub_event,
    }
    if transport is not None:
        options["transport"] = transport
    sentry_sdk.init(**options)
