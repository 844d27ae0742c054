from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ivsproject.api.fields import QueryIntegerField, StrictCharField
from stages.serializers import RoomIdField, StageArnField


# Schema-only (the field refuses control characters itself): documents it for clients and fuzzers.
@extend_schema_field(
    {"type": "string", "minLength": 1, "maxLength": 128, "pattern": r"^[^\u0000-\u001f\u007f-\u009f]+$"}
)
class UserIdField(StrictCharField):
    def __init__(self, **kwargs):  # type: ignore[no-untyped-def]
        kwargs.setdefault("max_length", 128)
        kwargs.setdefault("allow_invisible", False)  # an id: no look-alikes
        super().__init__(**kwargs)


class ViewerStageSerializer(serializers.Serializer):
    userId = UserIdField()
    stageArn = StageArnField()


class ViewerDurationQuerySerializer(ViewerStageSerializer):
    pass


class RoomDurationQuerySerializer(serializers.Serializer):
    """`?userId=&roomId=` without a stageArn: the total over the room's stages."""

    userId = UserIdField()
    roomId = RoomIdField(required=True, allow_blank=False)


class ViewerListQuerySerializer(serializers.Serializer):
    limit = QueryIntegerField(required=False, min_value=1, max_value=1000, default=100)
    nextToken = serializers.CharField(required=False, allow_blank=True, max_length=512)


class HeartbeatResultSerializer(serializers.Serializer):
    userId = serializers.CharField()
    stageArn = serializers.CharField()
    heartbeatUpdated = serializers.BooleanField()


class LeaveResultSerializer(serializers.Serializer):
    userId = serializers.CharField()
    stageArn = serializers.CharField()
    viewerLeft = serializers.BooleanField()


class ViewerItemSerializer(serializers.Serializer):
    userId = serializers.CharField()
    participantId = serializers.CharField()
    joinedAt = serializers.CharField()
    lastHeartbeat = serializers.CharField()


class ViewerListSerializer(serializers.Serializer):
    stageArn = serializers.CharField()
    totalViewers = serializers.IntegerField()
    activeViewers = serializers.IntegerField()
    viewers = ViewerItemSerializer(many=True)
    nextToken = serializers.CharField(allow_null=True)


class WatchDurationSerializer(serializers.Serializer):
    userId = serializers.CharField()
    stageArn = serializers.CharField(required=False)
    roomId = serializers.CharField(required=False)
    watchDurationSeconds = serializers.IntegerField()
    watchDurationFormatted = serializers.CharField()
