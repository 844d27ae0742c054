"""Small builders shared by tests."""

from stages.models import Stage
from viewers import presence


def track_viewers(stage: Stage, count: int, prefix: str = "v") -> list[str]:
    """Put `count` live viewers into a stage's presence directly (no tokens, no sessions)."""
    at = presence.now()
    users = [f"{prefix}{n}" for n in range(count)]
    for user in users:
        presence.track(stage_id=stage.stage_id, user_id=user, at=at, participant_id="p", joined_at=at)
    return users
