"""Stage ARN helpers: pure string work, no AWS call (so request validation costs no quota)."""

from __future__ import annotations

import re

# Stricter than botocore's model pattern on purpose: IVS stage ids are exactly 12 alphanumerics and
# account ids 12 digits, so anything else can be refused before it costs an AWS call. ASCII only:
# `\d` would otherwise take any script's digits, and an ARN that looks like ours must be ours.
STAGE_ARN_RE = re.compile(
    r"arn:aws:ivs:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):stage/(?P<id>[A-Za-z0-9]{12})", re.ASCII
)


def is_valid_stage_arn(value: str) -> bool:
    return isinstance(value, str) and STAGE_ARN_RE.fullmatch(value) is not None


def stage_id_from_arn(arn: str) -> str:
    """The resource id, i.e. the last ARN segment (`topic` claim of participant tokens)."""
    return arn.rsplit("/", 1)[-1]


def region_from_arn(arn: str) -> str | None:
    parts = arn.split(":")
    return parts[3] if len(parts) > 5 and parts[0] == "arn" else None
