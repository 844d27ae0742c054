from rest_framework import serializers

from stages.serializers import OptionalStageArnField, RoomIdField, StageArnField
from viewers.serializers import UserIdField


class PublisherTokenRequestSerializer(serializers.Serializer):
    userId = UserIdField()
    roomId = RoomIdField()


class ViewerTokenRequestSerializer(serializers.Serializer):
    userId = UserIdField()
    stageArn = OptionalStageArnField()
    roomId = RoomIdField()


class MediaServerTokenRequestSerializer(serializers.Serializer):
    serverId = UserIdField()
    stageArn = StageArnField()


class ObsSettingsSerializer(serializers.Serializer):
    resolution = serializers.CharField()
    bitrate = serializers.CharField()
    keyframeInterval = serializers.CharField()
    cpuPreset = serializers.CharField()
    tune = serializers.CharField()


class ObsInstructionsSerializer(serializers.Serializer):
    service = serializers.CharField()
    server = serializers.CharField()
    bearerToken = serializers.CharField()
    settings = ObsSettingsSerializer()


class WebInstructionsSerializer(serializers.Serializer):
    sdk = serializers.CharField()
    method = serializers.CharField()


class InstructionsSerializer(serializers.Serializer):
    obs = ObsInstructionsSerializer()
    web = WebInstructionsSerializer()


class TokenBaseSerializer(serializers.Serializer):
    token = serializers.CharField()
    participantId = serializers.CharField()
    stageArn = serializers.CharField()
    capabilities = serializers.ListField(child=serializers.CharField())
    expiresAt = serializers.CharField()


class PublisherTokenSerializer(TokenBaseSerializer):
    userId = serializers.CharField()
    whipEndpoint = serializers.CharField()
    expiresIn = serializers.IntegerField()
    instructions = InstructionsSerializer()


class ViewerTokenSerializer(TokenBaseSerializer):
    userId = serializers.CharField()
    expiresIn = serializers.IntegerField()
    currentViewers = serializers.IntegerField()


class MediaServerTokenSerializer(TokenBaseSerializer):
    pass
