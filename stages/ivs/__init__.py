"""Amazon IVS real-time, the only place in the project that talks to AWS (DESIGN.md).

Import what you need from here: `from stages import ivs; ivs.create_stage(...)`.

The names load on first use (PEP 562 `__getattr__`): the AWS calls bring boto3 and botocore, ~10 MB
per process before a client exists (~19 MB with one), and a web worker that only heartbeats and
self-signs tokens never makes an AWS call (make bench, row 7a). The first call pays the import once.
"""

from __future__ import annotations

import importlib
from typing import Any

_CLIENT = "stages.ivs.client"
_HOME = {
    **dict.fromkeys(("IvsParticipant", "IvsStage", "IvsToken"), "stages.ivs.types"),
    **dict.fromkeys(("is_valid_stage_arn", "stage_id_from_arn"), "stages.ivs.arns"),
    "IvsQuotaExceeded": "stages.ivs.errors",
    **dict.fromkeys(
        (
            "create_participant_token",
            "create_stage",
            "delete_public_key",
            "delete_stage",
            "disconnect_participant",
            "get_client",
            "get_stage",
            "import_public_key",
            "list_participant_replicas",
            "list_participants",
            "list_public_keys",
            "list_stages",
            "reset_client",
            "start_participant_replication",
            "stop_participant_replication",
            "update_stage",
        ),
        _CLIENT,
    ),
}

__all__ = sorted(_HOME)


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # later lookups are plain module attributes
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOME})
