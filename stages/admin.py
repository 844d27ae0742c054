"""Operators' view of rooms and stages: live counts without N+1, guarded deletes, sync with IVS.

Every text an operator reads is marked for translation: the admin follows the browser's language
(locale/zh_Hant and locale/en), zh-Hant when none of ours matches.

Every change goes through the services the API uses (`stages.rooms`, `stages.services`), so the
admin can never skip a rule of the contract: caps, tags, the master and a room with viewers kept.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from ivsproject.api.exceptions import ApiError, NotFound
from stages import overview, registry, rooms, services
from stages.models import ROOM_ID_PATTERN, Room, Stage
from stages.selectors import live_rooms, master_stage, viewer_counts
from stages.serializers import STAGE_NAME_RE, TagsField


def parse_tag_lines(text: str) -> dict[str, str]:
    """Tags typed one KEY=VALUE a line, held to the API's tag rules (so IVS never refuses them)."""
    tags: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        name, sep, value = line.partition("=")
        if not sep or not name.strip():
            raise forms.ValidationError(_("格式應為 KEY=VALUE，收到 %(line)s") % {"line": repr(line)})
        tags[name.strip()] = value.strip()
    try:
        return TagsField().run_validation(tags)
    except serializers.ValidationError as exc:
        raise forms.ValidationError(exc.detail) from None


class RoomFilter(admin.SimpleListFilter):
    """Rows of one room. Deleted rooms are offered too, marked: their stages and sessions are the
    history an operator looks up after a room is gone."""

    title = _("直播間")
    parameter_name = "room"
    room_field = "room"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            (room_id, room_id if deleted_at is None else _("%(room)s（已刪除）") % {"room": room_id})
            for room_id, deleted_at in Room.objects.values_list("room_id", "deleted_at")
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        return queryset.filter(**{self.room_field: value}) if value else queryset


class StageChangeList(ChangeList):
    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        # Every row's live count in one Redis pipeline (a query-count test pins this).
        counts = viewer_counts(list(self.result_list))
        for stage in self.result_list:
            stage.live_viewers = counts[stage.arn]


