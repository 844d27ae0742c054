"""Stats endpoints (spec §5)."""

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ivsproject.api.authentication import match_secret
from ivsproject.api.envelope import ok
from ivsproject.api.exceptions import Forbidden
from ivsproject.api.schema import envelope_responses
from stages import events
from stats import selectors
from stats.serializers import (
    IvsEventResultSerializer,
    IvsEventSerializer,
    PublisherStatsSerializer,
    StatsSerializer,
    ViewerStatsSerializer,
)


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


class HasEventsSecret(BasePermission):
    """`x-ivs-events-secret` = IVS_EVENTS_SECRET (constant time); the endpoint is off (403) unset."""

    def has_permission(self, request: Request, view: object) -> bool:
        given = request.META.get("HTTP_X_IVS_EVENTS_SECRET", "")
        if not settings.IVS_EVENTS_SECRET or not given or match_secret(given, [settings.IVS_EVENTS_SECRET]) is None:
            raise Forbidden()
        return True


class IvsEventsApi(APIView):
    """EventBridge API destination for "IVS Stage Update" events (shared-secret header)."""

    authentication_classes: list = []
    permission_classes = [HasEventsSecret]
    throttle_classes: list = []  # AWS delivers in bursts; the secret is the gate

    @extend_schema(
        operation_id="ivs_events",
        summary="EventBridge IVS Stage Update events (needs x-ivs-events-secret)",
        auth=[],
        request=IvsEventSerializer,
        parameters=[OpenApiParameter("x-ivs-events-secret", str, OpenApiParameter.HEADER, required=True)],
        responses=envelope_responses(IvsEventResultSerializer, errors=(403,), auth=False),
    )
    def post(self, request: Request) -> Response:
        event = events.parse_event(request.data)
        return ok({"eventId": event.id, "outcome": events.ivs_event_handle(event=event)})
