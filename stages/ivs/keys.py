"""P-384 key pairs, the only kind IVS accepts for participant tokens: generated, and read from PEM.

Shared by the token signer, the development key, `manage.py ivs_keys` and the emulator (which
checks imported public keys as IVS would). Plain `cryptography`: nothing here talks to AWS.
"""

from __future__ import annotations

import functools

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

CURVE_NAME = "secp384r1"


class WrongCurve(ValueError):
    """A well-formed key that is not ECDSA P-384."""


def generate_key_pair() -> tuple[str, str]:
    """A fresh ECDSA P-384 pair as (private PEM, public PEM)."""
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
def load_private_key(pem: str) -> ec.EllipticCurvePrivateKey:
    """The private key of a PEM: ValueError when unreadable, WrongCurve unless ECDSA P-384.

    Cached per process: parsing a PEM costs about as much as signing a token."""
    loaded = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(loaded, ec.EllipticCurvePrivateKey) or loaded.curve.name != CURVE_NAME:
        raise WrongCurve("the private key must be an ECDSA P-384 key")
    return loaded


def load_public_key(pem: str) -> ec.EllipticCurvePublicKey:
    """The public key of a PEM: ValueError when unreadable, WrongCurve unless ECDSA P-384."""
    loaded = serialization.load_pem_public_key(pem.encode())
    if not isinstance(loaded, ec.EllipticCurvePublicKey) or loaded.curve.name != CURVE_NAME:
        raise WrongCurve("the public key must be an ECDSA P-384 (secp384r1) key")
    return loaded
