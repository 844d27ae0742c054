from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from stages.models import Stage


class ViewerSession(models.Model):
    """The durable record of one viewer's stay on one stage.

    Written on join, leave and timeout only — never once per heartbeat; `last_heartbeat` is
    flushed from Redis presence in batches by the cleanup task.
    """

    class LeaveReason(models.TextChoices):
        LEFT = "left", _("自行離開")
        TIMEOUT = "timeout", _("心跳逾時")
        STAGE_DELETED = "stage_deleted", _("Stage 已刪除")
        DISCONNECTED = "disconnected", _("被營運人員中斷連線")
        MOVED = "moved", _("移至其他 Stage")

    user_id = models.CharField(_("userId"), max_length=128)
    stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="viewer_sessions", verbose_name=_("Stage"))
    participant_id = models.CharField(_("participantId"), max_length=64, blank=True, default="")
    joined_at = models.DateTimeField(_("加入時間"))
    last_heartbeat = models.DateTimeField(_("最後心跳"))
    left_at = models.DateTimeField(_("離開時間"), null=True, blank=True)
    leave_reason = models.CharField(_("離開原因"), max_length=16, choices=LeaveReason.choices, blank=True, default="")
    watched_seconds = models.FloatField(_("觀看秒數"), default=0)

    class Meta:
        ordering = ["-joined_at", "-id"]
        verbose_name = _("觀看紀錄")
        verbose_name_plural = pgettext_lazy("複數", "觀看紀錄")
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
