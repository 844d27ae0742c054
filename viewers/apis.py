"""Viewer endpoints (spec §4)."""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ivsproject.api import throttling
from ivsproject.api.envelope import ok
from ivsproject.api.fastpath import FastAnswer, FastRequest
from ivsproject.api.plainbody import PlainBody
from ivsproject.api.schema import envelope_responses
from stages import selectors as stage_selectors
from viewers import lifecycle, selectors
from viewers.serializers import (
    HeartbeatResultSerializer,
    LeaveResultSerializer,
    RoomDurationQuerySerializer,
    ViewerDurationQuerySerializer,
    ViewerListQuerySerializer,
    ViewerListSerializer,
    ViewerStageSerializer,
    WatchDurationSerializer,
)

# Why a plain validator: see ivsproject/api/plainbody.py.
_HEARTBEAT_BODY = PlainBody(ViewerStageSerializer)


class ViewerHeartbeatApi(APIView):
    # The request's rate-limit count rides in the same Redis round trip as the presence refresh
    # (see post); every other path settles it exactly once, so limits and answers are unchanged.
    throttle_classes = [throttling.DeferredClientRateThrottle]

    @extend_schema(
        operation_id="viewer_heartbeat",
        summary="Viewer heartbeat (every 30 s)",
        request=ViewerStageSerializer,
        responses=envelope_responses(HeartbeatResultSerializer, errors=(404,)),
    )
    def post(self, request: Request) -> Response:
        with throttling.RateBill(throttling.take_deferred(request)) as bill:
            valid = _HEARTBEAT_BODY.validated(request.data)
            user_id, stage_arn = valid["userId"], valid["stageArn"]
            stage_id = stage_selectors.live_stage_id(stage_arn)
            # One Redis round trip: count the request and refresh a tracked viewer of a live stage.
            # Anything else (untracked viewer, re-registration, a moved seat) takes the full path.
            count, tracked = lifecycle.viewer_heartbeat_refresh(
                stage_id=stage_id, user_id=user_id, rate_ticket=bill.owed()
            )
            bill.counted(count)
        if not tracked:
            lifecycle.viewer_heartbeat(user_id=user_id, stage_arn=stage_arn)
        return ok({"userId": user_id, "stageArn": stage_arn, "heartbeatUpdated": True}, message=_("心跳更新成功"))


def heartbeat_fast(request: FastRequest) -> FastAnswer | None:
    """The heartbeat on the WSGI fast path (ivsproject.api.fastpath): the same one Redis round
    trip as `ViewerHeartbeatApi.post`, for a body that certainly validates, a stage known live and
    a tracked viewer under its rate limit. None hands the request to Django (ViewerHeartbeatApi),
    with the count already made travelling along so nothing is counted twice."""
    valid = _HEARTBEAT_BODY.validate(request.data)
    if valid is None:
        return None
    user_id, stage_arn = valid["userId"], valid["stageArn"]
    stage_id = stage_selectors.live_stage_id_cached(stage_arn)
    if stage_id is None:
        return None
    ticket = throttling.ticket_of(request.environ)
    count, tracked = lifecycle.viewer_heartbeat_refresh(stage_id=stage_id, user_id=user_id, rate_ticket=ticket)
    if ticket is not None and count is not None and (not tracked or count > ticket.limit):
        request.precounted = count
        return None
    if not tracked:
        return None
    return FastAnswer({"userId": user_id, "stageArn": stage_arn, "heartbeatUpdated": True}, _("心跳更新成功"))


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
        lifecycle.viewer_leave(user_id=user_id, stage_arn=stage_arn)
        return ok({"userId": user_id, "stageArn": stage_arn, "viewerLeft": True}, message=_("觀眾離開記錄成功"))


class ViewerListApi(APIView):
    @extend_schema(
        operation_id="viewer_list",
        summary="Viewers of a stage (oldest heartbeat first, paginated)",
        parameters=[
            OpenApiParameter("stage_arn", str, OpenApiParameter.PATH, description="raw or URL-encoded ARN"),
            ViewerListQuerySerializer,
        ],
        responses=envelope_responses(ViewerListSerializer, errors=(403, 404)),
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
        summary="Total watch time of a viewer on a stage, or over a room's stages (roomId, no stageArn)",
        parameters=[ViewerDurationQuerySerializer, RoomDurationQuerySerializer],
        responses=envelope_responses(WatchDurationSerializer, errors=(404,)),
    )
    def get(self, request: Request) -> Response:
        if request.query_params.get("roomId") and not request.query_params.get("stageArn"):
            by_room = RoomDurationQuerySerializer(data=request.query_params)
            by_room.is_valid(raise_exception=True)
            room_id = stage_selectors.room_id_or_404(by_room.validated_data["roomId"])
            return ok(selectors.room_watch_duration(user_id=by_room.validated_data["userId"], room_id=room_id))
        query = ViewerDurationQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return ok(
            selectors.watch_duration(user_id=query.validated_data["userId"], stage_arn=query.validated_data["stageArn"])
        )
