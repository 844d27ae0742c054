"""Plain values the rest of the project gets back from `stages.ivs` (never boto3 dicts).

They live apart from `client.py` so `participant_token.py` (self-signing, the hot path) can
return an `IvsToken` without importing boto3.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class IvsStage:
    arn: str
    name: str
    tags: dict[str, str] = field(default_factory=dict)
    active_session_id: str | None = None
    # None where IVS does not return them (ListStages summaries carry no endpoints).
    whip_endpoint: str | None = None
    events_endpoint: str | None = None


@dataclass(frozen=True)
class IvsToken:
    token: str
    participant_id: str
    expires_at: datetime  # tz-aware UTC


@dataclass(frozen=True)
class IvsParticipant:
    participant_id: str
    user_id: str | None
    state: str  # "CONNECTED" | "DISCONNECTED"
    published: bool
    first_join_time: datetime | None
    attributes: dict[str, str] = field(default_factory=dict)
