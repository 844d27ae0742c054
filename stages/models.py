from django.db import models
from django.db.models import Q
from django.utils import timezone

ROOM_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"


class Room(models.Model):
    """A live room (直播間): one host's master stage, its overflow stages and its viewers.

    The room `default` always exists and holds the v1.1.0 master stage. A deleted room keeps its
    row (its stages' and sessions' history points at it); creating the same roomId again brings
    the row back with a new master stage.
    """

    DEFAULT = "default"

    room_id = models.CharField(max_length=63, primary_key=True)
    name = models.CharField(max_length=128)
    tags = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "room_id"]

    def __str__(self) -> str:
        return self.room_id

    @property
    def is_default(self) -> bool:
        return self.room_id == self.DEFAULT


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
    # Every stage is in a room; the stages recorded before rooms existed are in `default`, which the
    # migration creates and nothing deletes.
    room = models.ForeignKey(Room, on_delete=models.PROTECT, related_name="stages")
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
        indexes = [models.Index(fields=["status", "created_at"]), models.Index(fields=["room", "status"])]
        constraints = [
            models.UniqueConstraint(
                fields=["room", "role"],
                condition=Q(role="master") & ~Q(status="deleted"),
                name="stages_one_live_master_per_room",
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
