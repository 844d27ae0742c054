"""Self-signed IVS participant tokens (the fast path; no AWS call, no boto3 import).

IVS accepts a JWT signed with a P-384 key whose public half was imported with ImportPublicKey
(max 3 per region). Signing costs well under a millisecond locally, against an account-wide 50 TPS
quota for CreateParticipantToken, so viewer tokens are minted here (DESIGN.md "Amazon IVS facts").

The signature itself is AWS-LC's (awscrt, the AWS Common Runtime's Python binding); PyJWT builds
the JWS around it. Why (bench/, issue 7): the P-384 ECDSA signature was a quarter of a viewer
token's CPU — ~215-250 µs in the OpenSSL that `cryptography` ships (portable C for P-384), ~85 µs in
AWS-LC (assembly for P-384), measured on the bench machine. Same curve, same JWS: IVS and
`cryptography` verify these tokens unchanged (tests/stages/ivs/test_participant_tokens.py).
"""

from __future__ import annotations

import functools
import hashlib
import json
import secrets
import string
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
from awscrt.crypto import EC as AwsLcKey
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from jwt.algorithms import ECAlgorithm

from ivsproject.api.exceptions import ApiError, TokenGenerationFailed
from ivsproject.redis import key
from stages.ivs._redis import redis_client
from stages.ivs.arns import stage_id_from_arn
from stages.ivs.types import IvsToken

_ALPHANUMERIC = string.ascii_letters + string.digits
DEV_KEY_NAME = "ivs-dev-self-signing"
# Lives in the emulator's namespace so `emulator.reset()` (and a Redis flush) drop it together
# with the imported public key it belongs to; the next token then provisions a fresh pair.
_DEV_KEY = ("ivsemu", "devkey")
_DEV_KEY_WAIT_SECONDS = 10.0


def new_participant_id() -> str:
    """12 alphanumerics, the shape of the participant ids IVS itself issues, uniformly random.

    Why (bench/, issue 7): `secrets.choice` per character was 12 reads of the OS's random source,
    ~35 µs of a viewer token; one read of random bytes, keeping those below the largest multiple
    of 62 (no modulo bias), is ~3 µs."""
    chars: list[str] = []
    while len(chars) < 12:
        chars += [_ALPHANUMERIC[b % 62] for b in secrets.token_bytes(24) if b < 248][: 12 - len(chars)]
    return "".join(chars)


def generate_key_pair() -> tuple[str, str]:
    """A fresh ECDSA P-384 pair as (private PEM, public PEM) — the only curve IVS accepts."""
    private = ec.generate_private_key(ec.SECP384R1())
    private_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private_pem, public_pem


@functools.lru_cache(maxsize=8)
def _load_private_key(pem: str) -> ec.EllipticCurvePrivateKey:
    # Parsing a PEM costs about as much as signing; cache the key object per process.
    loaded = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(loaded, ec.EllipticCurvePrivateKey) or loaded.curve.name != "secp384r1":
        raise ValueError("the private key must be an ECDSA P-384 key")
    return loaded


@functools.lru_cache(maxsize=8)
def _signing_key_of(pem: str) -> AwsLcKey:
    """The same private key, loaded into AWS-LC for signing (checked as `_load_private_key` checks)."""
    der = _load_private_key(pem).private_bytes(
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


def signing_key() -> tuple[str, str]:
    """(private PEM, public-key ARN) for self-signing.

    Configured keys win. Without them, only the emulator backend may invent a development key:
    against real AWS that would silently import keys into the account (max 3 per region).
    """
    configured_pem, configured_arn = settings.IVS_PRIVATE_KEY, settings.IVS_PUBLIC_KEY_ARN
    if configured_pem or configured_arn:
        if not (configured_pem and configured_arn):
            raise TokenGenerationFailed(
                details={"reason": "IVS_PRIVATE_KEY and IVS_PUBLIC_KEY_ARN must be set together"}
            )
        return _configured_key(configured_pem, configured_arn)
    if settings.IVS_BACKEND != "emulator":
        raise TokenGenerationFailed(
            details={"reason": "self-signing needs IVS_PRIVATE_KEY and IVS_PUBLIC_KEY_ARN (manage.py ivs_keys create)"}
        )
    return _development_key()


@functools.lru_cache(maxsize=4)
def _configured_key(pem_or_path: str, arn: str) -> tuple[str, str]:
    text = pem_or_path.strip()
    if "-----BEGIN" not in text:
        try:
            text = Path(text).expanduser().read_text()
        except OSError as exc:
            details = {"reason": "IVS_PRIVATE_KEY file unreadable", "error": str(exc)}
            raise TokenGenerationFailed(details=details) from exc
    # Env files often carry a PEM on one line with literal "\n".
    text = text.replace("\\n", "\n")
    try:
        _load_private_key(text)
    except (ValueError, TypeError) as exc:
        raise TokenGenerationFailed(details={"reason": "IVS_PRIVATE_KEY is not a P-384 private key"}) from exc
    return text, arn


def _development_key() -> tuple[str, str]:
    """The shared development key: one per emulator state, provisioned by whichever process asks first.

    One Redis read per call (not a pure in-process cache) because the emulator state can be wiped
    underneath us (`ivs_emulator reset`, a flushed test Redis); the parsed key itself is cached.
    """
    redis = redis_client()
    record_key = key(*_DEV_KEY)
    record = redis.hgetall(record_key)
    if record:
        return record["private_pem"], record["arn"]
    lock_key = key(*_DEV_KEY, "lock")
    owner = secrets.token_hex(8)
    # The lock keeps concurrent first calls (web + worker) from importing several keys: IVS allows 3.
    if redis.set(lock_key, owner, nx=True, ex=int(_DEV_KEY_WAIT_SECONDS)):
        try:
            return _provision_development_key(record_key)
        finally:
            if redis.get(lock_key) == owner:
                redis.delete(lock_key)
    deadline = time.monotonic() + _DEV_KEY_WAIT_SECONDS
    while time.monotonic() < deadline:
        time.sleep(0.05)
        record = redis.hgetall(record_key)
        if record:
            return record["private_pem"], record["arn"]
    raise TokenGenerationFailed(details={"reason": "timed out waiting for the development signing key"})


def _provision_development_key(record_key: str) -> tuple[str, str]:
    from stages.ivs import client  # lazy: keeps boto3 out of this module's import

    private_pem, public_pem = generate_key_pair()
    try:
        arn = client.import_public_key(
            name=DEV_KEY_NAME, public_key_pem=public_pem, tags={"ManagedBy": "api-server", "Purpose": "development"}
        )
    except ApiError as exc:
        raise TokenGenerationFailed(details={"reason": "could not import the development key", **exc.details}) from exc
    redis_client().hset(record_key, mapping={"private_pem": private_pem, "arn": arn})
    return private_pem, arn
