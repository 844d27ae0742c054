"""Amazon IVS real-time, the only place in the project that talks to AWS (docs/architecture.md).

Import what you need from here: `from stages import ivs; ivs.create_stage(...)`.

Importing the package loads neither boto3 nor botocore: the client imports them inside its
functions, on the first AWS call (see `client.py`), so a web worker that only heartbeats and
self-signs tokens never carries them (make bench, row 7a).
"""

from stages.ivs.arns import is_valid_stage_arn, stage_id_from_arn
from stages.ivs.client import (
    create_participant_token,
    create_stage,
    delete_public_key,
    delete_stage,
    disconnect_participant,
    get_client,
    get_stage,
    import_public_key,
    list_participant_replicas,
    list_participants,
    list_public_keys,
    list_stages,
    reset_client,
    start_participant_replication,
    stop_participant_replication,
    update_stage,
)
from stages.ivs.errors import IvsQuotaExceeded
from stages.ivs.types import IvsParticipant, IvsStage, IvsToken

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
