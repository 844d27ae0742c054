"""Stage endpoints (spec §3): thin views — validate, call one service/selector, return."""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ivsproject.api.envelope import iso, ok
from ivsproject.api.schema import envelope_responses
from stages import overview, rooms, selectors, services
from stages.models import Stage
from stages.serializers import (
    MasterInfoSerializer,
    RoomCreatedSerializer,
    RoomCreateSerializer,
    RoomDeletedSerializer,
    RoomDetailSerializer,
    RoomListQuerySerializer,
    RoomListSerializer,
    RoomQuerySerializer,
    StageCreatedSerializer,
    StageCreateSerializer,
    StageDeletedSerializer,
    StageListQuerySerializer,
    StageListSerializer,
)


def stage_summary(stage: Stage) -> dict:
    return {"arn": stage.arn, "name": stage.name, "tags": stage.tags, "roomId": stage.room_id}


class StageListApi(APIView):
    @extend_schema(
        operation_id="stage_list",
        summary="All stages with viewer counts (of one room with roomId)",
        parameters=[StageListQuerySerializer],
        responses=envelope_responses(StageListSerializer, errors=(403, 404)),
    )
    def get(self, request: Request) -> Response:
        query = StageListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        room = query.validated_data.get("roomId")
        stages, next_token, counts, total = selectors.stage_page(
            next_token=query.validated_data.get("nextToken") or None,
            limit=query.validated_data["limit"],
            room_id=selectors.room_id_or_404(room) if room else None,
        )
        return ok(
            {
                "stages": [
                    {
                        "stageArn": s.arn,
                        "name": s.name,
                        "viewerCount": counts[s.arn],
                        "autoScaled": s.auto_scaled,
                        "createdAt": iso(s.created_at),
                        "tags": s.tags,
                        "roomId": s.room_id,
                    }
                    for s in stages
                ],
                "totalStages": total,
                "nextToken": next_token,
            }
        )


class MasterStageInfoApi(APIView):
    @extend_schema(
        operation_id="stage_master_info",
        summary="The master stage (of the room roomId; default: the room `default`)",
        parameters=[RoomQuerySerializer],
        responses=envelope_responses(MasterInfoSerializer, errors=(403, 404)),
    )
    def get(self, request: Request) -> Response:
        query = RoomQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        stage = selectors.master_stage_or_404(selectors.room_param(query.validated_data.get("roomId")))
        return ok(
            {
                "stage": {**stage_summary(stage), "activeSessionId": stage.active_session_id or None},
                "viewerCount": selectors.viewer_count(stage),
                "isMasterStage": True,
            }
        )


class StageCreateApi(APIView):
    @extend_schema(
        operation_id="stage_create",
        summary="Create a stage",
        request=StageCreateSerializer,
        responses=envelope_responses(StageCreatedSerializer, status=201, errors=(403, 404, 503)),
    )
    def post(self, request: Request) -> Response:
        body = StageCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        room_id = selectors.room_param(data.pop("roomId", None))
        stage = services.stage_create(**data, room_id=room_id)
        return ok({"stage": stage_summary(stage)}, status=201)


class StageDeleteApi(APIView):
    @extend_schema(
        operation_id="stage_delete",
        summary="Delete a stage (never the master, never with viewers)",
        parameters=[OpenApiParameter("stage_arn", str, OpenApiParameter.PATH, description="raw or URL-encoded ARN")],
        responses=envelope_responses(StageDeletedSerializer, errors=(403, 404)),
    )
    def delete(self, request: Request, stage_arn: str) -> Response:
        stage = services.stage_delete(arn=stage_arn)
        return ok({"stageArn": stage.arn, "deleted": True}, message=_("Stage 已刪除"))


class RoomsApi(APIView):
    @extend_schema(
        operation_id="room_list",
        summary="Rooms, oldest first (`default` included)",
        parameters=[RoomListQuerySerializer],
        responses=envelope_responses(RoomListSerializer, errors=(403,)),
    )
    def get(self, request: Request) -> Response:
        query = RoomListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        page, total, next_token = overview.room_page(
            limit=query.validated_data["limit"], next_token=query.validated_data.get("nextToken") or None
        )
        return ok({"rooms": page, "totalRooms": total, "nextToken": next_token})

    @extend_schema(
        operation_id="room_create",
        summary="Create a room and its master stage",
        request=RoomCreateSerializer,
        responses=envelope_responses(RoomCreatedSerializer, status=201, errors=(403, 409, 503)),
    )
    def post(self, request: Request) -> Response:
        body = RoomCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        room = rooms.room_create(
            room_id=body.validated_data["roomId"],
            name=body.validated_data.get("name") or None,
            tags=body.validated_data.get("tags"),
        )
        return ok({"room": overview.room_detail(room.room_id)["room"]}, status=201)


class RoomApi(APIView):
    @extend_schema(
        operation_id="room_get",
        summary="A room and its stages",
        responses=envelope_responses(RoomDetailSerializer, errors=(403, 404)),
    )
    def get(self, request: Request, room_id: str) -> Response:
        return ok(overview.room_detail(room_id))

    @extend_schema(
        operation_id="room_delete",
        summary="Delete a room with its stages (never `default`, never with viewers)",
        responses=envelope_responses(RoomDeletedSerializer, errors=(403, 404)),
    )
    def delete(self, request: Request, room_id: str) -> Response:
        rooms.room_delete(room_id=room_id)
        return ok({"roomId": room_id, "deleted": True}, message=_("直播間已刪除"))
