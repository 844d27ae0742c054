from rest_framework import serializers

from stages.serializers import RoomSummarySerializer, StageRowSerializer


class StatsSerializer(serializers.Serializer):
    totalViewers = serializers.IntegerField()
    activeStages = serializers.IntegerField()
    isPublisherLive = serializers.BooleanField()
    stages = StageRowSerializer(many=True)
    roomId = serializers.CharField(required=False)


class ViewerStatsSerializer(serializers.Serializer):
    totalViewers = serializers.IntegerField()
    calculatedFrom = serializers.CharField()
    roomId = serializers.CharField(required=False)


class PublisherStatsSerializer(serializers.Serializer):
    isPublisherLive = serializers.BooleanField()
    roomId = serializers.CharField(required=False)


class RoomsStatsSerializer(serializers.Serializer):
    totalViewers = serializers.IntegerField()
    liveRooms = serializers.IntegerField()
    rooms = RoomSummarySerializer(many=True)


class IvsEventDetailSerializer(serializers.Serializer):
    event_name = serializers.CharField()
    session_id = serializers.CharField(required=False)
    participant_id = serializers.CharField(required=False)
    user_id = serializers.CharField(required=False)


class IvsEventSerializer(serializers.Serializer):
    """An EventBridge event as AWS delivers it (documentation only; validated in stages.events)."""

    id = serializers.CharField()
    time = serializers.CharField()
    resources = serializers.ListField(child=serializers.CharField())
    detail = IvsEventDetailSerializer()

    def get_fields(self):  # type: ignore[no-untyped-def]
        fields = super().get_fields()
        # Names that are not Python identifiers (or clash with Field attributes) go in here.
        fields["source"] = serializers.CharField()
        fields["detail-type"] = serializers.CharField()
        return fields


class IvsEventResultSerializer(serializers.Serializer):
    eventId = serializers.CharField(allow_null=True)
    outcome = serializers.ChoiceField(choices=["applied", "stale", "duplicate", "ignored"])