class StageCreateForm(forms.Form):
    name = forms.RegexField(regex=STAGE_NAME_RE, max_length=128, label=_("名稱"), help_text=_("英文字母、數字、- 與 _"))
    room = forms.ChoiceField(label=_("直播間"), required=False)
    tags = forms.CharField(
        required=False,
        label=_("標籤"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("每行一組 KEY=VALUE"),
    )

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        room_field: Any = self.fields["room"]
        room_field.choices = [(r, r) for r in live_rooms().values_list("room_id", flat=True)]
        room_field.initial = Room.DEFAULT

    def clean_room(self) -> str:
        return self.cleaned_data["room"] or Room.DEFAULT

    def clean_tags(self) -> dict[str, str]:
        return parse_tag_lines(self.cleaned_data["tags"])


@admin.register(Stage)
class StageAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "room_display",
        "role",
        "status",
        "live_viewers_display",
        "auto_scaled",
        "created_at",
        "arn",
    )
    list_filter = (RoomFilter, "role", "status", "auto_scaled", "managed_by")
    search_fields = ("name", "arn")
    readonly_fields = [f.name for f in Stage._meta.fields]
    actions = ["delete_stages"]
    ordering = ("-created_at",)
    # The changelist with a "Sync with IVS" button: the sync concerns the whole registry, so it is
    # not an action, which would need a selected row it then ignores.
    change_list_template = "admin/stages/stage/change_list.html"

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return StageChangeList

    def get_urls(self) -> list[URLPattern]:
        sync = path("sync/", self.admin_site.admin_view(self.sync_view), name="stages_stage_sync")
        return [sync, *super().get_urls()]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        extra = {"can_sync": self.has_change_permission(request), **(extra_context or {})}
        return super().changelist_view(request, extra)

    def sync_view(self, request: HttpRequest) -> HttpResponse:
        """POST (with the CSRF token, as every admin form): reconcile the registry with IVS, then back
        to the changelist with the result as a message."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        # The same permission as the other changes to stages: a read-only operator may not sync.
        if not self.has_change_permission(request):
            raise PermissionDenied
        try:
            report = services.stages_sync()
        except ApiError as exc:
            self.message_user(request, _("同步失敗：%(message)s") % {"message": exc.message}, messages.ERROR)
        else:
            text = _(
                "已與 IVS 同步：採用 %(adopted)d 個，標記刪除 %(deleted)d 個，更新 %(updated)d 個，"
                "未變更 %(unchanged)d 個。"
            ) % {
                "adopted": len(report.adopted),
                "deleted": len(report.deleted),
                "updated": len(report.updated),
                "unchanged": report.unchanged,
            }
            self.message_user(request, text, messages.SUCCESS)
            for error in report.errors:
                self.message_user(request, error, messages.WARNING)
        return HttpResponseRedirect(reverse("admin:stages_stage_changelist"))

    @admin.display(description=_("即時觀眾"))
    def live_viewers_display(self, stage: Stage) -> int | str:
        return getattr(stage, "live_viewers", "-")

    # The roomId is the foreign key's value itself: no join, no query per row.
    @admin.display(description=_("直播間"), ordering="room")
    def room_display(self, stage: Stage) -> str:
        return stage.room_id

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # deletion goes through the guarded action, which also deletes in IVS

    def get_actions(self, request: HttpRequest) -> dict:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    # `permissions`: without it Django offers an action to anyone who may *view* the changelist, so a
    # read-only operator could delete stages in IVS.
    @admin.action(
        description=_("刪除所選 Stage（在 IVS 一併刪除；主 Stage 與仍有觀眾的 Stage 不會刪除）"),
        permissions=["change"],
    )
    def delete_stages(self, request: HttpRequest, queryset: Any) -> None:
        for stage in queryset:
            try:
                services.stage_delete(arn=stage.arn)
            except ApiError as exc:
                if "viewerCount" in exc.details:
                    text = _("%(stage)s：%(message)s（%(count)s 位觀眾）") % {
                        "stage": stage.name,
                        "message": exc.message,
                        "count": exc.details["viewerCount"],
                    }
                else:
                    text = _("%(stage)s：%(message)s") % {"stage": stage.name, "message": exc.message}
                self.message_user(request, text, messages.ERROR)
            else:
                self.message_user(request, _("%(stage)s：已刪除") % {"stage": stage.name}, messages.SUCCESS)

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: Any = None) -> HttpResponse:
        """Creating a stage from the admin creates it in IVS, with the API's rules and cap."""
        if not self.has_add_permission(request):
            return HttpResponseRedirect(reverse("admin:stages_stage_changelist"))
        form = StageCreateForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                stage = services.stage_create(
                    name=form.cleaned_data["name"], tags=form.cleaned_data["tags"], room_id=form.cleaned_data["room"]
                )
            except ApiError as exc:
                form.add_error(None, f"{exc.code}: {exc.message}")
            else:
                text = _("已在 IVS 建立 %(stage)s（%(arn)s）。") % {"stage": stage.name, "arn": stage.arn}
                self.message_user(request, text, messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:stages_stage_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": _("建立 Stage"),
            "form": form,
            "opts": self.model._meta,
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/stages/stage/create.html", context)


class RoomStateFilter(admin.SimpleListFilter):
    """Live rooms unless asked otherwise: a deleted room keeps its row (its history points at it), and
    listed among the live ones it would read as a room that still exists."""

    title = _("狀態")
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("live", _("使用中")), ("deleted", _("已刪除")), ("all", _("全部"))]

    def choices(self, changelist: Any) -> Any:
        current = self.value() or "live"
        for lookup, title in self.lookup_choices:
            yield {
                "selected": current == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value() or "live"
        if value == "live":
            return queryset.filter(deleted_at__isnull=True)
        if value == "deleted":
            return queryset.filter(deleted_at__isnull=False)
        return queryset


class RoomChangeList(ChangeList):
    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        attach_overviews(list(self.result_list))


class RoomCreateForm(forms.Form):
    room_id = forms.RegexField(
        regex=ROOM_ID_PATTERN,
        max_length=63,
        label=_("roomId"),
        help_text=_("小寫英文字母、數字與 -，以字母或數字開頭，最多 63 字元"),
    )
    name = forms.CharField(max_length=128, required=False, label=_("名稱"), help_text=_("留空則使用 roomId"))
    tags = forms.CharField(
        required=False,
        label=_("標籤"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("每行一組 KEY=VALUE"),
    )

    def clean_tags(self) -> dict[str, str]:
        return parse_tag_lines(self.cleaned_data["tags"])


_UNKNOWN = object()


def rooms_now() -> dict[str, dict[str, Any]]:
    """Every live room as the API shows it, by roomId, as the database has them now.

    Why the reload: `rooms_all` takes its list of rooms from this process's registry copy, so a copy
    older than a change made elsewhere (another process, the shell) would list a deleted room or
    miss a new one. An operator's page is not a hot path; two queries buy the current list.
    """
    registry.load()
    return {r["roomId"]: r for r in overview.rooms_all()}


def attach_overviews(rows: list[Any]) -> None:
    """Each room's host flag, viewers and stages: the same few queries and one Redis round trip
    however many rooms, as the overview reads the rooms' stages from the registry copy."""
    live = rooms_now() if any(r.deleted_at is None for r in rows) else {}
    for room in rows:
        room.overview = live.get(room.room_id) if room.deleted_at is None else None


def room_overview(room: Room) -> dict[str, Any] | None:
    """The room as the API shows it (host flag, viewers, stages); None for a deleted room."""
    found: Any = getattr(room, "overview", _UNKNOWN)
    if found is _UNKNOWN:  # a single room (its change page): not filled in by the changelist
        try:
            found = overview.room_detail(room.room_id)["room"] if room.deleted_at is None else None
        except NotFound:  # deleted since the page was read
            found = None
        row: Any = room
        row.overview = found
    return found


def refusal(room: Room) -> str | None:
    """Why `room_delete` would refuse the room as it is now (it checks again when it runs)."""
    found = room_overview(room)
    if room.deleted_at is not None or found is None:
        return str(_("已刪除"))
    if room.is_default:
        return str(_("預設直播間不會刪除"))
    if found["totalViewers"] > 0:
        return str(_("仍有 %(count)s 位觀眾，不會刪除") % {"count": found["totalViewers"]})
    return None


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = ("room_display", "name", "publisher_live", "viewers", "stages_link", "created_at", "state")
    list_display_links = ("room_display",)
    list_filter = (RoomStateFilter,)
    search_fields = ("room_id", "name")
    fields = ("room_id", "name", "tags", "created_at", "deleted_at", "publisher_live", "viewers", "stages_link")
    readonly_fields = fields
    actions = ["delete_rooms"]
    ordering = ("created_at", "room_id")

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return RoomChangeList

    @admin.display(description=_("roomId"), ordering="room_id")
    def room_display(self, room: Room) -> str:
        return room.room_id

    @admin.display(description=_("主播直播中"), boolean=True)
    def publisher_live(self, room: Room) -> bool | None:
        found = room_overview(room)
        return None if found is None else found["isPublisherLive"]

    @admin.display(description=_("觀眾"))
    def viewers(self, room: Room) -> int | str:
        found = room_overview(room)
        return "-" if found is None else found["totalViewers"]

    @admin.display(description=_("運作中的 Stage"))
    def stages_link(self, room: Room) -> str:
        found = room_overview(room)
        count = "-" if found is None else found["activeStages"]
        url = reverse("admin:stages_stage_changelist") + f"?{RoomFilter.parameter_name}={room.room_id}"
        return format_html('<a href="{}">{}</a>', url, count)

    @admin.display(description=_("狀態"), ordering="deleted_at")
    def state(self, room: Room) -> str:
        if room.deleted_at is None:
            return str(_("使用中"))
        return str(_("已刪除（%(at)s）") % {"at": room.deleted_at.strftime("%Y-%m-%d %H:%M:%S")})

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # deletion goes through the guarded action, which also deletes the stages in IVS

    def get_actions(self, request: HttpRequest) -> dict:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    # `permissions`: without it Django offers an action to anyone who may *view* the changelist, so a
    # read-only operator could delete rooms and their stages in IVS.
    @admin.action(
        description=_("刪除所選直播間（其 Stage 一併在 IVS 刪除；預設直播間與仍有觀眾的直播間不會刪除）"),
        permissions=["change"],
    )
    def delete_rooms(self, request: HttpRequest, queryset: QuerySet[Room]) -> HttpResponse | None:
        selected = list(queryset)
        # A room's deletion removes every stage of it in IVS: asked once more, as Django's own
        # delete asks, with what each room holds right now.
        if request.POST.get("confirm") != "yes":
            attach_overviews(selected)
            context = {
                **self.admin_site.each_context(request),
                "title": _("刪除直播間"),
                "rows": [(room, room_overview(room), refusal(room)) for room in selected],
                "opts": self.model._meta,
                "action": "delete_rooms",
                "action_checkbox_name": ACTION_CHECKBOX_NAME,
            }
            return TemplateResponse(request, "admin/stages/room/delete_confirmation.html", context)
        for room in selected:
            try:
                rooms.room_delete(room_id=room.room_id)
            except ApiError as exc:
                if "viewerCount" in exc.details:
                    text = _("直播間 %(room)s：%(message)s（%(count)s 位觀眾）") % {
                        "room": room.room_id,
                        "message": exc.message,
                        "count": exc.details["viewerCount"],
                    }
                else:
                    text = _("直播間 %(room)s：%(message)s（%(code)s）") % {
                        "room": room.room_id,
                        "message": exc.message,
                        "code": exc.code,
                    }
                self.message_user(request, text, messages.ERROR)
            else:
                self.message_user(request, _("直播間 %(room)s：已刪除") % {"room": room.room_id}, messages.SUCCESS)
        return None

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: Any = None) -> HttpResponse:
        """Creating a room from the admin creates its master stage in IVS, with the API's rules and caps."""
        if not self.has_add_permission(request):
            return HttpResponseRedirect(reverse("admin:stages_room_changelist"))
        form = RoomCreateForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                room = rooms.room_create(
                    room_id=form.cleaned_data["room_id"],
                    name=form.cleaned_data["name"] or None,
                    tags=form.cleaned_data["tags"],
                )
            except ApiError as exc:
                text = _("無法建立直播間：%(message)s（%(code)s）") % {"message": exc.message, "code": exc.code}
                self.message_user(request, text, messages.ERROR)
            else:
                master = master_stage(room.room_id)
                text = _("已建立直播間 %(room)s，主 Stage：%(arn)s") % {
                    "room": room.room_id,
                    "arn": master.arn if master is not None else "-",
                }
                self.message_user(request, text, messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:stages_room_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": _("建立直播間"),
            "form": form,
            "opts": self.model._meta,
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/stages/room/create.html", context)
