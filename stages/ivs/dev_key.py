"""The development signing key: what self-signing uses on the emulator backend when no key is configured.

Apart from the production token module on purpose: it is the one piece of token signing that makes
an AWS call (ImportPublicKey, through the client, answered by the emulator), and only the emulator
backend may ever reach it (`participant_token.signing_key` decides).
"""

from __future__ import annotations

import secrets
import time

from ivsproject.api.exceptions import ApiError, TokenGenerationFailed
from ivsproject.redis import get_redis, key, text_map
from stages.ivs import client
from stages.ivs.keys import generate_key_pair

DEV_KEY_NAME = "ivs-dev-self-signing"
# Lives in the emulator's namespace so `emulator.reset()` (and a Redis flush) drop it together
# with the imported public key it belongs to; the next token then provisions a fresh pair.
_DEV_KEY = ("ivsemu", "devkey")
_DEV_KEY_WAIT_SECONDS = 10.0


def development_key() -> tuple[str, str]:
    """(private PEM, public-key ARN) of the shared development key: one per emulator state,
    provisioned by whichever process asks first.

    One Redis read per call (not a pure in-process cache) because the emulator state can be wiped
    underneath us (`ivs_emulator reset`, a flushed test Redis); the parsed key itself is cached.
    """
    redis = get_redis()
    record_key = key(*_DEV_KEY)
    record = text_map(redis.hgetall(record_key))
    if record:
        return record["private_pem"], record["arn"]
    lock_key = key(*_DEV_KEY, "lock")
    owner = secrets.token_hex(8)
    # The lock keeps concurrent first calls (web + worker) from importing several keys: IVS allows 3.
    if redis.set(lock_key, owner, nx=True, ex=int(_DEV_KEY_WAIT_SECONDS)):
        try:
            return _provision(record_key)
        finally:
            if redis.get(lock_key) == owner:
                redis.delete(lock_key)
    deadline = time.monotonic() + _DEV_KEY_WAIT_SECONDS
    while time.monotonic() < deadline:
        time.sleep(0.05)
        record = text_map(redis.hgetall(record_key))
        if record:
            return record["private_pem"], record["arn"]
    raise TokenGenerationFailed(details={"reason": "timed out waiting for the development signing key"})


def _provision(record_key: str) -> tuple[str, str]:
    private_pem, public_pem = generate_key_pair()
    try:
        arn = client.import_public_key(
            name=DEV_KEY_NAME, public_key_pem=public_pem, tags={"ManagedBy": "api-server", "Purpose": "development"}
        )
    except ApiError as exc:
        raise TokenGenerationFailed(details={"reason": "could not import the development key", **exc.details}) from exc
    get_redis().hset(record_key, mapping={"private_pem": private_pem, "arn": arn})
    return private_pem, arn
