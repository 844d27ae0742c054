"""Stats endpoints (spec §5)."""

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ivsproject.api.envelope import ok
from ivsproject.api.schema import envelope_responses
from stats import selectors
from stats.serializers import PublisherStatsSerializer, StatsSerializer, ViewerStatsSerializer


class StatsApi(APIView):
    @extend_schema(
        operation_id="stats", summary="Viewers, stages, host status", responses=envelope_responses(StatsSerializer)
    )
    def get(self, request: Request) -> Response:
        return ok(selectors.stats_overview())


class ViewerStatsApi(APIView):
    @extend_schema(
        operation_id="stats_viewers", summary="Total viewers", responses=envelope_responses(ViewerStatsSerializer)
    )
    def get(self, request: Request) -> Response:
        return ok({"totalViewers": selectors.total_viewers(), "calculatedFrom": "real-time sum"})


class PublisherStatsApi(APIView):
    @extend_schema(
        operation_id="stats_publisher",
        summary="Is the host live",
        responses=envelope_responses(PublisherStatsSerializer),
    )
    def get(self, request: Request) -> Response:
        return ok({"isPublisherLive": selectors.is_publisher_live()})
