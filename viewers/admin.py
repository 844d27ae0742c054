from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ivsproject.api.exceptions import ApiError
from stages.admin import RoomFilter
from viewers.lifecycle import viewer_disconnect
from viewers.models import ViewerSession
from viewers.selectors import format_duration


class ActiveFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("active", "active"), ("ended", "ended")]

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        if self.value() == "active":
            return queryset.filter(left_at__isnull=True)
        if self.value() == "ended":
            return queryset.filter(left_at__isnull=False)
        return queryset


class SessionRoomFilter(RoomFilter):
    room_field = "stage__room"


@admin.register(ViewerSession)
class ViewerSessionAdmin(admin.ModelAdmin):
    list_display = (
        "user_id",
        "room_display",
        "stage",
        "joined_at",
        "last_heartbeat",
        "left_at",
        "leave_reason",
        "watch_time",
    )
    list_filter = (ActiveFilter, SessionRoomFilter, "stage", "leave_reason")
    search_fields = ("user_id", "participant_id")
    list_select_related = ("stage",)
    readonly_fields = [f.name for f in ViewerSession._meta.fields]
    actions = ["disconnect"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # sessions are the durable watch-time record

    # The stage is fetched with the session (list_select_related) and holds the roomId: no query per row.
    @admin.display(description=_("直播間"), ordering="stage__room")
    def room_display(self, session: ViewerSession) -> str:
        return session.stage.room_id

    @admin.display(description="watch time")
    def watch_time(self, session: ViewerSession) -> str:
        if session.left_at is None:
            return format_duration(int((timezone.now() - session.joined_at).total_seconds())) + " (live)"
        return format_duration(int(session.watched_seconds))

    # `permissions`: otherwise view-only staff could disconnect viewers.
    @admin.action(description="Disconnect (IVS DisconnectParticipant + close the session)", permissions=["change"])
    def disconnect(self, request: HttpRequest, queryset: Any) -> None:
        done = 0
        for session in queryset.filter(left_at__isnull=True).select_related("stage"):
            try:
                done += viewer_disconnect(session=session)
            except ApiError as exc:
                self.message_user(request, f"{session.user_id}: {exc.message}", messages.ERROR)
        self.message_user(request, f"Disconnected {done} viewer(s).", messages.SUCCESS)
