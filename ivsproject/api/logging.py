"""Request id propagation into log records, and redaction of secrets before anything is written."""

import logging
import re
from contextvars import ContextVar

from django.conf import settings

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


def redact(text: str) -> str:
    text = _JWT_RE.sub("[token redacted]", text)
    for secret in _secrets():
        if secret in text:
            text = text.replace(secret, "[secret redacted]")
    return text


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
