from django.db import models
from django.db.models import Q

from stages.models import Stage


class ViewerSession(models.Model):
    """The durable record of one viewer's stay on one stage.

    Written on join, leave and timeout only — never once per heartbeat; `last_heartbeat` is
    flushed from Redis presence in batches by the cleanup task.
    """

    class LeaveReason(models.TextChoices):
        LEFT = "left", "left"
        TIMEOUT = "timeout", "heartbeat timeout"
        STAGE_DELETED = "stage_deleted", "stage deleted"
        DISCONNECTED = "disconnected", "disconnected by an operator"
        MOVED = "moved", "moved to another stage"

    user_id = models.CharField(max_length=128)
    stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="viewer_sessions")
    participant_id = models.CharField(max_length=64, blank=True, default="")
    joined_at = models.DateTimeField()
    last_heartbeat = models.DateTimeField()
    left_at = models.DateTimeField(null=True, blank=True)
    leave_reason = models.CharField(max_length=16, choices=LeaveReason.choices, blank=True, default="")
    watched_seconds = models.FloatField(default=0)

    class Meta:
        ordering = ["-joined_at", "-id"]
        indexes = [
            models.Index(fields=["user_id", "stage"]),
            models.Index(fields=["stage", "left_at"]),
            models.Index(fields=["left_at", "last_heartbeat"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["user_id", "stage"], condition=Q(left_at__isnull=True), name="viewers_one_open_session"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user_id} @ {self.stage_id}"

    @property
    def is_active(self) -> bool:
        return self.left_at is None
