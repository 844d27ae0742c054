"""Stage endpoints (spec §3): thin views — validate, call one service/selector, return."""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ivsproject.api.envelope import iso, ok
from ivsproject.api.schema import envelope_responses
from stages import selectors, services
from stages.models import Stage
from stages.serializers import (
    MasterInfoSerializer,
    StageCreatedSerializer,
    StageCreateSerializer,
    StageDeletedSerializer,
    StageListQuerySerializer,
    StageListSerializer,
)


def stage_summary(stage: Stage) -> dict:
    return {"arn": stage.arn, "name": stage.name, "tags": stage.tags}


class StageListApi(APIView):
    @extend_schema(
        operation_id="stage_list",
        summary="All stages with viewer counts",
        parameters=[StageListQuerySerializer],
        responses=envelope_responses(StageListSerializer),
    )
    def get(self, request: Request) -> Response:
        query = StageListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        stages, next_token, counts, total = selectors.stage_page(
            next_token=query.validated_data.get("nextToken") or None, limit=query.validated_data["limit"]
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
        summary="The master stage",
        responses=envelope_responses(MasterInfoSerializer, errors=(404,)),
    )
    def get(self, request: Request) -> Response:
        stage = selectors.master_stage_or_404()
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
        responses=envelope_responses(StageCreatedSerializer, status=201, errors=(503,)),
    )
    def post(self, request: Request) -> Response:
        body = StageCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        stage = services.stage_create(**body.validated_data)
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
