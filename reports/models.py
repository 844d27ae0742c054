"""Broadcasts (直播場次): one continuous live period of a room's host, and its viewer-count samples.

The viewer sessions (viewers.ViewerSession) stay the source of who watched and for how long; a
broadcast adds only what they cannot tell: when the show ran, its peak, and the counts over time.
"""

from __future__ import annotations

import secrets

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from stages.models import Room

BROADCAST_ID_PREFIX = "bc_"
BROADCAST_ID_PATTERN = r"^bc_[0-9a-f]{16}$"


def new_broadcast_id() -> str:
    # Random, not a sequence: an id handed to a client says nothing about how many shows there were.
    return BROADCAST_ID_PREFIX + secrets.token_hex(8)


class Broadcast(models.Model):
    broadcast_id = models.CharField(_("直播場次 ID"), max_length=32, primary_key=True, default=new_broadcast_id)
    # A deleted room keeps its row, so its broadcasts keep their room.
    room = models.ForeignKey(Room, on_delete=models.PROTECT, related_name="broadcasts", verbose_name=_("直播間"))
    started_at = models.DateTimeField(_("開始時間"))
    ended_at = models.DateTimeField(_("結束時間"), null=True, blank=True, help_text=_("直播中為空"))
    # The last moment the host was seen live (a sample, a change): where a missed "offline" ends it.
    last_live_at = models.DateTimeField(_("最後直播時間"))
    peak_viewers = models.PositiveIntegerField(_("最高同時觀眾"), default=0)
    peak_at = models.DateTimeField(_("最高觀眾時間"), null=True, blank=True)
    # Kept once the figures can no longer change (ended, past the merge window, no open session
    # inside it): a finished show's summary is read, not recomputed over its sessions every time.
    final_unique_viewers = models.PositiveIntegerField(null=True, blank=True, editable=False)
    final_watch_seconds = models.FloatField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("直播場次")
        verbose_name_plural = pgettext_lazy("複數", "直播場次")
        ordering = ["-started_at", "-broadcast_id"]
        indexes = [
            models.Index(fields=["room", "-started_at"]),
            models.Index(fields=["-started_at", "-broadcast_id"]),
            models.Index(fields=["ended_at"]),
        ]
        constraints = [
            # At most one live broadcast per room, whatever number of processes see the host go live.
            models.UniqueConstraint(
                fields=["room"], condition=Q(ended_at__isnull=True), name="reports_one_live_broadcast_per_room"
            )
        ]

    def __str__(self) -> str:
        return self.broadcast_id

    @property
    def is_live(self) -> bool:
        return self.ended_at is None


class BroadcastSample(models.Model):
    """Viewers of the broadcast's room when a sampling pass counted them (one row per interval,
    however many beats or workers took the sample)."""

    broadcast = models.ForeignKey(Broadcast, on_delete=models.CASCADE, related_name="samples")
    at = models.DateTimeField(_("時間"))
    viewers = models.PositiveIntegerField(_("觀眾"))

    class Meta:
        verbose_name = _("觀眾數取樣")
        verbose_name_plural = pgettext_lazy("複數", "觀眾數取樣")
        ordering = ["broadcast", "at"]
        constraints = [models.UniqueConstraint(fields=["broadcast", "at"], name="reports_one_sample_per_slot")]
        # Retention finds the samples older than its cut-off whatever their broadcast.
        indexes = [models.Index(fields=["at"], name="reports_sample_at")]

    def __str__(self) -> str:
        return f"{self.broadcast_id} @ {self.at:%Y-%m-%d %H:%M:%S}"
