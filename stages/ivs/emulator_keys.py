"""Emulated public-key calls: the keys IVS verifies self-signed participant tokens with.

IVS accepts only ECDSA P-384 keys, at most 3 per region, each material once.
"""

from __future__ import annotations

import hashlib
import json

from cryptography.hazmat.primitives import serialization

from stages.ivs import emulator_state as state
from stages.ivs.emulator_ops import Params, operation, paginate, with_next_token
from stages.ivs.keys import WrongCurve, load_public_key


def _fingerprint(material: str) -> str:
    try:
        loaded = load_public_key(material)
    except WrongCurve as exc:
        raise state.AwsError("ValidationException", "The public key must be an ECDSA P-384 (secp384r1) key") from exc
    except ValueError as exc:
        raise state.AwsError("ValidationException", "publicKeyMaterial is not a PEM public key") from exc
    der = loaded.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return ":".join(f"{b:02x}" for b in hashlib.sha256(der).digest()[:16])


def _public_key(record: dict[str, str], *, full: bool) -> Params:
    out: Params = {"arn": record["arn"], "name": record["name"], "tags": json.loads(record.get("tags") or "{}")}
    if full:
        out.update(publicKeyMaterial=record["publicKeyMaterial"], fingerprint=record["fingerprint"])
    return out


@operation
def import_public_key(region: str, params: Params) -> Params:
    material = params["publicKeyMaterial"]
    record = state.import_public_key(
        region,
        name=params.get("name", ""),
        material=material,
        fingerprint=_fingerprint(material),
        tags=params.get("tags") or {},
    )
    return {"publicKey": _public_key(record, full=True)}


@operation
def get_public_key(region: str, params: Params) -> Params:
    return {"publicKey": _public_key(state.get_public_key(params["arn"]), full=True)}


@operation
def list_public_keys(region: str, params: Params) -> Params:
    page, token = paginate([_public_key(r, full=False) for r in state.list_public_keys(region)], params)
    return with_next_token({"publicKeys": page}, token)


@operation
def delete_public_key(region: str, params: Params) -> Params:
    state.delete_public_key(params["arn"])
    return {}
