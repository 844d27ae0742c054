"""Broadcast reports (REPORTS.md): thin views over reports.selectors."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ivsproject.api.envelope import ok
from ivsproject.api.schema import envelope_responses
from reports import selectors
from reports.serializers import BroadcastDetailSerializer, BroadcastListQuerySerializer, BroadcastListSerializer


class BroadcastListApi(APIView):
    @extend_schema(
        operation_id="broadcast_list",
        summary="Broadcasts, newest first (of one room with roomId)",
        parameters=[BroadcastListQuerySerializer],
        responses=envelope_responses(BroadcastListSerializer, errors=(403, 404)),
    )
    def get(self, request: Request) -> Response:
        query = BroadcastListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return ok(
            selectors.broadcast_page(
                room_id=query.validated_data.get("roomId") or None,
                limit=query.validated_data["limit"],
                next_token=query.validated_data.get("nextToken") or None,
            )
        )


class BroadcastDetailApi(APIView):
    @extend_schema(
        operation_id="broadcast_get",
        summary="A broadcast's summary and its viewers over time",
        responses=envelope_responses(BroadcastDetailSerializer, errors=(403, 404)),
    )
    def get(self, request: Request, broadcast_id: str) -> Response:
        return ok(selectors.broadcast_detail(broadcast_id))
