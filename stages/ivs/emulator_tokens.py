"""Participant tokens inside the emulator: the key IVS would own, and what a joining client checks.

API-mode tokens (CreateParticipantToken) are signed with an emulator-owned P-384 key, shared by
all processes through Redis, with exactly the claim set of self-signed tokens (built by the same
`mint_token`). A joining participant's token is accepted when signed by that key or by any
imported public key named in the `kid` header — the two ways IVS itself accepts tokens.
"""

from __future__ import annotations

import json
from typing import Any

import jwt

from ivsproject.redis import get_redis, key
from stages.ivs import emulator_state as state
from stages.ivs.arns import stage_id_from_arn
from stages.ivs.keys import generate_key_pair
from stages.ivs.token_signing import mint_token
from stages.ivs.types import IvsToken

# Looks like a public-key ARN but is never listed: IVS's own token key is invisible to customers.
EMULATOR_KEY_ID = "EmulatorKey0"


def emulator_key_arn(region: str) -> str:
    return state.public_key_arn(region, EMULATOR_KEY_ID)


def _signer() -> dict[str, str]:
    r = get_redis()
    signer_key = key("ivsemu", "signer")
    raw = r.get(signer_key)
    if raw is None:
        private_pem, public_pem = generate_key_pair()
        # NX: when two processes race, both end up using whichever pair landed first.
        r.set(signer_key, json.dumps({"private": private_pem, "public": public_pem}), nx=True)
        raw = r.get(signer_key)
    return json.loads(str(raw))


def sign(
    region: str,
    *,
    stage_arn: str,
    participant_id: str,
    user_id: str,
    capabilities: list[str],
    ttl_seconds: int,
    attributes: dict[str, str],
    whip_url: str | None,
    events_url: str | None,
) -> IvsToken:
    return mint_token(
        stage_arn=stage_arn,
        participant_id=participant_id,
        user_id=user_id,
        capabilities=capabilities,
        ttl_seconds=ttl_seconds,
        attributes=attributes,
        whip_url=whip_url,
        events_url=events_url,
        private_key_pem=_signer()["private"],
        key_arn=emulator_key_arn(region),
    )


def verify(stage_arn: str, token: str) -> dict[str, Any]:
    """The token's claims if a client could join `stage_arn` with it; EmulatorError otherwise."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise state.EmulatorError(f"not a JWT: {exc}") from exc
    if header.get("alg") != "ES384":
        raise state.EmulatorError(f"token algorithm must be ES384, not {header.get('alg')!r}")
    try:
        region, _stage_id = state.parse_arn(stage_arn, "stage")
    except state.AwsError as exc:
        raise state.EmulatorError(f"not a stage ARN: {stage_arn}") from exc
    kid = str(header.get("kid") or "")
    if kid == emulator_key_arn(region):
        public_pem = _signer()["public"]
    else:
        try:
            if state.parse_arn(kid, "public-key")[0] != region:
                raise state.AwsError("ResourceNotFoundException", "key of another region")
            public_pem = state.get_public_key(kid)["publicKeyMaterial"]
        except state.AwsError as exc:
            raise state.EmulatorError(f"token signed by an unknown key (kid {kid!r})") from exc
    try:
        claims = jwt.decode(
            token,
            public_pem,
            algorithms=["ES384"],
            options={"require": ["exp", "iat", "jti", "resource", "topic", "capabilities"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise state.EmulatorError("token expired") from exc
    except jwt.PyJWTError as exc:
        raise state.EmulatorError(f"invalid token: {exc}") from exc
    if claims["resource"] != stage_arn or claims["topic"] != stage_id_from_arn(stage_arn):
        raise state.EmulatorError(f"token was issued for stage {claims['resource']}, not {stage_arn}")
    return claims
