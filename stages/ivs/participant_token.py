"""Self-signed IVS participant tokens: the fast path of viewer tokens (no AWS call, no boto3 import).

IVS accepts a JWT signed with a P-384 key whose public half was imported with ImportPublicKey
(max 3 per region). Signing locally costs well under a millisecond, against an account-wide 50 TPS
quota for CreateParticipantToken, so viewer tokens are minted here.
The JWT itself is `token_signing.mint_token`'s, re-exported here for the token service.
"""

from __future__ import annotations

import functools
import secrets
import string
from pathlib import Path

from django.conf import settings

from ivsproject.api.exceptions import TokenGenerationFailed
from stages.ivs.dev_key import development_key
from stages.ivs.keys import load_private_key
from stages.ivs.token_signing import mint_token

__all__ = ["mint_token", "new_participant_id", "signing_key"]

_ALPHANUMERIC = string.ascii_letters + string.digits


def new_participant_id() -> str:
    """12 alphanumerics, the shape of the participant ids IVS itself issues, uniformly random.

    Why (bench/): `secrets.choice` per character was 12 reads of the OS's random source; one read
    of random bytes, keeping those below the largest multiple of 62 (no modulo bias), costs about a
    tenth of that."""
    chars: list[str] = []
    while len(chars) < 12:
        chars += [_ALPHANUMERIC[b % 62] for b in secrets.token_bytes(24) if b < 248][: 12 - len(chars)]
    return "".join(chars)


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
    return development_key()


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
        load_private_key(text)
    except (ValueError, TypeError) as exc:
        raise TokenGenerationFailed(details={"reason": "IVS_PRIVATE_KEY is not a P-384 private key"}) from exc
    return text, arn
