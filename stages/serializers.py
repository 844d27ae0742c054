"""Request validation and documented response shapes for the stage endpoints (spec §3)."""

from __future__ import annotations

import re
from typing import Any

from django.core.validators import RegexValidator
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ivsproject.api.fields import NullMeansAbsent, QueryIntegerField, StrictCharField
from stages.models import ROOM_ID_PATTERN

STAGE_NAME_RE = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
# The shape `stages.ivs.arns.STAGE_ARN_RE` accepts, for the OpenAPI schema.
STAGE_ARN_PATTERN = r"^arn:aws:ivs:[a-z0-9-]+:[0-9]{12}:stage/[A-Za-z0-9]{12}$"
STAGE_ARN_EXAMPLE = "arn:aws:ivs:ap-northeast-1:123456789012:stage/AbCdEfGhIjKl"


# Schema-only patterns (hardening: schema fuzzing). The ARN itself is still checked by
# `stages.selectors.validate_stage_arn`, so every entry point answers the same 400 `stageArn 格式無效`;
# the pattern tells clients — and the fuzzer, which then generates well-formed ARNs — what is valid.
@extend_schema_field({"type": "string", "maxLength": 200, "pattern": STAGE_ARN_PATTERN, "example": STAGE_ARN_EXAMPLE})
class StageArnField(StrictCharField):
    def __init__(self, **kwargs: Any):
        kwargs.setdefault("max_length", 200)
        super().__init__(**kwargs)


# roomId: checked by `stages.selectors.validate_room_id` (one 400 everywhere), the pattern documented.
@extend_schema_field({"type": "string", "maxLength": 63, "pattern": ROOM_ID_PATTERN, "example": "seller-42"})
class RoomIdField(NullMeansAbsent, StrictCharField):
    """An optional roomId ("", null or absent = the room `default`)."""

    def __init__(self, **kwargs: Any):
        kwargs.setdefault("max_length", 100)
        kwargs.setdefault("required", False)
        kwargs.setdefault("allow_blank", True)
        super().__init__(**kwargs)


class OptionalStageArnField(NullMeansAbsent, StageArnField):
    """A stage ARN, or "", null or absent (= none given)."""

    def __init__(self, **kwargs: Any):
        kwargs.setdefault("required", False)
        kwargs.setdefault("allow_blank", True)
        super().__init__(**kwargs)


class OptionalCharField(NullMeansAbsent, StrictCharField):
    """An optional string that may also be sent as null (= not sent)."""


class TagsField(NullMeansAbsent, serializers.DictField):
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
    # A validator rather than `validate_name`: drf-spectacular turns it into the schema's `pattern`.
    name = StrictCharField(
        max_length=128,
        validators=[RegexValidator(STAGE_NAME_RE, message=_("name 只能包含英數字、- 與 _（1–128 字元）"))],
    )
    tags = TagsField(required=False)
    roomId = RoomIdField()


class RoomQuerySerializer(serializers.Serializer):
    roomId = RoomIdField()


class PageQuerySerializer(serializers.Serializer):
    """A page of a list: `limit` items after the opaque `nextToken` of the page before."""

    nextToken = serializers.CharField(required=False, allow_blank=True, max_length=512)
    limit = QueryIntegerField(required=False, min_value=1, max_value=100, default=100)


class StageListQuerySerializer(RoomQuerySerializer, PageQuerySerializer):
    pass


class StageListItemSerializer(serializers.Serializer):
    stageArn = serializers.CharField()
    name = serializers.CharField()
    viewerCount = serializers.IntegerField()
    autoScaled = serializers.BooleanField()
    createdAt = serializers.CharField()
    tags = serializers.DictField(child=serializers.CharField())
    roomId = serializers.CharField()


class StageListSerializer(serializers.Serializer):
    stages = StageListItemSerializer(many=True)
    totalStages = serializers.IntegerField()
    nextToken = serializers.CharField(allow_null=True)


class StageSummarySerializer(serializers.Serializer):
    arn = serializers.CharField()
    name = serializers.CharField()
    tags = serializers.DictField(child=serializers.CharField())
    roomId = serializers.CharField()


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


class RoomCreateSerializer(serializers.Serializer):
    # Required, unlike elsewhere: `缺少 roomId` with details.missingFields when absent.
    roomId = StrictCharField(max_length=100)
    name = OptionalCharField(max_length=128, required=False)
    tags = TagsField(required=False)


class RoomListQuerySerializer(PageQuerySerializer):
    pass


class RoomSummarySerializer(serializers.Serializer):
    """A room as the stats show it (`/api/stats/rooms`, the `rooms` channel)."""

    roomId = serializers.CharField()
    name = serializers.CharField()
    isPublisherLive = serializers.BooleanField()
    totalViewers = serializers.IntegerField()
    activeStages = serializers.IntegerField()


class RoomSerializer(RoomSummarySerializer):
    masterStageArn = serializers.CharField(allow_null=True)
    createdAt = serializers.CharField()
    tags = serializers.DictField(child=serializers.CharField())


class RoomCreatedSerializer(serializers.Serializer):
    room = RoomSerializer()


class RoomListSerializer(serializers.Serializer):
    rooms = RoomSerializer(many=True)
    totalRooms = serializers.IntegerField()
    nextToken = serializers.CharField(allow_null=True)


class StageRowSerializer(serializers.Serializer):
    """A stage with its viewers, as the stats and a room's detail show it."""

    stageArn = serializers.CharField()
    stageName = serializers.CharField()
    viewerCount = serializers.IntegerField()
    autoScaled = serializers.BooleanField()
    createdAt = serializers.CharField()
    roomId = serializers.CharField()


class RoomDetailSerializer(serializers.Serializer):
    room = RoomSerializer()
    stages = StageRowSerializer(many=True)


class RoomDeletedSerializer(serializers.Serializer):
    roomId = serializers.CharField()
    deleted = serializers.BooleanField()
