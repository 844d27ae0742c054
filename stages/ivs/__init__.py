"""Amazon IVS real-time, the only place in the project that talks to AWS (DESIGN.md).

Import what you need from here: `from stages import ivs; ivs.create_stage(...)`.
"""

from stages.ivs.client import (
    IvsParticipant,
    IvsStage,
    IvsToken,
    create_participant_token,
    create_stage,
    delete_public_key,
    delete_stage,
    disconnect_participant,
    get_client,
    get_stage,
    import_public_key,
    is_valid_stage_arn,
    list_participant_replicas,
    list_participants,
    list_public_keys,
    list_stages,
    reset_client,
    stage_id_from_arn,
    start_participant_replication,
    stop_participant_replication,
    update_stage,
)
from stages.ivs.errors import IvsQuotaExceeded

__all__ = [
    "IvsParticipant",
    "IvsQuotaExceeded",
    "IvsStage",
    "IvsToken",
    "create_participant_token",
    "create_stage",
    "delete_public_key",
    "delete_stage",
    "disconnect_participant",
    "get_client",
    "get_stage",
    "import_public_key",
    "is_valid_stage_arn",
    "list_participant_replicas",
    "list_participants",
    "list_public_keys",
    "list_stages",
    "reset_client",
    "stage_id_from_arn",
    "start_participant_replication",
    "stop_participant_replication",
    "update_stage",
]
