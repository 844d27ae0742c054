"""Amazon IVS real-time, the only place in the project that talks to AWS (DESIGN.md).

Import what you need from here: `from stages import ivs; ivs.create_stage(...)`.

The names load on first use (PEP 562 `__getattr__`): the AWS calls bring boto3 and botocore, ~10 MB
per process before a client exists (~19 MB with one), and a web worker that only heartbeats and
self-signs tokens never makes an AWS call (make bench, row 7a). The first call pays the import once.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

# What loads without boto3: the names that modules import at startup (stages.selectors,
# stats.events) and the one exception. Every other public name is the client's (its `__all__`).
_LIGHT = {
    **dict.fromkeys(("IvsParticipant", "IvsStage", "IvsToken"), "stages.ivs.types"),
    **dict.fromkeys(("is_valid_stage_arn", "stage_id_from_arn"), "stages.ivs.arns"),
    "IvsQuotaExceeded": "stages.ivs.errors",
}


def __getattr__(name: str) -> Any:
    home = _LIGHT.get(name)
    # A submodule (`from stages.ivs import participant_token`) is the import system's to load: the
    # client is consulted only for other public names.
    if home is None and not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}") is None:
        client = importlib.import_module("stages.ivs.client")
        home = client.__name__ if name in client.__all__ else None
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # later lookups are plain module attributes
    return value
