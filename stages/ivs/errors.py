"""The one translation from botocore/AWS failures to our ApiError hierarchy.

Nothing botocore-shaped leaves `stages.ivs`: every wrapper funnels its exception through
`to_api_error`. The IVS error codes are those of the IVS real-time API reference.

| AWS / botocore                                    | CreateParticipantToken | every other call          |
|---------------------------------------------------|------------------------|---------------------------|
| ResourceNotFoundException                         | NotFound               | NotFound                  |
| ServiceQuotaExceededException                     | TokenGenerationFailed  | StageLimitReached (Create-|
|                                                   |                        | Stage), else IvsQuota-    |
|                                                   |                        | Exceeded (503)            |
| ValidationException, botocore ParamValidation     | TokenGenerationFailed  | ValidationFailed          |
| ConflictException                                 | TokenGenerationFailed  | ValidationFailed (1)      |
| AccessDenied, PendingVerification, credentials    | TokenGenerationFailed  | InternalError             |
| Throttling after botocore's retries, AWS 5xx,     | ServiceUnavailable (2) | ServiceUnavailable        |
| connect/read timeouts, Redis errors (emulator)    |                        |                           |
| anything else                                     | TokenGenerationFailed  | InternalError             |

(1) A conflict is a state the caller can fix (e.g. deleting a stage that is still replicating),
    so it is a 400 with the AWS message in `details`, not a 500.
(2) Transient failures stay SERVICE_UNAVAILABLE even for tokens: the client should retry, not
    conclude that credentials or the stage ARN are wrong (what TOKEN_GENERATION_FAILED says).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import redis
from django.conf import settings

from ivsproject.api.exceptions import (
    ApiError,
    InternalError,
    NotFound,
    ServiceUnavailable,
    StageLimitReached,
    TokenGenerationFailed,
    ValidationFailed,
)

if TYPE_CHECKING:
    from botocore.exceptions import ClientError

logger = logging.getLogger(__name__)

TOKEN_OPERATION = "CreateParticipantToken"
THROTTLING_CODES = frozenset(
    {"ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded", "SlowDown"}
)
CREDENTIAL_CODES = frozenset(
    {
        "AccessDeniedException",
        "PendingVerification",
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "ExpiredTokenException",
        "IncompleteSignature",
        "MissingAuthenticationToken",
        "InvalidClientTokenId",
    }
)


class IvsQuotaExceeded(ServiceUnavailable):
    """An IVS quota other than the stage count (3 public keys, 5 replications per participant)."""


def mapped_errors() -> tuple[type[Exception], ...]:
    """What a wrapper catches and hands to `to_api_error`: every botocore failure, and Redis's
    (the call budget; the emulator's state)."""
    # botocore loads with the first AWS call, not with this module (see the package docstring).
    from botocore.exceptions import BotoCoreError, ClientError

    return (BotoCoreError, ClientError, redis.RedisError)


def to_api_error(exc: BaseException, *, operation: str) -> ApiError:
    from botocore import exceptions as boto_exc  # loaded by the call that failed

    token_path = operation == TOKEN_OPERATION
    if isinstance(exc, boto_exc.ClientError):
        return _from_client_error(exc, operation=operation, token_path=token_path)
    details: dict[str, object] = {"operation": operation, "error": f"{type(exc).__name__}: {exc}"}
    if isinstance(exc, redis.RedisError):
        return ServiceUnavailable(details={**details, "reason": "redis"})
    if isinstance(exc, (boto_exc.ConnectionError, boto_exc.HTTPClientError)):
        logger.warning("IVS %s unreachable: %s", operation, exc)
        return ServiceUnavailable(details={**details, "reason": "aws unreachable"})
    if isinstance(exc, boto_exc.ParamValidationError):
        return TokenGenerationFailed(details=details) if token_path else ValidationFailed(details=details)
    credential_errors = (
        boto_exc.NoCredentialsError,
        boto_exc.PartialCredentialsError,
        boto_exc.CredentialRetrievalError,
        boto_exc.TokenRetrievalError,
        boto_exc.NoAuthTokenError,
        boto_exc.UnknownCredentialError,
    )
    if isinstance(exc, credential_errors):
        logger.error("IVS %s: AWS credentials problem: %s", operation, exc)
        return TokenGenerationFailed(details=details) if token_path else InternalError(details=details)
    logger.error("IVS %s failed unexpectedly", operation, exc_info=exc)
    return TokenGenerationFailed(details=details) if token_path else InternalError(details=details)


def _from_client_error(exc: ClientError, *, operation: str, token_path: bool) -> ApiError:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    message = str(error.get("Message") or exc.response.get("exceptionMessage") or "")
    details: dict[str, object] = {"operation": operation, "awsCode": code, "awsMessage": message}
    if code == "ResourceNotFoundException":
        return NotFound(details=details)
    if code in THROTTLING_CODES or status >= 500:
        logger.warning("IVS %s failed after retries: %s %s", operation, code, message)
        return ServiceUnavailable(details=details, headers={"Retry-After": "1"})
    if token_path:
        logger.warning("IVS token generation failed: %s %s", code, message)
        return TokenGenerationFailed(details=details)
    if code == "ServiceQuotaExceededException":
        if operation == "CreateStage":
            return StageLimitReached(limit=settings.MAX_STAGES, details=details)
        return IvsQuotaExceeded(details=details)
    if code in ("ValidationException", "ConflictException"):
        return ValidationFailed(details=details)
    if code in CREDENTIAL_CODES:
        logger.error("IVS %s refused by AWS: %s %s", operation, code, message)
        return InternalError(details=details)
    logger.error("IVS %s failed: %s (HTTP %s) %s", operation, code, status, message)
    return InternalError(details=details)
