"""Broadcasts in the admin: a list per room (live or ended, by date), a detail page with the
summary and the viewers-over-time chart, and a CSV export of the broadcast's viewer sessions.
Read-only: a broadcast is a record of what happened."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from ivsproject.api.exceptions import ApiError
from ivsproject.csvexport import csv_response
from reports import chart, selectors
from reports.broadcasts import now
from reports.models import Broadcast
from viewers.selectors import localized_duration

SESSION_COLUMNS = ("userId", "stageArn", "joinedAt", "leftAt", "watchSeconds", "leaveReason")


def _broadcast_or_404(broadcast_id: str) -> Broadcast:
    """The admin's own links quote the key (its "_" becomes "_5F"), but an operator may paste an id
    from the API as it is, and unquoting that would misread some ids: the "_24" of "bc_24…" reads as
    "$". The quoted form never has the id's shape, so the id as given is tried first."""
    for candidate in dict.fromkeys((broadcast_id, unquote(broadcast_id))):
        try:
            return selectors.broadcast_or_404(candidate)
        except ApiError:
            continue
    raise Http404(broadcast_id[:100])


class LiveFilter(admin.SimpleListFilter):
    title = _("狀態")
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("live", _("直播中")), ("ended", _("已結束"))]

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        if self.value() == "live":
            return queryset.filter(ended_at__isnull=True)
        if self.value() == "ended":
            return queryset.filter(ended_at__isnull=False)
        return queryset


@admin.register(Broadcast)
class BroadcastAdmin(admin.ModelAdmin):
    list_display = ("broadcast_id", "room", "started_at", "ended_at", "state", "duration", "peak_viewers")
    list_filter = (LiveFilter, "room")
    date_hierarchy = "started_at"
    search_fields = ("broadcast_id", "room__room_id")
    list_select_related = ("room",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # retention deletes them (REPORT_RETENTION_DAYS), nobody else

    @admin.display(description=_("狀態"), boolean=False)
    def state(self, broadcast: Broadcast) -> Any:
        return _("直播中") if broadcast.is_live else _("已結束")

    @admin.display(description=_("時長"))
    def duration(self, broadcast: Broadcast) -> str:
        start, end = selectors.window(broadcast)
        return localized_duration(int((end - start).total_seconds()))

    def get_urls(self) -> list[Any]:
        custom = [
            path(
                "<str:broadcast_id>/sessions.csv",
                self.admin_site.admin_view(self.sessions_csv),
                name="reports_broadcast_sessions_csv",
            )
        ]
        return custom + super().get_urls()

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        broadcast = _broadcast_or_404(object_id)
        if not self.has_view_permission(request, broadcast):
            raise PermissionDenied
        at = now()
        summary = selectors.summary(broadcast, at)
        start, end = selectors.window(broadcast, at)
        samples = list(broadcast.samples.values_list("at", "viewers"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("直播場次 %(id)s") % {"id": broadcast.broadcast_id},
            "broadcast": broadcast,
            "summary": summary,
            "duration": localized_duration(summary["durationSeconds"]),
            "total_watch": localized_duration(summary["totalWatchSeconds"]),
            "average_watch": localized_duration(summary["averageWatchSeconds"]),
            "chart": chart.draw(samples, start, end),
            "sample_count": len(samples),
            "csv_url": reverse("admin:reports_broadcast_sessions_csv", args=[broadcast.broadcast_id]),
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/reports/broadcast/detail.html", context)

    def sessions_csv(self, request: HttpRequest, broadcast_id: str) -> StreamingHttpResponse:
        broadcast = _broadcast_or_404(broadcast_id)
        if not self.has_view_permission(request, broadcast):
            raise PermissionDenied
        rows = ([row[c] for c in SESSION_COLUMNS] for row in selectors.session_rows(broadcast))
        # With a byte-order mark, like the sessions list's export: spreadsheets then read the
        # zh-Hant and other non-ASCII user ids as UTF-8.
        return csv_response(f"{broadcast.broadcast_id}-sessions.csv", SESSION_COLUMNS, rows, bom=True)

    def history_view(self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None) -> Any:
        # Django's own view unquotes the id it is given; hand it the quoted form of the one found.
        broadcast = _broadcast_or_404(object_id)
        return super().history_view(request, quote(broadcast.pk), extra_context)
