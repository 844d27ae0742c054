"""Request id propagation into log records, redaction of secrets before anything is written, and
the same formatter for the processes whose own lines Django's logging set-up never sees."""

import json
import logging
import re
from contextvars import ContextVar
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string
from pythonjsonlogger.json import JsonFormatter

request_id_var: ContextVar[str] = ContextVar("request_id", default="-")


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


# A JWT (participant tokens are ES384 JWTs): three base64url parts, the first two JSON objects.
_JWT_RE = re.compile(r"eyJ[A-Za-z0-9_-]{6,}\.eyJ[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{6,}")
_MIN_SECRET_LENGTH = 6  # shorter "secrets" would mask ordinary words in every line


def _secrets() -> list[str]:
    try:
        values = [*settings.API_SECRET_KEYS, settings.INTERNAL_SECRET, settings.IVS_EVENTS_SECRET]
    except Exception:  # settings not configured (a record logged before Django is set up)
        return []
    return sorted({v for v in values if v and len(v) >= _MIN_SECRET_LENGTH}, key=len, reverse=True)


def redact(text: str, *, json_text: bool = False) -> str:
    """`text` without participant tokens and configured secrets; `json_text`: also as a JSON
    string would escape them."""
    text = _JWT_RE.sub("[token redacted]", text)
    for secret in _secrets():
        forms = {secret, json.dumps(secret)[1:-1]} if json_text else {secret}
        for form in forms:
            if form in text:
                text = text.replace(form, "[secret redacted]")
    return text


class RedactingJsonFormatter(JsonFormatter):
    """One JSON object per line, redacted as a whole once serialized: the message (which
    RedactSecretsFilter already cleaned) and every other field too — the traceback this formatter
    renders from `exc_info` itself, and extras such as Django's `request` (its path)."""

    def serialize_log_record(self, log_data: dict) -> str:  # type: ignore[override]
        return redact(super().serialize_log_record(log_data), json_text=True)


class RedactSecretsFilter(logging.Filter):
    """Masks participant tokens and configured secrets in a record before a handler writes it.

    Defence in depth (hardening): our code never logs them, but a library at DEBUG does — botocore
    logs whole response bodies, CreateParticipantToken's included — and an operator debugging AWS
    may well turn botocore up. Rewrites the message and the formatted traceback in place.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to the formatter to report
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def configured_formatter() -> logging.Formatter:
    """The formatter of LOGGING's console handler (JSON in production, text in development).

    For loggers configured outside Django: granian's main process and its workers' `_granian`
    logger (ivsproject/granian-log.json, given to granian with --log-config), so every line a
    production process writes is one JSON object, with the same fields and the same redaction.
    """
    config: dict[str, Any] = settings.LOGGING
    spec = dict(config["formatters"][config["handlers"]["console"]["formatter"]])
    factory = spec.pop("()", None)
    if factory is None:
        return logging.Formatter(spec.get("format"), spec.get("datefmt"))
    formatter: logging.Formatter = import_string(factory)(**spec)
    return formatter
