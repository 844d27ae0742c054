"""Operators' view of viewer sessions: filters, watch time, a date drill-down, a CSV export of the
filtered list and the Disconnect action. Every text an operator reads is marked for translation."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseBadRequest
from django.http.response import HttpResponseBase
from django.urls import URLPattern, path
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ivsproject.api.envelope import iso
from ivsproject.api.exceptions import ApiError
from ivsproject.csvexport import csv_response
from stages.admin import RoomFilter
from viewers.lifecycle import viewer_disconnect
from viewers.models import ViewerSession
from viewers.selectors import localized_duration

CSV_COLUMNS = ["userId", "stageArn", "roomId", "joinedAt", "leftAt", "watchSeconds", "leaveReason"]
_CSV_CHUNK = 2000


class ActiveFilter(admin.SimpleListFilter):
    title = _("狀態")
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("active", _("觀看中")), ("ended", _("已結束"))]

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
    date_hierarchy = "joined_at"
    change_list_template = "admin/viewers/viewersession/change_list.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # sessions are the durable watch-time record

    def get_urls(self) -> list[URLPattern]:
        export = path(
            "export.csv", self.admin_site.admin_view(self.export_csv_view), name="viewers_viewersession_export"
        )
        return [export, *super().get_urls()]

    # The stage is fetched with the session (list_select_related) and holds the roomId: no query per row.
    @admin.display(description=_("直播間"), ordering="stage__room")
    def room_display(self, session: ViewerSession) -> str:
        return session.stage.room_id

    @admin.display(description=_("觀看時間"))
    def watch_time(self, session: ViewerSession) -> str:
        if session.left_at is None:
            live = localized_duration(int((timezone.now() - session.joined_at).total_seconds()))
            return str(_("%(duration)s（觀看中）") % {"duration": live})
        return str(localized_duration(int(session.watched_seconds)))

    # `permissions`: otherwise view-only staff could disconnect viewers.
    @admin.action(description=_("中斷連線（IVS DisconnectParticipant 並結束觀看紀錄）"), permissions=["change"])
    def disconnect(self, request: HttpRequest, queryset: Any) -> None:
        done = 0
        for session in queryset.filter(left_at__isnull=True).select_related("stage"):
            try:
                done += viewer_disconnect(session=session)
            except ApiError as exc:
                text = _("%(user)s：%(message)s") % {"user": session.user_id, "message": exc.message}
                self.message_user(request, text, messages.ERROR)
        self.message_user(request, _("已中斷 %(count)d 位觀眾的連線。") % {"count": done}, messages.SUCCESS)

    def export_csv_view(self, request: HttpRequest) -> HttpResponseBase:
        """The changelist's rows as CSV, with its filters, search and date drill-down (the link carries
        the changelist's query string). Streamed in chunks, so a long history never sits in memory."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            return HttpResponseBadRequest(_("無法識別的篩選條件。"))
        rows = changelist.get_queryset(request).values_list(
            "user_id", "stage__arn", "stage__room_id", "joined_at", "left_at", "watched_seconds", "leave_reason"
        )
        now = timezone.now()
        stamp = now.strftime("%Y%m%d-%H%M%S")
        return csv_response(
            f"viewer-sessions-{stamp}.csv", CSV_COLUMNS, _csv_rows(rows.iterator(chunk_size=_CSV_CHUNK), now), bom=True
        )


def _csv_rows(rows: Iterator[tuple[Any, ...]], now: datetime) -> Iterator[list[Any]]:
    for user_id, arn, room_id, joined_at, left_at, watched, reason in rows:
        seconds = watched if left_at is not None else max((now - joined_at).total_seconds(), 0.0)
        yield [user_id, arn, room_id, _iso(joined_at), _iso(left_at), int(seconds), reason]


def _iso(value: datetime | None) -> str:
    return iso(value) or ""
