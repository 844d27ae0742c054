from django.db import models
from django.db.models import Q
from django.utils import timezone


class Stage(models.Model):
    """Our registry of IVS stages. Request paths read this, never ListStages/GetStage (5 TPS quota).

    Deleted stages stay as records (watch-time history points at them).
    """

    class Role(models.TextChoices):
        MASTER = "master", "master"
        OVERFLOW = "overflow", "overflow (auto-scaled)"
        MANUAL = "manual", "manual"

    class Status(models.TextChoices):
        ACTIVE = "active", "active"
        DRAINING = "draining", "draining"
        DELETED = "deleted", "deleted"

    class ManagedBy(models.TextChoices):
        API_SERVER = "api-server", "api-server"
        AUTO_SCALER = "auto-scaler", "auto-scaler"

    arn = models.CharField(max_length=200, unique=True)
    name = models.CharField(max_length=128)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MANUAL)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    auto_scaled = models.BooleanField(default=False)
    managed_by = models.CharField(max_length=16, choices=ManagedBy.choices, default=ManagedBy.API_SERVER)
    tags = models.JSONField(default=dict, blank=True)
    active_session_id = models.CharField(max_length=64, blank=True, default="")
    whip_endpoint = models.CharField(max_length=300, blank=True, default="")
    events_endpoint = models.CharField(max_length=300, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    status_changed_at = models.DateTimeField(default=timezone.now)
    deleted_at = models.DateTimeField(null=True, blank=True)
    # Host relay: the master's publisher replicated into this stage (IVS allows 5 per participant);
    # beyond that a media server must relay the host (`/api/token/mediaserver`).
    replicated_participant_id = models.CharField(max_length=64, blank=True, default="")
    relay_needed = models.BooleanField(default=False)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["status", "created_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["role"],
                condition=Q(role="master") & ~Q(status="deleted"),
                name="stages_one_live_master",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.stage_id})"

    @property
    def stage_id(self) -> str:
        return self.arn.rsplit("/", 1)[-1]

    @property
    def is_master(self) -> bool:
        return self.role == self.Role.MASTER
