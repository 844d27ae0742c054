"""OpenAPI helpers: every documented response is wrapped in the spec's envelope, and every operation
is grouped by what it works on.

drf-spectacular has no notion of a response envelope, so `envelope_responses()` builds (and
caches) one wrapper serializer per payload and adds the error envelope for each error status.
`GroupedAutoSchema` (the project's DEFAULT_SCHEMA_CLASS) tags each operation by its URL, so a new
endpoint lands in its group without a decorator of its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

ERROR_CODES = [
    "VALIDATION_ERROR",
    "UNAUTHORIZED",
    "FORBIDDEN",
    "NOT_FOUND",
    "METHOD_NOT_ALLOWED",
    "RATE_LIMIT_EXCEEDED",
    "STAGE_FULL",
    "STAGE_LIMIT_REACHED",
    "ROOM_LIMIT_REACHED",
    "CONFLICT",
    "TOKEN_GENERATION_FAILED",
    "INTERNAL_ERROR",
    "SERVICE_UNAVAILABLE",
]


class ErrorBodySerializer(serializers.Serializer):
    code = serializers.ChoiceField(choices=ERROR_CODES)
    message = serializers.CharField()
    details = serializers.DictField(required=False, help_text="development only, except missingFields/viewerCount")


class ErrorEnvelopeSerializer(serializers.Serializer):
    success = serializers.BooleanField(help_text="always false")
    error = ErrorBodySerializer()
    timestamp = serializers.CharField(help_text="ISO 8601 UTC with milliseconds, e.g. 2025-10-21T10:30:00.000Z")


@cache
def envelope_of(inner: type[serializers.Serializer]) -> type[serializers.Serializer]:
    name = inner.__name__.removesuffix("Serializer") + "Envelope"
    fields = {
        "success": serializers.BooleanField(help_text="always true"),
        "data": inner(),
        "timestamp": serializers.CharField(help_text="ISO 8601 UTC with milliseconds"),
        "message": serializers.CharField(required=False),
        "Meta": type("Meta", (), {"ref_name": name}),
    }
    return type(name, (serializers.Serializer,), fields)


_ERROR_TEXT = {
    400: "VALIDATION_ERROR",
    401: "UNAUTHORIZED (missing or wrong x-api-key)",
    403: "FORBIDDEN (a client key on a route that needs the full key, or as the endpoint says)",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    429: "RATE_LIMIT_EXCEEDED",
    500: "INTERNAL_ERROR / TOKEN_GENERATION_FAILED",
    503: "STAGE_FULL / STAGE_LIMIT_REACHED / ROOM_LIMIT_REACHED / SERVICE_UNAVAILABLE",
}


def envelope_responses(
    inner: type[serializers.Serializer],
    *,
    status: int = 200,
    errors: Iterable[int] = (),
    auth: bool = True,
) -> dict[int, OpenApiResponse]:
    responses = {status: OpenApiResponse(envelope_of(inner))}
    # Errors every endpoint can answer: bad input, auth, rate limit, internal and dependency failures.
    common = {400, 405, 500, 503} | ({401, 429} if auth else set())
    for code in sorted(common | set(errors)):
        responses[code] = OpenApiResponse(ErrorEnvelopeSerializer, description=_ERROR_TEXT.get(code, "error"))
    return responses


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "ivsproject.api.authentication.ApiKeyAuthentication"
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema):  # type: ignore[no-untyped-def]
        return {"type": "apiKey", "in": "header", "name": "x-api-key"}


# An operation's tag is the first path segment after /api/, named as its group (SPECTACULAR_SETTINGS
# TAGS lists the groups): by URL rather than by app, because the rooms endpoints are served by the
# stages app yet are their own group for clients. Paths outside /api/ are the probes (/health,
# /livez, /readyz): one group, "health".
_TAG_OF_SEGMENT = {"token": "tokens", "stage": "stages", "viewer": "viewers"}


class GroupedAutoSchema(AutoSchema):
    def get_tags(self) -> list[str]:
        segments = [part for part in self.path.split("/") if part]
        if segments[:1] != ["api"] or len(segments) < 2:
            return ["health"]
        return [_TAG_OF_SEGMENT.get(segments[1], segments[1])]
