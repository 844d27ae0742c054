"""Request validation and documented response shapes for the stage endpoints (spec §3)."""

from __future__ import annotations

import re
from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from ivsproject.api.fields import StrictCharField

STAGE_NAME_RE = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")


class TagsField(serializers.DictField):
    """IVS tag rules: at most 50 string pairs, keys 1–128 and values 0–256 characters."""

    def __init__(self, **kwargs: Any):
        super().__init__(child=StrictCharField(max_length=256, allow_blank=True, trim_whitespace=False), **kwargs)

    def to_internal_value(self, data: Any) -> dict[str, str]:
        value = super().to_internal_value(data)
        if len(value) > 50:
            raise serializers.ValidationError(_("tags 最多 50 組"))
        for tag_key in value:
            if not 1 <= len(tag_key) <= 128 or tag_key.lower().startswith("aws:"):
                raise serializers.ValidationError(_("tag 名稱無效：%(key)s") % {"key": tag_key[:50]})
        return value


class StageCreateSerializer(serializers.Serializer):
    name = StrictCharField(max_length=128)
    tags = TagsField(required=False)

    def validate_name(self, value: str) -> str:
        if not STAGE_NAME_RE.match(value):
            raise serializers.ValidationError(_("name 只能包含英數字、- 與 _（1–128 字元）"))
        return value


class StageListQuerySerializer(serializers.Serializer):
    nextToken = serializers.CharField(required=False, allow_blank=True, max_length=512)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=100, default=100)


class StageListItemSerializer(serializers.Serializer):
    stageArn = serializers.CharField()
    name = serializers.CharField()
    viewerCount = serializers.IntegerField()
    autoScaled = serializers.BooleanField()
    createdAt = serializers.CharField()
    tags = serializers.DictField(child=serializers.CharField())


class StageListSerializer(serializers.Serializer):
    stages = StageListItemSerializer(many=True)
    totalStages = serializers.IntegerField()
    nextToken = serializers.CharField(allow_null=True)


class StageSummarySerializer(serializers.Serializer):
    arn = serializers.CharField()
    name = serializers.CharField()
    tags = serializers.DictField(child=serializers.CharField())


class MasterStageSerializer(StageSummarySerializer):
    activeSessionId = serializers.CharField(allow_null=True)


class MasterInfoSerializer(serializers.Serializer):
    stage = MasterStageSerializer()
    viewerCount = serializers.IntegerField()
    isMasterStage = serializers.BooleanField()


class StageCreatedSerializer(serializers.Serializer):
    stage = StageSummarySerializer()


class StageDeletedSerializer(serializers.Serializer):
    stageArn = serializers.CharField()
    deleted = serializers.BooleanField()
