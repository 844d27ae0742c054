"""Viewer endpoints (spec §4)."""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ivsproject.api.envelope import ok
from ivsproject.api.schema import envelope_responses
from viewers import selectors, services
from viewers.serializers import (
    HeartbeatResultSerializer,
    LeaveResultSerializer,
    ViewerDurationQuerySerializer,
    ViewerListQuerySerializer,
    ViewerListSerializer,
    ViewerStageSerializer,
    WatchDurationSerializer,
)


class ViewerHeartbeatApi(APIView):
    @extend_schema(
        operation_id="viewer_heartbeat",
        summary="Viewer heartbeat (every 30 s)",
        request=ViewerStageSerializer,
        responses=envelope_responses(HeartbeatResultSerializer, errors=(404,)),
    )
    def post(self, request: Request) -> Response:
        body = ViewerStageSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        user_id, stage_arn = body.validated_data["userId"], body.validated_data["stageArn"]
        services.viewer_heartbeat(user_id=user_id, stage_arn=stage_arn)
        return ok({"userId": user_id, "stageArn": stage_arn, "heartbeatUpdated": True}, message=_("心跳更新成功"))


class ViewerLeaveApi(APIView):
    @extend_schema(
        operation_id="viewer_leave",
        summary="Viewer leaves",
        request=ViewerStageSerializer,
        responses=envelope_responses(LeaveResultSerializer, errors=(404,)),
    )
    def post(self, request: Request) -> Response:
        body = ViewerStageSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        user_id, stage_arn = body.validated_data["userId"], body.validated_data["stageArn"]
        services.viewer_leave(user_id=user_id, stage_arn=stage_arn)
        return ok({"userId": user_id, "stageArn": stage_arn, "viewerLeft": True}, message=_("觀眾離開記錄成功"))


class ViewerListApi(APIView):
    @extend_schema(
        operation_id="viewer_list",
        summary="Viewers of a stage (oldest heartbeat first, paginated)",
        parameters=[
            OpenApiParameter("stage_arn", str, OpenApiParameter.PATH, description="raw or URL-encoded ARN"),
            ViewerListQuerySerializer,
        ],
        responses=envelope_responses(ViewerListSerializer, errors=(404,)),
    )
    def get(self, request: Request, stage_arn: str) -> Response:
        query = ViewerListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return ok(
            selectors.viewer_list(
                stage_arn=stage_arn,
                limit=query.validated_data["limit"],
                next_token=query.validated_data.get("nextToken") or None,
            )
        )


class ViewerDurationApi(APIView):
    @extend_schema(
        operation_id="viewer_duration",
        summary="Total watch time of a viewer on a stage",
        parameters=[ViewerDurationQuerySerializer],
        responses=envelope_responses(WatchDurationSerializer, errors=(404,)),
    )
    def get(self, request: Request) -> Response:
        query = ViewerDurationQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return ok(
            selectors.watch_duration(user_id=query.validated_data["userId"], stage_arn=query.validated_data["stageArn"])
        )
