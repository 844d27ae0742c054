from rest_framework import serializers

from ivsproject.api.fields import QueryIntegerField
from stages.serializers import PageQuerySerializer, RoomIdField


class BroadcastListQuerySerializer(PageQuerySerializer):
    roomId = RoomIdField(help_text="one room's broadcasts; absent or empty: every room's")
    limit = QueryIntegerField(required=False, min_value=1, max_value=100, default=20)


class BroadcastSummarySerializer(serializers.Serializer):
    broadcastId = serializers.CharField()
    roomId = serializers.CharField()
    startedAt = serializers.CharField()
    endedAt = serializers.CharField(allow_null=True, help_text="null while the broadcast is live")
    durationSeconds = serializers.IntegerField()
    peakViewers = serializers.IntegerField()
    peakAt = serializers.CharField(allow_null=True)
    uniqueViewers = serializers.IntegerField()
    totalWatchSeconds = serializers.IntegerField()
    averageWatchSeconds = serializers.IntegerField()


class BroadcastListSerializer(serializers.Serializer):
    broadcasts = BroadcastSummarySerializer(many=True)
    nextToken = serializers.CharField(allow_null=True)


class SeriesPointSerializer(serializers.Serializer):
    t = serializers.CharField()
    viewers = serializers.IntegerField()


class BroadcastDetailSerializer(serializers.Serializer):
    broadcast = BroadcastSummarySerializer()
    series = SeriesPointSerializer(many=True)
