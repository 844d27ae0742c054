from rest_framework import serializers


class StageStatsSerializer(serializers.Serializer):
    stageArn = serializers.CharField()
    stageName = serializers.CharField()
    viewerCount = serializers.IntegerField()
    autoScaled = serializers.BooleanField()
    createdAt = serializers.CharField()


class StatsSerializer(serializers.Serializer):
    totalViewers = serializers.IntegerField()
    activeStages = serializers.IntegerField()
    isPublisherLive = serializers.BooleanField()
    stages = StageStatsSerializer(many=True)


class ViewerStatsSerializer(serializers.Serializer):
    totalViewers = serializers.IntegerField()
    calculatedFrom = serializers.CharField()


class PublisherStatsSerializer(serializers.Serializer):
    isPublisherLive = serializers.BooleanField()
