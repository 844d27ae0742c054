"""Small builders shared by tests."""

from stages import presence
from stages.models import Stage


def track_viewers(stage: Stage, count: int, prefix: str = "v") -> list[str]:
    """Put `count` live viewers into a stage's presence directly (no tokens, no sessions)."""
    at = presence.now()
    users = [f"{prefix}{n}" for n in range(count)]
    for user in users:
        presence.track(stage_id=stage.stage_id, user_id=user, at=at, participant_id="p", joined_at=at)
    return users


IVS_EVENTS_SECRET = "events-secret"


def ivs_stage_event(
    stage_arn: str,
    name: str = "Participant Published",
    *,
    event_id: str = "evt-1",
    time: str = "2026-11-27T10:00:00Z",
    participant: str = "xYz1c2d3e4f5",
    **overrides: object,
) -> dict:
    """An EventBridge "IVS Stage Update" event, the shape AWS documents for IVS real-time;
    `overrides` replace top-level fields as they are (malformed ones included)."""
    event = {
        "version": "0",
        "id": event_id,
        "detail-type": "IVS Stage Update",
        "source": "aws.ivs",
        "account": "123456789012",
        "time": time,
        "region": "ap-northeast-1",
        "resources": [stage_arn],
        "detail": {
            "session_id": "st-ZyXwvu1T2s3r4q",
            "event_name": name,
            "user_id": "host",
            "participant_id": participant,
        },
    }
    event.update(overrides)
    return event
