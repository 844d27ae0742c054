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
from stages.selectors import room_param
from stages.serializers import RoomQuerySerializer
from stats import selectors
from stats.serializers import (
    IvsEventResultSerializer,
    IvsEventSerializer,
    PublisherStatsSerializer,
    RoomsStatsSerializer,
    StatsSerializer,
    ViewerStatsSerializer,
)


def _room(request: Request) -> tuple[str, dict[str, str]]:
    """The room a stats request names (absent: `default`, exactly as v1.1.0, without `roomId` in
    the answer), and what to add to the answer."""
    query = RoomQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    given = query.validated_data.get("roomId")
    room_id = room_param(given)
    return room_id, ({"roomId": room_id} if given else {})


class StatsApi(APIView):
    @extend_schema(
        operation_id="stats",
        summary="Viewers, stages, host status (of one room)",
        parameters=[RoomQuerySerializer],
        responses=envelope_responses(StatsSerializer, errors=(404,)),
    )
    def get(self, request: Request) -> Response:
        room_id, extra = _room(request)
        return ok({**selectors.stats_overview(room_id), **extra})


class ViewerStatsApi(APIView):
    @extend_schema(
        operation_id="stats_viewers",
        summary="Total viewers (of one room)",
        parameters=[RoomQuerySerializer],
        responses=envelope_responses(ViewerStatsSerializer, errors=(404,)),
    )
    def get(self, request: Request) -> Response:
        room_id, extra = _room(request)
        return ok({"totalViewers": selectors.total_viewers(room_id), "calculatedFrom": "real-time sum", **extra})


class PublisherStatsApi(APIView):
    @extend_schema(
        operation_id="stats_publisher",
        summary="Is the host live (in one room)",
        parameters=[RoomQuerySerializer],
        responses=envelope_responses(PublisherStatsSerializer, errors=(404,)),
    )
    def get(self, request: Request) -> Response:
        room_id, extra = _room(request)
        return ok({"isPublisherLive": selectors.is_publisher_live(room_id), **extra})


class RoomsStatsApi(APIView):
    @extend_schema(
        operation_id="stats_rooms",
        summary="Viewers, stages and host status of every room",
        responses=envelope_responses(RoomsStatsSerializer),
    )
    def get(self, request: Request) -> Response:
        return ok(selectors.rooms_stats())


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
