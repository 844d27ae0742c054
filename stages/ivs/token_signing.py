"""The participant-token JWT: the claims IVS reads, signed ES384 with AWS-LC.

Both token issuers use `mint_token`: self-signing (`participant_token`, the fast path) and the
emulator's CreateParticipantToken, so the two carry exactly the same claim set. It needs a private
key and the ARN IVS knows its public half by, and nothing else: no Redis, no AWS call.

The signature itself is AWS-LC's (awscrt, the AWS Common Runtime's Python binding); PyJWT builds
the JWS around it. Why (bench/): the P-384 ECDSA signature was a quarter of a viewer token's CPU,
and AWS-LC signs P-384 in assembly where the OpenSSL that `cryptography` ships uses portable C
(2.5 to 3 times faster on the bench machine). Same curve, same JWS: IVS and `cryptography` verify
these tokens unchanged (tests/stages/ivs/test_participant_tokens.py).
"""

from __future__ import annotations

import functools
import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import jwt
from awscrt.crypto import EC as AwsLcKey
from cryptography.hazmat.primitives import serialization
from jwt.algorithms import ECAlgorithm

from ivsproject.api.exceptions import TokenGenerationFailed
from stages.ivs.arns import stage_id_from_arn
from stages.ivs.keys import load_private_key
from stages.ivs.types import IvsToken


@functools.lru_cache(maxsize=8)
def _signing_key_of(pem: str) -> AwsLcKey:
    """The private key of a PEM, loaded into AWS-LC (checked to be P-384 by `load_private_key`)."""
    der = load_private_key(pem).private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return AwsLcKey.new_key_from_der_data(der)


class _AwsLcES384(ECAlgorithm):
    """PyJWT's ES384 with the signature computed by AWS-LC (keys from `_signing_key_of`). JWS wants
    the raw r‖s pair, 48 bytes each for P-384; AWS-LC returns DER. Signing only reads the key
    (`aws_ecc_key_pair_sign_message` takes it `const`), so threads share one."""

    def __init__(self) -> None:
        super().__init__(ECAlgorithm.SHA384)

    def prepare_key(self, key: Any) -> Any:
        if not isinstance(key, AwsLcKey):
            raise TypeError("signing takes an AWS-LC key (_signing_key_of)")
        return key

    def sign(self, msg: bytes, key: Any) -> bytes:
        return AwsLcKey.decode_der_signature_to_padded_pair(key.sign(hashlib.sha384(msg).digest()), 48)


_JWS = jwt.PyJWS(algorithms=[])
_JWS.register_algorithm("ES384", _AwsLcES384())


def mint_token(
    *,
    stage_arn: str,
    participant_id: str,
    user_id: str,
    capabilities: list[str],
    ttl_seconds: int,
    attributes: dict[str, str],
    whip_url: str | None,
    events_url: str | None,
    private_key_pem: str,
    key_arn: str,
    now: datetime | None = None,
) -> IvsToken:
    issued = int((now or datetime.now(UTC)).timestamp())
    expires = issued + int(ttl_seconds)
    claims: dict[str, object] = {
        "jti": participant_id,
        "resource": stage_arn,
        "topic": stage_id_from_arn(stage_arn),
        "whip_url": whip_url,
        "events_url": events_url,
        "user_id": user_id,
        "attributes": dict(attributes),
        "capabilities": {
            "allow_publish": "PUBLISH" in capabilities,
            "allow_subscribe": "SUBSCRIBE" in capabilities,
        },
        "version": "1.0",
        "iat": issued,
        "exp": expires,
    }
    # A null URL claim is worse than none: IVS clients read them as strings.
    claims = {name: value for name, value in claims.items() if value is not None}
    try:
        payload = json.dumps(claims, separators=(",", ":")).encode()  # as jwt.encode writes the claims
        token = _JWS.encode(payload, _signing_key_of(private_key_pem), algorithm="ES384", headers={"kid": key_arn})
    except (ValueError, TypeError, jwt.PyJWTError) as exc:
        raise TokenGenerationFailed(details={"reason": "signing failed", "error": str(exc)}) from exc
    return IvsToken(token=token, participant_id=participant_id, expires_at=datetime.fromtimestamp(expires, UTC))
