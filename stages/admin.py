"""Operators' view of stages: live viewer counts without N+1, guarded delete, sync with IVS."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from ivsproject.api.exceptions import ApiError
from stages import services
from stages.models import Stage
from stages.selectors import viewer_counts
from stages.serializers import STAGE_NAME_RE


class StageChangeList(ChangeList):
    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        # Every row's live count in one Redis pipeline (a query-count test pins this).
        counts = viewer_counts(list(self.result_list))
        for stage in self.result_list:
            stage.live_viewers = counts[stage.arn]


class StageCreateForm(forms.Form):
    name = forms.RegexField(regex=STAGE_NAME_RE, max_length=128, help_text="letters, digits, - and _")
    tags = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}), help_text="one KEY=VALUE per line")

    def clean_tags(self) -> dict[str, str]:
        tags: dict[str, str] = {}
        for line in self.cleaned_data["tags"].splitlines():
            if not line.strip():
                continue
            name, sep, value = line.partition("=")
            if not sep or not name.strip():
                raise forms.ValidationError(f"expected KEY=VALUE, got {line!r}")
            tags[name.strip()] = value.strip()
        return tags


@admin.register(Stage)
class StageAdmin(admin.ModelAdmin):
    list_display = ("name", "role", "status", "live_viewers_display", "auto_scaled", "created_at", "arn")
    list_filter = ("role", "status", "auto_scaled", "managed_by")
    search_fields = ("name", "arn")
    readonly_fields = [f.name for f in Stage._meta.fields]
    actions = ["delete_stages", "sync_with_ivs"]
    ordering = ("-created_at",)

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return StageChangeList

    @admin.display(description="live viewers")
    def live_viewers_display(self, stage: Stage) -> int | str:
        return getattr(stage, "live_viewers", "-")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # deletion goes through the guarded action, which also deletes in IVS

    def get_actions(self, request: HttpRequest) -> dict:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    # `permissions`: without it Django offers an action to anyone who may *view* the changelist, so a
    # read-only operator could delete stages in IVS.
    @admin.action(
        description="Delete selected stages (in IVS too; never the master or a stage with viewers)",
        permissions=["change"],
    )
    def delete_stages(self, request: HttpRequest, queryset: Any) -> None:
        for stage in queryset:
            try:
                services.stage_delete(arn=stage.arn)
            except ApiError as exc:
                detail = f" ({exc.details['viewerCount']} viewers)" if "viewerCount" in exc.details else ""
                self.message_user(request, f"{stage.name}: {exc.message}{detail}", messages.ERROR)
            else:
                self.message_user(request, f"{stage.name}: deleted", messages.SUCCESS)

    @admin.action(description="Sync with IVS (adopt our stages, mark vanished ones deleted)", permissions=["change"])
    def sync_with_ivs(self, request: HttpRequest, queryset: Any) -> None:
        try:
            report = services.stages_sync()
        except ApiError as exc:
            self.message_user(request, f"sync failed: {exc.message}", messages.ERROR)
            return
        self.message_user(
            request,
            f"sync: adopted {len(report.adopted)}, marked deleted {len(report.deleted)}, "
            f"updated {len(report.updated)}, unchanged {report.unchanged}",
            messages.SUCCESS,
        )

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: Any = None) -> HttpResponse:
        """Creating a stage from the admin creates it in IVS, with the API's rules and cap."""
        if not self.has_add_permission(request):
            return HttpResponseRedirect(reverse("admin:stages_stage_changelist"))
        form = StageCreateForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                stage = services.stage_create(name=form.cleaned_data["name"], tags=form.cleaned_data["tags"])
            except ApiError as exc:
                form.add_error(None, f"{exc.code}: {exc.message}")
            else:
                self.message_user(request, f"Created {stage.name} ({stage.arn}) in IVS.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:stages_stage_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": "Create stage",
            "form": form,
            "opts": self.model._meta,
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/stages/stage/create.html", context)
