from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

ROOM_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"


class Room(models.Model):
    """A live room (直播間): one host's master stage, its overflow stages and its viewers.

    The room `default` always exists and holds the v1.1.0 master stage. A deleted room keeps its
    row (its stages' and sessions' history points at it); creating the same roomId again brings
    the row back with a new master stage.
    """

    DEFAULT = "default"

    room_id = models.CharField(_("roomId"), max_length=63, primary_key=True)
    name = models.CharField(_("名稱"), max_length=128)
    tags = models.JSONField(_("標籤"), default=dict, blank=True)
    created_at = models.DateTimeField(_("建立時間"), default=timezone.now)
    deleted_at = models.DateTimeField(_("刪除時間"), null=True, blank=True)

    class Meta:
        ordering = ["created_at", "room_id"]
        verbose_name = _("直播間")
        verbose_name_plural = pgettext_lazy("複數", "直播間")

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
        MASTER = "master", _("主 Stage")
        OVERFLOW = "overflow", _("溢出（自動擴展）")
        MANUAL = "manual", _("手動建立")

    class Status(models.TextChoices):
        ACTIVE = "active", _("運作中")
        DRAINING = "draining", _("排空中")
        DELETED = "deleted", _("已刪除")

    class ManagedBy(models.TextChoices):
        API_SERVER = "api-server", _("API 伺服器")
        AUTO_SCALER = "auto-scaler", _("自動擴展器")

    arn = models.CharField(_("ARN"), max_length=200, unique=True)
    # Every stage is in a room; the stages recorded before rooms existed are in `default`, which the
    # migration creates and nothing deletes.
    room = models.ForeignKey(Room, on_delete=models.PROTECT, related_name="stages", verbose_name=_("直播間"))
    name = models.CharField(_("名稱"), max_length=128)
    role = models.CharField(_("角色"), max_length=16, choices=Role.choices, default=Role.MANUAL)
    status = models.CharField(_("狀態"), max_length=16, choices=Status.choices, default=Status.ACTIVE)
    auto_scaled = models.BooleanField(_("自動擴展"), default=False)
    managed_by = models.CharField(_("管理者"), max_length=16, choices=ManagedBy.choices, default=ManagedBy.API_SERVER)
    tags = models.JSONField(_("標籤"), default=dict, blank=True)
    active_session_id = models.CharField(_("IVS 工作階段 ID"), max_length=64, blank=True, default="")
    whip_endpoint = models.CharField(_("WHIP 端點"), max_length=300, blank=True, default="")
    events_endpoint = models.CharField(_("事件端點"), max_length=300, blank=True, default="")
    created_at = models.DateTimeField(_("建立時間"), default=timezone.now)
    updated_at = models.DateTimeField(_("更新時間"), auto_now=True)
    status_changed_at = models.DateTimeField(_("狀態變更時間"), default=timezone.now)
    deleted_at = models.DateTimeField(_("刪除時間"), null=True, blank=True)
    # Host relay: the master's publisher replicated into this stage (IVS allows 5 per participant);
    # beyond that a media server must relay the host (`/api/token/mediaserver`).
    replicated_participant_id = models.CharField(_("複製的主播 participantId"), max_length=64, blank=True, default="")
    relay_needed = models.BooleanField(_("需要媒體伺服器轉送主播"), default=False)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("Stage")
        verbose_name_plural = pgettext_lazy("複數", "Stage")
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
